import DequeModule
import Foundation
import Logging

/// Writes a runtime's sessions, events and jobs to its `RuntimeStore` in the background, in
/// order, batching consecutive events into one `append`. Callers enqueue synchronously
/// (under their own locks, so per-session order is kept); emitters call `waitForCapacity()`
/// so the queue stays bounded. Store failures are logged, never swallowed silently.
///
/// Each op has a ticket (its position in the queue, from 1). Events the store refused (a
/// cluster node's store refuses those of sessions another node holds,
/// `RuntimeStore.appendReportingRefusals`) are noted by session with their ticket
/// (`refusedTicket(of:)`): a connection that sends only what is stored checks it after
/// waiting for its session's latest event, and ends instead of sending.
final class RuntimeStoreWriter: Sendable {
    enum Op: Sendable {
        case event(StoredEvent)
        case session(SessionRecord)
        case job(JobRecord)
        case release(String, Int64)
        /// Retention (`Configuration.Retention`): queued behind the writes they follow.
        case deleteJob(String)
        case deleteSession(String)
        case purgeIdempotency(olderThan: Date)
    }

    struct State {
        var ops: Deque<Op> = []
        var writer: CheckedContinuation<Void, Never>? = nil
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
        var flushWaiters: [(UInt64, CheckedContinuation<Void, Never>)] = []
        var enqueued: UInt64 = 0
        var done: UInt64 = 0
        var failures = 0
        /// By session: the ticket of its latest event the store refused. Dropped once a later
        /// event of the session is stored (it is held here again), or the session deleted; at
        /// most `maxRefusedSessions` (the oldest refusal is forgotten first: only a
        /// connection that started before it still asks, and the refusal of a session that
        /// moved away is checked by its connection here at its next batch).
        var refused: [String: UInt64] = [:]
    }

    /// Sessions whose refused events are remembered at most (`refusedTicket(of:)`).
    static let maxRefusedSessions = 4_096

    let store: any RuntimeStore
    let capacity: Int
    let logger: Logger
    /// A leaf: sessions enqueue under their own lock (rank `session`), so per-session order is kept.
    private let state = RankedMutex(.leaf, State())

    init(store: any RuntimeStore, capacity: Int, logger: Logger) {
        self.store = store
        self.capacity = max(16, capacity)
        self.logger = logger
    }

    var failures: Int { state.withLock { $0.failures } }

    /// Queues `op`; returns its ticket (`flush(through:)` waits for it).
    @discardableResult
    func submit(_ op: Op) -> UInt64 {
        let (w, ticket): (CheckedContinuation<Void, Never>?, UInt64) = state.withLock { s in
            s.ops.append(op)
            s.enqueued += 1
            let w = s.writer
            s.writer = nil
            return (w, s.enqueued)
        }
        w?.resume()
        return ticket
    }

