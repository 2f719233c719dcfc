import Foundation
import Logging

/// An ARCP runtime: hosts agents and serves sessions over any `Transport`.
///
/// ```swift
/// let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["tok": "me@example.com"]))
/// try runtime.register("echo") { input, ctx in
///     await ctx.log("info", "echo started")
///     return ["echoed": input]
/// }
/// let (clientEnd, runtimeEnd) = MemoryTransport.pair()
/// Task { await runtime.accept(runtimeEnd) }
/// ```
///
/// How it is built (docs/RUNTIME.md): each connection is served by a `ConnectionHandler` on
/// the transport's `preferredExecutor` (its frames are handled where they arrive); agents run
/// on the cooperative pool. Sessions, jobs and connections are explicit state machines
/// (`SessionStateMachine`, `JobStateMachine`, `ConnectionStateMachine`, and the shared
/// `HeartbeatStateMachine`). Each piece of shared state has one owner behind a protocol
/// (`RuntimeTables`), and the locks between them follow one order (`LockOrder.swift`).
public final class ARCPRuntime: Sendable {
    /// The configuration in effect (durations clamped to what the runtime can honour).
    public let configuration: Configuration
    let verifier: any BearerVerifier
    /// The registered agents.
    let agents = AgentRegistry()
    /// Sessions, jobs, idempotency keys, fan-out.
    package let tables: RuntimeTables
    /// Open connections, and whether new ones are accepted.
    let connections = ConnectionTable()
    /// Write-behind to the runtime store, if there is one.
    let storeWriter: RuntimeStoreWriter?
    /// Credential revocations in flight (awaited by `shutdown()`).
    let revocations = RevocationTracker()
    /// Outstanding provisioned credentials: recorded, revoked, recovered (§14).
    let credentialLedger: CredentialLedger
    /// Whether `provisioned_credentials` is offered (§9.8, §14).
    let offersProvisionedCredentials: Bool
    /// Applies the retention by time (`Configuration.Retention`).
    let retentionSweeper = RetentionSweeper()
    /// Fires every connection's heartbeat (one task for all of them).
    let heartbeats = DeadlineScheduler()
    /// Ends each detached session's resume window (one task for all of them).
    let expiries = DeadlineScheduler()
    /// Bounds each closing connection's last writes (`closeFlushTimeout`; one task for all).
    let flushDeadlines = DeadlineScheduler()
    /// Hands what the retention freed back to the operating system (glibc arenas).
    let freedMemory = FreedMemory()
    var logger: Logger { configuration.logger }

    /// A runtime with `configuration` that authenticates each `session.hello` with `verifier`.
    /// It serves nothing until given connections (`accept(_:)`) and runs no agent until they are
    /// registered.
    public init(configuration: Configuration = Configuration(), verifier: any BearerVerifier) {
        var configuration = configuration
        configuration.clampDurations()
        // `provisioned_credentials` is offered only with a provisioner, and only when its
        // credentials' revocation survives a restart or the operator accepted that it does
        // not (§9.8, §14).
        configuration.features.removeAll { $0 == .provisionedCredentials }
        let durable = configuration.store?.durablyKeepsOutstandingCredentials ?? false
        var offers = false
        if configuration.credentialProvisioner != nil {
            if durable {
                offers = true
            } else if configuration.allowsNonDurableCredentialRevocation {
                offers = true
                configuration.logger.warning(
                    "provisioned_credentials offered without a durable event store (allowsNonDurableCredentialRevocation): credentials not revoked when the process ends stay live at the upstream")
            } else {
                configuration.logger.warning(
                    "provisioned_credentials not offered: credential revocation needs a durable event store (spec §14); configure one (e.g. SQLiteRuntimeStore) or set allowsNonDurableCredentialRevocation")
            }
        }
        if offers { configuration.features.append(.provisionedCredentials) }
        offersProvisionedCredentials = offers
        self.configuration = configuration
        self.verifier = verifier
        tables =
            configuration.tables
            ?? .inMemory(
                historyLimitPerJob: configuration.historyLimitPerJob, historyBytesPerJob: configuration.historyBytesPerJob,
                retention: JobRetentionPolicy(configuration.retention))
        credentialLedger = CredentialLedger(
            store: configuration.store, provisioner: configuration.credentialProvisioner,
            policy: configuration.credentialRevocation, logger: configuration.logger, tracker: revocations)
        if let store = configuration.store {
            let writer = RuntimeStoreWriter(store: store, capacity: configuration.storeQueueLimit, logger: configuration.logger)
            storeWriter = writer
            Task { await writer.run() }
        } else {
            storeWriter = nil
        }
        retentionSweeper.start(self)
    }

