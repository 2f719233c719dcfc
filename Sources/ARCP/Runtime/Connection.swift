import Foundation
import Logging

extension ARCPRuntime {
    /// Serves one connection: handshake (hello or resume), then the session until the
    /// transport closes. Returns when the connection is over; jobs keep running.
    public func accept(_ transport: any Transport) async {
        let connID = registry.withLock { r -> UInt64 in
            r.nextConnection += 1
            r.connections[r.nextConnection] = transport
            return r.nextConnection
        }
        defer { _ = registry.withLock { $0.connections.removeValue(forKey: connID) } }
        if registry.withLock({ $0.shuttingDown }) {
            await reject(transport, ARCPError(.internalError, "runtime is shutting down", retryable: true))
            return
        }
        // Outstanding credentials an earlier process left are revoked once, in the background (§14).
        credentialLedger.startRecoveryOnce()
        // 1. The first frame, within the hello timeout.
        let first: String?
        do {
            first = try await withDeadline(configuration.helloTimeout) { try await transport.receive() }
        } catch {
            await reject(transport, .invalidRequest("no session.hello within \(configuration.helloTimeout)"))
            return
        }
        guard let first else { await transport.close(); return }
        let envelope: Envelope
        switch FrameCodec.decode(first) {
        case .failure(let e):
            await reject(transport, e)
            return
        case .success(let env):
            envelope = env
        }
        // 2. Hello, resume-in-hello, or session.resume.
        let session: RuntimeSession
        let conn: UInt64
        var resumed = true
        switch envelope.message {
        case .sessionHello(let hello):
            guard let principal = await verifier.principal(for: hello.auth.token) else {
                await reject(transport, ARCPError(.unauthenticated, "invalid bearer token", requestID: envelope.id))
                return
            }
            if let resume = hello.resume {
                guard let r = await resumeSession(
                    transport, sessionID: resume.sessionId, token: resume.resumeToken, lastSeq: resume.lastEventSeq ?? 0,
                    principal: principal, requestID: envelope.id)
                else { return }
                (session, conn) = r
            } else {
                (session, conn) = newSession(principal: principal, hello: hello)
                resumed = false
            }
        case .sessionResume(let resume):
            var principal: String? = nil
            if let auth = resume.auth {
                guard let p = await verifier.principal(for: auth.token) else {
                    await reject(transport, ARCPError(.unauthenticated, "invalid bearer token", requestID: envelope.id))
                    return
                }
                principal = p
            }
            guard let r = await resumeSession(
                transport, sessionID: resume.sessionId, token: resume.resumeToken, lastSeq: resume.lastEventSeq ?? 0,
                principal: principal, requestID: envelope.id)
            else { return }
            (session, conn) = r
        default:
            await reject(transport, ARCPError(.invalidRequest, "expected session.hello as first envelope, got '\(envelope.message.type)'", requestID: envelope.id))
            return
        }
        let instrumentation = configuration.instrumentation
        instrumentation?.sessionEvent(session.instrumented(connection: connID), resumed ? .resumed : .opened)
        await serve(session, conn: conn, transport: transport)
        instrumentation?.sessionEvent(session.instrumented(connection: connID), session.isClosed ? .closed : .detached)
    }

    /// Sends one error frame on a transport that has no session yet, then closes it.
    func reject(_ transport: any Transport, _ error: ARCPError) async {
        configuration.instrumentation?.errorSent(error, session: nil)
        let env = Envelope.make(.sessionError(error.payload))
        try? await transport.send(FrameCodec.encode(env))
        await transport.close()
    }

    func newSession(principal: String, hello: SessionHelloPayload) -> (RuntimeSession, UInt64) {
        let offered = Set(configuration.features.map(\.rawValue))
        var effective: [Feature] = []
        for f in hello.capabilities?.features ?? [] where offered.contains(f.rawValue) && !effective.contains(f) {
            effective.append(f)
        }
        let session = RuntimeSession(
            id: ARCPID.sessionID(), principal: principal, features: effective, resumeToken: ARCPID.resumeToken(),
            limits: configuration.buffering, persister: persister, instrumentation: configuration.instrumentation)
        registry.withLock { $0.sessions[session.id] = session }
        persister?.submit(.session(session.record()))
        let token = session.resumeToken
        let result = session.attach(first: { _ in self.welcomeFrame(session, token: token) }, resumeFrom: nil, newToken: nil)
        guard case .attached(let conn) = result else { return (session, 0) }
        logger.debug("session opened", metadata: ["session": "\(session.id)", "principal": "\(principal)"])
        return (session, conn)
    }

    func welcomeFrame(_ session: RuntimeSession, token: String) -> String {
        let caps = WelcomeCapabilities(
            encodings: ["json"], features: configuration.features, agents: agentInventory.map { AgentEntry.info($0) })
        let payload = SessionWelcomePayload(
            runtime: configuration.runtime, sessionId: session.id, resumeToken: token,
            resumeWindowSec: Int(configuration.resumeWindow.components.seconds),
            heartbeatIntervalSec: configuration.heartbeatInterval.map(Self.advertisedSeconds),
            capabilities: caps, acceptedAt: ARCPTimestamp.string())
        return FrameCodec.encode(Envelope.make(.sessionWelcome(payload), sessionID: session.id))
    }

