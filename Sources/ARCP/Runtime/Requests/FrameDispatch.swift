import Logging

extension ARCPRuntime {
    /// Handles one inbound frame of an established session: decode, dispatch, reply (on the
    /// connection's executor). Returns false when the connection should end (bye / close).
    func handle(_ frame: String, session: RuntimeSession) async -> Bool {
        await handle(FrameCodec.decode(frame), session: session)
    }

    /// Handles one decoded inbound frame (or the error its decoding gave): dispatch, reply.
    /// Returns false when the connection should end (bye / close).
    func handle(_ decoded: Result<Envelope, ARCPError>, session: RuntimeSession) async -> Bool {
        let env: Envelope
        switch decoded {
        case .failure(let e):
            session.sendControl(.sessionError(e.payload))
            return true
        case .success(let e):
            env = e
        }
        func fail(_ e: ARCPError, jobID: String? = nil) {
            var e = e
            e.requestID = e.requestID ?? env.id
            session.sendControl(.sessionError(e.payload), jobID: jobID)
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
            logger.info("client reported an error", metadata: ["session": "\(session.id)", "code": "\(e.code)", "message": "\(e.message)"])
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