    deinit {
        retentionSweeper.stop()
    }

    /// Waits until everything sent so far is in the runtime store (no-op without one).
    public func flushStore() async {
        await storeWriter?.flush()
    }

    /// Store writes that failed so far (each is also logged).
    public var storeFailures: Int { storeWriter?.failures ?? 0 }

    // MARK: - Credential revocation (§14)

    /// Whether provisioned credentials are recorded in a durable runtime store until revoked,
    /// so that revocation is retried across restarts (spec §14).
    public var revokesCredentialsDurably: Bool { credentialLedger.isDurable }

    /// Revokes every credential the runtime store lists as outstanding that this runtime is
    /// not already handling: those an earlier process left (it crashed, or stopped before
    /// the upstream confirmed their revocation) and those this runtime gave up on. Each
    /// gets `credentialRevocation.maxAttempts` attempts with backoff; success deletes its
    /// record, and one that still cannot be revoked is surfaced (`unrevokedCredentials()`,
    /// an error log, `credentialRevocation.onPermanentFailure`) and kept for a later pass.
    ///
    /// The first `accept` starts a pass by itself (over what earlier processes left); call
    /// this to run one before serving, or to retry the unrevoked ones later. A pass already
    /// running is waited for first. Without a runtime store or a provisioner there is
    /// nothing to do.
    /// - Returns: the credentials still unrevoked afterwards, as `unrevokedCredentials()`.
    @discardableResult
    public func recoverCredentials() async -> [UnrevokedCredential] {
        await credentialLedger.recover(retryingGivenUp: true)
        return credentialLedger.unrevoked
    }

    /// Credentials whose latest revocation pass failed (spec §14: surfaced to operators),
    /// oldest first: this runtime's and, after a recovery pass, an earlier process's. A
    /// later success removes a credential from the list. No secret is included.
    public func unrevokedCredentials() -> [UnrevokedCredential] {
        credentialLedger.unrevoked
    }

    // MARK: - Agents

    /// Registers an agent taking and returning JSON. `version` nil registers an unversioned
    /// agent; several versions of one name may be registered, and `isDefault` picks the one
    /// a bare name resolves to (otherwise the first registered).
    ///
    /// `restartable`: in a cluster (`ARCPPostgres`), a job of this agent whose node is lost
    /// (killed, or silent past the node timeout) is run again once, from its start, under
    /// the same job id on another node, instead of ending with `job.error`; a second loss
    /// ends it. Mark only agents that may safely run twice (idempotent side effects). A single
    /// process ignores it (a job running when the process stops is reported lost).
    ///
    /// `startsImmediately`: a job of this agent submitted by a peer starts on the thread that
    /// read its `job.submit` (for a WebSocket connection, its event loop) and runs there until
    /// its body first suspends, then continues on the cooperative pool, as Swift's
    /// `Task.immediate`. An agent that answers at once, or soon awaits the network, then
    /// costs no thread hand-off: its frames leave in the same write as `job.accepted`. The
    /// default (false) starts every job on the pool. Mark only agents that reach their first
    /// real suspension quickly: until then the agent holds the connection's thread, and every
    /// other connection served by it waits. (Emitting an event does not suspend unless the
    /// session's outbox is full, and an `await` resumed before the task got to suspend, as a
    /// `Task.yield()` often is, goes on at once where it was.) Jobs that waited for a slot (`maxRunningJobs`), delegated
    /// jobs and jobs claimed from a cluster's queue always start on the pool, as do all jobs
    /// on Apple platforms before their 26 releases (which have no `Task.immediate`).
    public func register(
        _ name: String, version: String? = nil, isDefault: Bool = false, restartable: Bool = false, startsImmediately: Bool = false,
        _ body: @escaping AgentBody
    ) throws {
        try agents.register(
            name, version: version, isDefault: isDefault, restartable: restartable, startsImmediately: startsImmediately, body)
    }

