import Foundation
import Logging

// Opening, resuming, restoring and expiring sessions (spec §6.1–§6.3): the runtime's side of
// the session table. The welcome is built before a session's lock is taken, and expiry is a
// transition of the session's own state machine followed (outside any lock) by the table
// removal, so resume and expiry cannot deadlock nor leave an attached session outside the
// table (see `LockOrder.swift`).

extension ARCPRuntime {
    /// The features offered on a connection: `provisioned_credentials` only when the
    /// transport is confidential or the operator opted in (issue 10 item 10).
    func offeredFeatures(confidential: Bool) -> [Feature] {
        guard !confidential, !configuration.allowsCredentialsWithoutConfidentialTransport else { return configuration.features }
        return configuration.features.filter { $0 != .provisionedCredentials }
    }

    /// Opens a new session for `principal` and attaches it. With a runtime store, the
    /// session's record (its resume token's hash) is stored before the welcome is queued.
    /// - Throws: `INTERNAL_ERROR` (not retryable) when the principal holds
    ///   `Limits.maxSessionsPerPrincipal` sessions already.
    ///
    /// Its synchronous steps are functions of their own (`@inline(never)`): this frame is on
    /// the connection task's deepest chain of frames, whose memory the task keeps for its
    /// whole life (docs/BENCHMARKS.md, "Per-session memory").
    func openSession(principal: String, hello: SessionHelloPayload, confidential: Bool = true) async throws(ARCPError) -> (RuntimeSession, UInt64) {
        let (session, features) = try newSession(principal: principal, hello: hello, confidential: confidential)
        let max = configuration.limits.maxSessionsPerPrincipal
        guard await tables.sessions.insert(session, maxPerPrincipal: max) else { throw sessionsPerPrincipalRefusal(principal, max: max) }
        if storeWriter != nil { await storeOpened(session) }
        return attachOpened(session, features: features)
    }

    /// A new session for `principal`, with the features both the hello asks for and this
    /// runtime offers on this transport; and the features offered.
    @inline(never)
    func newSession(principal: String, hello: SessionHelloPayload, confidential: Bool) throws(ARCPError) -> (RuntimeSession, [Feature]) {
        if let reason = connections.newSessionsPaused { throw newSessionsPausedRefusal(reason) }
        let features = offeredFeatures(confidential: confidential)
        let offered = Set(features.map(\.rawValue))
        var effective: [Feature] = []
        for f in hello.capabilities?.features ?? [] where offered.contains(f.rawValue) && !effective.contains(f) {
            effective.append(f)
        }
        let session = RuntimeSession(
            id: ARCPID.sessionID(), principal: principal, features: effective, resumeToken: ARCPID.resumeToken(),
            limits: configuration.buffering, storeWriter: storeWriter, outbound: outboundFrameLimit,
            instrumentation: configuration.instrumentation)
        return (session, features)
    }

    @inline(never)
    func sessionsPerPrincipalRefusal(_ principal: String, max: Int) -> ARCPError {
        RuntimeLimit.sessionsPerPrincipal.error(
            max: max, "principal \(principal) already holds \(max) sessions (the limit, resumable ones included); close or let one expire")
    }

    /// Stores the new session's record (its resume token's hash) before its welcome.
    @inline(never)
    func storeOpened(_ session: RuntimeSession) async {
        await storeDurably(.session(session.record()))
    }

    /// Queues the welcome and attaches the session; returns it with its connection number.
    @inline(never)
    func attachOpened(_ session: RuntimeSession, features: [Feature]) -> (RuntimeSession, UInt64) {
        let welcome = welcomeFrame(session, token: session.resumeToken, features: features)
        guard case .attached(let conn, _) = session.attach(welcome: welcome, resumeFrom: nil, newToken: nil).result else { return (session, 0) }
        logger.debug("session opened", metadata: ["session": "\(session.id)", "principal": "\(session.principal)"])
        return (session, conn)
    }

    /// Queues `op` for the runtime store and waits until it is written (no-op without a
    /// store): for what must be durable before the peer sees it (issue 10 item 9).
    func storeDurably(_ op: RuntimeStoreWriter.Op) async {
        guard let storeWriter else { return }
        storeWriter.submit(op)
        await storeWriter.flush()
    }

    /// `session.welcome` for `session` with resume token `token`, offering `features`
    /// (the configuration's when nil).
    func welcomeFrame(_ session: RuntimeSession, token: String, features: [Feature]? = nil) -> String {
        let caps = WelcomeCapabilities(
            encodings: ["json"], features: features ?? configuration.features, agents: agents.inventory.map { AgentEntry.info($0) })
        let payload = SessionWelcomePayload(
            runtime: configuration.runtime, sessionId: session.id, resumeToken: token,
            resumeWindowSec: Int(configuration.resumeWindow.components.seconds),
            heartbeatIntervalSec: configuration.heartbeatInterval.map(HeartbeatStateMachine<ContinuousClock.Instant>.Configuration.advertisedSeconds),
            capabilities: caps, acceptedAt: ARCPTimestamp.string())
        return FrameCodec.encode(Envelope.make(.sessionWelcome(payload), sessionID: session.id))
    }

