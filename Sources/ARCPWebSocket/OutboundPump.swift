import ARCP
import ARCPWebSocketCore
import DequeModule
import NIOCore
import NIOWebSocket
import Synchronization

/// Moves outbound frames to the event loop in batches, under the connection's byte credit
/// (``OutboundCredit``, `ARCPWebSocketCore`): at most `outboundByteLimit` bytes (or one larger
/// frame) accepted by `send` and not yet written to the socket.
///
/// Why not `NIOAsyncChannelOutboundWriter` (kept hand-written, see `WebSocketProtocolHandler`):
/// it suspends only while the *channel* reports itself unwritable, and that report is made on
/// the event loop. A producer faster than the event loop (a busy loop, a debug build) can hand
/// it any number of frames before the first one reaches the channel, so memory is bounded only
/// by the event loop's speed. Here each byte needs a credit that comes back only when the socket
/// write of its frame completed, whatever the speeds.
///
/// Batching: every frame queued until the event loop runs the drain goes out with one flush
/// (one `writev`). Messages arrive as wire bytes (``WireFrames``: a `send` batch is one
/// buffer) and are written past NIO's frame encoder by the protocol handler, which refuses
/// them once a close frame went out; the close frame itself is a `WebSocketFrame` through the
/// encoder, in the same order. A `send` made on the event loop itself (a session handled there, see
/// ``EventLoopTaskExecutor``) does not drain inline: the drain is queued behind the current
/// event-loop task, so the frames one task sends (an event, then the result) share a flush.
final class OutboundPump: Sendable {
    /// What waits for the event loop: messages as wire bytes, or a frame for NIO's encoder.
    private enum Outbound {
        case wire(ByteBuffer)
        case frame(WebSocketFrame)
    }

    private struct State {
        var queue: Deque<Outbound> = []
        var queuedBytes = 0
        var drainScheduled = false
        var failure: TransportError?
    }

    private let channel: any Channel
    /// Writes wire bytes on the event loop (the connection's protocol handler).
    private let handler: NIOLoopBound<WebSocketProtocolHandler>
    private let credit: OutboundCredit
    private let state = Mutex(State())

    init(channel: any Channel, handler: NIOLoopBound<WebSocketProtocolHandler>, byteLimit: Int) {
        self.channel = channel
        self.handler = handler
        self.credit = OutboundCredit(limit: byteLimit)
    }

    /// Bytes accepted and not yet written (for tests and diagnostics).
    var outstandingBytes: Int { credit.outstanding }

    /// Queues `wire` (one or more complete frames, ``WireFrames``) together (one hand-over to
    /// the event loop, one flush), suspending while the connection has no credit for their
    /// payloads' total `bytes` (a batch larger than the whole credit goes through alone once
    /// nothing else is outstanding). Messages go out in the order their `send` calls completed.
    /// - Throws: `TransportError.closed` (or the connection's failure) once it ended;
    ///   `CancellationError` if cancelled while waiting for credit (nothing was queued).
    func send(wire: ByteBuffer, bytes: Int) async throws {
        if let failure = state.withLock({ $0.failure }) { throw failure }
        do {
            try await credit.acquire(bytes)
        } catch is OutboundCredit.Finished {
            throw state.withLock { $0.failure } ?? TransportError.closed
        }
        if let error = enqueueAcquired(wire, bytes: bytes) { throw error }
    }

    /// As `send(wire:bytes:)` without waiting: `.queued` when the credit was there,
    /// `.held` when `wire` waits for it (then `waiter` is told, with true once it is
    /// queued, with false if the connection ended first), `.failed` once the connection ended.
    func push(wire: ByteBuffer, bytes: Int, waiter: any PushWaiter) -> PushResult {
        if let failure = state.withLock({ $0.failure }) { return .failed(failure) }
        // The callback (an allocation) only when the credit is not there now.
        var granted = credit.tryAcquire(bytes)
        if granted == false {
            granted = credit.acquire(bytes) { [self] granted in
                waiter.heldBatchEnded(queued: granted && enqueueAcquired(wire, bytes: bytes) == nil)
            }
        }
        switch granted {
        case true?:
            if let error = enqueueAcquired(wire, bytes: bytes) { return .failed(error) }
            return .queued
        case false?:
            return .held
        case nil:
            return .failed(state.withLock { $0.failure } ?? TransportError.closed)
        }
    }

    /// Queues `wire`, whose `bytes` of credit were taken; the failure (credit returned) once
    /// the connection ended.
    private func enqueueAcquired(_ wire: ByteBuffer, bytes: Int) -> TransportError? {
        let queued: Queued = state.withLock { s in
            if let failure = s.failure { return .failed(failure) }
            s.queue.append(.wire(wire))
            s.queuedBytes += bytes
            if s.drainScheduled { return .scheduled }
            s.drainScheduled = true
            return .schedule
        }
        switch queued {
        case .schedule: scheduleDrain()
        case .scheduled: break
        case .failed(let error):
            credit.release(bytes)
            return error
        }
        return nil
    }

    private enum Queued { case schedule, scheduled, failed(TransportError) }

    /// Queues a frame without waiting for credit (the close frame: it must not wait behind a
    /// stalled peer; the caller bounds the whole close with a timeout).
    func sendImmediately(_ frame: WebSocketFrame) {
        let schedule = state.withLock { s -> Bool in
            if s.failure != nil { return false }
            s.queue.append(.frame(frame))
            if s.drainScheduled { return false }
            s.drainScheduled = true
            return true
        }
        if schedule { scheduleDrain() }
    }

    /// Fails waiting and future sends with `error` (the connection ended); queued frames are dropped.
    func fail(_ error: TransportError) {
        state.withLock { s in
            if s.failure == nil { s.failure = error }
            s.queue.removeAll()
            s.queuedBytes = 0
        }
        credit.finish()
    }

    private func scheduleDrain() {
        // Also from the event loop itself: behind the current task, so its later sends join.
        channel.eventLoop.execute { self.drain() }
    }

    /// On the event loop: writes everything queued, flushes once, and returns the batch's
    /// credit when its last write completes (writes on a channel complete in order).
    private func drain() {
        let (batch, bytes) = state.withLock { s -> (Deque<Outbound>, Int) in
            s.drainScheduled = false
            defer {
                s.queue = []
                s.queuedBytes = 0
            }
            return (s.queue, s.queuedBytes)
        }
        guard !batch.isEmpty else { return }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let handler = self.handler.value
        var index = 0
        for item in batch {
            index += 1
            let itemPromise = index == batch.count ? promise : nil
            switch item {
            case .wire(let bytes): handler.writeWire(bytes, promise: itemPromise)
            case .frame(let frame): channel.write(frame, promise: itemPromise)
            }
        }
        channel.flush()
        let credit = self.credit
        promise.futureResult.whenComplete { _ in credit.release(bytes) }
    }
}
