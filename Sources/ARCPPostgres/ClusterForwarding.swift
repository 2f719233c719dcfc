import ARCP
import DequeModule
import Foundation
import Logging
import PostgresNIO

// Live events of a job whose session moved to another node (docs/CLUSTER.md): the node
// running the job stops numbering the session's events once the session moves, and queues
// the job's events, in order, to `arcp_forward`; the node holding the session numbers them
// in the session (its log, its client) as they come.

/// The fan-outs of a cluster node's jobs: the in-memory fan-out, plus the routing of the
/// submitter's events (`ClusterRouting.swift`) when its session is not numbered here.
struct ClusterSubscriptionFanOut: SubscriptionFanOut {
    let inner: InMemorySubscriptionFanOut
    let routes: ClusterRoutes
    let forwarder: ClusterForwarder
    /// This node's current object of a session it holds.
    let sessions: @Sendable (String) -> RuntimeSession?

    func fanOut(jobID: String, principal: String, traceID: String, ownerSessionID: String, owner: RuntimeSession?) -> any JobEventFanOut {
        ClusterJobEventFanOut(
            inner: inner.fanOut(jobID: jobID, principal: principal, traceID: traceID, ownerSessionID: ownerSessionID, owner: owner),
            jobID: jobID, principal: principal, traceID: traceID, routes: routes, forwarder: forwarder, sessions: sessions,
            ownerElsewhere: owner == nil)
    }
}

/// One job's fan-out on a cluster node. While this node numbers the submitting session's
/// events (`ClusterRoutes.begin`) it is the in-memory fan-out. Otherwise each event still
/// goes through the in-memory fan-out without the session (subscribers here, the history,
/// the refusal after the terminal frame), then is committed to the routing: forwarded for
/// the node holding the session, held while the session comes back here, or numbered here
/// when it came back meanwhile. (The commit follows the in-memory fan-out's lock rather than
/// happening under it; an event racing the job's terminal frame from another task may be
/// committed after it, and is then dropped by the holder.)
final class ClusterJobEventFanOut: JobEventFanOut {
    let inner: any JobEventFanOut
    let jobID: String
    let principal: String
    let traceID: String
    let routes: ClusterRoutes
    let forwarder: ClusterForwarder
    let sessions: @Sendable (String) -> RuntimeSession?
    /// The submitting session was not on this node when the job was made (a job claimed
    /// from the cluster's queue, a child of a job whose session moved): every event is
    /// forwarded to the node holding the session.
    let ownerElsewhere: Bool

    init(
        inner: any JobEventFanOut, jobID: String, principal: String, traceID: String, routes: ClusterRoutes, forwarder: ClusterForwarder,
        sessions: @escaping @Sendable (String) -> RuntimeSession?, ownerElsewhere: Bool = false
    ) {
        self.inner = inner
        self.jobID = jobID
        self.principal = principal
        self.traceID = traceID
        self.routes = routes
        self.forwarder = forwarder
        self.sessions = sessions
        self.ownerElsewhere = ownerElsewhere
    }

    var ownerSessionID: String { inner.ownerSessionID }
    var terminal: Message? { inner.terminal }
    var lastOwnerSeq: Int { inner.lastOwnerSeq }
    var subscriberIDs: [String] { inner.subscriberIDs }
    var retainedBytes: Int { inner.retainedBytes }

    /// Makes `session` the submitting session's object here (it was restored again).
    func rebind(owner session: RuntimeSession) {
        (inner as? InMemoryJobEventFanOut)?.rebind(owner: session)
    }

    @discardableResult
    func publish(_ message: Message, redactedForOthers: Message?) -> Int? {
        let id = ownerSessionID
        if !ownerElsewhere && routes.begin(id) {
            defer { routes.numbered(id) }
            return inner.publish(message, redactedForOthers: redactedForOthers)
        }
        let published =
            if let local = inner as? InMemoryJobEventFanOut {
                local.publish(message, redactedForOthers: redactedForOthers, toOwner: false)
            } else {
                inner.publish(message, redactedForOthers: redactedForOthers)
            }
        guard let seq = published else { return nil }
        route(message, terminal: false)
        return seq
    }

    @discardableResult
    func publishTerminal(_ message: Message) -> Int? {
        let id = ownerSessionID
        if !ownerElsewhere && routes.begin(id) {
            defer { routes.numbered(id) }
            return inner.publishTerminal(message)
        }
        let published =
            if let local = inner as? InMemoryJobEventFanOut { local.publishTerminal(message, toOwner: false) } else { inner.publishTerminal(message) }
        guard let seq = published else { return nil }
        route(message, terminal: true)
        return seq
    }

    private func route(_ message: Message, terminal: Bool) {
        let entry = ClusterForwarder.Entry(
            session: ownerSessionID, job: jobID, trace: traceID, principal: principal,
            frame: FrameCodec.encode(Envelope.make(message, jobID: jobID, traceID: traceID)), terminal: terminal)
        if ownerElsewhere {
            forwarder.enqueue(entry)
        } else if routes.commit(entry) {
            // The session came back here meanwhile: numbered in its object here.
            defer { routes.numbered(ownerSessionID) }
            sessions(ownerSessionID)?.sendForwardedEvent(message, jobID: jobID, traceID: traceID)
        }
    }

