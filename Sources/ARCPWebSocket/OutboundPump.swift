import ARCP
import DequeModule
import NIOCore
import NIOWebSocket
import Synchronization

/// Moves outbound frames to the event loop in batches, with a hard bound on the bytes that
/// are accepted but not yet written to the socket.
///
/// Why not `NIOAsyncChannelOutboundWriter`: it suspends only while the *channel* reports
/// itself unwritable, and that report is made on the event loop. A producer faster than the
/// event loop (a busy loop, a debug build) can hand it any number of frames before the first
/// one reaches the channel, so memory is bounded only by the event loop's speed. Here each
/// byte needs a credit that comes back only when the socket write of its frame completed, so
/// at most `creditLimit` bytes (or one larger frame) wait per connection, whatever the speeds.
final class OutboundPump: Sendable {
    private struct Waiter {
        var id: UInt64
        var frames: [WebSocketFrame]
        var bytes: Int
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var queue: Deque<WebSocketFrame> = []
        var queuedBytes = 0
        var drainScheduled = false
        /// Bytes handed to the event loop whose write has not completed yet, plus `queuedBytes`.
        var outstanding = 0
        var waiters: Deque<Waiter> = []
        var failure: TransportError?
        var nextID: UInt64 = 0
    }

    private let channel: any Channel
    private let creditLimit: Int
    private let state = Mutex(State())

    init(channel: any Channel, creditLimit: Int = 256 * 1024) {
        self.channel = channel
        self.creditLimit = Swift.max(1, creditLimit)
    }

    /// Queues `frame` for writing, suspending while the connection has no credit left.
    /// Frames go out in the order their `send` calls completed.
    func send(_ frame: WebSocketFrame, bytes: Int) async throws {
        try await send([frame], bytes: bytes)
    }

    /// Queues `frames` together (one lock, one hop to the event loop, one flush), suspending
    /// while the connection has no credit for their total `bytes` (a batch larger than the
    /// whole credit goes through alone once nothing else is outstanding).
    func send(_ frames: [WebSocketFrame], bytes: Int) async throws {
        enum Fast { case queued(schedule: Bool), failed(TransportError), wait(UInt64) }
        let fast: Fast = state.withLock { s in
            if let failure = s.failure { return .failed(failure) }
            if s.waiters.isEmpty && (s.outstanding == 0 || s.outstanding + bytes <= creditLimit) {
                return .queued(schedule: Self.enqueue(&s, frames, bytes))
            }
            s.nextID &+= 1
            return .wait(s.nextID)
        }
        let id: UInt64
        switch fast {
        case .queued(let schedule):
            if schedule { scheduleDrain() }
            return
        case .failed(let error):
            throw error
        case .wait(let waiterID):
            id = waiterID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
                enum Now { case resume(Result<Void, any Error>, schedule: Bool), parked }
                let now: Now = state.withLock { s in
                    if let failure = s.failure { return .resume(.failure(failure), schedule: false) }
                    if Task.isCancelled { return .resume(.failure(CancellationError()), schedule: false) }
                    if s.waiters.isEmpty && (s.outstanding == 0 || s.outstanding + bytes <= creditLimit) {
                        return .resume(.success(()), schedule: Self.enqueue(&s, frames, bytes))
                    }
                    s.waiters.append(Waiter(id: id, frames: frames, bytes: bytes, continuation: cont))
                    return .parked
                }
                if case .resume(let result, let schedule) = now {
                    if schedule { scheduleDrain() }
                    cont.resume(with: result)
                }
            }
        } onCancel: {
            let cont = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            cont?.resume(throwing: CancellationError())
        }
    }

    /// Queues a frame without waiting for credit (the close frame: it must not wait behind a
    /// stalled peer; the caller bounds the whole close with a timeout).
    func sendImmediately(_ frame: WebSocketFrame) {
        let schedule = state.withLock { s -> Bool in
            if s.failure != nil { return false }
            return Self.enqueue(&s, [frame], frame.length)
        }
        if schedule { scheduleDrain() }
    }

    /// Fails waiting and future sends with `error` (the connection ended).
    func fail(_ error: TransportError) {
        let waiters = state.withLock { s -> Deque<Waiter> in
            if s.failure == nil { s.failure = error }
            s.queue.removeAll()
            s.queuedBytes = 0
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for w in waiters { w.continuation.resume(throwing: error) }
    }

    /// Appends to the queue; returns true when a drain must be scheduled.
    private static func enqueue(_ s: inout State, _ frames: [WebSocketFrame], _ bytes: Int) -> Bool {
        s.queue.append(contentsOf: frames)
        s.queuedBytes += bytes
        s.outstanding += bytes
        if s.drainScheduled { return false }
        s.drainScheduled = true
        return true
    }

    private func scheduleDrain() {
        let eventLoop = channel.eventLoop
        if eventLoop.inEventLoop {
            drain()
        } else {
            eventLoop.execute { self.drain() }
        }
    }

    /// On the event loop: writes everything queued, flushes once, and returns the batch's
    /// credit when its last write completes (writes on a channel complete in order).
    private func drain() {
        let (batch, bytes) = state.withLock { s -> (Deque<WebSocketFrame>, Int) in
            s.drainScheduled = false
            defer {
                s.queue = []
                s.queuedBytes = 0
            }
            return (s.queue, s.queuedBytes)
        }
        guard !batch.isEmpty else { return }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        for (index, frame) in batch.enumerated() {
            channel.write(frame, promise: index == batch.count - 1 ? promise : nil)
        }
        channel.flush()
        promise.futureResult.whenComplete { _ in self.release(bytes) }
    }

    private func release(_ bytes: Int) {
        var resumed: [CheckedContinuation<Void, any Error>] = []
        let schedule = state.withLock { s -> Bool in
            s.outstanding -= bytes
            var schedule = false
            while let first = s.waiters.first,
                  s.failure == nil,
                  s.outstanding == 0 || s.outstanding + first.bytes <= creditLimit {
                s.waiters.removeFirst()
                if Self.enqueue(&s, first.frames, first.bytes) { schedule = true }
                resumed.append(first.continuation)
            }
            return schedule
        }
        if schedule { scheduleDrain() }
        for c in resumed { c.resume() }
    }
}