    /// Whether agent `resolved` (`name` or `name@version`) was registered restartable.
    public func isRestartable(agent resolved: String) -> Bool { agents.isRestartable(resolved) }

    /// Registers an agent with a typed (Decodable) input and an Encodable output.
    public func register<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ name: String, version: String? = nil, isDefault: Bool = false, restartable: Bool = false, startsImmediately: Bool = false,
        input: Input.Type, _ body: @escaping @Sendable (Input, JobContext) async throws -> Output
    ) throws {
        try register(name, version: version, isDefault: isDefault, restartable: restartable, startsImmediately: startsImmediately) {
            json, ctx in
            let value: Input
            do {
                value = try JSONDecoder().decode(Input.self, from: JSONWriter.data(json))
            } catch {
                throw ARCPError.invalidRequest("input does not match \(Input.self): \(error)")
            }
            let output = try await body(value, ctx)
            let data = try JSONEncoder().encode(output)
            return try JSONParser.parse(data)
        }
    }

    /// The agent inventory as advertised in `session.welcome`.
    public var agentInventory: [AgentInfo] { agents.inventory }

    // MARK: - Introspection (for tests and operators; what this process holds)

    /// Ids of live sessions (attached or within their resume window).
    public var sessionIDs: [String] { tables.sessions.localSessionIDs }

    /// The status of a job, if known.
    public func jobStatus(_ id: String) -> JobStatus? { tables.jobs.localJob(id)?.status }

    /// Ids of every job, in submission order.
    public var jobIDs: [String] { tables.jobs.localJobIDs }

    /// The job's latest event_seq in its submitting session.
    public func lastOwnerSeq(_ id: String) -> Int? { tables.jobs.localJob(id)?.lastOwnerSeq }

    /// Waits until job `id` has ended (returns at once for unknown ids).
    public func waitForJob(_ id: String) async {
        guard let job = await tables.jobs.job(id) else { return }
        await job.waitUntilFinished()
    }

    /// Events buffered for resume in session `id`, and evictions so far.
    public func bufferStats(session id: String) -> (events: Int, bytes: Int, evicted: Int)? {
        guard let s = tables.sessions.localSession(id) else { return nil }
        return (s.bufferedEventCount, s.bufferedBytes, s.evictionCount)
    }

    // MARK: - Shutdown

    /// Graceful shutdown: every attached session gets `session.bye` (reason
    /// `runtime_shutdown`), running jobs are cancelled, and transports are closed.
    public func shutdown() async {
        await shutdown(drainingFor: .zero)
    }

    /// Draining shutdown (a rolling restart's stop; `arcp serve` on SIGTERM with
    /// `Configuration.drainTimeout`): the runtime stops taking new work — new connections are
    /// refused and `job.submit` is answered `INTERNAL_ERROR`, retryable, `details.reason`
    /// `shutting_down` (and `details.node`), which a client retries on another node or after
    /// the restart — while its running jobs finish, for at most `limit`. Attached sessions
    /// keep receiving their jobs' events meanwhile; a client may also leave at once and resume
    /// elsewhere (in a cluster the jobs' events follow it there). Jobs still running when
    /// `limit` passes end with `job.error` `INTERNAL_ERROR`, retryable, `details.reason`
    /// `drain_timeout`. Then as `shutdown()`: `session.bye`, the store flushed, transports
    /// closed. A `limit` of zero is `shutdown()`.
    public func shutdown(drainingFor limit: Duration) async {
        let limit = min(max(limit, .zero), PeerNumbers.maxDuration)
        var reason = StopReason.shutdown
        if limit > .zero {
            connections.beginDraining()
            reason = .drainExpired(node: configuration.nodeID, seconds: max(1, limit.components.seconds))
            await drainJobs(within: limit)
        }
        let transports = connections.beginShutdown()
        retentionSweeper.stop()
        let sessions = await tables.sessions.sessions()
        let jobs = await tables.jobs.unfinished()
        // Jobs end first, so their terminal frames go out before the goodbye; those waiting
        // for a slot end without running (none starts once shutdown began).
        for j in jobs {
            if let withdrawn = await tables.jobs.withdraw(j.id, sessionID: j.ownerSessionID) {
                endWithdrawn(withdrawn, jobID: j.id, reason: reason, session: nil)
            }
        }
        for j in jobs { j.stop(reason) }
        await withTaskGroup(of: Void.self) { group in
            for j in jobs { group.addTask { await j.waitUntilFinishedOrTimeout(.seconds(5)) } }
        }
        await revocations.waitUntilIdle(timeout: .seconds(5))
        let attached = sessions.filter(\.isAttached)
        for s in attached {
            s.sendControl(.sessionBye(SessionByePayload(reason: "runtime_shutdown")))
            s.requestCloseAfterFlush()
        }
        // Each writer flushes, then closes its transport; wait (bounded) before forcing it.
        let deadline = ContinuousClock.now + .seconds(2)
        while attached.contains(where: \.isAttached), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        if let storeWriter, await !storeWriter.flush(within: configuration.shutdownStoreFlushTimeout) {
            logger.error(
                "the runtime store did not take every queued write before shutdown; the rest is lost",
                metadata: ["pending": "\(storeWriter.pending)", "waited": "\(configuration.shutdownStoreFlushTimeout)"])
        }
        for t in transports { await t.close() }
        heartbeats.stop()
        expiries.stop()
        flushDeadlines.stop()
    }
}

