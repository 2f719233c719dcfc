import ARCP
import Testing

@Suite("Client connection state machine")
struct ClientConnectionStateMachineTests {
    typealias Machine = ClientConnectionStateMachine
    static let t0 = ContinuousClock.now
    struct Boom: Error {}

    static func session(_ id: String = "sess_1", token: String = "rtk_1") -> Machine.Session {
        Machine.Session(id: id, welcome: SessionWelcomePayload(sessionId: id, resumeToken: token), features: [], resumeToken: token)
    }

    static func reconnect(maxAttempts: Int = 3) -> Machine.Reconnect {
        Machine.Reconnect(
            factory: { MemoryTransport.pair().0 },
            policy: .init(maxAttempts: maxAttempts, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(25)))
    }

    /// A machine in `ready` on generation 1 (a MemoryTransport stands in; nothing is sent on it).
    static func ready(reconnect: Machine.Reconnect? = nil, heartbeat: Duration? = nil) -> Machine {
        var m = Machine()
        guard case .handshake(let g) = m.connect(reconnect: reconnect) else {
            Issue.record("connect refused")
            return m
        }
        let outcome = m.handshakeSucceeded(generation: g, transport: MemoryTransport.pair().0, session: session(), heartbeatInterval: heartbeat, at: t0)
        guard case .ready(1, heartbeat != nil, false) = outcome else {
            Issue.record("not ready: \(outcome)")
            return m
        }
        return m
    }

    static func isReady(_ m: Machine) -> Bool {
        if case .ready = m.state { return true }
        return false
    }

    @Test("connect → handshaking → ready; a second connect is refused")
    func connect() {
        var m = Machine()
        #expect(m.sendable().failureCode == .notConnected)
        guard case .handshake(1) = m.connect(reconnect: nil) else { Issue.record("no handshake"); return }
        #expect(m.sendable().failureCode == .notConnected)
        guard case .reject(let e) = m.connect(reconnect: nil) else { Issue.record("second connect accepted"); return }
        #expect(e.code == .protocolViolation)
        _ = m.handshakeSucceeded(generation: 1, transport: MemoryTransport.pair().0, session: Self.session(), heartbeatInterval: nil, at: Self.t0)
        #expect(Self.isReady(m))
        #expect(m.session?.id == "sess_1")
        #expect(m.resumes == 0)
        if case .reject = m.connect(reconnect: nil) {} else { Issue.record("connect while ready accepted") }
        if case .success = m.sendable() {} else { Issue.record("cannot send while ready") }
    }

    @Test("a refused handshake returns to idle and throws to the caller")
    func refused() {
        var m = Machine()
        _ = m.connect(reconnect: Self.reconnect())
        guard case .fail(let e) = m.handshakeFailed(generation: 1, ARCPError(.unauthenticated, "no")) else { Issue.record("not failed"); return }
        #expect((e as? ARCPError)?.code == .unauthenticated)
        guard case .idle = m.state else { Issue.record("not idle: \(m.state)"); return }
        guard case .handshake(2) = m.connect(reconnect: nil) else { Issue.record("cannot connect again"); return }
    }

    @Test("illegal: a welcome or failure for another generation changes nothing")
    func staleHandshake() {
        var m = Machine()
        _ = m.connect(reconnect: nil)
        guard case .abandon = m.handshakeSucceeded(generation: 7, transport: MemoryTransport.pair().0, session: Self.session(), heartbeatInterval: nil, at: Self.t0) else {
            Issue.record("stale welcome accepted")
            return
        }
        guard case .none = m.handshakeFailed(generation: 7, Boom()) else { Issue.record("stale failure taken"); return }
        guard case .handshaking(1, nil) = m.state else { Issue.record("state changed: \(m.state)"); return }
    }

    @Test("a lost connection without a reconnect policy ends the session, keeping the cause")
    func lostWithoutPolicy() {
        var m = Self.ready()
        guard case .none = m.connectionLost(generation: 99, cause: Boom()) else { Issue.record("stale loss taken"); return }
        #expect(Self.isReady(m))
        guard case .shutdown(let e) = m.connectionLost(generation: 1, cause: TransportError.io("reset")) else { Issue.record("no shutdown"); return }
        #expect(e.code == .connectionLost)
        #expect(e.cause as? TransportError == .io("reset"))
        #expect(m.sendable().failureCode == .notConnected)
        #expect((m.sendable().failure?.cause as? ARCPClientError)?.code == .connectionLost)
        guard case .none = m.connectionLost(generation: 1, cause: nil) else { Issue.record("second loss taken"); return }
    }

