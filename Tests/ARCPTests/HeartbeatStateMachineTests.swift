import ARCP
import Testing

/// A made-up instant: whole milliseconds from zero. Tests move time by hand; nothing sleeps.
struct TestInstant: InstantProtocol, Sendable, CustomStringConvertible {
    var offset: Duration
    init(_ offset: Duration) { self.offset = offset }
    static func ms(_ n: Int) -> TestInstant { TestInstant(.milliseconds(n)) }
    func advanced(by d: Duration) -> TestInstant { TestInstant(offset + d) }
    func duration(to other: TestInstant) -> Duration { other.offset - offset }
    static func < (a: TestInstant, b: TestInstant) -> Bool { a.offset < b.offset }
    var description: String { "t+\(offset)" }
}

@Suite("Heartbeat state machine")
struct HeartbeatStateMachineTests {
    typealias Machine = HeartbeatStateMachine<TestInstant>
    static let second = Machine.Configuration(interval: .seconds(1))

    /// A running machine negotiated at t=0 with a 1 s interval.
    static func running() -> Machine {
        var m = Machine()
        let started = m.negotiated(second, at: .ms(0))
        #expect(started)
        return m
    }

    @Test("idle until negotiated: ticks, frames and nextCheck do nothing")
    func idle() {
        var m = Machine()
        m.frameReceived(at: .ms(5))
        m.frameSent(at: .ms(5))
        #expect(m.tick(at: .ms(10_000)) == .none)
        #expect(m.nextCheck == nil)
        #expect(m.state == .idle)
        #expect(!m.isRunning)
    }

    @Test("a busy connection is never pinged")
    func busy() {
        var m = Self.running()
        for t in stride(from: 100, through: 10_000, by: 100) {
            m.frameReceived(at: .ms(t))
            m.frameSent(at: .ms(t))
            #expect(m.tick(at: .ms(t + 50)) == .none)
        }
    }

    @Test("nothing sent for an interval: one ping, then none until the next idle interval")
    func pingsWhenIdleSending() {
        var m = Self.running()
        m.frameReceived(at: .ms(900))  // the peer talks; we do not
        #expect(m.tick(at: .ms(999)) == .none)
        #expect(m.tick(at: .ms(1_000)) == .sendPing)
        m.frameReceived(at: .ms(1_200))
        #expect(m.tick(at: .ms(1_500)) == .none)  // the ping counted as sent at 1,000
        #expect(m.nextCheck == .ms(2_000))
        m.frameReceived(at: .ms(1_900))
        #expect(m.tick(at: .ms(2_000)) == .sendPing)
    }

    @Test("nothing received for an interval: one ping per silence, even while we keep sending")
    func pingsOncePerSilence() {
        var m = Self.running()
        m.frameSent(at: .ms(1_000))
        #expect(m.tick(at: .ms(1_000)) == .sendPing)  // silent for 1 s
        m.frameSent(at: .ms(1_300))
        #expect(m.tick(at: .ms(1_400)) == .none)  // this silence was pinged already
        m.frameReceived(at: .ms(1_500))  // the pong: silence over
        m.frameSent(at: .ms(2_400))
        #expect(m.tick(at: .ms(2_499)) == .none)
        #expect(m.tick(at: .ms(2_500)) == .sendPing)  // a new silence of 1 s
    }

    @Test("two silent intervals after an unanswered ping: loss, exactly once")
    func loss() {
        var m = Self.running()
        #expect(m.tick(at: .ms(1_000)) == .sendPing)
        #expect(m.nextCheck == .ms(2_000))  // 2 × 1 s after the last frame received
        #expect(m.tick(at: .ms(1_999)) == .none)
        #expect(m.tick(at: .ms(2_000)) == .declareLoss(silence: .seconds(2)))
        #expect(m.state == .lost(at: .ms(2_000)))
        #expect(m.nextCheck == nil)
        #expect(m.tick(at: .ms(9_000)) == .none)
    }

    @Test("a long silence without any ping sent is not a loss: it is pinged first")
    func noLossWithoutPing() {
        var m = Self.running()
        // The shell overslept: the first tick comes after 5 s of silence.
        #expect(m.tick(at: .ms(5_000)) == .sendPing)
        #expect(m.tick(at: .ms(5_001)) == .declareLoss(silence: .milliseconds(5_001)))
    }

    @Test("any frame from the peer in time prevents the loss")
    func frameSavesTheConnection() {
        var m = Self.running()
        #expect(m.tick(at: .ms(1_000)) == .sendPing)
        m.frameReceived(at: .ms(1_999))
        #expect(m.tick(at: .ms(2_000)) == .sendPing)  // nothing sent for 1 s
        m.frameSent(at: .ms(3_500))
        #expect(m.tick(at: .ms(3_998)) == .none)
        #expect(m.tick(at: .ms(3_999)) == .declareLoss(silence: .seconds(2)))
    }

