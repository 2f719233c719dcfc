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
        var wake: Wake
    }

    /// How a waiter is told: a suspended `acquire`, or a callback (`acquire(_:orWhenGranted:)`).
    private enum Wake {
        case task(CheckedContinuation<Void, any Error>)
        case callback(@Sendable (Bool) -> Void)

        func grant() {
            switch self {
            case .task(let c): c.resume()
            case .callback(let f): f(true)
            }
        }

        func refuse(_ error: any Error) {
            switch self {
            case .task(let c): c.resume(throwing: error)
            case .callback(let f): f(false)
            }
        }
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
                    s.waiters.append(Waiter(id: id, bytes: bytes, wake: .task(cont)))
                    return nil
                }
                if let now { cont.resume(with: now) }
            }
        } onCancel: {
            let wake = state.withLock { s -> Wake? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).wake
            }
            wake?.refuse(CancellationError())
        }
    }

    /// Takes `bytes` of credit when there is enough now: true; false when there is not (or
    /// others wait), nil once finished. Never waits.
    package func tryAcquire(_ bytes: Int) -> Bool? {
        state.withLock { s in
            if s.finished { return nil }
            guard s.waiters.isEmpty && Self.fits(s, bytes, limit: limit) else { return false }
            s.outstanding += bytes
            return true
        }
    }

    /// Takes `bytes` of credit now when there is enough (true, and `whenGranted` is not
    /// called). Otherwise queues `whenGranted` behind the other waiters and answers false: it
    /// is called with true once the bytes are taken for it, or with false once the credit is
    /// finished. Nil (and `whenGranted` is not called) when it already is. For a writer that
    /// is not a task (the runtime's connection writer on the event loop).
    package func acquire(_ bytes: Int, orWhenGranted whenGranted: @escaping @Sendable (Bool) -> Void) -> Bool? {
        state.withLock { s in
            if s.finished { return nil }
            if s.waiters.isEmpty && Self.fits(s, bytes, limit: limit) {
                s.outstanding += bytes
                return true
            }
            s.nextID &+= 1
            s.waiters.append(Waiter(id: s.nextID, bytes: bytes, wake: .callback(whenGranted)))
            return false
        }
    }

    /// Returns `bytes` of credit (the frame was handed over, or refused) and admits waiters in order.
    package func release(_ bytes: Int) {
        var admitted: [Wake] = []
        state.withLock { s in
            s.outstanding -= bytes
            while !s.finished, let first = s.waiters.first, Self.fits(s, first.bytes, limit: limit) {
                s.waiters.removeFirst()
                s.outstanding += first.bytes
                admitted.append(first.wake)
            }
        }
        for w in admitted { w.grant() }
    }

    /// No more frames will be taken: waiting and later `acquire`s throw `Finished`.
    package func finish() {
        let waiters = state.withLock { s -> Deque<Waiter> in
            s.finished = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.wake.refuse(Finished()) }
    }
}
