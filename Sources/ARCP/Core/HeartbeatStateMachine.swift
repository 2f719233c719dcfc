/// Heartbeats (spec §6.4) as a pure state machine: the one implementation of the rules, used by
/// the client and by the runtime for each connection.
///
/// The rules, the same at both ends:
/// - **Ping** when nothing was sent for `pingInterval`, or when nothing was received for
///   `pingInterval` and this silence has not been pinged yet.
/// - **Loss** when nothing was received for two `lossInterval`s *and* at least one ping of this
///   silence went unanswered. Any received frame ends a silence (a pong is just a frame).
/// - A lost heartbeat ends the connection, never a job: what to do with the loss (close the
///   transport, send `session.error HEARTBEAT_LOST`, resume) is the caller's business.
///
/// The machine does no I/O and reads no clock: every input carries the instant it happened at,
/// so tests drive it with made-up instants and never sleep. The I/O shell owns one machine per
/// connection (under its own lock), reports what it sends and receives, calls `tick(at:)` at
/// `nextCheck` (or on any cadence, e.g. a quarter of the interval), and executes the action.
///
/// Lifecycle: `idle` (heartbeats not negotiated yet) → `running` (after `negotiated`) →
/// `lost` (after a loss) or `stopped` (the connection ended). `lost` and `stopped` are final; a
/// new connection gets a new machine. Inputs that make no sense in a state (a second
/// `negotiated`, a tick before negotiation or after the end) change nothing and return no action.
package struct HeartbeatStateMachine<Instant: InstantProtocol & Sendable>: Sendable where Instant.Duration == Duration {
    /// The two intervals. Both are clamped to `minimumInterval...maximumInterval` so no peer
    /// number can make the arithmetic overflow or a timer spin.
    package struct Configuration: Sendable, Equatable {
        /// How long either direction may be silent before a ping goes out.
        package var pingInterval: Duration
        /// The interval the peer was told: the connection is lost after two of these without
        /// any frame from the peer (and with a ping unanswered).
        package var lossInterval: Duration

        /// 1 ms: shorter intervals would make the check loop spin.
        package static var minimumInterval: Duration { .milliseconds(1) }
        /// One day: longer ones are as good as off, and keep `2 × interval` far from overflow.
        package static var maximumInterval: Duration { .seconds(86_400) }

        package init(pingInterval: Duration, lossInterval: Duration) {
            self.pingInterval = Self.clamped(pingInterval)
            self.lossInterval = Self.clamped(lossInterval)
        }

        /// Pings and loss judged on the same interval.
        package init(interval: Duration) {
            self.init(pingInterval: interval, lossInterval: interval)
        }

        static func clamped(_ d: Duration) -> Duration {
            min(max(d, minimumInterval), maximumInterval)
        }

        /// The interval a peer advertised in whole seconds (`heartbeat_interval_sec`), or nil
        /// when it advertised none (absent, zero or negative). Range-checked: a huge value is
        /// capped at `maximumInterval`, never converted unchecked.
        package static func interval(advertisedSeconds seconds: Int?) -> Duration? {
            guard let seconds, seconds > 0 else { return nil }
            let cap = Int(maximumInterval.components.seconds)
            return .seconds(min(seconds, cap))
        }

        /// `interval` as advertised on the wire: whole seconds, rounded up, at least 1.
        package static func advertisedSeconds(_ interval: Duration) -> Int {
            let (secs, atto) = clamped(interval).components
            return max(1, Int(secs) + (atto > 0 ? 1 : 0))
        }
    }

    /// What the shell must do after a tick.
    package enum Action: Sendable, Equatable {
        case none
        /// Send `session.ping` now. (The machine has already counted it as sent.)
        case sendPing
        /// The peer has been silent for `silence` despite a ping: the connection is lost.
        case declareLoss(silence: Duration)
    }

    package enum State: Sendable, Equatable {
        /// Heartbeats not negotiated (yet): nothing is watched.
        case idle
        case running(Running)
        /// The peer went silent; final.
        case lost(at: Instant)
        /// The connection ended; final.
        case stopped
    }

    package struct Running: Sendable, Equatable {
        package var configuration: Configuration
        package var lastReceived: Instant
        package var lastSent: Instant
        /// Whether a ping went out since `lastReceived` (this silence has been pinged).
        package var pingOutstanding: Bool
    }

    package private(set) var state: State = .idle

    package init() {}

    /// Heartbeats were negotiated for a connection that is live at `now`: start watching.
    /// - Returns: false (and no change) unless the machine was `idle`.
    @discardableResult
    package mutating func negotiated(_ configuration: Configuration, at now: Instant) -> Bool {
        guard case .idle = state else { return false }
        state = .running(Running(configuration: configuration, lastReceived: now, lastSent: now, pingOutstanding: false))
        return true
    }

    /// Any frame arrived from the peer (a pong included): the silence is over.
    package mutating func frameReceived(at now: Instant) {
        guard case .running(var r) = state else { return }
        if now > r.lastReceived { r.lastReceived = now }
        r.pingOutstanding = false
        state = .running(r)
    }

    /// A frame went out to the peer.
    package mutating func frameSent(at now: Instant) {
        guard case .running(var r) = state else { return }
        if now > r.lastSent { r.lastSent = now }
        state = .running(r)
    }

    /// Time has passed: decides whether to ping or to declare the connection lost.
    package mutating func tick(at now: Instant) -> Action {
        guard case .running(var r) = state else { return .none }
        let sinceReceived = r.lastReceived.duration(to: now)
        let sinceSent = r.lastSent.duration(to: now)
        if r.pingOutstanding && sinceReceived >= r.configuration.lossInterval * 2 {
            state = .lost(at: now)
            return .declareLoss(silence: sinceReceived)
        }
        let silent = sinceReceived >= r.configuration.pingInterval && !r.pingOutstanding
        guard sinceSent >= r.configuration.pingInterval || silent else { return .none }
        // Any ping sent since the last received frame belongs to this silence.
        r.pingOutstanding = true
        if now > r.lastSent { r.lastSent = now }
        state = .running(r)
        return .sendPing
    }

    /// The connection ended (closed, replaced, or the heartbeat was lost and handled).
    package mutating func stop() {
        if case .lost = state { return }
        state = .stopped
    }

    /// When `tick(at:)` next has something to decide; nil when nothing is watched.
    package var nextCheck: Instant? {
        guard case .running(let r) = state else { return nil }
        let byIdleSend = r.lastSent.advanced(by: r.configuration.pingInterval)
        let bySilence =
            r.pingOutstanding
            ? r.lastReceived.advanced(by: r.configuration.lossInterval * 2)
            : r.lastReceived.advanced(by: r.configuration.pingInterval)
        return min(byIdleSend, bySilence)
    }

    /// Whether the peer is being watched.
    package var isRunning: Bool {
        if case .running = state { return true }
        return false
    }
}
