import Synchronization

/// A one-shot latch an agent can wait on until the test opens it (or its task is cancelled).
public final class TestGate: Sendable {
    private struct State {
        var open = false
        var next = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    public func wait() async {
        let id = state.withLock { s -> Int in
            s.next += 1
            return s.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now: Bool = state.withLock { s in
                    if s.open || Task.isCancelled { return true }
                    s.waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let c = state.withLock { $0.waiters.removeValue(forKey: id) }
            c?.resume()
        }
    }

    public func open() {
        let w = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            let w = Array(s.waiters.values)
            s.waiters = [:]
            return w
        }
        for c in w { c.resume() }
    }
}
