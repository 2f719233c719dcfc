import ARCP
import Testing

@Suite("SessionStateMachine: the session lifecycle and outbox without I/O")
struct SessionStateMachineTests {
    typealias Instant = ContinuousClock.Instant
    let t0 = ContinuousClock.now

    func limits(
        events: Int = 100, bytes: Int = 1 << 20, pending: Int = 4, unacked: Int = 10, threshold: Int = 5, ack: Bool = true
    ) -> SessionOutbox.Limits {
        var b = ARCPRuntime.Configuration.Buffering()
        b.maxBufferedEvents = events
        b.maxBufferedBytes = bytes
        b.maxPendingFrames = pending
        b.maxUnackedEvents = unacked
        b.backPressureThreshold = threshold
        return SessionOutbox.Limits(b, acknowledges: ack)
    }

    func machine(_ l: SessionOutbox.Limits? = nil) -> SessionStateMachine {
        SessionStateMachine(resumeToken: "rtk_1", limits: l ?? limits(), now: t0)
    }

    /// Numbers an event "e<seq>" of job "j".
    @discardableResult
    func event(_ m: inout SessionStateMachine, job: String = "j") -> Int {
        m.queueEvent(jobID: job) { "e\($0)" }.0.seq
    }

    func drain(_ m: inout SessionStateMachine, _ c: UInt64) -> [String] {
        guard case .batch(let b) = m.nextWriterStep(c) else { return [] }
        return b
    }

    @Test("a new session attaches with its welcome first; events are numbered from 1 and queued")
    func attachAndNumber() {
        var m = machine()
        #expect(!m.isAttached)
        guard case .attached(let c, let replaced) = m.attach(welcome: "W", resumeFrom: nil, newToken: nil) else {
            Issue.record("not attached")
            return
        }
        #expect(!replaced)
        #expect(m.connection == c)
        #expect(event(&m) == 1)
        #expect(event(&m) == 2)
        #expect(m.queueControl("C", keepForResume: false) == true)
        #expect(drain(&m, c) == ["W", "e1", "e2", "C"])
        #expect(m.nextWriterStep(c) == .wait)
        #expect(m.writerReadiness(c) == .idle)
    }

    @Test("detached: events keep numbering and buffering but are not queued; control frames are refused")
    func detachedBuffers() {
        var m = machine()
        guard case .attached(let c, _) = m.attach(welcome: "W", resumeFrom: nil, newToken: nil) else { return }
        #expect(m.detach(c, now: t0 + .seconds(1)) == true)
        #expect(m.detachedSince == t0 + .seconds(1))
        #expect(m.nextWriterStep(c) == .done)
        #expect(m.writerReadiness(c) == .gone)
        #expect(event(&m) == 1)
        #expect(m.queueControl("C", keepForResume: false) == false)
        #expect(m.outbox.pending.isEmpty)
        #expect(m.outbox.replay.map(\.seq) == [1])
        #expect(!m.emittersMustWait)
        #expect(!m.readerMustWait)
    }

    @Test("resume: the rotated token, the welcome, then the events after last_event_seq with held acceptances in place")
    func resumeReplays() {
        var m = machine()
        guard case .attached(let c1, _) = m.attach(welcome: "W1", resumeFrom: nil, newToken: nil) else { return }
        event(&m)  // 1
        #expect(m.queueControl("A-after-1", keepForResume: true) == true)  // a delegated job's job.accepted
        event(&m)  // 2
        event(&m)  // 3
        _ = drain(&m, c1)
        #expect(m.detach(c1, now: t0) == true)
        guard case .attached(let c2, false) = m.attach(welcome: "W2", resumeFrom: 1, newToken: "rtk_2") else {
            Issue.record("resume refused")
            return
        }
        #expect(c2 != c1)
        #expect(drain(&m, c2) == ["W2", "A-after-1", "e2", "e3"])
        #expect(m.resumeToken == "rtk_2")
        // Until the client is heard from on the new connection, both tokens work.
        #expect(m.accepts(token: "rtk_1"))
        #expect(m.accepts(token: "rtk_2"))
        m.clientHeard()
        #expect(!m.accepts(token: "rtk_1"))
        #expect(m.accepts(token: "rtk_2"))
        #expect(!m.accepts(token: "rtk_x"))
    }

