import Synchronization

/// The open connections of a server, with a cancellable "wait until empty".
final class ConnectionRegistry: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Void, Never>
    }
    private struct State {
        var connections: [ObjectIdentifier: WebSocketTransport] = [:]
        var refusing = false
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    var count: Int { state.withLock { $0.connections.count } }
    var all: [WebSocketTransport] { state.withLock { Array($0.connections.values) } }

    /// Registers a connection; false once shutdown started (the caller closes it).
    func add(_ connection: WebSocketTransport) -> Bool {
        state.withLock { s in
            if s.refusing { return false }
            s.connections[ObjectIdentifier(connection)] = connection
            return true
        }
    }

    func remove(_ connection: WebSocketTransport) {
        let waiters = state.withLock { s -> [Waiter] in
            s.connections[ObjectIdentifier(connection)] = nil
            guard s.connections.isEmpty else { return [] }
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.continuation.resume() }
    }

    func refuseNew() {
        state.withLock { $0.refusing = true }
    }

    /// True when the registry became empty within `timeout`.
    func waitUntilEmpty(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.waitUntilEmpty(); return !Task.isCancelled }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first && count == 0
        }
    }

    private func waitUntilEmpty() async {
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.connections.isEmpty || Task.isCancelled { return true }
                    s.waiters.append(Waiter(id: id, continuation: cont))
                    return false
                }
                if resumeNow { cont.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i)
            }
            waiter?.continuation.resume()
        }
    }
}
