/// The connections a runtime serves, and whether it still accepts new ones: the one owner of
/// the runtime's own lifecycle (`running` → `shuttingDown`). Its lock is a leaf.
final class ConnectionTable: Sendable {
    private struct State {
        var shuttingDown = false
        var connections: [UInt64: any Transport] = [:]
        var next: UInt64 = 0
    }

    private let state = RankedMutex(.leaf, State())

    /// Registers a new connection. Nil when the runtime is shutting down (refuse it).
    func open(_ transport: any Transport) -> UInt64? {
        state.withLock { s in
            guard !s.shuttingDown else { return nil }
            s.next += 1
            s.connections[s.next] = transport
            return s.next
        }
    }

    /// Forgets connection `id` (it ended).
    func close(_ id: UInt64) {
        _ = state.withLock { $0.connections.removeValue(forKey: id) }
    }

    /// Stops accepting connections; returns the transports open now (to close at the end).
    func beginShutdown() -> [any Transport] {
        state.withLock { s in
            s.shuttingDown = true
            return Array(s.connections.values)
        }
    }

    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }
}
