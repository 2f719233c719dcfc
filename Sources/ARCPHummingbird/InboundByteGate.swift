import Synchronization

/// Counts the bytes of received messages that wait in a connection's inbox, so the reader can
/// stop pulling frames (and so stop NIO reading the socket) while more than `limit` wait.
///
/// One waiter at most: the connection's reader. `receive()` reports what it takes.
final class InboundByteGate: Sendable {
    private struct State {
        var buffered = 0
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = Swift.max(1, limit)
    }

    /// Bytes waiting now (for tests and diagnostics).
    var buffered: Int { state.withLock { $0.buffered } }

    /// The reader queued a message of `bytes`.
    func added(_ bytes: Int) {
        state.withLock { $0.buffered += bytes }
    }

    /// A message of `bytes` left the inbox (taken by `receive()`, or refused by a closed inbox).
    func removed(_ bytes: Int) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.buffered -= bytes
            guard s.buffered <= limit else { return nil }
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// Nobody will take messages any more: wakes the reader for good.
    func finish() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// Returns once at most `limit` bytes wait, the gate is finished, or the task is cancelled.
    func waitUntilUnderLimit() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.finished || s.buffered <= limit || Task.isCancelled { return true }
                    s.waiter = cont
                    return false
                }
                if resumeNow { cont.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume()
        }
    }
}