    @Test("a resume that replaces an attached connection: the old one gets its farewell once, then is done; its queue goes to nobody")
    func replacedConnectionGetsItsFarewell() {
        var m = machine()
        guard case .attached(let c1, false) = m.attach(welcome: "W1", resumeFrom: nil, newToken: nil) else { return }
        event(&m)  // queued for c1, not yet written
        guard case .attached(let c2, true) = m.attach(welcome: "W2", resumeFrom: 0, newToken: "rtk_2", farewell: "BYE1") else {
            Issue.record("resume refused")
            return
        }
        #expect(m.writerReadiness(c1) == .ready)
        #expect(m.nextWriterStep(c1) == .batch(["BYE1"]))
        #expect(m.nextWriterStep(c1) == .done)
        #expect(m.writerReadiness(c1) == .gone)
        #expect(drain(&m, c2) == ["W2", "e1"])
        // Replaced without a farewell (none given): done at once, as before.
        guard case .attached(let c3, true) = m.attach(welcome: "W3", resumeFrom: nil, newToken: nil) else { return }
        #expect(m.nextWriterStep(c2) == .done)
        // Farewells whose writers never came for them are bounded.
        var last = c3
        for i in 0..<(SessionStateMachine.maxFarewells + 4) {
            guard case .attached(let c, true) = m.attach(welcome: "W", resumeFrom: nil, newToken: nil, farewell: "F\(i)") else { return }
            last = c
        }
        #expect(m.nextWriterStep(c3) == .done, "pushed out")
        #expect(m.nextWriterStep(last - 1) == .batch(["F\(SessionStateMachine.maxFarewells + 3)"]))
    }

    @Test("resume from before what was freed is RESUME_WINDOW_EXPIRED, with the first available seq")
    func resumeWindowExpired() {
        var m = machine(limits(events: 2))
        guard case .attached(let c, _) = m.attach(welcome: "W", resumeFrom: nil, newToken: nil) else { return }
        for _ in 1...5 { event(&m) }  // keeps 4 and 5
        #expect(m.outbox.releasedThrough == 3)
        #expect(m.outbox.evictions == 3)
        #expect(m.detach(c, now: t0) == true)
        #expect(m.attach(welcome: "W", resumeFrom: 2, newToken: "rtk_2") == .windowExpired(firstAvailable: 4))
        #expect(m.resumeToken == "rtk_1")  // nothing changed
        #expect(!m.isAttached)
        guard case .attached = m.attach(welcome: "W", resumeFrom: 3, newToken: "rtk_2") else {
            Issue.record("resume from the floor refused")
            return
        }
    }

    @Test("an attach while attached replaces the connection; the stale connection cannot detach or close its successor")
    func replacement() {
        var m = machine()
        guard case .attached(let c1, _) = m.attach(welcome: "W1", resumeFrom: nil, newToken: nil),
            case .attached(let c2, true) = m.attach(welcome: "W2", resumeFrom: 0, newToken: "rtk_2")
        else {
            Issue.record("attach failed")
            return
        }
        #expect(m.detach(c1, now: t0) == false)
        #expect(m.requestCloseAfterFlush(c1) == false)
        #expect(m.connection == c2)
        #expect(m.nextWriterStep(c1) == .done)
    }

    @Test("close after flush: the writer drains what is queued, then is done")
    func closeAfterFlush() {
        var m = machine()
        guard case .attached(let c, _) = m.attach(welcome: "W", resumeFrom: nil, newToken: nil) else { return }
        _ = m.queueControl("closed", keepForResume: false)
        #expect(m.requestCloseAfterFlush(nil) == true)
        #expect(m.writerReadiness(c) == .ready)
        #expect(drain(&m, c) == ["W", "closed"])
        #expect(m.nextWriterStep(c) == .done)
        m.clientClosed()
        #expect(m.closedByClient)
        #expect(m.detach(c, now: t0) == true)
        // §6.7: a closed session stays resumable within the window.
        guard case .attached = m.attach(welcome: "W", resumeFrom: 0, newToken: "rtk_2") else {
            Issue.record("closed session not resumable")
            return
        }
        #expect(!m.closedByClient)
    }

    @Test("expiry: only a session detached for the whole window; expired is final and refuses attach")
    func expiry() {
        var m = machine()
        guard case .attached(let c, _) = m.attach(welcome: "W", resumeFrom: nil, newToken: nil) else { return }
        #expect(m.expire(now: t0 + .seconds(1000), window: .seconds(10)) == .keep)  // attached
        #expect(m.detach(c, now: t0 + .seconds(1)) == true)
        #expect(m.expire(now: t0 + .seconds(5), window: .seconds(10)) == .keep)  // too early
        #expect(m.expire(now: t0 + .seconds(11), window: .seconds(10)) == .expired)
        #expect(m.lifecycle == .expired)
        #expect(m.expire(now: t0 + .seconds(12), window: .seconds(10)) == .alreadyExpired)
        #expect(m.attach(welcome: "W", resumeFrom: 0, newToken: "rtk_2") == .expired)
        #expect(m.resumeToken == "rtk_1")
        // Events of a job still running go nowhere (and are not queued).
        event(&m)
        #expect(m.outbox.pending.isEmpty)
    }

