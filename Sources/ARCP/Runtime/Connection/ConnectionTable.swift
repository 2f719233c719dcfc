/// The connections a runtime serves, and whether it still accepts new ones: the one owner of
/// the runtime's own lifecycle (`running` → `draining` → `shuttingDown`; a shutdown without a
/// drain skips `draining`) and of the per-principal connection limit. Its lock is a leaf.
final class ConnectionTable: Sendable {
    private struct State {
        /// A draining shutdown began: no new connection or submitted job; running jobs finish.
        var draining = false
        var shuttingDown = false
        /// Why new sessions are refused for now (e.g. the runtime's database is unreachable);
        /// nil while they are accepted. Resumes and attached sessions are not affected.
        var newSessionsPaused: String? = nil
        var connections: [UInt64: any Transport] = [:]
        /// The principal of each connection whose hello (or resume) succeeded.
        var principals: [UInt64: String] = [:]
        /// Connections per principal; a principal without connections has no entry.
        var perPrincipal: [String: Int] = [:]
        var next: UInt64 = 0

        mutating func unbind(_ id: UInt64) {
            guard let principal = principals.removeValue(forKey: id) else { return }
            let left = (perPrincipal[principal] ?? 1) - 1
            perPrincipal[principal] = left > 0 ? left : nil
        }
    }

    private let state = RankedMutex(.leaf, State())

    /// Registers a new connection. Nil when the runtime is shutting down (refuse it).
    func open(_ transport: any Transport) -> UInt64? {
        state.withLock { s in
            guard !s.shuttingDown, !s.draining else { return nil }
            s.next += 1
            s.connections[s.next] = transport
            return s.next
        }
    }

    /// Counts connection `id` against `principal`'s connection limit: false (and nothing
    /// recorded) when `principal` already holds `limit` connections. With `force` the
    /// connection is counted even over the limit: a resume takes over a session the principal
    /// already holds (whose previous connection is ending), so it is never refused for this
    /// limit; it cannot give a principal more connections than it has sessions.
    func bind(_ id: UInt64, principal: String, limit: Int, force: Bool = false) -> Bool {
        state.withLock { s in
            if !force, s.principals[id] != principal, (s.perPrincipal[principal] ?? 0) >= limit { return false }
            s.unbind(id)
            s.principals[id] = principal
            s.perPrincipal[principal, default: 0] += 1
            return true
        }
    }

    /// Open connections counted against `principal`.
    func count(principal: String) -> Int {
        state.withLock { $0.perPrincipal[principal] ?? 0 }
    }

    /// Forgets connection `id` (it ended).
    func close(_ id: UInt64) {
        state.withLock { s in
            s.connections[id] = nil
            s.unbind(id)
        }
    }

    /// Stops accepting connections; returns the transports open now (to close at the end).
    func beginShutdown() -> [any Transport] {
        state.withLock { s in
            s.shuttingDown = true
            return Array(s.connections.values)
        }
    }

    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    /// Stops accepting connections (and the runtime, submitted jobs) while running jobs finish.
    func beginDraining() {
        state.withLock { $0.draining = true }
    }

    /// Refuses new sessions (not resumes) until `resumeNewSessions`, saying `reason`.
    func pauseNewSessions(_ reason: String) {
        state.withLock { $0.newSessionsPaused = reason }
    }

    func resumeNewSessions() {
        state.withLock { $0.newSessionsPaused = nil }
    }

    /// Why new sessions are refused now, if they are.
    var newSessionsPaused: String? { state.withLock { $0.newSessionsPaused } }

    /// Whether a draining shutdown or a shutdown began: no new connection or submitted job.
    var refusesNewWork: Bool { state.withLock { $0.draining || $0.shuttingDown } }
}