    enum ResumeOutcome {
        case attached(RuntimeSession, UInt64)
        case refused(ARCPError)
    }

    /// The answer to a resume of a session that does not exist, has expired, or that the
    /// resumer may not know about (issue 10 item 6): always the same.
    static func notResumable(_ sessionID: String) -> ARCPError {
        ARCPError(.resumeWindowExpired, "session \(sessionID) is not resumable (unknown or expired)")
    }

    /// How a resume's credentials compare with a session's.
    enum ResumeCheck {
        case accepted
        /// The resumer authenticated as the session's principal, with a token that is not
        /// (or no longer) the session's: `UNAUTHENTICATED`; the session stays resumable.
        case wrongToken
        /// Another principal, or an unauthenticated resume with a wrong token: answered as
        /// an unknown session, so a session's existence never leaks to who does not own it.
        case looksUnknown
    }

    static func check(tokenMatches: Bool, principal: String?, owner: String) -> ResumeCheck {
        if let principal, principal != owner { return .looksUnknown }
        if tokenMatches { return .accepted }
        return principal == nil ? .looksUnknown : .wrongToken
    }

    /// Resumes session `sessionID` from `lastSeq` (§6.3): from the session table, else from
    /// the runtime store after a restart. `principal` (when the resume authenticated) must be
    /// the session's. With a store, the rotated token's hash is stored before the welcome.
    func resumeSession(
        sessionID: String, token: String, lastSeq: Int, principal: String?, confidential: Bool = true
    ) async -> ResumeOutcome {
        var known = await tables.sessions.session(sessionID)
        if known == nil {
            switch await restoreSession(sessionID, token: token, lastSeq: lastSeq, principal: principal) {
            case .restored(let s): known = s
            case .failed(let e): return .refused(e)
            case .unknown: break
            }
        }
        guard let session = known else { return .refused(Self.notResumable(sessionID)) }
        switch Self.check(tokenMatches: session.checkToken(token), principal: principal, owner: session.principal) {
        case .accepted: break
        case .looksUnknown: return .refused(Self.notResumable(sessionID))
        case .wrongToken:
            // The session stays resumable with the right token.
            return .refused(ARCPError(.unauthenticated, "invalid resume token for session \(sessionID)"))
        }
        let newToken = ARCPID.resumeToken()
        // A session keeps the features it negotiated; the welcome lists what this connection offers.
        let welcome = welcomeFrame(session, token: newToken, features: offeredFeatures(confidential: confidential))
        // The rotation hands the new token's record to the store writer under the session's
        // lock (`RuntimeSession.attach`), ordered with every other record of the session.
        let (result, recordTicket) = session.attach(
            welcome: welcome, resumeFrom: lastSeq, newToken: newToken, presented: token, grace: configuration.resumeTokenGrace)
        // Durable before the client can see it (the welcome is sent by the connection's
        // writer, which starts once this returns): after a crash the new token still resumes.
        if let recordTicket, let storeWriter { await storeWriter.flush(through: recordTicket) }
        switch result {
        case .attached(let conn, _):
            logger.debug("session resumed", metadata: ["session": "\(sessionID)", "from": "\(lastSeq)"])
            return .attached(session, conn)
        case .windowExpired(let first):
            return .refused(ARCPError(
                .resumeWindowExpired, "events after \(lastSeq) are no longer buffered (first available: \(first))",
                details: ["first_available_seq": .int(Int64(first))]))
        case .expired:
            // The resume window passed while this resume was being checked.
            return .refused(Self.notResumable(sessionID))
        }
    }

    enum Restore {
        case restored(RuntimeSession)
        case failed(ARCPError)
        case unknown
    }