    @Test("resume racing expiry: whichever transition comes first wins, the other is refused")
    func resumeVersusExpiry() {
        // Resume first: the expiry that fires afterwards keeps the session.
        var a = machine()
        guard case .attached(let c, _) = a.attach(welcome: "W", resumeFrom: nil, newToken: nil) else { return }
        #expect(a.detach(c, now: t0) == true)
        guard case .attached = a.attach(welcome: "W", resumeFrom: 0, newToken: "rtk_2") else { return }
        #expect(a.expire(now: t0 + .seconds(100), window: .seconds(10)) == .keep)
        // Expiry first: the resume that arrives afterwards is refused.
        var b = machine()
        guard case .attached(let d, _) = b.attach(welcome: "W", resumeFrom: nil, newToken: nil) else { return }
        #expect(b.detach(d, now: t0) == true)
        #expect(b.expire(now: t0 + .seconds(100), window: .seconds(10)) == .expired)
        #expect(b.attach(welcome: "W", resumeFrom: 0, newToken: "rtk_2") == .expired)
        // A resume and a second detach restart the window.
        var e = machine()
        guard case .attached(let f, _) = e.attach(welcome: "W", resumeFrom: nil, newToken: nil) else { return }
        #expect(e.detach(f, now: t0) == true)
        guard case .attached(let g, _) = e.attach(welcome: "W", resumeFrom: 0, newToken: "rtk_2") else { return }
        #expect(e.detach(g, now: t0 + .seconds(8)) == true)
        #expect(e.expire(now: t0 + .seconds(10), window: .seconds(10)) == .keep)  // the first timer
        #expect(e.expire(now: t0 + .seconds(18), window: .seconds(10)) == .expired)  // the second
    }

    @Test("back-pressure: a full queue stops emitters and the reader; unacknowledged lag stops emitters only")
    func backPressure() {
        var m = machine(limits(pending: 3, unacked: 4, threshold: 2))
        guard case .attached(let c, _) = m.attach(welcome: "W", resumeFrom: nil, newToken: nil) else { return }
        event(&m)
        #expect(!m.emittersMustWait)
        event(&m)  // W, e1, e2: full
        #expect(m.emittersMustWait)
        #expect(m.readerMustWait)
        _ = drain(&m, c)
        #expect(!m.emittersMustWait)
        event(&m)
        event(&m)  // 4 unacknowledged
        _ = drain(&m, c)
        #expect(m.emittersMustWait)
        #expect(!m.readerMustWait)
        #expect(m.acknowledge(through: 3) == 3)
        #expect(!m.emittersMustWait)
        #expect(m.acknowledge(through: 2) == nil)  // old ack
        #expect(m.acknowledge(through: 99) == 4)  // clamped to the last seq
        #expect(m.outbox.replay.isEmpty)
    }

    @Test("back_pressure is reported once per crossing, per job")
    func backPressureReport() {
        var m = machine(limits(pending: 100, unacked: 100, threshold: 2))
        guard case .attached = m.attach(welcome: "W", resumeFrom: nil, newToken: nil) else { return }
        event(&m)
        #expect(m.shouldReportBackPressure(jobID: "j") == false)
        event(&m)
        #expect(m.shouldReportBackPressure(jobID: "j") == true)
        #expect(m.shouldReportBackPressure(jobID: "j") == false)
        #expect(m.shouldReportBackPressure(jobID: "k") == true)
        _ = m.acknowledge(through: 2)
        #expect(m.shouldReportBackPressure(jobID: "j") == false)
        event(&m)
        event(&m)
        #expect(m.shouldReportBackPressure(jobID: "j") == true)
    }

    @Test("emittersMayBePressed is false only when the emitter would neither wait nor be told to report")
    func emittersMayBePressed() {
        var m = machine(limits(pending: 3, unacked: 100, threshold: 2))
        guard case .attached(let c, _) = m.attach(welcome: "W", resumeFrom: nil, newToken: nil) else { return }
        event(&m)
        #expect(!m.emittersMayBePressed)  // W, e1: room, lag 1 < 2
        event(&m)  // W, e1, e2: full, and lag 2 reaches the threshold
        #expect(m.emittersMustWait && m.emittersMayBePressed)
        _ = drain(&m, c)
        #expect(!m.emittersMustWait)
        #expect(m.emittersMayBePressed)  // lag 2: a report is due
        #expect(m.shouldReportBackPressure(jobID: "j") == true)
        #expect(m.emittersMayBePressed)  // j's crossing is recorded until it is asked below the threshold
        _ = m.acknowledge(through: 2)
        #expect(m.emittersMayBePressed)
        #expect(m.shouldReportBackPressure(jobID: "j") == false)  // clears j's crossing
        #expect(!m.emittersMayBePressed)
        // Every state where the checks would wait or report is covered.
        for _ in 1...4 {
            let lag = event(&m) - 2
            #expect(m.emittersMayBePressed == (m.emittersMustWait || lag >= 2))
        }
        // Without ack negotiated, only a full queue presses.
        var n = machine(limits(pending: 3, unacked: 1, threshold: 1, ack: false))
        guard case .attached(let d, _) = n.attach(welcome: "W", resumeFrom: nil, newToken: nil) else { return }
        event(&n)
        #expect(!n.emittersMayBePressed)
        event(&n)
        #expect(n.emittersMayBePressed)
        _ = drain(&n, d)
        #expect(!n.emittersMayBePressed)
    }

