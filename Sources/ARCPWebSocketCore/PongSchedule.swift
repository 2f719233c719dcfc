import NIOCore

/// When to answer a ping, so that a peer that pings but does not read cannot make pongs queue
/// up (a pure state machine; the adapter writes the pongs and reports their completion).
///
/// One pong is in flight at a time. A ping that arrives while it is (the peer has not read
/// it: its write did not complete) is not answered at once: its payload replaces any earlier
/// waiting one, and that latest payload is answered when the pong in flight is written
/// (RFC 6455 §5.5.3 lets an endpoint answer only the most recent ping). More than
/// `maxUnanswered` such pings in a row is a violation (1008): a peer that floods pings and does
/// not read is disconnected. So at most two pongs' payloads (≤ 250 bytes) are held per
/// connection, whatever the peer sends.
package struct PongSchedule: Sendable {
    package enum Action: Sendable, Equatable {
        /// Write a pong with this payload now (then report ``pongWritten()``).
        case send(ByteBuffer)
        /// Answered later (or not at all, if a newer ping comes first).
        case deferred
        /// Too many pings while not reading: close the connection.
        case violation(WebSocketViolation)
    }

    private let maxUnanswered: Int
    private var inFlight = false
    private var waiting: ByteBuffer?
    private var unanswered = 0

    package init(maxUnanswered: Int) {
        self.maxUnanswered = Swift.max(1, maxUnanswered)
    }

    /// A ping with `payload` (already unmasked) arrived.
    package mutating func receivedPing(_ payload: ByteBuffer) -> Action {
        guard inFlight else {
            inFlight = true
            return .send(payload)
        }
        unanswered += 1
        if unanswered > maxUnanswered { return .violation(.pingFlood(limit: maxUnanswered)) }
        waiting = payload
        return .deferred
    }

    /// The pong in flight was written (or failed: the connection is ending). Returns the
    /// payload of the next pong to write now, if a ping is waiting.
    package mutating func pongWritten() -> ByteBuffer? {
        unanswered = 0
        guard let next = waiting else {
            inFlight = false
            return nil
        }
        waiting = nil
        return next
    }
}
