import Logging

extension ARCPRuntime {
    /// Handles one inbound frame of an established session: decode, dispatch, reply (on the
    /// connection's executor). Returns false when the connection should end (bye / close).
    func handle(_ frame: String, session: RuntimeSession) async -> Bool {
        switch FrameCodec.decode(frame) {
        case .failure(let e):
            session.sendError(e)
            return true
        case .success(let env):
            return await handle(env, session: session)
        }
    }

    /// Dispatches one decoded inbound envelope and replies. Returns false when the connection
    /// should end (bye / close). Kept thin: it runs on every connection's task, whose frames
    /// hold every temporary of an async function for as long as the connection lives; errors
    /// are answered by non-inlined helpers (docs/BENCHMARKS.md, "Per-session memory").
    func handle(_ env: Envelope, session: RuntimeSession) async -> Bool {
        func fail(_ e: ARCPError, jobID: String? = nil) {
            Self.answer(e, to: env, session: session, jobID: jobID)
        }
        func need(_ f: Feature) -> Bool {
            if session.has(f) { return true }
            fail(.invalidRequest("feature '\(f.rawValue)' not negotiated for this session"))
            return false
        }
        switch env.message {
        case .sessionHello, .sessionResume:
            fail(.invalidRequest("session.hello already sent on this connection"))
        case .sessionPing(let p):
            session.sendControl(.sessionPong(SessionPongPayload(pingNonce: p.nonce, receivedAt: ARCPTimestamp.string())))
        case .sessionPong:
            break  // liveness is recorded for every frame
        case .sessionAck(let a):
            if need(.ack) { session.acknowledge(through: a.lastProcessedSeq) }
        case .sessionListJobs(let l):
            if need(.listJobs) { await listJobs(l, session: session, requestID: env.id) }
        case .sessionBye:
            session.markClosed()
            return false
        case .sessionClose(let c):
            session.markClosed()
            session.sendControl(.sessionClosed(SessionClosedPayload(reason: c.reason)))
            return false
        case .sessionError(let e):
            logClientError(e, session: session)
        case .jobSubmit(let s):
            do {
                try await submit(s, envelope: env, session: session)
            } catch let e as ARCPError {
                fail(e)
            } catch {
                fail(.internalError("\(error)"))
            }
        case .jobCancel(let c):
            guard let jobID = env.jobId ?? c.jobId else {
                fail(.invalidRequest("job.cancel needs a job_id"))
                return true
            }
            await cancel(jobID: jobID, reason: c.reason, session: session, requestID: env.id)
        case .jobSubscribe(let s):
            if need(.subscribe) { await subscribe(s, session: session, requestID: env.id) }
        case .jobUnsubscribe(let u):
            if need(.subscribe) { await unsubscribe(u, session: session, requestID: env.id) }
        case .unknown(let type, _):
            fail(.invalidRequest("unknown envelope type: '\(type)'"))
        default:
            fail(.invalidRequest("\(env.message.type) is not a client-to-runtime message"))
        }
        return true
    }

    @inline(never)
    func logClientError(_ e: ErrorPayload, session: RuntimeSession) {
        logger.info("client reported an error", metadata: ["session": "\(session.id)", "code": "\(e.code)", "message": "\(e.message)"])
    }

    /// Answers request `env` with `error` (its `request_id` set to the request's when unset).
    @inline(never)
    static func answer(_ error: ARCPError, to env: Envelope, session: RuntimeSession, jobID: String? = nil) {
        var e = error
        if e.requestID == nil { e.requestID = env.id }
        session.sendError(e, jobID: jobID)
    }

    /// Whether `principal` may observe (list, subscribe to, cancel) `job` (§7.6, §14).
    func observable(_ job: RuntimeJob, by principal: String) -> Bool {
        configuration.observePolicy.allows(observer: principal, owner: job.principal)
    }
}

extension Message {
    /// Whether this inbound message is handled even while the peer's outbound queue is full:
    /// it ends work (`job.cancel`, `session.close`, `session.bye`), acknowledges
    /// (`session.ack`), or is the heartbeat (`session.ping`/`session.pong`) a slow reader
    /// keeps sending, and it is answered by at most one small control frame. Requests that
    /// start work or ask for pages (submit, subscribe, list_jobs) wait for room.
    var relievesBackPressure: Bool {
        switch self {
        case .jobCancel, .sessionAck, .sessionClose, .sessionBye, .sessionPing, .sessionPong: true
        default: false
        }
    }
}

extension ARCPError {
    /// `JOB_NOT_FOUND` for `id`, answering request `requestID`: the one answer for a job that
    /// does not exist and for one the observe policy hides (issue 10 item 6), so the two
    /// cannot be told apart.
    static func jobNotFound(_ id: String, requestID: String?) -> ARCPError {
        var e = ARCPError.jobNotFound(id)
        e.requestID = requestID
        return e
    }
}
