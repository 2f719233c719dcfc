import Synchronization

/// State that tasks can wait on: `update` changes it and wakes every waiter, `wait(until:_:)`
/// returns once a condition on it holds (or the deadline passes).
final class Observed<State: Sendable>: Sendable {
    private struct Box {
        var state: State
        var generation: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }
    private let box: Mutex<Box>

    init(_ state: State) { box = Mutex(Box(state: state)) }

    /// Reads the state.
    func read<T>(_ body: (State) -> T) -> T { box.withLock { body($0.state) } }

    /// Changes the state and wakes every waiter.
    @discardableResult
    func update<T>(_ body: (inout State) -> T) -> T {
        let (value, waiters) = box.withLock { b -> (T, [CheckedContinuation<Void, Never>]) in
            let v = body(&b.state)
            b.generation &+= 1
            let w = Array(b.waiters.values)
            b.waiters.removeAll()
            return (v, w)
        }
        for w in waiters { w.resume() }
        return value
    }

    /// Returns `check`'s first non-nil answer, re-evaluated after every update; nil once
    /// `deadline` has passed (or the task is cancelled) without one. `check` runs under the
    /// lock: keep it short.
    func wait<T: Sendable>(until deadline: ContinuousClock.Instant, _ check: (State) -> T?) async -> T? {
        while true {
            let (v, gen) = box.withLock { b in (check(b.state), b.generation) }
            if let v { return v }
            if ContinuousClock.now >= deadline || Task.isCancelled { return nil }
            await change(after: gen, deadline: deadline)
        }
    }

    /// Suspends until the generation moves past `generation`, the deadline passes or the task
    /// is cancelled.
    private func change(after generation: UInt64, deadline: ContinuousClock.Instant) async {
        let id = box.withLock { b -> UInt64 in
            b.nextWaiter &+= 1
            return b.nextWaiter
        }
        let timer = Task { [weak self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            self?.resume(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
                let now = box.withLock { b -> Bool in
                    if b.generation != generation || ContinuousClock.now >= deadline || Task.isCancelled { return true }
                    b.waiters[id] = cont
                    return false
                }
                if now { cont.resume() }
            }
        } onCancel: {
            resume(id)
        }
        timer.cancel()
    }

    private func resume(_ id: UInt64) {
        let cont = box.withLock { $0.waiters.removeValue(forKey: id) }
        cont?.resume()
    }
}