    /// Reads a session back from the runtime store after a restart: numbering and buffered
    /// events continue, and jobs that were running when the runtime stopped are reported
    /// honestly as `job.error INTERNAL_ERROR` (retryable) after the replayed events.
    func restoreSession(_ id: String, token: String, lastSeq: Int, principal: String?) async -> Restore {
        guard let store = configuration.store else { return .unknown }
        do {
            // Store reads may block: never on a connection's executor.
            let read = try await offConnectionExecutor { () async throws -> (SessionRecord, BufferStatus, [StoredEvent])? in
                guard let record = try await store.session(id) else { return nil }
                switch Self.check(
                    tokenMatches: ResumeTokenHasher.verify(token, against: record.resumeTokenHash), principal: principal,
                    owner: record.principal)
                {
                case .accepted: break
                case .looksUnknown: return nil
                case .wrongToken: throw ARCPError(.unauthenticated, "invalid resume token for session \(id)")
                }
                guard let status = try await store.bufferStatus(session: id) else { return nil }
                guard status.canReplay(after: Int64(lastSeq)) else {
                    throw ARCPError(.resumeWindowExpired, "events after \(lastSeq) are no longer stored")
                }
                var events: [StoredEvent] = []
                var after = Int64(lastSeq)
                while events.count < self.configuration.buffering.maxBufferedEvents {
                    let page = try await store.events(session: id, after: after, limit: 1000)
                    guard let last = page.last else { break }
                    events.append(contentsOf: page)
                    after = last.seq
                }
                return (record, status, events)
            }
            guard let (record, status, events) = read else { return .unknown }
            // A stored session not seen for longer than the resume window is gone (spec
            // §6.3), even if the store still holds it (the process stopped before its expiry).
            if Date().timeIntervalSince(record.lastSeenAt) > Self.seconds(configuration.resumeWindow) {
                if configuration.retention.deleteFromStore { storeWriter?.submit(.deleteSession(id)) }
                return .failed(ARCPError(.resumeWindowExpired, "session \(id) is not resumable (unknown or expired)"))
            }
            var features: [Feature] = []
            if case .object(let o)? = try? JSONParser.parse(record.stateJSON), case .array(let fs)? = o["features"] {
                features = fs.compactMap { $0.stringValue.map(Feature.init(rawValue:)) }
            }
            let session = RuntimeSession(
                id: id, principal: record.principal, features: features, resumeToken: token, limits: configuration.buffering,
                storeWriter: storeWriter, createdAt: record.createdAt, outbound: outboundFrameLimit,
                instrumentation: configuration.instrumentation)
            session.restore(lastSeq: Int(status.lastSeq), releasedThrough: Int(status.releasedThrough), events: events)
            let winner = await tables.sessions.adopt(session)
            guard winner === session else { return .restored(winner) }
            // Jobs of this session that were not finished when the runtime stopped are gone.
            let unfinished = JobQuery(principal: record.principal, statuses: Set(JobRecord.Status.allCases.filter { !$0.isTerminal }), limit: 10_000)
            let orphans = try await offConnectionExecutor { try await store.jobs(unfinished) }.filter { $0.sessionID == id }
            for var job in orphans {
                session.sendEvent(
                    .jobError(JobErrorPayload(
                        code: .internalError, message: "the runtime restarted while the job was running; the job is lost",
                        retryable: true, finalStatus: .error, completedAt: ARCPTimestamp.string())),
                    jobID: job.jobID, traceID: job.traceID)
                job.status = .error
                job.lastEventSeq = Int64(session.lastSeq)
                storeWriter?.submit(.job(job))
            }
            logger.info("session restored from the event store", metadata: ["session": "\(id)", "orphaned_jobs": "\(orphans.count)"])
            return .restored(session)
        } catch let e as ARCPError {
            return .failed(e)
        } catch {
            logger.error("event store read failed", metadata: ["session": "\(id)", "error": "\(error)"])
            return .failed(ARCPError(.internalError, "event store unavailable: \(error)", retryable: true))
        }
    }

    /// Removes a detached session once its resume window has passed (unless it was resumed
    /// meanwhile). The session's state machine decides; the table removal follows, outside
    /// the session's lock.
    ///
    /// With a store, the record notes when the session was last seen (the detach), so a
    /// restarted runtime refuses a resume after the window; on expiry the session's record
    /// and events are deleted from the store (`Configuration.Retention.deleteFromStore`).
    ///
    /// The window is an entry of the runtime's `expiries` scheduler, not a task asleep for the
    /// window: a task and a dispatch timer per detached session, created and later cancelled,
    /// were part of every session's close (docs/BENCHMARKS.md, session 11).
    func scheduleExpiry(_ session: RuntimeSession) {
        let window = configuration.resumeWindow
        session.storeRecord()
        expiries.schedule(SessionExpiry(runtime: self, session: session, window: window), at: .now + window)
    }

    /// The resume window of `session` passed while it was detached: it leaves the table (and,
    /// with `deleteFromStore`, the store).
    func sessionExpired(_ session: RuntimeSession) async {
        await tables.sessions.remove(session)
        freedMemory.noteFreed()
        if configuration.retention.deleteFromStore { storeWriter?.submit(.deleteSession(session.id)) }
        configuration.instrumentation?.sessionEvent(session.instrumented(connection: nil), .expired)
        logger.debug("session expired", metadata: ["session": "\(session.id)"])
    }
}

/// One detached session's resume window, fired by the runtime's `expiries` scheduler. When it
/// comes, the session's state machine decides (a session resumed meanwhile, or detached again
/// later, is not due: a later entry covers it); the table removal follows on a task of its own.
/// The runtime is held weakly: a scheduled expiry never keeps a runtime alive.
final class SessionExpiry: ScheduledDeadline {
    private weak let runtime: ARCPRuntime?
    private let session: RuntimeSession
    private let window: Duration

    init(runtime: ARCPRuntime, session: RuntimeSession, window: Duration) {
        self.runtime = runtime
        self.session = session
        self.window = window
    }

    func fire(at now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard let runtime, session.expireIfDue(window: window) else { return nil }
        let session = session
        Task { await runtime.sessionExpired(session) }
        return nil
    }
}
