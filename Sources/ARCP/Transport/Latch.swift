import Synchronization

/// A one-shot, many-waiter async event: `wait()` returns once `open()` has been called.
/// For the package's transports (`package` access: not public API).
package final class Latch: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    package init() {}

    package var isOpen: Bool { state.withLock { $0.isOpen } }

    /// Opens the latch and resumes every waiter; later calls do nothing.
    package func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            if s.isOpen { return [] }
            s.isOpen = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    /// Returns once the latch is open.
    package func wait() async {
        if isOpen { return }
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.isOpen { return true }
                s.waiters.append(cont)
                return false
            }
            if ready { cont.resume() }
        }
    }
}