    @Test("the runtime's HEARTBEAT_LOST is the cause of the loss that follows")
    func reportedLoss() {
        var m = Self.ready()
        m.runtimeReportedLoss(ARCPError(.heartbeatLost, "silent"))
        guard case .shutdown(let e) = m.connectionLost(generation: 1, cause: nil) else { Issue.record("no shutdown"); return }
        #expect((e.cause as? ARCPError)?.code == .heartbeatLost)
    }

    @Test("resume: lost → resuming → handshaking(resume) → ready, counted once")
    func resume() {
        var m = Self.ready(reconnect: Self.reconnect())
        guard case .resume(let e) = m.connectionLost(generation: 1, cause: Boom()) else { Issue.record("no resume"); return }
        #expect(e.code == .connectionLost)
        #expect(e.isRetryable)
        #expect(m.sendable().failureCode == .connectionLost)
        guard case .attempt(2, _, "sess_1", "rtk_1") = m.nextResumeAttempt() else { Issue.record("no attempt"); return }
        #expect(m.sendable().failureCode == .connectionLost)
        let outcome = m.handshakeSucceeded(
            generation: 2, transport: MemoryTransport.pair().0, session: Self.session(token: "rtk_2"), heartbeatInterval: nil, at: Self.t0)
        guard case .ready(2, false, true) = outcome else { Issue.record("not resumed: \(outcome)"); return }
        #expect(m.resumes == 1)
        #expect(m.session?.resumeToken == "rtk_2")
        // The old connection's late report is stale now.
        guard case .none = m.connectionLost(generation: 1, cause: nil) else { Issue.record("stale loss taken"); return }
    }

    @Test("resume attempts back off exponentially up to the cap, then give up with the last error")
    func backoff() {
        var m = Self.ready(reconnect: Self.reconnect(maxAttempts: 4))
        _ = m.connectionLost(generation: 1, cause: Boom())
        var waits: [Duration] = []
        while case .attempt(let g, _, _, _) = m.nextResumeAttempt() {
            switch m.handshakeFailed(generation: g, TransportError.connectFailed("refused")) {
            case .retry(let after): waits.append(after)
            case .giveUp(let e): #expect(e as? TransportError == .connectFailed("refused"))
            default: Issue.record("unexpected step")
            }
        }
        #expect(waits == [.milliseconds(10), .milliseconds(20), .milliseconds(25)])
        guard case .closed = m.state else { Issue.record("not closed: \(m.state)"); return }
        guard case .stop = m.nextResumeAttempt() else { Issue.record("attempt after giving up"); return }
    }

    @Test("a resume the runtime refuses for good (window expired, token bad) gives up at once")
    func finalRefusal() {
        for code in [ErrorCode.resumeWindowExpired, .unauthenticated] {
            var m = Self.ready(reconnect: Self.reconnect(maxAttempts: 10))
            _ = m.connectionLost(generation: 1, cause: Boom())
            guard case .attempt(let g, _, _, _) = m.nextResumeAttempt() else { Issue.record("no attempt"); return }
            guard case .giveUp(let e) = m.handshakeFailed(generation: g, ARCPError(code, "no")) else { Issue.record("retried \(code)"); return }
            #expect((e as? ARCPError)?.code == code)
        }
    }

    @Test("close: ready → closing (goodbye) → closed; closing again does nothing")
    func close() {
        var m = Self.ready()
        guard case .sayGoodbye = m.close() else { Issue.record("no goodbye"); return }
        #expect(m.isClosed)
        if case .success = m.sendable(allowClosing: true) {} else { Issue.record("session.close cannot be sent while closing") }
        #expect(m.sendable().failureCode == .closed)
        guard case .none = m.close() else { Issue.record("second close acted"); return }
        // A loss while closing is the close's business.
        guard case .none = m.connectionLost(generation: 1, cause: nil) else { Issue.record("loss during close taken"); return }
        let transport = m.closeFinished(ARCPClientError(.closed, "bye"))
        #expect(transport != nil)
        #expect(m.sendable().failureCode == .notConnected)
        let again = m.closeFinished(ARCPClientError(.closed, "bye"))
        #expect(again == nil)
        guard case .none = m.close() else { Issue.record("close after closed acted"); return }
    }