    func subscribe(_ session: RuntimeSession, history: Bool, fromSeq: Int, subscribed: (Int, Bool) -> Message) async {
        await inner.subscribe(session, history: history, fromSeq: fromSeq, subscribed: subscribed)
    }

    func unsubscribe(sessionID: String) async -> Bool { await inner.unsubscribe(sessionID: sessionID) }
    func replayTerminal(to session: RuntimeSession) async { await inner.replayTerminal(to: session) }

    func waitForCapacity() async {
        await inner.waitForCapacity()
        await forwarder.waitForCapacity()
    }

    func ownerShouldReportBackPressure() -> Bool { inner.ownerShouldReportBackPressure() }
}

/// This node's writer to `arcp_forward`: one task that takes what is queued, in order, and
/// inserts it in one transaction that also notifies every node (`fwd:<session>`), retrying
/// with backoff while the database does not answer. Producers enqueue synchronously; the
/// queue is bounded by `waitForCapacity` (agents wait, as for a slow client).
final class ClusterForwarder: Sendable {
    struct Entry: Sendable {
        var session: String
        var job: String
        var trace: String
        var principal: String
        var frame: String
        var terminal: Bool
    }

    private struct State {
        var queue: Deque<Entry> = []
        var writer: CheckedContinuation<Void, Never>? = nil
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
        var flushWaiters: [(UInt64, CheckedContinuation<Void, Never>)] = []
        var enqueued: UInt64 = 0
        var done: UInt64 = 0
    }

    static let capacity = 4096
    static let broadcast = "arcp_cluster"
    let db: PostgresDatabase
    private let state = RankedMutex(.leaf, State())
    var log: Logger { db.logger }

    init(db: PostgresDatabase) {
        self.db = db
    }

    func enqueue(_ entry: Entry) {
        let w: CheckedContinuation<Void, Never>? = state.withLock { s in
            s.queue.append(entry)
            s.enqueued += 1
            defer { s.writer = nil }
            return s.writer
        }
        w?.resume()
    }

    func waitForCapacity() async {
        while state.withLock({ $0.queue.count >= Self.capacity }) {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.queue.count < Self.capacity { return true }
                    s.spaceWaiters.append(c)
                    return false
                }
                if now { c.resume() }
            }
        }
    }

    /// Waits until everything queued so far is in the database.
    func flush() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.done >= s.enqueued { return true }
                s.flushWaiters.append((s.enqueued, c))
                return false
            }
            if now { c.resume() }
        }
    }

    /// The writer loop; runs until cancelled.
    func run() async {
        var failures = 0
        while !Task.isCancelled {
            let batch: [Entry] = state.withLock { s in Array(s.queue.prefix(500)) }
            if batch.isEmpty {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { s -> Bool in
                        if !s.queue.isEmpty { return true }
                        s.writer = c
                        return false
                    }
                    if now { c.resume() }
                }
                continue
            }
            do {
                try await write(batch)
                failures = 0
            } catch {
                failures += 1
                if failures <= 3 || failures % 10 == 0 {
                    log.warning("forwarding events failed; retrying", metadata: ["failures": "\(failures)", "error": "\(describe(error))"])
                }
                try? await Task.sleep(for: .milliseconds(min(5000, 50 << min(failures, 7))))
                continue
            }
            let (waiters, flushed) = state.withLock { s -> ([CheckedContinuation<Void, Never>], [CheckedContinuation<Void, Never>]) in
                s.queue.removeFirst(batch.count)
                s.done += UInt64(batch.count)
                let w = s.spaceWaiters
                s.spaceWaiters = []
                let done = s.done
                let ready = s.flushWaiters.filter { $0.0 <= done }.map(\.1)
                s.flushWaiters.removeAll { $0.0 <= done }
                return (w, ready)
            }
            for w in waiters { w.resume() }
            for f in flushed { f.resume() }
        }
    }

    private func write(_ batch: [Entry]) async throws {
        try await db.transaction { conn in
            try await conn.query(
                """
                INSERT INTO arcp_forward (session_id, job_id, trace_id, principal, frame, terminal)
                SELECT * FROM unnest(\(batch.map(\.session))::text[], \(batch.map(\.job))::text[], \(batch.map(\.trace))::text[],
                                     \(batch.map(\.principal))::text[], \(batch.map(\.frame))::text[], \(batch.map(\.terminal))::bool[])
                """, logger: log)
            var seen = Set<String>()
            for e in batch where seen.insert(e.session).inserted {
                try await conn.query("SELECT pg_notify(\(Self.broadcast), \("fwd:" + e.session))", logger: log)
            }
        }
    }
}

