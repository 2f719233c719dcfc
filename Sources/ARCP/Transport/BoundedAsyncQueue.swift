import DequeModule
import Synchronization

/// A bounded, back-pressured, multi-producer single-consumer async queue.
///
/// `send` suspends while the queue holds `capacity` elements, so a fast producer
/// can never grow memory without bound and nothing is ever dropped. `next()`
/// suspends while the queue is empty. Both honour task cancellation.
///
/// This is the one buffer every transport and session in swift-arcp uses. It is `package`
/// (not public API): what users see of one is a read-only sequence over its consumer side
/// (`JobHandle.Events`, `JobHandle.Children`), so no caller outside the package can send into
/// or finish a queue the package feeds.
package final class BoundedAsyncQueue<Element: Sendable>: Sendable {
    /// Thrown by `send` once the queue has been finished.
    package struct Closed: Error, Sendable {}

    private struct Producer {
        var id: UInt64
        var element: Element
        var continuation: CheckedContinuation<Void, any Error>
    }

    /// The parked consumer's continuation. Unsafe (no canary object allocated per park: a
    /// job's event stream parks its consumer between nearly every batch): it is stored and
    /// taken only under the lock, and whoever takes it (leaving `consumer` nil) resumes it
    /// once, so it is resumed exactly once.
    private typealias ConsumerWake = UnsafeContinuation<Element?, any Error>

    private struct State {
        var buffer: Deque<Element> = []
        var producers: Deque<Producer> = []
        var consumer: ConsumerWake?
        var finished = false
        var failure: (any Error)?
        var nextID: UInt64 = 0
    }

    package let capacity: Int
    private let state = Mutex(State())

    // The hot methods carry exported specializations for the element types other modules use
    // most (a WebSocket transport's inbox of String frames, a job's events): generic code
    // called across a module boundary is otherwise run unspecialized, looking up generic type
    // metadata on every call.

    /// - Parameter capacity: elements held before `send` suspends (at least 1).
    package init(capacity: Int) {
        self.capacity = Swift.max(1, capacity)
    }

    /// The number of buffered elements (not counting suspended senders).
    package var count: Int { state.withLock { $0.buffer.count } }

    /// Whether `finish` has been called.
    package var isFinished: Bool { state.withLock { $0.finished } }

    /// Enqueues `element`, suspending while the queue is full.
    /// - Throws: `Closed` after `finish`, `CancellationError` if the task is cancelled while waiting.
    @_specialize(exported: true, where Element == String)
    @_specialize(exported: true, where Element == JobEvent)
    package func send(_ element: Element) async throws {
        // Fast path: no suspension needed.
        // Continuations are resumed after the lock is released: resuming enqueues the task
        // (and may wake a thread), which must not lengthen the critical section.
        let fast: SendFast = state.withLock { s in
            if s.finished { return .closed }
            if let c = s.consumer {
                s.consumer = nil
                return .handOff(c)
            }
            if s.buffer.count < capacity {
                s.buffer.append(element)
                return .done
            }
            return .wait
        }
        switch fast {
        case .done: return
        case .handOff(let c):
            c.resume(returning: element)
            return
        case .closed: throw Closed()
        case .wait: break
        }
        let id = state.withLock { s -> UInt64 in s.nextID &+= 1; return s.nextID }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
                let now: SendSlow = state.withLock { s in
                    if s.finished { return .fail(Closed()) }
                    if Task.isCancelled { return .fail(CancellationError()) }
                    if let c = s.consumer {
                        s.consumer = nil
                        return .handOff(c)
                    }
                    if s.buffer.count < capacity {
                        s.buffer.append(element)
                        return .done
                    }
                    s.producers.append(Producer(id: id, element: element, continuation: cont))
                    return .parked
                }
                switch now {
                case .fail(let e): cont.resume(throwing: e)
                case .handOff(let c):
                    c.resume(returning: element)
                    cont.resume()
                case .done: cont.resume()
                case .parked: break
                }
            }
        } onCancel: {
            let cont: CheckedContinuation<Void, any Error>? = state.withLock { s in
                guard let i = s.producers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.producers.remove(at: i).continuation
            }
            cont?.resume(throwing: CancellationError())
        }
    }

    /// Enqueues many elements in order, taking the lock once for as many as fit and waking the
    /// consumer once; the rest are sent one by one with the usual back-pressure.
    package func send<S: Sequence>(contentsOf elements: S) async throws where S.Element == Element {
        var rest: [Element] = []
        var handOff: (ConsumerWake, Element)? = nil
        let closed: Bool = state.withLock { s in
            if s.finished { return true }
            var it = elements.makeIterator()
            // Never overtake producers that are already waiting.
            if s.producers.isEmpty {
                while s.buffer.count < capacity || s.consumer != nil, let e = it.next() {
                    if let c = s.consumer {
                        s.consumer = nil
                        handOff = (c, e)
                    } else {
                        s.buffer.append(e)
                    }
                }
            }
            while let e = it.next() { rest.append(e) }
            return false
        }
        if let (c, e) = handOff { c.resume(returning: e) }
        if closed { throw Closed() }
        for e in rest { try await send(e) }
    }

    /// Enqueues without waiting. Returns false when the queue is full or finished.
    @discardableResult
    @_specialize(exported: true, where Element == String)
    @_specialize(exported: true, where Element == JobEvent)
    package func trySend(_ element: Element) -> Bool {
        let fast: SendFast = state.withLock { s in
            if s.finished { return .closed }
            if let c = s.consumer {
                s.consumer = nil
                return .handOff(c)
            }
            if s.buffer.count < capacity {
                s.buffer.append(element)
                return .done
            }
            return .wait
        }
        switch fast {
        case .done: return true
        case .handOff(let c):
            c.resume(returning: element)
            return true
        case .closed, .wait: return false
        }
    }

    /// The next element; `nil` once finished and drained. Rethrows the finishing error, if any.
    /// Only one task may wait in `next()` at a time.
    @_specialize(exported: true, where Element == String)
    @_specialize(exported: true, where Element == JobEvent)
    package func next() async throws -> Element? {
        let (fast, unblocked) = state.withLock { s in Self.take(&s) }
        unblocked?.resume()
        switch fast {
        case .value(let v): return v
        case .end: return nil
        case .fail(let e): throw e
        case .wait: break
        }
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (cont: ConsumerWake) in
                let (now, unblocked, displaced) = state.withLock { s -> (TakeResult, CheckedContinuation<Void, any Error>?, ConsumerWake?) in
                    let (taken, unblocked) = Self.take(&s)
                    guard case .wait = taken else { return (taken, unblocked, nil) }
                    if Task.isCancelled { return (.fail(CancellationError()), nil, nil) }
                    // A second concurrent consumer is a usage error; fail it rather than trap.
                    let old = s.consumer
                    s.consumer = cont
                    return (.wait, nil, old)
                }
                unblocked?.resume()
                displaced?.resume(throwing: CancellationError())
                switch now {
                case .value(let v): cont.resume(returning: v)
                case .end: cont.resume(returning: nil)
                case .fail(let e): cont.resume(throwing: e)
                case .wait: break
                }
            }
        } onCancel: {
            let cont = state.withLock { s -> ConsumerWake? in
                defer { s.consumer = nil }
                return s.consumer
            }
            cont?.resume(throwing: CancellationError())
        }
    }

    /// The elements available now, in order (the buffered ones, then those of suspended
    /// senders, who are resumed), without waiting: at most `max`, and no more than `maxCost`
    /// of `cost` in all but at least one. `[]` when none is (the end, if it is next, is for
    /// `next()` to report). The single consumer's, as `next()`.
    package func takeAvailable(max: Int, maxCost: Int = .max, cost: (Element) -> Int = { _ in 0 }) -> [Element] {
        var unblocked: [CheckedContinuation<Void, any Error>] = []
        let taken = state.withLock { s -> [Element] in
            var taken: [Element] = []
            var spent = 0
            while taken.count < max, let next = s.buffer.first ?? s.producers.first?.element {
                let c = cost(next)
                if !taken.isEmpty, c > maxCost - spent { break }
                // `take` hands out `next` (and moves a suspended sender's element in).
                let (result, producer) = Self.take(&s)
                guard case .value(let v) = result else { break }
                spent += c
                taken.append(v)
                if let producer { unblocked.append(producer) }
            }
            return taken
        }
        for p in unblocked { p.resume() }
        return taken
    }

    /// Takes the next element; also returns the producer whose element moved into the
    /// buffer (or was taken), for the caller to resume once the lock is released.
    private static func take(_ s: inout State) -> (TakeResult, CheckedContinuation<Void, any Error>?) {
        if let v = s.buffer.popFirst() {
            if let p = s.producers.popFirst() {
                s.buffer.append(p.element)
                return (.value(v), p.continuation)
            }
            return (.value(v), nil)
        }
        if let p = s.producers.popFirst() {
            return (.value(p.element), p.continuation)
        }
        if s.finished {
            if let f = s.failure { return (.fail(f), nil) }
            return (.end, nil)
        }
        return (.wait, nil)
    }

    private enum TakeResult { case value(Element), end, fail(any Error), wait }
    private enum SendFast { case done, handOff(ConsumerWake), closed, wait }
    private enum SendSlow { case done, handOff(ConsumerWake), fail(any Error), parked }

    /// Ends the queue. Buffered elements are still delivered; then `next()` returns nil
    /// (or throws `error`). Suspended and later senders get `Closed`.
    package func finish(throwing error: (any Error)? = nil) {
        let (consumer, producers): (ConsumerWake?, Deque<Producer>) = state.withLock { s in
            if s.finished { return (nil, []) }
            s.finished = true
            s.failure = error
            let p = s.producers
            s.producers = []
            var c: ConsumerWake? = nil
            if s.buffer.isEmpty { c = s.consumer; s.consumer = nil }
            return (c, p)
        }
        for p in producers { p.continuation.resume(throwing: Closed()) }
        if let consumer {
            if let error { consumer.resume(throwing: error) } else { consumer.resume(returning: nil) }
        }
    }
}

extension BoundedAsyncQueue: AsyncSequence {
    package struct AsyncIterator: AsyncIteratorProtocol {
        let queue: BoundedAsyncQueue
        package mutating func next() async throws -> Element? { try await queue.next() }
    }
    package func makeAsyncIterator() -> AsyncIterator { AsyncIterator(queue: self) }
}

/// The producer side of a queue (`send`, `trySend`, `finish`): what no public API may expose.
package protocol AsyncQueueProducer<Element>: AnyObject, Sendable {
    associatedtype Element: Sendable
    func send(_ element: Element) async throws
    func trySend(_ element: Element) -> Bool
    func finish(throwing error: (any Error)?)
}

extension BoundedAsyncQueue: AsyncQueueProducer {}
