import DequeModule
import Foundation
import Logging
import Synchronization

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
public final class ARCPRuntime: Sendable {
    /// How the runtime behaves. Every field has a sensible default.
    public struct Configuration: Sendable {
        /// Bounds on per-session buffers (spec §6.5).
        public struct Buffering: Sendable {
            /// Events kept for resume per session; beyond it the oldest are evicted (reported).
            public var maxBufferedEvents = 100_000
            /// Bytes kept for resume per session.
            public var maxBufferedBytes = 64 << 20
            /// Frames queued for a connection before emitters wait (transport back-pressure).
            public var maxPendingFrames = 512
            /// With `ack` negotiated: unacknowledged events before emitters wait.
            public var maxUnackedEvents = 20_000
            /// With `ack` negotiated: lag at which a `status` `back_pressure` event is sent.
            public var backPressureThreshold = 10_000
            /// Called when events are evicted under the caps (session id, count).
            public var onEviction: (@Sendable (String, Int) -> Void)? = nil
            public init() {}
        }

        /// Wire forms for peers that deviate from the spec.
        public enum Compatibility: Sendable, Equatable {
            /// Send the spec's forms (default).
            case spec
            /// Send the forms the Python reference client (1.1.3) accepts where they differ:
            /// a cancelled job ends with `job.result {final_status: cancelled}` and budgets are
            /// echoed as `"USD:1.00"` strings.
            case pythonReference
        }

        public var runtime = PeerInfo(name: "swift-arcp", version: ARCPVersion.string)
        /// Features offered in `session.welcome`.
        public var features: [Feature] = [
            .heartbeat, .ack, .listJobs, .subscribe, .leaseExpiresAt, .costBudget, .modelUse, .progress, .resultChunk, .agentVersions,
        ]
        public var resumeWindow: Duration = .seconds(600)
        /// Advertised heartbeat interval; nil disables runtime pings.
        public var heartbeatInterval: Duration? = .seconds(30)
        /// How long a new connection may take to send its hello.
        public var helloTimeout: Duration = .seconds(10)
        /// How long an agent may ignore cancellation before its job is ended anyway.
        public var cancelGracePeriod: Duration = .seconds(30)
        public var buffering = Buffering()
        public var observePolicy: ObservePolicy = .samePrincipal
        /// Maximum `limit` for session.list_jobs.
        public var maxListLimit = 1000
        /// Events per job kept for subscribers' history.
        public var historyLimitPerJob = 10_000
        /// Largest result_chunk payload (bytes, before encoding).
        public var chunkSizeCap = 1 << 20
        /// Largest streamed result in total (bytes).
        public var maxStreamedResultBytes = 1 << 30
        public var compatibility: Compatibility = .spec
        /// After a connection's reader ends, how long its last frames may take to be written
        /// before the writer is cancelled (a peer that no longer reads).
        public var closeFlushTimeout: Duration = .seconds(5)
        /// Where sessions, events, jobs, idempotency keys and outstanding credentials are
        /// persisted (nil: memory only). With a durable store (`SQLiteRuntimeStore`), a
        /// runtime restarted on the same store still serves resume and replay, and reports
        /// jobs lost in the restart as `job.error INTERNAL_ERROR`.
        public var store: (any RuntimeStore)? = nil
        /// Store operations queued before emitters wait.
        public var storeQueueLimit = 8192
        public var logger = Logger(label: "arcp.runtime")

        // MARK: Authority (spec §9–§10)

