import ARCP
import Testing

/// The client's protocol rules as one pure machine: frames in, actions out, no transport
/// touched (a MemoryTransport stands in as a token) and no task parked.
@Suite("Client state machine")
struct ClientStateMachineTests {
    /// What the read loop makes and moves for every frame stays small: the rare cases with
    /// large payloads (an outcome, a reply, a result) are boxed. Inline, a routed event's step
    /// was 409 bytes and its copies were 5 % of the client's CPU in a stream (docs/BENCHMARKS.md,
    /// session 17).
    @Test func perFrameValuesStaySmall() {
        #expect(MemoryLayout<ClientStateMachine.Step>.size <= 64)
        #expect(MemoryLayout<ClientStateMachine.Inbound>.size <= 48)
        #expect(MemoryLayout<ClientJobTable.Route>.size <= 48)
        #expect(MemoryLayout<ClientJobStateMachine.Frame>.size <= 40)
        #expect(MemoryLayout<ClientJobStateMachine.OnFrame>.size <= 40)
    }

    static let t0 = ContinuousClock.now
    static let sid = "sess_01J9Z6ZK3M8Q4P2V7W1X5Y0A2B"
    let client = ARCPClient(token: "t")

    /// A machine that is ready, with `features` negotiated.
    func ready(_ features: [Feature] = [], options: ARCPClient.Options = ARCPClient.Options()) -> ClientStateMachine {
        var m = ClientStateMachine(settings: .init(options))
        _ = m.connection.connect(reconnect: nil)
        let welcome = SessionWelcomePayload(sessionId: Self.sid, resumeToken: "rtk", capabilities: WelcomeCapabilities(features: features))
        _ = m.welcomed(welcome, envelopeSessionID: Self.sid, generation: 1, transport: MemoryTransport.pair().0, at: Self.t0)
        return m
    }

    func register(_ m: inout ClientStateMachine, _ id: String, _ type: String, subscribe: String? = nil) {
        let r = m.register(id: id, type: type, deadline: Self.t0 + .seconds(30), streamEvents: true, subscribeJobID: subscribe, at: Self.t0)
        if case .failure(let e) = r { Issue.record("register failed: \(e)") }
    }

    func receive(_ m: inout ClientStateMachine, _ message: Message, job: String? = nil, seq: Int? = nil) -> ClientStateMachine.Step {
        m.receive(Envelope.make(message, sessionID: Self.sid, jobID: job, eventSeq: seq), generation: 1, at: Self.t0, client: client)
    }

    static func log(_ text: String) -> Message { .jobEvent(JobEventPayload(body: .log(LogBody(level: "info", message: text)))) }

    @Test("job.accepted registers the job's handle with the answer, before any of its frames")
    func accepted() {
        var m = ready()
        register(&m, "req1", "job.submit")
        let step = receive(&m, .jobAccepted(JobAcceptedPayload(jobId: "job_1", requestId: "req1")))
        guard case .answer(let c) = step.inbound, case .success(let reply) = c.outcome else { Issue.record("not answered"); return }
        #expect(reply.job?.jobID == "job_1")
        #expect(m.jobs["job_1"] === reply.job)
        guard case .deliver(let h, let e) = receive(&m, Self.log("hi"), job: "job_1", seq: 1).inbound else { Issue.record("event not delivered"); return }
        #expect(h === reply.job && e.seq == 1)
        // The job ends: it leaves the client's table, and the handle has the outcome to give.
        guard case .finish(_, .success) = receive(&m, .jobResult(JobResultPayload(finalStatus: .success)), job: "job_1", seq: 2).inbound else {
            Issue.record("not finished")
            return
        }
        #expect(m.jobs.count == 0)
        #expect(m.lastSeq == 2)
    }

    @Test("a job's end answers a pending job.cancel when no job.cancelled came (the Python reference's cancel)")
    func cancelAnsweredByTheEnd() {
        var m = ready()
        register(&m, "req1", "job.submit")
        _ = receive(&m, .jobAccepted(JobAcceptedPayload(jobId: "job_1", requestId: "req1")))
        _ = m.register(id: "c1", type: "job.cancel", deadline: Self.t0 + .seconds(30), streamEvents: true, subscribeJobID: nil, cancelJobID: "job_1", at: Self.t0)
        _ = m.register(id: "c2", type: "job.cancel", deadline: Self.t0 + .seconds(30), streamEvents: true, subscribeJobID: nil, cancelJobID: "job_2", at: Self.t0)
        let step = receive(&m, .jobResult(JobResultPayload(finalStatus: .cancelled)), job: "job_1", seq: 1)
        guard case .finishAndAnswer(let h, _, let answered) = step.inbound else { Issue.record("cancel not answered: \(step.inbound)"); return }
        #expect(h.jobID == "job_1")
        #expect(answered.count == 1)
        guard case .success(let reply)? = answered.first?.outcome else { Issue.record("not a reply"); return }
        #expect(reply.envelope.message.type == "job.result")
        // The other job's cancel still waits; a job.cancelled answers it as before.
        #expect(m.requests.entries["c2"] != nil)
        guard case .answer = receive(&m, .jobCancelled(JobCancelledPayload(jobId: "job_2", requestId: "c2")), job: "job_2").inbound else {
            Issue.record("job.cancelled did not answer")
            return
        }
    }

