/// When the client sends `session.ack` on its own (spec §6.5): after `every` events, or once
/// `interval` has passed since the last ack and an event arrives, but never closer together than
/// `minimumSpacing`; an ack that comes due too soon is sent once, late, covering everything that
/// arrived meanwhile. Pure: the I/O shell reports events and the trailing timer, and sends what it
/// is told. Only used when `ack` was negotiated.
package struct AutoAckStateMachine: Sendable {
    package struct Configuration: Sendable, Equatable {
        package var every: Int?
        package var interval: Duration?
        package var minimumSpacing: Duration

        package init(every: Int?, interval: Duration?, minimumSpacing: Duration) {
            self.every = every.map { max(1, $0) }
            self.interval = interval
            self.minimumSpacing = max(.zero, minimumSpacing)
        }
    }

    package enum Action: Sendable, Equatable {
        case none
        /// Send `session.ack` with `last_processed_seq` = `through` now.
        case ack(through: Int)
        /// Call `trailingTimerFired(at:)` after `delay` (exactly one trailing ack is scheduled).
        case scheduleTrailing(after: Duration)
    }

    package let configuration: Configuration
    /// Events since the last ack.
    package private(set) var sinceAck = 0
    package private(set) var lastAckAt: ContinuousClock.Instant
    /// The highest `event_seq` processed.
    package private(set) var through = 0
    /// Whether a trailing ack is scheduled.
    package private(set) var trailingScheduled = false

    package init(_ configuration: Configuration, now: ContinuousClock.Instant) {
        self.configuration = configuration
        self.lastAckAt = now
    }

    /// An event (or terminal frame) with `seq` was processed.
    package mutating func processed(seq: Int, at now: ContinuousClock.Instant) -> Action {
        if seq > through { through = seq }
        sinceAck += 1
        let sinceLast = lastAckAt.duration(to: now)
        let byCount = configuration.every.map { sinceAck >= $0 } ?? false
        let byTime = configuration.interval.map { sinceLast >= $0 } ?? false
        guard byCount || byTime else { return .none }
        if sinceLast < configuration.minimumSpacing {
            // Too soon: one trailing ack covers everything that arrives meanwhile.
            if trailingScheduled { return .none }
            trailingScheduled = true
            return .scheduleTrailing(after: configuration.minimumSpacing - sinceLast)
        }
        sinceAck = 0
        lastAckAt = now
        return .ack(through: through)
    }

    /// The trailing timer fired.
    package mutating func trailingTimerFired(at now: ContinuousClock.Instant) -> Action {
        guard trailingScheduled else { return .none }
        trailingScheduled = false
        guard sinceAck > 0 else { return .none }
        sinceAck = 0
        lastAckAt = now
        return .ack(through: through)
    }
}
