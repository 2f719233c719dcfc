import ARCP
import Testing

@Suite("ConnectionStateMachine: handshake and connection end without I/O")
struct ConnectionStateMachineTests {
    func hello(token: String = "tok", resume: ResumeBlock? = nil) -> Envelope {
        Envelope.make(.sessionHello(SessionHelloPayload(auth: Auth(token: token), resume: resume)))
    }

    @Test("hello → verify → open → serving → draining → closed")
    func newSession() {
        var m = ConnectionStateMachine()
        let env = hello()
        #expect(m.firstFrame(.frame(.success(env))) == .verify(token: "tok"))
        guard case .open(let principal, _, let requestID) = m.verified(principal: "me") else {
            Issue.record("expected open")
            return
        }
        #expect(principal == "me")
        #expect(requestID == env.id)
        m.attached(sessionID: "sess_1", connection: 7)
        #expect(m.state == .serving(sessionID: "sess_1", connection: 7))
        #expect(m.readerEnded() == .closeAfterFlush(connection: 7))
        #expect(m.state == .draining(sessionID: "sess_1", connection: 7))
        #expect(m.readerEnded() == .none)
        #expect(m.writerEnded() == .detachAndClose(connection: 7))
        #expect(m.state == .closed)
        #expect(m.writerEnded() == .none)
    }

    @Test("the writer may end first (transport failed, connection replaced)")
    func writerFirst() {
        var m = ConnectionStateMachine()
        _ = m.firstFrame(.frame(.success(hello())))
        _ = m.verified(principal: "me")
        m.attached(sessionID: "s", connection: 1)
        #expect(m.writerEnded() == .detachAndClose(connection: 1))
        #expect(m.readerEnded() == .none)
    }

    @Test("a bad token is UNAUTHENTICATED with the hello's id")
    func badToken() {
        var m = ConnectionStateMachine()
        let env = hello(token: "nope")
        _ = m.firstFrame(.frame(.success(env)))
        guard case .reject(let e) = m.verified(principal: nil) else {
            Issue.record("expected a rejection")
            return
        }
        #expect(e.code == .unauthenticated)
        #expect(e.requestID == env.id)
        #expect(m.state == .closed)
    }

    @Test("resume inside hello authenticates, then resumes with the principal")
    func resumeInHello() {
        var m = ConnectionStateMachine()
        let env = hello(resume: .init(sessionId: "sess_1", resumeToken: "rtk", lastEventSeq: 4))
        #expect(m.firstFrame(.frame(.success(env))) == .verify(token: "tok"))
        #expect(
            m.verified(principal: "me") == .resume(sessionID: "sess_1", token: "rtk", lastSeq: 4, principal: "me", requestID: env.id))
        m.openingFailed()
        #expect(m.state == .closed)
    }

    @Test("session.resume without auth resumes on the token alone; with auth it is verified first")
    func sessionResume() {
        var bare = ConnectionStateMachine()
        let env = Envelope.make(.sessionResume(SessionResumePayload(sessionId: "sess_1", resumeToken: "rtk")))
        #expect(bare.firstFrame(.frame(.success(env))) == .resume(sessionID: "sess_1", token: "rtk", lastSeq: 0, principal: nil, requestID: env.id))
        #expect(bare.verified(principal: "me") == .none)  // nobody asked

        var authed = ConnectionStateMachine()
        let env2 = Envelope.make(.sessionResume(SessionResumePayload(sessionId: "sess_1", resumeToken: "rtk", lastEventSeq: 2, auth: Auth(token: "tok"))))
        #expect(authed.firstFrame(.frame(.success(env2))) == .verify(token: "tok"))
        #expect(authed.verified(principal: "me") == .resume(sessionID: "sess_1", token: "rtk", lastSeq: 2, principal: "me", requestID: env2.id))
    }

    @Test("anything but hello or resume first is INVALID_REQUEST with its id")
    func wrongFirstFrame() {
        var m = ConnectionStateMachine()
        let env = Envelope.make(.jobSubmit(JobSubmitPayload(agent: "echo")))
        guard case .reject(let e) = m.firstFrame(.frame(.success(env))) else {
            Issue.record("expected a rejection")
            return
        }
        #expect(e.code == .invalidRequest)
        #expect(e.requestID == env.id)
        #expect(e.message.contains("job.submit"))
        #expect(m.state == .closed)
    }

    @Test("malformed first frame, timeout and a silent close")
    func failures() {
        var malformed = ConnectionStateMachine()
        let e = ARCPError.invalidRequest("malformed JSON")
        #expect(malformed.firstFrame(.frame(.failure(e))) == .reject(e))
        var slow = ConnectionStateMachine()
        guard case .reject(let timeout) = slow.firstFrame(.timedOut(.seconds(10))) else {
            Issue.record("expected a rejection")
            return
        }
        #expect(timeout.code == .invalidRequest)
        #expect(timeout.message.contains("no session.hello"))
        var gone = ConnectionStateMachine()
        #expect(gone.firstFrame(.peerClosed) == .close)
        #expect(gone.state == .closed)
    }

    @Test("illegal inputs change nothing")
    func illegal() {
        var m = ConnectionStateMachine()
        #expect(m.verified(principal: "me") == .none)
        #expect(m.readerEnded() == .none)
        #expect(m.writerEnded() == .none)
        m.attached(sessionID: "s", connection: 1)
        m.openingFailed()
        #expect(m.state == .awaitingHello)
        _ = m.firstFrame(.frame(.success(hello())))
        #expect(m.firstFrame(.frame(.success(hello()))) == .none)  // a second first frame
        guard case .authenticating(.open) = m.state else {
            Issue.record("the second first frame changed the state")
            return
        }
    }
}