    func resumeSession(
        _ transport: any Transport, sessionID: String, token: String, lastSeq: Int, principal: String?, requestID: String
    ) async -> (RuntimeSession, UInt64)? {
        var known = registry.withLock { $0.sessions[sessionID] }
        if known == nil {
            switch await restoreSession(sessionID, token: token, lastSeq: lastSeq, principal: principal) {
            case .restored(let s): known = s
            case .failed(let e):
                var e = e
                e.requestID = requestID
                await reject(transport, e)
                return nil
            case .unknown: break
            }
        }
        guard let session = known else {
            await reject(transport, ARCPError(.resumeWindowExpired, "session \(sessionID) is not resumable (unknown or expired)", requestID: requestID))
            return nil
        }
        guard session.checkToken(token), principal == nil || principal == session.principal else {
            // The session stays resumable with the right token.
            await reject(transport, ARCPError(.unauthenticated, "invalid resume token for session \(sessionID)", requestID: requestID))
            return nil
        }
        let newToken = ARCPID.resumeToken()
        switch session.attach(first: { _ in self.welcomeFrame(session, token: newToken) }, resumeFrom: lastSeq, newToken: newToken) {
        case .attached(let conn):
            persister?.submit(.session(session.record(token: newToken)))
            logger.debug("session resumed", metadata: ["session": "\(sessionID)", "from": "\(lastSeq)"])
            return (session, conn)
        case .windowExpired(let first):
            await reject(transport, ARCPError(
                .resumeWindowExpired, "events after \(lastSeq) are no longer buffered (first available: \(first))",
                details: ["first_available_seq": .int(Int64(first))], requestID: requestID))
            return nil
        }
    }

    enum Restore {
        case restored(RuntimeSession)
        case failed(ARCPError)
        case unknown
    }

    /// Reads a session back from the event store after a restart: numbering and buffered
    /// events continue, and jobs that were running when the runtime stopped are reported
    /// honestly as `job.error INTERNAL_ERROR` (retryable) after the replayed events.
    func restoreSession(_ id: String, token: String, lastSeq: Int, principal: String?) async -> Restore {
        guard let store = configuration.eventStore else { return .unknown }
        do {
            guard let record = try await store.session(id) else { return .unknown }
            guard ResumeTokenHasher.verify(token, against: record.resumeTokenHash), principal == nil || principal == record.principal else {
                return .failed(ARCPError(.unauthenticated, "invalid resume token for session \(id)"))
            }
            guard let status = try await store.bufferStatus(session: id) else { return .unknown }
            guard status.canReplay(after: Int64(lastSeq)) else {
                return .failed(ARCPError(.resumeWindowExpired, "events after \(lastSeq) are no longer stored"))
            }
            var events: [StoredEvent] = []
            var after = Int64(lastSeq)
            while events.count < configuration.buffering.maxBufferedEvents {
                let page = try await store.events(session: id, after: after, limit: 1000)
                guard let last = page.last else { break }
                events.append(contentsOf: page)
                after = last.seq
            }
            var features: [Feature] = []
            if case .object(let o)? = try? JSONParser.parse(record.stateJSON), case .array(let fs)? = o["features"] {
                features = fs.compactMap { $0.stringValue.map(Feature.init(rawValue:)) }
            }
            let session = RuntimeSession(
                id: id, principal: record.principal, features: features, resumeToken: token, limits: configuration.buffering,
                persister: persister, createdAt: record.createdAt, instrumentation: configuration.instrumentation)
            session.restore(lastSeq: Int(status.lastSeq), releasedThrough: Int(status.releasedThrough), events: events)
            let winner = registry.withLock { r -> RuntimeSession in
                if let existing = r.sessions[id] { return existing }
                r.sessions[id] = session
                return session
            }
            guard winner === session else { return .restored(winner) }
            // Jobs of this session that were not finished when the runtime stopped are gone.
            let unfinished = JobQuery(principal: record.principal, statuses: Set(JobRecord.Status.allCases.filter { !$0.isTerminal }), limit: 10_000)
            let orphans = try await store.jobs(unfinished).filter { $0.sessionID == id }
            for var job in orphans {
                session.sendEvent(
                    .jobError(JobErrorPayload(
                        code: .internalError, message: "the runtime restarted while the job was running; the job is lost",
                        retryable: true, finalStatus: .error, completedAt: ARCPTimestamp.string())),
                    jobID: job.jobID, traceID: job.traceID)
                job.status = .error
                job.lastEventSeq = Int64(session.lastSeq)
                persister?.submit(.job(job))
            }
            logger.info("session restored from the event store", metadata: ["session": "\(id)", "orphaned_jobs": "\(orphans.count)"])
            return .restored(session)
        } catch {
            logger.error("event store read failed", metadata: ["session": "\(id)", "error": "\(error)"])
            return .failed(ARCPError(.internalError, "event store unavailable: \(error)", retryable: true))
        }
    }