    @Test("an acceptance for no pending submit is reported, and nothing is registered")
    func strayAcceptance() {
        var m = ready()
        guard case .diagnostic(let text) = receive(&m, .jobAccepted(JobAcceptedPayload(jobId: "job_x", requestId: "nope"))).inbound else {
            Issue.record("stray acceptance taken")
            return
        }
        #expect(text.contains("answers no pending submit"))
        #expect(m.jobs.count == 0)
    }

    @Test("the reference's history before job.subscribed is held and routed after the answer")
    func historyFirst() {
        var m = ready()
        register(&m, "sub1", "job.subscribe", subscribe: "job_9")
        guard case .none = receive(&m, Self.log("old 1"), job: "job_9", seq: 1).inbound else { Issue.record("not held"); return }
        guard case .none = receive(&m, Self.log("old 2"), job: "job_9", seq: 2).inbound else { Issue.record("not held"); return }
        let step = receive(&m, .jobSubscribed(JobSubscribedPayload(jobId: "job_9", requestId: "sub1")))
        guard case .answerAndRoute(let c, let held, nil) = step.inbound else { Issue.record("no answer: \(step.inbound)"); return }
        #expect(held.map(\.eventSeq) == [1, 2])
        guard case .success(let reply) = c.outcome, let h = reply.job else { Issue.record("no handle"); return }
        guard case .deliver(let same, _) = m.receive(held[0], generation: 1, at: Self.t0, client: client).inbound else {
            Issue.record("held frame not delivered")
            return
        }
        #expect(same === h)
    }

    @Test("a subscription that fails drops the frames held for it")
    func failedSubscription() throws {
        var m = ready()
        register(&m, "sub1", "job.subscribe", subscribe: "job_9")
        _ = receive(&m, Self.log("old"), job: "job_9", seq: 1)
        #expect(m.jobs.heldCount == 1)
        let error = ErrorPayload(code: .jobNotFound, message: "no", requestId: "sub1")
        guard case .answer = receive(&m, .sessionError(error)).inbound else { Issue.record("error not answered"); return }
        #expect(m.jobs.heldCount == 0)
        // And one that times out does too.
        register(&m, "sub2", "job.subscribe", subscribe: "job_8")
        _ = receive(&m, Self.log("old"), job: "job_8", seq: 2)
        let timer = try #require(m.requestTimer)
        let (expired, _) = m.expireRequests(timer: timer.generation, at: Self.t0 + .seconds(31)) { _ in ARCPClientError(.timedOut, "late") }
        #expect(expired.count == 1)
        #expect(m.jobs.heldCount == 0)
    }

    @Test("one request timer; a request due sooner than it sleeps replaces it, and the old one ends")
    func requestTimer() throws {
        var m = ready()
        let first = m.register(id: "a", type: "session.ping", deadline: Self.t0 + .seconds(30), streamEvents: true, subscribeJobID: nil, at: Self.t0)
        #expect((try? first.get())?.startTimer == 1)
        let second = m.register(id: "b", type: "session.ping", deadline: Self.t0 + .seconds(31), streamEvents: true, subscribeJobID: nil, at: Self.t0)
        #expect((try? second.get())?.startTimer == nil)
        let close = m.register(id: "c", type: "session.close", deadline: Self.t0 + .seconds(2), streamEvents: true, subscribeJobID: nil, at: Self.t0)
        #expect((try? close.get())?.startTimer == 2)
        let (_, staleNext) = m.expireRequests(timer: 1, at: Self.t0 + .seconds(1)) { _ in ARCPClientError(.timedOut, "late") }
        #expect(staleNext == nil)
        let (expired, next) = m.expireRequests(timer: 2, at: Self.t0 + .seconds(2)) { e in ARCPClientError(.timedOut, "\(e.timeout)") }
        #expect(expired.map(\.entry.type) == ["session.close"])
        #expect(expired.first?.entry.timeout == .seconds(2))
        #expect(next == Self.t0 + .seconds(30))
        #expect(m.requestTimer?.generation == 2)
    }

    @Test("answers without request_id go to the oldest request of the type (the reference's session.error)")
    func idLessAnswers() {
        var m = ready()
        register(&m, "p1", "session.ping")
        register(&m, "c1", "job.cancel")
        guard case .answer(let pong) = receive(&m, .sessionPong(SessionPongPayload(pingNonce: "n"))).inbound else { Issue.record("pong unmatched"); return }
        #expect(pong.entry.type == "session.ping")
        guard case .answer(let err) = receive(&m, .sessionError(ErrorPayload(code: .jobNotFound, message: "no"))).inbound else {
            Issue.record("error unmatched")
            return
        }
        #expect(err.entry.type == "job.cancel")
        guard case .diagnostic = receive(&m, .sessionError(ErrorPayload(code: .internalError, message: "spontaneous"))).inbound else {
            Issue.record("unmatched error not reported")
            return
        }
    }