    @Test("loss is judged on the advertised interval, pings on the configured one")
    func separateIntervals() {
        // The runtime's case: pings every 300 ms, but the client was told 1 s (whole seconds).
        var m = Machine()
        m.negotiated(.init(pingInterval: .milliseconds(300), lossInterval: .seconds(1)), at: .ms(0))
        #expect(m.tick(at: .ms(300)) == .sendPing)
        #expect(m.tick(at: .ms(600)) == .sendPing)
        #expect(m.tick(at: .ms(1_999)) == .sendPing)
        #expect(m.tick(at: .ms(2_000)) == .declareLoss(silence: .seconds(2)))
    }

    @Test("nextCheck is the earliest of idle-send ping, silence ping and loss")
    func nextCheck() {
        var m = Self.running()
        #expect(m.nextCheck == .ms(1_000))
        m.frameSent(at: .ms(400))
        m.frameReceived(at: .ms(700))
        #expect(m.nextCheck == .ms(1_400))
        #expect(m.tick(at: .ms(1_400)) == .sendPing)
        // The silence since 700 is pinged: loss check at 2,700, but the next idle-send ping is due first.
        #expect(m.nextCheck == .ms(2_400))
        m.frameSent(at: .ms(2_000))
        #expect(m.nextCheck == .ms(2_700))
    }

    @Test("illegal: a second negotiation is refused and changes nothing")
    func doubleNegotiation() {
        var m = Self.running()
        m.frameReceived(at: .ms(500))
        let before = m.state
        let again = m.negotiated(.init(interval: .milliseconds(10)), at: .ms(600))
        #expect(!again)
        #expect(m.state == before)
    }

    @Test("illegal: nothing revives a lost or stopped machine")
    func finalStates() {
        var lost = Self.running()
        _ = lost.tick(at: .ms(1_000))
        #expect(lost.tick(at: .ms(3_000)) == .declareLoss(silence: .seconds(3)))
        lost.frameReceived(at: .ms(3_001))
        lost.frameSent(at: .ms(3_001))
        let revived = lost.negotiated(Self.second, at: .ms(3_002))
        #expect(!revived)
        lost.stop()
        #expect(lost.state == .lost(at: .ms(3_000)))
        #expect(lost.tick(at: .ms(9_000)) == .none)

        var stopped = Self.running()
        stopped.stop()
        stopped.frameReceived(at: .ms(10))
        let restarted = stopped.negotiated(Self.second, at: .ms(20))
        #expect(!restarted)
        #expect(stopped.state == .stopped)
        #expect(stopped.tick(at: .ms(9_000)) == .none)
        #expect(stopped.nextCheck == nil)

        var never = Machine()
        never.stop()
        #expect(never.state == .stopped)
        let late = never.negotiated(Self.second, at: .ms(0))
        #expect(!late)
    }

    @Test("illegal: instants out of order never move the clocks back")
    func timeGoingBackwards() {
        var m = Self.running()
        m.frameReceived(at: .ms(800))
        m.frameReceived(at: .ms(100))
        m.frameSent(at: .ms(800))
        m.frameSent(at: .ms(100))
        #expect(m.tick(at: .ms(50)) == .none)  // a tick "before" the last frames
        #expect(m.nextCheck == .ms(1_800))
    }

    @Test("peer numbers are range-checked: absent, zero, negative, huge")
    func advertised() {
        typealias C = Machine.Configuration
        #expect(C.interval(advertisedSeconds: nil) == nil)
        #expect(C.interval(advertisedSeconds: 0) == nil)
        #expect(C.interval(advertisedSeconds: -5) == nil)
        #expect(C.interval(advertisedSeconds: 30) == .seconds(30))
        #expect(C.interval(advertisedSeconds: .max) == C.maximumInterval)
        #expect(C(interval: .zero).pingInterval == C.minimumInterval)
        #expect(C(interval: .seconds(Int64.max)).lossInterval == C.maximumInterval)
        #expect(C.advertisedSeconds(.milliseconds(200)) == 1)
        #expect(C.advertisedSeconds(.milliseconds(1_500)) == 2)
        #expect(C.advertisedSeconds(.seconds(30)) == 30)
        // The clamp keeps the machine's arithmetic finite at the extremes.
        var m = Machine()
        m.negotiated(C(interval: .seconds(Int64.max)), at: .ms(0))
        #expect(m.nextCheck == TestInstant(C.maximumInterval))
    }

    @Test("works with the real clock's instants too")
    func continuousClock() {
        var m = HeartbeatStateMachine<ContinuousClock.Instant>()
        let t0 = ContinuousClock.now
        m.negotiated(.init(interval: .seconds(30)), at: t0)
        #expect(m.tick(at: t0 + .seconds(29)) == .none)
        #expect(m.tick(at: t0 + .seconds(30)) == .sendPing)
        #expect(m.tick(at: t0 + .seconds(60)) == .declareLoss(silence: .seconds(60)))
    }
}