/// Numbers the forwarded events of the sessions this node holds, in order, and makes taking
/// them durable in one step: a forwarded row is deleted from `arcp_forward` in the
/// transaction that appends its numbered event to the session's log
/// (`PostgresRuntimeStore.noteForwarded`), so an event is in exactly one of the two tables
/// whatever fails. A holder killed before its append committed leaves the rows for the next
/// holder; one whose session was claimed meanwhile has its append fenced and leaves them too.
///
/// One drain at a time per session (an async lock); each pass first waits for this node's
/// store writer, so the rows an earlier pass numbered are gone (appended) or still there
/// because they were fenced, never read twice.
final class ClusterDrain: Sendable {
    private struct State {
        var pending: [String] = []
        var running = false
        var busy: Set<String> = []
        var lockWaiters: [String: [CheckedContinuation<Void, Never>]] = [:]
        var flush: (@Sendable () async -> Void)? = nil
    }

    static let page = 1000
    let db: PostgresDatabase
    let nodeID: String
    let routes: ClusterRoutes
    let store: PostgresRuntimeStore
    private let state = RankedMutex(.leaf, State())
    var log: Logger { db.logger }

    init(db: PostgresDatabase, nodeID: String, routes: ClusterRoutes, store: PostgresRuntimeStore) {
        self.db = db
        self.nodeID = nodeID
        self.routes = routes
        self.store = store
    }

    /// How a drain waits for this node's store writer (the runtime's `flushStore`).
    func setFlush(_ flush: @escaping @Sendable () async -> Void) {
        state.withLock { $0.flush = flush }
    }

    /// Drains session `id` (now, or after the drain running).
    func request(_ id: String, sessions: ClusterSessionTable) {
        let start = state.withLock { s -> Bool in
            if !s.pending.contains(id) { s.pending.append(id) }
            defer { s.running = true }
            return !s.running
        }
        guard start else { return }
        Task {
            while let next = state.withLock({ s -> String? in
                guard !s.pending.isEmpty else {
                    s.running = false
                    return nil
                }
                return s.pending.removeFirst()
            }) {
                await drain(next, sessions: sessions)
            }
        }
    }

    private func lock(_ id: String) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.busy.insert(id).inserted { return true }
                s.lockWaiters[id, default: []].append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    private func unlock(_ id: String) {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard var waiters = s.lockWaiters[id], !waiters.isEmpty else {
                s.busy.remove(id)
                s.lockWaiters[id] = nil
                return nil
            }
            // Handed over: the session stays busy for the next drain.
            let c = waiters.removeFirst()
            s.lockWaiters[id] = waiters.isEmpty ? nil : waiters
            return c
        }
        next?.resume()
    }

    /// Numbers the forwarded events of session `id` in its object here, if this node holds
    /// it and numbers its events (`ClusterRoutes.beginDrain`).
    func drain(_ id: String, sessions: ClusterSessionTable) async {
        await lock(id)
        defer { unlock(id) }
        var ended = Set<String>()
        while sessions.localSession(id) != nil {
            // The pass's reads belong to this node's current hold of the session: if it leaves
            // before the pass numbers, the pass numbers nothing (`beginDrain`).
            let pass = routes.openPass(id)
            defer { routes.closePass(id) }
            await state.withLock({ $0.flush })?()
            do {
                let holder = try await db.client.query("SELECT node_id FROM arcp_session WHERE session_id = \(id)", logger: log)
                    .collect().first?.decode(String?.self)
                guard holder == nodeID else { return }
                var rows: [(Int64, String, String, String, String, Bool)] = []
                for try await row in try await db.client.query(
                    """
                    SELECT id, job_id, trace_id, principal, frame, terminal FROM arcp_forward WHERE session_id = \(id)
                    ORDER BY id LIMIT \(Self.page)
                    """, logger: log
                ).decode((Int64, String, String, String, String, Bool).self) {
                    rows.append(row)
                }
                guard !rows.isEmpty, routes.beginDrain(id, pass: pass) else { return }
                // The copy to number into is taken now, in flight: a leave waits for
                // `numbered`, and this node's copy of a session is replaced only after a leave
                // (`session(_:)`, `claimedElsewhere`).
                guard let session = sessions.localSession(id) else {
                    routes.numbered(id)
                    return
                }
                var discarded: [Int64] = []
                for (row, job, trace, _, frame, terminal) in rows {
                    guard !ended.contains(job) else {
                        // After its job's terminal frame (a late event of another task): dropped.
                        discarded.append(row)
                        continue
                    }
                    guard case .success(let envelope) = FrameCodec.decode(frame, validate: false) else {
                        log.error("a forwarded frame could not be read", metadata: ["job": "\(job)", "session": "\(id)"])
                        discarded.append(row)
                        continue
                    }
                    if terminal { ended.insert(job) }
                    session.sendForwardedEvent(envelope.message, jobID: job, traceID: trace) { seq in
                        store.noteForwarded(session: id, seq: Int64(seq), row: row)
                    }
                }
                routes.numbered(id)
                if !discarded.isEmpty {
                    try await db.client.query("DELETE FROM arcp_forward WHERE id = ANY(\(discarded))", logger: log)
                }
                if rows.count < Self.page { return }
            } catch {
                log.warning("could not take forwarded events", metadata: ["session": "\(id)", "error": "\(describe(error))"])
                return
            }
        }
    }
}
