import Synchronization

/// Counts the open connections of one server (or route) against its limit. An adapter takes a
/// permit when it accepts a handshake (refusing it when none is left) and returns it when the
/// connection is gone, whatever the reason; tie the release to the connection's end (e.g.
/// `channel.closeFuture`) so that no path leaks a permit.
package final class ConnectionLimiter: Sendable {
    /// The most connections at once.
    package let limit: Int
    private let open = Atomic<Int>(0)

    package init(limit: Int) {
        self.limit = Swift.max(1, limit)
    }

    /// Connections holding a permit now.
    package var count: Int { open.load(ordering: .relaxed) }

    /// Takes a permit; false when `limit` connections hold one.
    package func tryAcquire() -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = open.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Returns a permit taken by ``tryAcquire()``.
    package func release() {
        open.subtract(1, ordering: .acquiringAndReleasing)
    }
}