        /// May reduce each requested lease (never widen it: see `LeasePolicyEnforcement`).
        public var leasePolicy: any LeasePolicy = GrantRequestedLeasePolicy()
        /// Lease enforcement settings: model policy, expiry grace, symlink resolution and
        /// how often `cost.budget.remaining` is emitted.
        public var leaseEnforcement = LeaseAuthority.Configuration()
        /// What a lease without `model.use` means (§9.7); shorthand for
        /// `leaseEnforcement.modelPolicy`.
        public var modelPolicy: LeaseModelPolicy {
            get { leaseEnforcement.modelPolicy }
            set { leaseEnforcement.modelPolicy = newValue }
        }
        /// The clock leases are checked against; inject a `ManualLeaseClock` in tests.
        public var leaseClock: any LeaseClock = SystemLeaseClock()
        /// Runtime-defined lease namespaces accepted besides the reserved ones.
        public var namespaceRegistry: LeaseNamespaceRegistry = .standard
        /// Whether an exhausted budget ends the job (`job.error BUDGET_EXHAUSTED`) instead of
        /// only failing the operation (the `tool_result` form the spec prefers, §9.6).
        public var budgetExhaustionIsFatal = false
        /// Longest sleep of the proactive lease-expiry watchdog between checks of the lease
        /// clock. The watchdog sleeps until the expiry, but at most this long, so a clock that
        /// is not real time (`ManualLeaseClock`) is still noticed.
        public var expiryCheckInterval: Duration = .seconds(60)
        /// Deepest delegation chain (a submitted job is depth 0).
        public var maxDelegationDepth = 8
        /// Issues, rotates and revokes provisioned credentials (§9.8). When nil,
        /// `provisioned_credentials` is never offered. When set, it is offered only if
        /// revocation is durable (a `store` whose `durablyKeepsOutstandingCredentials`
        /// is true, e.g. `SQLiteRuntimeStore`) or `allowsNonDurableCredentialRevocation` is set.
        public var credentialProvisioner: (any CredentialProvisioner)? = nil
        /// Retry policy for credential revocation, and the callback reporting credentials
        /// that could not be revoked.
        public var credentialRevocation = CredentialRevocationPolicy()
        /// Offer `provisioned_credentials` even though revocation is not durable (no runtime
        /// store, or one that loses its outstanding-credential records with the process).
        ///
        /// Spec §14: "A runtime that cannot guarantee revocation MUST NOT advertise
        /// `provisioned_credentials`." Without a durable store, a credential whose revocation
        /// has not succeeded when the process ends (a crash, or an upstream outage longer
        /// than the retries) is forgotten, and stays live at the upstream until it expires.
        /// So by default (`false`) such a runtime does not offer the feature and logs a
        /// warning at start. Set it to `true` only if you accept that risk, for instance
        /// because the upstream expires credentials quickly by itself, or in tests.
        public var allowsNonDurableCredentialRevocation = false
        /// Observes sessions and jobs (spans, metrics): see `RuntimeInstrumentation`, and
        /// `ARCPTracing.TracingInstrumentation` for distributed tracing (spec §11). Nil (the
        /// default) costs nothing.
        public var instrumentation: (any RuntimeInstrumentation)? = nil
        public init() {}
    }

    struct Registry {
        var agents: [String: RegisteredAgent] = [:]
        var agentOrder: [String] = []
        var sessions: [String: RuntimeSession] = [:]
        var jobs: [String: RuntimeJob] = [:]
        var jobOrder: [String] = []
        var idempotency: [String: String] = [:]  // principal \u{0} key -> job id
        var shuttingDown = false
        var connections: [UInt64: any Transport] = [:]
        var nextConnection: UInt64 = 0
    }

    public let configuration: Configuration
    let verifier: any BearerVerifier
    let registry = Mutex(Registry())
    let storeWriter: RuntimeStoreWriter?
    /// Credential revocations in flight (awaited by `shutdown()`).
    let revocations = RevocationTracker()
    /// Outstanding provisioned credentials: recorded, revoked, recovered (§14).
    let credentialLedger: CredentialLedger
    /// Whether `provisioned_credentials` is offered (§9.8, §14).
    let offersProvisionedCredentials: Bool
    var logger: Logger { configuration.logger }