    @Test("without ack negotiated, acknowledgements do not bound emitters")
    func noAck() {
        var m = machine(limits(pending: 100, unacked: 1, threshold: 1, ack: false))
        guard case .attached = m.attach(welcome: "W", resumeFrom: nil, newToken: nil) else { return }
        for _ in 1...5 { event(&m) }
        #expect(!m.emittersMustWait)
        #expect(m.shouldReportBackPressure(jobID: "j") == false)
    }

    @Test("the byte cap evicts the oldest events")
    func byteCap() {
        var m = machine(limits(bytes: 6))
        for _ in 1...5 { event(&m) }  // "e1".."e5", 2 bytes each
        #expect(m.outbox.replay.map(\.seq) == [3, 4, 5])
        #expect(m.outbox.replayBytes == 6)
        #expect(m.outbox.releasedThrough == 2)
    }

    @Test("held acceptances are dropped once acknowledged past, and capped")
    func heldAcceptances() {
        var m = machine()
        guard case .attached(let c, _) = m.attach(welcome: "W", resumeFrom: nil, newToken: nil) else { return }
        event(&m)  // 1
        _ = m.queueControl("A1", keepForResume: true)  // after 1
        event(&m)  // 2
        #expect(m.outbox.heldAcceptances.count == 1)
        _ = m.acknowledge(through: 1)
        #expect(m.outbox.heldAcceptances.count == 1)  // not yet past it
        _ = m.acknowledge(through: 2)
        #expect(m.outbox.heldAcceptances.isEmpty)
        for i in 0..<(SessionOutbox.maxHeldAcceptances + 5) { _ = m.queueControl("A\(i)", keepForResume: true) }
        #expect(m.outbox.heldAcceptances.count == SessionOutbox.maxHeldAcceptances)
        _ = drain(&m, c)
    }

    /// Events the store gained after the restore read it (a cluster's previous holder's last
    /// appends) join the replay, and a connection that attached meanwhile (a second resume of
    /// the session on the same node, during the first one's adopt) is sent them after its
    /// replay: its client would otherwise never see them (its next resume asks from later).
    @Test("events appended after the restore reach a connection attached meanwhile")
    func restoreAppendedReachesAnAttachedConnection() {
        var m = machine()
        m.restore(lastSeq: 2, releasedThrough: 0, events: [(1, "j", "e1"), (2, "j", "e2")])
        guard case .attached(let c, _) = m.attach(welcome: "W", resumeFrom: 1, newToken: "rtk_2") else {
            Issue.record("not attached")
            return
        }
        #expect(drain(&m, c) == ["W", "e2"])
        // Held already (e2) is ignored; e3 and e4 are new.
        #expect(m.restoreAppended([(2, "j", "e2"), (3, "j", "e3"), (4, "j", "e4")]) == 2)
        #expect(m.outbox.lastSeq == 4)
        #expect(m.outbox.replay.map(\.seq) == [1, 2, 3, 4])
        #expect(drain(&m, c) == ["e3", "e4"])
        // Numbering continues after them; nothing is queued twice.
        #expect(event(&m) == 5)
        #expect(m.restoreAppended([(4, "j", "e4")]) == 0)
        #expect(drain(&m, c) == ["e5"])
        // Detached, they only join the replay.
        var d = machine()
        d.restore(lastSeq: 1, releasedThrough: 0, events: [(1, "j", "e1")])
        #expect(d.restoreAppended([(2, "j", "e2")]) == 0)
        #expect(d.outbox.replay.map(\.seq) == [1, 2])
        #expect(d.outbox.pending.isEmpty)
    }

    @Test("restore continues numbering after the stored floor and last seq")
    func restore() {
        var m = machine()
        m.restore(lastSeq: 7, releasedThrough: 5, events: [(6, "j", "e6"), (7, "j", "e7")])
        #expect(m.outbox.lastSeq == 7)
        #expect(m.outbox.lastAcked == 5)
        #expect(!m.outbox.canReplay(after: 4))
        #expect(m.outbox.canReplay(after: 5))
        #expect(event(&m) == 8)
        guard case .attached(let c, _) = m.attach(welcome: "W", resumeFrom: 6, newToken: "rtk_2") else {
            Issue.record("restore not resumable")
            return
        }
        #expect(drain(&m, c) == ["W", "e7", "e8"])
    }
}