extension ARCPRuntime {
    /// Waits (at most `limit`) until no job of this process is unfinished; jobs that start
    /// meanwhile (a submit that raced the drain, a delegated child, a job that waited for a
    /// slot) are waited for too.
    func drainJobs(within limit: Duration) async {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        var running = await tables.jobs.unfinished()
        guard !running.isEmpty else { return }
        logger.notice(
            "draining: refusing new work, waiting for running jobs to finish",
            metadata: ["jobs": "\(running.count)", "drain_timeout": "\(limit)"])
        while !running.isEmpty, clock.now < deadline {
            await withTaskGroup(of: Void.self) { group in
                for j in running { group.addTask { await j.waitUntilFinishedOrTimeout(deadline - clock.now) } }
            }
            running = await tables.jobs.unfinished()
        }
        if running.isEmpty {
            logger.notice("drained: every running job finished")
        } else {
            logger.warning(
                "drain bound passed; ending the jobs still running (job.error, retryable)",
                metadata: ["jobs": "\(running.count)", "drain_timeout": "\(limit)"])
        }
    }

    /// Refuses new sessions (`session.hello` without a resume) with a retryable
    /// `INTERNAL_ERROR` (`details.reason` `unavailable`, and `details.node`) until
    /// `resumeNewSessions()`, while attached and resumed sessions go on: for a runtime whose
    /// shared state is out of reach (a cluster node that lost its database), so clients open
    /// their sessions on a node that can keep them. Each change is logged.
    public func pauseNewSessions(reason: String) {
        guard connections.newSessionsPaused != reason else { return }
        connections.pauseNewSessions(reason)
        logger.error("not accepting new sessions", metadata: ["reason": "\(reason)"])
    }

    /// Accepts new sessions again after `pauseNewSessions(reason:)`.
    public func resumeNewSessions() {
        guard connections.newSessionsPaused != nil else { return }
        connections.resumeNewSessions()
        logger.notice("accepting new sessions again")
    }

    /// The refusal of a new session while they are paused.
    func newSessionsPausedRefusal(_ reason: String) -> ARCPError {
        var details: JSONObject = ["reason": "unavailable"]
        if let node = configuration.nodeID { details["node"] = .string(node) }
        let who = configuration.nodeID.map { "node \($0)" } ?? "the runtime"
        return ARCPError(
            .internalError, "\(who) accepts no new session now (\(reason)); open it on another node or retry later",
            retryable: true, details: .object(details))
    }

    /// The refusal of a `job.submit` while the runtime drains or shuts down.
    var shuttingDownRefusal: ARCPError {
        var details: JSONObject = ["reason": "shutting_down"]
        if let node = configuration.nodeID { details["node"] = .string(node) }
        let who = configuration.nodeID.map { "node \($0)" } ?? "the runtime"
        return ARCPError(
            .internalError, "\(who) is shutting down and accepts no new job; submit it on another node or after the restart",
            retryable: true, details: .object(details))
    }
}

/// The package version.
public enum ARCPVersion {
    public static let string = "0.1.0"
}