    func waitForCapacity() async {
        while state.withLock({ $0.ops.count >= capacity }) {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.ops.count < capacity { return true }
                    s.spaceWaiters.append(c)
                    return false
                }
                if now { c.resume() }
            }
        }
    }

    /// Waits until everything enqueued so far has been written.
    func flush() async {
        await flush(through: state.withLock { $0.enqueued })
    }

    /// Waits at most `limit` until everything enqueued so far has been written; false when
    /// some of it was not (the store did not answer in time).
    func flush(within limit: Duration) async -> Bool {
        let ticket = state.withLock { $0.enqueued }
        let deadline = ContinuousClock.now + limit
        while state.withLock({ $0.done < ticket }) {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// The ticket of the last op queued (0: none yet).
    var lastTicket: UInt64 { state.withLock { $0.enqueued } }

    /// The ticket of `session`'s latest event the store refused to store (0: none, or a
    /// later event of it was stored since).
    func refusedTicket(of session: String) -> UInt64 { state.withLock { $0.refused[session] ?? 0 } }

    /// Ops queued and not written yet.
    var pending: UInt64 { state.withLock { $0.enqueued - min($0.done, $0.enqueued) } }

    /// Waits until the op with ticket `ticket` (and every op before it) has been written.
    func flush(through ticket: UInt64) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.done >= ticket { return true }
                s.flushWaiters.append((ticket, c))
                return false
            }
            if now { c.resume() }
        }
    }

    /// The writer loop; runs for the runtime's lifetime.
    func run() async {
        while !Task.isCancelled {
            let batch: [Op] = state.withLock { s in
                let b = Array(s.ops)
                s.ops.removeAll(keepingCapacity: true)
                return b
            }
            if batch.isEmpty {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { s -> Bool in
                        if !s.ops.isEmpty { return true }
                        s.writer = c
                        return false
                    }
                    if now { c.resume() }
                }
                continue
            }
            let spaceWaiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                let w = s.spaceWaiters
                s.spaceWaiters = []
                return w
            }
            for w in spaceWaiters { w.resume() }
            // Only this loop moves `done`: the batch's tickets follow it.
            await write(batch, firstTicket: state.withLock { $0.done } + 1)
            let flushed = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.done += UInt64(batch.count)
                let ready = s.flushWaiters.filter { $0.0 <= s.done }.map(\.1)
                s.flushWaiters.removeAll { $0.0 <= s.done }
                return ready
            }
            for f in flushed { f.resume() }
        }
    }

    private func write(_ batch: [Op], firstTicket: UInt64) async {
        var events: [StoredEvent] = []
        var tickets: [UInt64] = []
        func flushEvents() async {
            guard !events.isEmpty else { return }
            do {
                report(try await store.appendReportingRefusals(events), events, tickets)
            } catch where events.count > 1 {
                // One bad event must not cost its whole batch (issue 10 item 9): the store
                // rolled the batch back, so write the events one by one; only the bad ones fail.
                logger.warning("event store batch failed; writing its events one by one", metadata: ["events": "\(events.count)", "error": "\(error)"])
                for (e, ticket) in zip(events, tickets) {
                    do {
                        report(try await store.appendReportingRefusals([e]), [e], [ticket])
                    } catch {
                        fail("append of event \(e.seq) of session \(e.sessionID)", error)
                    }
                }
            } catch {
                fail("append", error)
            }
            events.removeAll(keepingCapacity: true)
            tickets.removeAll(keepingCapacity: true)
        }
        for (offset, op) in batch.enumerated() {
            if case .event(let e) = op {
                events.append(e)
                tickets.append(firstTicket + UInt64(offset))
                continue
            }
            await flushEvents()
            do {
                switch op {
                case .session(let r): try await store.saveSession(r)
                case .job(let r): try await store.saveJob(r)
                case .release(let sid, let seq): _ = try await store.release(session: sid, through: seq)
                case .deleteJob(let id): try await store.deleteJob(id)
                case .deleteSession(let id):
                    state.withLock { _ = $0.refused.removeValue(forKey: id) }
                    try await store.deleteSession(id)
                case .purgeIdempotency(let date): _ = try await store.purgeIdempotency(olderThan: date)
                case .event: break
                }
            } catch {
                fail("write", error)
            }
        }
        await flushEvents()
    }

    /// Logs the evictions of an append, and notes the sessions whose events (with tickets
    /// `tickets`) the store refused, or stored again after a refusal.
    private func report(_ outcome: AppendOutcome, _ events: [StoredEvent], _ tickets: [UInt64]) {
        let refused = outcome.refusedSessions
        state.withLock { s in
            guard !refused.isEmpty || !s.refused.isEmpty else { return }
            for (e, ticket) in zip(events, tickets) {
                if refused.contains(e.sessionID) {
                    s.refused[e.sessionID] = max(s.refused[e.sessionID] ?? 0, ticket)
                } else if let r = s.refused[e.sessionID], r < ticket {
                    s.refused[e.sessionID] = nil
                }
            }
            while s.refused.count > Self.maxRefusedSessions, let oldest = s.refused.min(by: { $0.value < $1.value }) {
                s.refused[oldest.key] = nil
            }
        }
        report(outcome.evictions)
    }

    private func report(_ evictions: [Eviction]) {
        for e in evictions {
            logger.warning(
                "event store evicted unacknowledged events",
                metadata: ["session": "\(e.sessionID)", "events": "\(e.events)", "released_through": "\(e.releasedThrough)"])
        }
    }

    private func fail(_ what: String, _ error: any Error) {
        state.withLock { $0.failures += 1 }
        logger.error("event store \(what) failed", metadata: ["error": "\(error)"])
    }
}