    /// Runs an attached session: a writer task draining the outbound queue, an optional
    /// heartbeat task, and the reader loop in this task.
    func serve(_ session: RuntimeSession, conn: UInt64, transport: any Transport) async {
        enum Ended { case writer, flushDeadline }
        await withTaskGroup(of: Ended.self) { group in
            group.addTask {
                while let batch = await session.nextBatch(conn) {
                    do {
                        if batch.count == 1 { try await transport.send(batch[0]) } else { try await transport.send(batch: batch) }
                    } catch {
                        break
                    }
                }
                // Writer done: the connection is over (closed, failed or replaced).
                session.detach(conn)
                await transport.close()
                return .writer
            }
            await withTaskGroup(of: Void.self) { reading in
                if session.has(.heartbeat), let interval = configuration.heartbeatInterval {
                    reading.addTask { await self.heartbeat(session, conn: conn, interval: interval) }
                }
                await readLoop(session, conn: conn, transport: transport)
                session.requestCloseAfterFlush(conn)
                reading.cancelAll()
            }
            // The writer ends by itself once what is queued (e.g. `session.closed`) is written;
            // it is not cancelled meanwhile, since a transport may refuse to send from a
            // cancelled task. A peer that stops reading gets `closeFlushTimeout`, then the
            // writer is cancelled.
            group.addTask {
                try? await Task.sleep(for: self.configuration.closeFlushTimeout)
                return .flushDeadline
            }
            _ = await group.next()
            group.cancelAll()
        }
        scheduleExpiry(session)
    }

    func readLoop(_ session: RuntimeSession, conn: UInt64, transport: any Transport) async {
        while true {
            let frame: String?
            do {
                frame = try await transport.receive()
            } catch let e as TransportError {
                if case .frameTooLarge = e {
                    session.sendControl(.sessionError(ARCPError.invalidRequest("frame too large: \(e)").payload))
                    continue
                }
                if case .invalidFrame(let why) = e {
                    session.sendControl(.sessionError(ARCPError.invalidRequest("invalid frame: \(why)").payload))
                    continue
                }
                return
            } catch {
                return
            }
            guard let frame else { return }
            session.noteReceived()
            let keepGoing = await handle(frame, session: session)
            if !keepGoing { return }
            // A peer that sends without reading the answers is read no faster than it reads.
            await session.waitForOutboundRoom()
        }
    }

    /// Heartbeats (spec §6.4): ping when idle for an interval; after two silent intervals
    /// report HEARTBEAT_LOST and close the transport. Jobs are never terminated here.
    func heartbeat(_ session: RuntimeSession, conn: UInt64, interval: Duration) async {
        // Loss is judged against the interval the client was told (whole seconds, rounded up),
        // so a client that answers within the advertised interval is never dropped; pings go
        // out at the configured, possibly shorter, cadence.
        let advertised = Duration.seconds(Self.advertisedSeconds(interval))
        let tick = interval / 4
        var pinged = false
        while !Task.isCancelled {
            do { try await Task.sleep(for: tick) } catch { return }
            let (sinceReceived, sinceSent) = session.idleTimes()
            if sinceReceived < interval { pinged = false }
            // Loss needs two silent intervals and at least one unanswered ping.
            if sinceReceived >= advertised * 2 && pinged {
                logger.info("heartbeat lost", metadata: ["session": "\(session.id)"])
                session.sendControl(.sessionError(ARCPError(.heartbeatLost, "no message from the client for \(sinceReceived)").payload))
                session.requestCloseAfterFlush(conn)
                return
            }
            if sinceSent >= interval || (sinceReceived >= interval && !pinged) {
                session.sendControl(.sessionPing(SessionPingPayload(nonce: ARCPID.make("p"), sentAt: ARCPTimestamp.string())))
                pinged = true
            }
        }
    }

    /// The heartbeat interval as advertised in whole seconds: at least 1, rounded up.
    static func advertisedSeconds(_ d: Duration) -> Int {
        let (secs, atto) = d.components
        return max(1, Int(secs) + (atto > 0 ? 1 : 0))
    }

    /// Removes a detached session once its resume window has passed.
    func scheduleExpiry(_ session: RuntimeSession) {
        let window = configuration.resumeWindow
        Task { [weak self] in
            try? await Task.sleep(for: window)
            guard let self else { return }
            guard !session.isAttached, let since = session.detachedAt, ContinuousClock.now - since >= window else { return }
            let jobs = self.registry.withLock { r -> [RuntimeJob] in
                r.sessions.removeValue(forKey: session.id)
                return session.subscriptions.compactMap { r.jobs[$0] }
            }
            for j in jobs { _ = j.unsubscribe(session.id) }
            self.configuration.instrumentation?.sessionEvent(session.instrumented(connection: nil), .expired)
            self.logger.debug("session expired", metadata: ["session": "\(session.id)"])
        }
    }
}

/// Runs `body`, throwing `CancellationError` if it has not finished within `limit`.
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw CancellationError() }
        return value
    }
}
