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
    /// should end (bye / close). Kept thin: it runs on every connection's task, which keeps
    /// the memory of its deepest chain of frames for as long as the connection lives. What
    /// needs no await is answered by `route` (synchronous, so its temporaries live on the
    /// thread's stack); each request that awaits has a function of its own, whose frame is
    /// allocated only while it runs (docs/BENCHMARKS.md, "Per-session memory").
    func handle(_ env: Envelope, session: RuntimeSession) async -> Bool {
        switch route(env, session: session) {
        case .answered(let keepGoing): return keepGoing
        case .submit: await submitRequest(env, session: session)
        case .listJobs: await listJobsRequest(env, session: session)
        case .cancel: await cancelRequest(env, session: session)
        case .subscribe: await subscribeRequest(env, session: session)
        case .unsubscribe: await unsubscribeRequest(env, session: session)
        }
        return true
    }

    /// Where `handle` sends an inbound envelope.
    enum Route {
        /// Answered (or nothing to answer); false when the connection should end.
        case answered(keepGoing: Bool)
        case submit, listJobs, cancel, subscribe, unsubscribe
    }

    /// Answers what needs no await (errors, ping, ack, bye, close) and routes the rest.
    @inline(never)
    func route(_ env: Envelope, session: RuntimeSession) -> Route {
        func fail(_ e: ARCPError) {
            Self.answer(e, to: env, session: session)
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
        case .sessionListJobs:
            if need(.listJobs) { return .listJobs }
        case .sessionBye:
            session.markClosed()
            return .answered(keepGoing: false)
        case .sessionClose(let c):
            session.markClosed()
            session.sendControl(.sessionClosed(SessionClosedPayload(reason: c.reason)))
            return .answered(keepGoing: false)
        case .sessionError(let e):
            logClientError(e, session: session)
        case .jobSubmit:
            return .submit
        case .jobCancel(let c):
            guard (env.jobId ?? c.jobId) != nil else {
                fail(.invalidRequest("job.cancel needs a job_id"))
                return .answered(keepGoing: true)
            }
            return .cancel
        case .jobSubscribe:
            if need(.subscribe) { return .subscribe }
        case .jobUnsubscribe:
            if need(.subscribe) { return .unsubscribe }
        case .unknown(let type, _):
            fail(.invalidRequest("unknown envelope type: '\(type)'"))
        default:
            fail(.invalidRequest("\(env.message.type) is not a client-to-runtime message"))
        }
        return .answered(keepGoing: true)
    }

    @inline(never)
    func submitRequest(_ env: Envelope, session: RuntimeSession) async {
        guard case .jobSubmit(let s) = env.message else { return }
        do {
            try await submit(s, envelope: env, session: session)
        } catch let e as ARCPError {
            Self.answer(e, to: env, session: session)
        } catch {
            Self.answer(.internalError("\(error)"), to: env, session: session)
        }
    }

    @inline(never)
    func listJobsRequest(_ env: Envelope, session: RuntimeSession) async {
        guard case .sessionListJobs(let l) = env.message else { return }
        await listJobs(l, session: session, requestID: env.id)
    }

    @inline(never)
    func cancelRequest(_ env: Envelope, session: RuntimeSession) async {
        guard case .jobCancel(let c) = env.message, let jobID = env.jobId ?? c.jobId else { return }
        await cancel(jobID: jobID, reason: c.reason, session: session, requestID: env.id)
    }

    @inline(never)
    func subscribeRequest(_ env: Envelope, session: RuntimeSession) async {
        guard case .jobSubscribe(let s) = env.message else { return }
        await subscribe(s, session: session, requestID: env.id)
    }

    @inline(never)
    func unsubscribeRequest(_ env: Envelope, session: RuntimeSession) async {
        guard case .jobUnsubscribe(let u) = env.message else { return }
        await unsubscribe(u, session: session, requestID: env.id)
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