    @Test("illegal: close during a resume stops it; a welcome that arrives after is abandoned")
    func closeWhileResuming() {
        var m = Self.ready(reconnect: Self.reconnect())
        _ = m.connectionLost(generation: 1, cause: Boom())
        guard case .attempt(let g, _, _, _) = m.nextResumeAttempt() else { Issue.record("no attempt"); return }
        guard case .finish = m.close() else { Issue.record("close did not finish"); return }
        guard case .abandon = m.handshakeSucceeded(generation: g, transport: MemoryTransport.pair().0, session: Self.session(), heartbeatInterval: nil, at: Self.t0)
        else { Issue.record("welcome after close accepted"); return }
        guard case .none = m.handshakeFailed(generation: g, Boom()) else { Issue.record("failure after close taken"); return }
        guard case .stop = m.nextResumeAttempt() else { Issue.record("attempt after close"); return }
    }

    @Test("the runtime ending the session (bye, UNAUTHENTICATED) closes it; only once")
    func sessionEnded() {
        var m = Self.ready(reconnect: Self.reconnect())
        let first = m.sessionEnded(ARCPClientError(.closed, "bye"))
        let second = m.sessionEnded(ARCPClientError(.closed, "bye"))
        #expect(first && !second)
        guard case .none = m.connectionLost(generation: 1, cause: nil) else { Issue.record("resumed an ended session"); return }
        #expect(m.sendable().failureCode == .notConnected)
    }

    @Test("heartbeats run per connection: ping, loss, and a stale generation stops its task")
    func heartbeat() {
        var m = Self.ready(heartbeat: .seconds(1))
        guard case .wait(let until) = m.heartbeat(generation: 1, at: Self.t0) else { Issue.record("no wait"); return }
        #expect(until == Self.t0 + .seconds(1))
        guard case .ping = m.heartbeat(generation: 1, at: Self.t0 + .seconds(1)) else { Issue.record("no ping"); return }
        m.frameSent(at: Self.t0 + .seconds(1))
        guard case .lost(_, let silence) = m.heartbeat(generation: 1, at: Self.t0 + .seconds(2)) else { Issue.record("no loss"); return }
        #expect(silence == .seconds(2))
        guard case .stop = m.heartbeat(generation: 2, at: Self.t0) else { Issue.record("stale generation ticked"); return }
        // The shell closes the transport; the loss it then reports carries the heartbeat's verdict.
        guard case .shutdown(let e) = m.connectionLost(generation: 1, cause: nil) else { Issue.record("no shutdown"); return }
        #expect((e.cause as? ARCPClientError)?.code == .timedOut)
        var quiet = Self.ready(heartbeat: nil)
        guard case .stop = quiet.heartbeat(generation: 1, at: Self.t0) else { Issue.record("heartbeat without negotiation"); return }
    }

    @Test("frames received keep the heartbeat quiet; frames from a stale generation do not")
    func heartbeatFrames() {
        var m = Self.ready(heartbeat: .seconds(1))
        m.frameReceived(generation: 1, at: Self.t0 + .milliseconds(900))
        m.frameSent(at: Self.t0 + .milliseconds(900))
        guard case .wait = m.heartbeat(generation: 1, at: Self.t0 + .seconds(1)) else { Issue.record("pinged a live peer"); return }
        m.frameReceived(generation: 5, at: Self.t0 + .seconds(3))
        guard case .ping = m.heartbeat(generation: 1, at: Self.t0 + .milliseconds(1_900)) else { Issue.record("no ping"); return }
    }

    @Test("frames are noted when the heartbeat asks: the latest in and out count, an earlier instant noted after them does not")
    func heartbeatNotesTheLatestFrames() {
        var m = Self.ready(heartbeat: .seconds(1))
        m.frameReceived(generation: 1, at: Self.t0 + .milliseconds(900))
        m.frameReceived(generation: 1, at: Self.t0 + .milliseconds(200))
        m.frameSent(at: Self.t0 + .milliseconds(900))
        m.frameSent(at: Self.t0 + .milliseconds(300))
        guard case .wait(let until) = m.heartbeat(generation: 1, at: Self.t0 + .seconds(1)) else { Issue.record("pinged a live peer"); return }
        #expect(until == Self.t0 + .milliseconds(1_900))
        // Noted once: the next question, with no frame since, pings.
        guard case .ping = m.heartbeat(generation: 1, at: Self.t0 + .milliseconds(1_900)) else { Issue.record("no ping"); return }
    }
}

extension Result where Failure == ARCPClientError {
    var failure: ARCPClientError? {
        if case .failure(let e) = self { return e }
        return nil
    }
    var failureCode: ARCPClientError.Code? { failure?.code }
}
