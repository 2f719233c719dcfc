import ARCP
import DequeModule
import Synchronization

/// The received messages of one connection on their way to `receive()`: bounded in count and
/// in bytes, with one producer (the adapter's reader) that stops reading the socket while the
/// mailbox is full and is woken when there is room again.
///
/// - A message is admitted while fewer than `capacity` wait and their bytes are at most
///   `byteLimit` (so one message larger than the limit still gets through, alone). Otherwise the
///   producer keeps it and stops reading; TCP flow control then slows the peer down. Nothing is
///   dropped while the mailbox is open.
/// - Producer wake-up: an adapter on an event loop registers ``setRoomHandler(_:)`` (called,
///   off the lock, when a `receive()` makes room after an offer found the mailbox full); an
///   adapter with an async reader awaits ``waitForRoom()``. The full-check and the
///   registration of the waiting producer happen under the same lock as `receive()`'s take, so
///   no wake-up is lost.
/// - ``finish(failure:)`` ends the mailbox: queued messages are still received, then the
///   failure is thrown once (a protocol violation, an I/O error), then `nil` like after a close.
///   Messages offered after the end are discarded (nobody will read them).
///
/// One consumer: the connection's `receive()`.
package final class InboundMailbox: Sendable {
    /// What ``offer(_:)`` did.
    package enum OfferResult: Sendable, Equatable {
        /// Every message was taken; `hasRoom` is false when the producer should stop reading
        /// now (it will be woken when there is room).
        case accepted(hasRoom: Bool)
        /// Some messages are left (first ones taken): stop reading; the producer will be woken.
        case full
        /// The mailbox ended: the messages were discarded.
        case finished
    }

    private enum Ending {
        case clean
        case failed(TransportError)
    }

    private struct State {
        var messages: Deque<String> = []
        var bytes = 0
        var consumer: CheckedContinuation<String?, any Error>?
        /// The waiting consumer's deadline token (``receive(expiring:)``); 0 for none.
        var consumerToken: UInt64 = 0
        /// The last token handed out by ``nextDeadlineToken()``.
        var lastToken: UInt64 = 0
        var ending: Ending?
        var failureReported = false
        /// An offer found the mailbox full: the next `receive()` that makes room wakes the producer.
        var producerWaiting = false
        var roomHandler: (@Sendable () -> Void)?
        var roomWaiter: CheckedContinuation<Void, Never>?

        func hasRoom(capacity: Int, byteLimit: Int) -> Bool {
            messages.count < capacity && bytes <= byteLimit
        }
    }

    package let capacity: Int
    package let byteLimit: Int
    private let state = Mutex(State())

    package init(capacity: Int, byteLimit: Int) {
        self.capacity = Swift.max(1, capacity)
        self.byteLimit = Swift.max(1, byteLimit)
    }

    package convenience init(limits: ConnectionLimits) {
        self.init(capacity: limits.inboundCapacity, byteLimit: limits.inboundByteLimit)
    }

    /// Messages waiting (for tests and diagnostics).
    package var count: Int { state.withLock { $0.messages.count } }
    /// Their bytes (for tests and diagnostics).
    package var bufferedBytes: Int { state.withLock { $0.bytes } }
    /// Whether more messages may be admitted now.
    package var hasRoom: Bool { state.withLock { $0.hasRoom(capacity: capacity, byteLimit: byteLimit) } }
    /// Whether the mailbox has ended.
    package var isFinished: Bool { state.withLock { $0.ending != nil } }

    // MARK: Producer

    /// How an event-loop producer is woken (it hops to its loop). Set it before the first offer;
    /// `nil` drops it (at the end, to break a reference cycle).
    package func setRoomHandler(_ handler: (@Sendable () -> Void)?) {
        state.withLock { $0.roomHandler = handler }
    }

    /// Admits messages from the front of `pending`, in order, while there is room (one lock,
    /// at most one consumer wake-up for the whole batch); the rest stay in `pending`.
    package func offer(_ pending: inout Deque<String>) -> OfferResult {
        let (result, consumer, first): (OfferResult, CheckedContinuation<String?, any Error>?, String?) = state.withLock { s in
            if s.ending != nil {
                pending.removeAll()
                return (.finished, nil, nil)
            }
            var handOff: (CheckedContinuation<String?, any Error>, String)?
            while !pending.isEmpty, s.hasRoom(capacity: capacity, byteLimit: byteLimit) {
                let message = pending.removeFirst()
                if let c = s.consumer, s.messages.isEmpty, handOff == nil {
                    // The consumer waits for exactly this message: hand it over directly.
                    s.consumer = nil
                    handOff = (c, message)
                } else {
                    s.messages.append(message)
                    s.bytes += message.utf8.count
                }
            }
            let room = s.hasRoom(capacity: capacity, byteLimit: byteLimit)
            if !pending.isEmpty || !room { s.producerWaiting = true }
            let result: OfferResult = pending.isEmpty ? .accepted(hasRoom: room) : .full
            return (result, handOff?.0, handOff?.1)
        }
        if let consumer, let first { consumer.resume(returning: first) }
        return result
    }

    /// Admits one message (see ``offer(_:)``); returns false when it must wait (it was not
    /// admitted) or the mailbox ended (``isFinished``).
    package func offer(_ message: String) -> OfferResult {
        var one: Deque<String> = [message]
        return offer(&one)
    }

    /// For an async producer: returns once there is room, the mailbox ended, or the task is
    /// cancelled.
    package func waitForRoom() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.ending != nil || Task.isCancelled || s.hasRoom(capacity: capacity, byteLimit: byteLimit) { return true }
                    s.producerWaiting = true
                    s.roomWaiter = cont
                    return false
                }
                if resumeNow { cont.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                defer { s.roomWaiter = nil }
                return s.roomWaiter
            }
            waiter?.resume()
        }
    }

    /// Ends the mailbox: `nil` is a clean end (the peer closed, or this side closed), a
    /// `TransportError` is thrown once by `receive()` after the queued messages. The first call
    /// decides; later ones are ignored. Wakes a waiting producer (it then discards).
    package func finish(failure: TransportError? = nil) {
        let (consumer, waiter, handler): (CheckedContinuation<String?, any Error>?, CheckedContinuation<Void, Never>?, (@Sendable () -> Void)?) =
            state.withLock { s in
                if s.ending != nil { return (nil, nil, nil) }
                s.ending = failure.map(Ending.failed) ?? .clean
                var consumer: CheckedContinuation<String?, any Error>?
                if s.messages.isEmpty, let waiting = s.consumer {
                    consumer = waiting
                    s.consumer = nil
                    if failure != nil { s.failureReported = true }
                }
                let waiter = s.roomWaiter
                s.roomWaiter = nil
                let handler = s.producerWaiting ? s.roomHandler : nil
                s.producerWaiting = false
                return (consumer, waiter, handler)
            }
        if let consumer {
            if let failure { consumer.resume(throwing: failure) } else { consumer.resume(returning: nil) }
        }
        waiter?.resume()
        handler?()
    }

    /// Whether ``receive()`` would return at once: a message is queued, or the mailbox ended.
    package var hasBuffered: Bool {
        state.withLock { !$0.messages.isEmpty || $0.ending != nil }
    }

    // MARK: Consumer

    /// The messages already queued, in order, without waiting: at most `max`, and no more
    /// than `maxBytes` in all but at least one (what is taken leaves the mailbox's own byte
    /// bound, so the caller's is what bounds it then). One lock; the producer is woken once if
    /// this made room. `[]` when none is queued: how the mailbox ended, if it did, is for
    /// `receive()` to report.
    package func takeQueued(max: Int, maxBytes: Int = .max) -> [String] {
        let (taken, wake, waiter) = state.withLock { s -> ([String], (@Sendable () -> Void)?, CheckedContinuation<Void, Never>?) in
            guard max > 0, !s.messages.isEmpty else { return ([], nil, nil) }
            var taken: [String] = []
            taken.reserveCapacity(Swift.min(max, s.messages.count))
            var bytes = 0
            // Moved out (and the one over the budget back): peeking with `first` would copy each.
            while taken.count < max, let message = s.messages.popFirst() {
                let size = message.utf8.count
                if !taken.isEmpty, size > maxBytes - bytes {
                    s.messages.prepend(message)
                    break
                }
                s.bytes -= size
                bytes += size
                taken.append(message)
            }
            guard s.producerWaiting, s.hasRoom(capacity: capacity, byteLimit: byteLimit) else { return (taken, nil, nil) }
            s.producerWaiting = false
            let waiter = s.roomWaiter
            s.roomWaiter = nil
            return (taken, waiter == nil ? s.roomHandler : nil, waiter)
        }
        wake?()
        waiter?.resume()
        return taken
    }

    private enum Taken {
        case message(String, wake: (@Sendable () -> Void)?, waiter: CheckedContinuation<Void, Never>?)
        case end
        case fail(TransportError)
        case wait
    }

    /// The next message; `nil` after a clean end (once the queued messages are taken); the
    /// failure once after a failed end, then `nil`. Throws `CancellationError` if the task is
    /// cancelled while waiting.
    package func receive() async throws -> String? {
        try await receive(expiring: 0)
    }

    /// Whether a `receive` is waiting for a message (tests).
    package var consumerIsWaiting: Bool { state.withLock { $0.consumer != nil } }

    /// Thrown by ``receive(expiring:)`` when ``expire(_:)`` ended the wait.
    package struct Expired: Error {}

    /// A token for one ``receive(expiring:)``, never 0.
    package func nextDeadlineToken() -> UInt64 {
        state.withLock { s in
            s.lastToken &+= 1
            if s.lastToken == 0 { s.lastToken = 1 }
            return s.lastToken
        }
    }

    /// Ends a ``receive(expiring:)`` that is still waiting with `token` (a deadline timer calls
    /// it): it throws ``Expired``. Anything else is left alone, so a late timer cannot end a
    /// later receive.
    package func expire(_ token: UInt64) {
        guard token != 0 else { return }
        let cont = state.withLock { s -> CheckedContinuation<String?, any Error>? in
            guard s.consumerToken == token, let c = s.consumer else { return nil }
            s.consumer = nil
            s.consumerToken = 0
            return c
        }
        cont?.resume(throwing: Expired())
    }

    /// ``receive()``, whose wait ``expire(_:)`` can end with `token` (0: it cannot).
    package func receive(expiring token: UInt64) async throws -> String? {
        switch state.withLock({ take(&$0) }) {
        case .message(let m, let wake, let waiter):
            wake?()
            waiter?.resume()
            return m
        case .end: return nil
        case .fail(let e): throw e
        case .wait: break
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<String?, any Error>) in
                let now: Taken? = state.withLock { s in
                    let taken = take(&s)
                    guard case .wait = taken else { return taken }
                    if Task.isCancelled { return nil }
                    s.consumer = cont
                    s.consumerToken = token
                    return .wait
                }
                switch now {
                case nil: cont.resume(throwing: CancellationError())
                case .message(let m, let wake, let waiter)?:
                    wake?()
                    waiter?.resume()
                    cont.resume(returning: m)
                case .end?: cont.resume(returning: nil)
                case .fail(let e)?: cont.resume(throwing: e)
                case .wait?: break
                }
            }
        } onCancel: {
            let cont = state.withLock { s -> CheckedContinuation<String?, any Error>? in
                defer { s.consumer = nil }
                return s.consumer
            }
            cont?.resume(throwing: CancellationError())
        }
    }

    /// Under the lock: the next message (and whom to wake now that there is room), or how the
    /// mailbox ended, or "wait".
    private func take(_ s: inout State) -> Taken {
        if let m = s.messages.popFirst() {
            s.bytes -= m.utf8.count
            guard s.producerWaiting, s.hasRoom(capacity: capacity, byteLimit: byteLimit) else {
                return .message(m, wake: nil, waiter: nil)
            }
            s.producerWaiting = false
            let waiter = s.roomWaiter
            s.roomWaiter = nil
            return .message(m, wake: waiter == nil ? s.roomHandler : nil, waiter: waiter)
        }
        switch s.ending {
        case nil:
            return .wait
        case .clean?:
            return .end
        case .failed(let error)?:
            if s.failureReported { return .end }
            s.failureReported = true
            return .fail(error)
        }
    }
}
