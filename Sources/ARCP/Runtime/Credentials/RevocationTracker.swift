
/// Counts credential revocations in flight, so shutdown can wait for them.
final class RevocationTracker: Sendable {
    private struct State {
        var inFlight = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = RankedMutex(.leaf, State())

    func begin() { state.withLock { $0.inFlight += 1 } }

    func end() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            s.inFlight -= 1
            guard s.inFlight == 0 else { return [] }
            let w = s.waiters
            s.waiters = []
            return w
        }
        for w in waiters { w.resume() }
    }

    var inFlight: Int { state.withLock { $0.inFlight } }

    /// Waits until no revocation is in flight, or `timeout` passed.
    func waitUntilIdle(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { g in
            g.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now: Bool = self.state.withLock { s in
                        if s.inFlight == 0 { return true }
                        s.waiters.append(c)
                        return false
                    }
                    if now { c.resume() }
                }
            }
            g.addTask { try? await Task.sleep(for: timeout) }
            await g.next()
            g.cancelAll()
            // Release a waiter left behind by the timeout.
            let left: [CheckedContinuation<Void, Never>] = self.state.withLock { s in
                let w = s.waiters
                s.waiters = []
                return w
            }
            for w in left { w.resume() }
        }
    }
}