    public init(configuration: Configuration = Configuration(), verifier: any BearerVerifier) {
        var configuration = configuration
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
        credentialLedger = CredentialLedger(
            store: configuration.store, provisioner: configuration.credentialProvisioner,
            policy: configuration.credentialRevocation, logger: configuration.logger, tracker: revocations)
        if let store = configuration.store {
            let p = RuntimeStoreWriter(store: store, capacity: configuration.storeQueueLimit, logger: configuration.logger)
            storeWriter = p
            Task { await p.run() }
        } else {
            storeWriter = nil
        }
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
    public func register(_ name: String, version: String? = nil, isDefault: Bool = false, _ body: @escaping AgentBody) throws {
        guard ARCPFormat.isAgentRef(name), !name.contains("@") else {
            throw ARCPError.invalidRequest("invalid agent name \(name): expected [a-z0-9][a-z0-9._-]*")
        }
        if let version, !ARCPFormat.isAgentRef("a@" + version) {
            throw ARCPError.invalidRequest("invalid agent version \(version)")
        }
        try registry.withLock { r in
            var a = r.agents[name] ?? RegisteredAgent(name: name, versions: [], defaultVersion: nil)
            let v = version ?? ""
            if a.versions.contains(where: { $0.version == v }) {
                throw ARCPError.invalidRequest("agent \(name)\(version.map { "@" + $0 } ?? "") is already registered")
            }
            a.versions.append((v, body))
            if isDefault || a.defaultVersion == nil { a.defaultVersion = v }
            if r.agents[name] == nil { r.agentOrder.append(name) }
            r.agents[name] = a
        }
    }

    /// Registers an agent with a typed (Decodable) input and an Encodable output.
    public func register<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ name: String, version: String? = nil, isDefault: Bool = false, input: Input.Type,
        _ body: @escaping @Sendable (Input, JobContext) async throws -> Output
    ) throws {
        try register(name, version: version, isDefault: isDefault) { json, ctx in
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
    public var agentInventory: [AgentInfo] {
        registry.withLock { r in r.agentOrder.compactMap { r.agents[$0]?.info } }
    }

    // MARK: - Introspection (for tests and operators)

    /// Ids of live sessions (attached or within their resume window).
    public var sessionIDs: [String] { registry.withLock { Array($0.sessions.keys) } }

    /// The status of a job, if known.
    public func jobStatus(_ id: String) -> JobStatus? { registry.withLock { $0.jobs[id]?.status } }

    /// Ids of every job, in submission order.
    public var jobIDs: [String] { registry.withLock { $0.jobOrder } }

    /// The job's latest event_seq in its submitting session.
    public func lastOwnerSeq(_ id: String) -> Int? { registry.withLock { $0.jobs[id] }?.lastOwnerSeq }

    /// Waits until job `id` has ended (returns at once for unknown ids).
    public func waitForJob(_ id: String) async {
        guard let job = registry.withLock({ $0.jobs[id] }) else { return }
        await job.waitUntilFinished()
    }

    /// Events buffered for resume in session `id`, and evictions so far.
    public func bufferStats(session id: String) -> (events: Int, bytes: Int, evicted: Int)? {
        guard let s = registry.withLock({ $0.sessions[id] }) else { return nil }
        return (s.bufferedEventCount, s.bufferedBytes, s.evictionCount)
    }

    // MARK: - Shutdown

    /// Graceful shutdown: every attached session gets `session.bye` (reason
    /// `runtime_shutdown`), running jobs are cancelled, and transports are closed.
    public func shutdown() async {
        let (sessions, jobs, transports) = registry.withLock { r -> ([RuntimeSession], [RuntimeJob], [any Transport]) in
            r.shuttingDown = true
            return (Array(r.sessions.values), Array(r.jobs.values), Array(r.connections.values))
        }
        // Jobs end first, so their terminal frames go out before the goodbye.
        for j in jobs where !j.isTerminal { j.stop(.shutdown) }
        for j in jobs { await j.waitUntilFinishedOrTimeout(.seconds(5)) }
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
        await storeWriter?.flush()
        for t in transports { await t.close() }
    }
}

/// The package version.
public enum ARCPVersion {
    public static let string = "0.1.0"
}