    @Test("pings are answered; HEARTBEAT_LOST is noted as the cause of the coming loss")
    func control() {
        var m = ready()
        guard case .pong("n1") = receive(&m, .sessionPing(SessionPingPayload(nonce: "n1"))).inbound else { Issue.record("no pong"); return }
        guard case .diagnostic = receive(&m, .sessionError(ErrorPayload(code: .heartbeatLost, message: "silent"))).inbound else {
            Issue.record("loss not reported")
            return
        }
        guard case .shutdown(let e) = m.connection.connectionLost(generation: 1, cause: nil) else { Issue.record("no shutdown"); return }
        #expect((e.cause as? ARCPError)?.code == .heartbeatLost)
    }

    @Test("session.bye ends the session: requests and jobs fail as closed, and the tables are empty")
    func bye() {
        var m = ready()
        register(&m, "s1", "job.submit")
        _ = receive(&m, .jobAccepted(JobAcceptedPayload(jobId: "job_1", requestId: "s1")))
        register(&m, "p1", "session.ping")
        guard case .shutdown(let t) = receive(&m, .sessionBye(SessionByePayload(reason: "runtime_shutdown"))).inbound else {
            Issue.record("no shutdown")
            return
        }
        #expect(t.requests.count == 1)
        #expect(t.jobs.count == 1)
        let error = t.jobs.first?.1 as? ARCPClientError
        #expect(error?.code == .closed)
        #expect(error?.message.contains("runtime_shutdown") == true)
        #expect(m.jobs.count == 0)
        #expect(m.connection.isClosed)
        if case .success = m.register(id: "x", type: "session.ping", deadline: Self.t0, streamEvents: true, subscribeJobID: nil, at: Self.t0) {
            Issue.record("request accepted after the session ended")
        }
    }

    @Test("UNAUTHENTICATED mid-session ends it with the runtime's error")
    func unauthenticated() {
        var m = ready()
        register(&m, "p1", "session.ping")
        guard case .shutdown(let t) = receive(&m, .sessionError(ErrorPayload(code: .unauthenticated, message: "revoked"))).inbound else {
            Issue.record("no shutdown")
            return
        }
        guard case .failure(let e)? = t.requests.first?.outcome else { Issue.record("request not failed"); return }
        #expect((e as? ARCPError)?.code == .unauthenticated)
    }

    @Test("a lost connection that resumes fails the requests in flight, keeps the jobs")
    func lostAndResuming() {
        var m = ready()
        register(&m, "s1", "job.submit")
        _ = receive(&m, .jobAccepted(JobAcceptedPayload(jobId: "job_1", requestId: "s1")))
        register(&m, "p1", "session.ping")
        let failed = m.failRequestsInFlight(ARCPClientError(.connectionLost, "lost"))
        #expect(failed.count == 1)
        #expect(m.jobs.count == 1)
    }

    @Test("acks are sent by the machine only when negotiated, through the highest seq")
    func acks() {
        var options = ARCPClient.Options()
        options.autoAckEvery = 2
        options.autoAckInterval = nil
        options.autoAckMinimumSpacing = .zero
        for negotiated in [false, true] {
            var m = ready(negotiated ? [.ack] : [], options: options)
            register(&m, "s1", "job.submit")
            _ = receive(&m, .jobAccepted(JobAcceptedPayload(jobId: "job_1", requestId: "s1")))
            #expect(receive(&m, Self.log("1"), job: "job_1", seq: 1).ack == .none)
            #expect(receive(&m, Self.log("2"), job: "job_1", seq: 2).ack == (negotiated ? .ack(through: 2) : .none))
        }
    }

    @Test("a delegated job's acceptance makes a child handle once; a re-sent one is ignored")
    func children() {
        var m = ready()
        register(&m, "s1", "job.submit")
        _ = receive(&m, .jobAccepted(JobAcceptedPayload(jobId: "parent", requestId: "s1")))
        let child = JobAcceptedPayload(jobId: "kid", parentJobId: "parent", delegateId: "d1")
        guard case .child(let h, let parent) = receive(&m, .jobAccepted(child)).inbound else { Issue.record("no child"); return }
        #expect(h.jobID == "kid" && parent?.jobID == "parent")
        guard case .none = receive(&m, .jobAccepted(child)).inbound else { Issue.record("child registered twice"); return }
        _ = receive(&m, .jobResult(JobResultPayload(finalStatus: .success)), job: "kid", seq: 1)
        // Finished and retired: a runtime re-sending the acceptance on resume does not revive it.
        guard case .none = receive(&m, .jobAccepted(child)).inbound else { Issue.record("finished child revived"); return }
    }
}
