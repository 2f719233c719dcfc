import DequeModule
import Synchronization

/// The byte budget of a connection's outbound queue: frames accepted by `send` and not yet
/// written (what "written" means is the adapter's: the socket write completed, or the frame was
/// handed to its framework's writer). `acquire` suspends, first come first served, while the
/// frames already waiting hold `limit` bytes; a single frame larger than `limit` goes through
/// alone. So a peer that does not read slows its sender down, and the bytes waiting for it are
/// bounded whatever the relative speeds of producer, event loop and peer.
package final class OutboundCredit: Sendable {
    /// Thrown by `acquire` once the connection's sending side is finished.
    package struct Finished: Error {}

    private struct Waiter {
        var id: UInt64
        var bytes: Int
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var outstanding = 0
        var waiters: Deque<Waiter> = []
        var finished = false
        var nextID: UInt64 = 0
    }

    package let limit: Int
    private let state = Mutex(State())

    package init(limit: Int) {
        self.limit = Swift.max(1, limit)
    }

    /// Bytes accepted and not yet released (for tests and diagnostics).
    package var outstanding: Int { state.withLock { $0.outstanding } }

    private static func fits(_ s: State, _ bytes: Int, limit: Int) -> Bool {
        s.outstanding == 0 || s.outstanding + bytes <= limit
    }

    /// Takes `bytes` of credit, waiting while there is not enough.
    /// - Throws: `Finished` after `finish()`; `CancellationError` if cancelled while waiting.
    package func acquire(_ bytes: Int) async throws {
        enum Fast { case granted, finished, wait(UInt64) }
        let fast: Fast = state.withLock { s in
            if s.finished { return .finished }
            if s.waiters.isEmpty && Self.fits(s, bytes, limit: limit) {
                s.outstanding += bytes
                return .granted
            }
            s.nextID &+= 1
            return .wait(s.nextID)
        }
        let id: UInt64
        switch fast {
        case .granted: return
        case .finished: throw Finished()
        case .wait(let waiterID): id = waiterID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
                let now: Result<Void, any Error>? = state.withLock { s in
                    if s.finished { return .failure(Finished()) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if s.waiters.isEmpty && Self.fits(s, bytes, limit: limit) {
                        s.outstanding += bytes
                        return .success(())
                    }
                    s.waiters.append(Waiter(id: id, bytes: bytes, continuation: cont))
                    return nil
                }
                if let now { cont.resume(with: now) }
            }
        } onCancel: {
            let cont = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            cont?.resume(throwing: CancellationError())
        }
    }

    /// Returns `bytes` of credit (the frame was handed over, or refused) and admits waiters in order.
    package func release(_ bytes: Int) {
        var admitted: [CheckedContinuation<Void, any Error>] = []
        state.withLock { s in
            s.outstanding -= bytes
            while !s.finished, let first = s.waiters.first, Self.fits(s, first.bytes, limit: limit) {
                s.waiters.removeFirst()
                s.outstanding += first.bytes
                admitted.append(first.continuation)
            }
        }
        for c in admitted { c.resume() }
    }

    /// No more frames will be taken: waiting and later `acquire`s throw `Finished`.
    package func finish() {
        let waiters = state.withLock { s -> Deque<Waiter> in
            s.finished = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.continuation.resume(throwing: Finished()) }
    }
}
