import ARCP
import DequeModule
import Foundation
import Logging
import PostgresNIO

// Live events of a job whose session moved to another node (docs/CLUSTER.md): the node
// running the job stops numbering the session's events once the session moves, and queues
// the job's events, in order, to `arcp_forward`; the node holding the session numbers them
// in the session (its log, its client) as they come.

/// The sessions whose events this node no longer numbers: another node holds them, or asked
/// for them (a resume there), so their jobs' events here are forwarded.
final class ClusterMoves: Sendable {
    private let ids = RankedMutex<Set<String>>(.leaf, [])

    func contains(_ id: String) -> Bool { ids.withLock { $0.contains(id) } }
    func insert(_ id: String) { _ = ids.withLock { $0.insert(id) } }
    func remove(_ id: String) { _ = ids.withLock { $0.remove(id) } }
}

/// The fan-outs of a cluster node's jobs: the in-memory fan-out, plus forwarding of the
/// submitter's events once its session moved.
struct ClusterSubscriptionFanOut: SubscriptionFanOut {
    let inner: InMemorySubscriptionFanOut
    let moves: ClusterMoves
    let forwarder: ClusterForwarder

    func fanOut(jobID: String, principal: String, traceID: String, ownerSessionID: String, owner: RuntimeSession?) -> any JobEventFanOut {
        ClusterJobEventFanOut(
            inner: inner.fanOut(jobID: jobID, principal: principal, traceID: traceID, ownerSessionID: ownerSessionID, owner: owner),
            jobID: jobID, principal: principal, traceID: traceID, moves: moves, forwarder: forwarder, ownerElsewhere: owner == nil)
    }
}

/// One job's fan-out on a cluster node. While the submitting session is here it is the
/// in-memory fan-out; once the session moved, each event still goes through the in-memory
/// fan-out (subscribers here, the history, the refusal after the terminal frame) and is also
/// queued for the node holding the session. (The queueing follows the in-memory fan-out's
/// lock rather than happening under it; an event racing the job's terminal frame from
/// another task may be queued after it, and is then dropped by the holder.)
final class ClusterJobEventFanOut: JobEventFanOut {
    let inner: any JobEventFanOut
    let jobID: String
    let principal: String
    let traceID: String
    let moves: ClusterMoves
    let forwarder: ClusterForwarder
    /// The submitting session was not on this node when the job was made (a job claimed
    /// from the cluster's queue, a child of a job whose session moved): every event is
    /// forwarded to the node holding the session.
    let ownerElsewhere: Bool

    init(
        inner: any JobEventFanOut, jobID: String, principal: String, traceID: String, moves: ClusterMoves, forwarder: ClusterForwarder,
        ownerElsewhere: Bool = false
    ) {
        self.inner = inner
        self.jobID = jobID
        self.principal = principal
        self.traceID = traceID
        self.moves = moves
        self.forwarder = forwarder
        self.ownerElsewhere = ownerElsewhere
    }

    var ownerSessionID: String { inner.ownerSessionID }
    var terminal: Message? { inner.terminal }
    var lastOwnerSeq: Int { inner.lastOwnerSeq }
    var subscriberIDs: [String] { inner.subscriberIDs }
    var retainedBytes: Int { inner.retainedBytes }

    @discardableResult
    func publish(_ message: Message, redactedForOthers: Message?) -> Int? {
        let moved = ownerElsewhere || moves.contains(ownerSessionID)
        guard let seq = inner.publish(message, redactedForOthers: redactedForOthers) else { return nil }
        if moved { forward(message, terminal: false) }
        return seq
    }

    @discardableResult
    func publishTerminal(_ message: Message) -> Int? {
        let moved = ownerElsewhere || moves.contains(ownerSessionID)
        guard let seq = inner.publishTerminal(message) else { return nil }
        if moved { forward(message, terminal: true) }
        return seq
    }

    private func forward(_ message: Message, terminal: Bool) {
        forwarder.enqueue(
            ClusterForwarder.Entry(
                session: ownerSessionID, job: jobID, trace: traceID, principal: principal,
                frame: FrameCodec.encode(Envelope.make(message, jobID: jobID, traceID: traceID)), terminal: terminal))
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

/// Numbers the forwarded events of the sessions this node holds, in order: one drain at a
/// time per node (the rows of a session are taken with `DELETE … RETURNING`, oldest first).
final class ClusterDrain: Sendable {
    private struct State {
        var pending: [String] = []
        var running = false
    }

    let db: PostgresDatabase
    let nodeID: String
    private let state = RankedMutex(.leaf, State())
    var log: Logger { db.logger }

    init(db: PostgresDatabase, nodeID: String) {
        self.db = db
        self.nodeID = nodeID
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

    /// Delivers the forwarded events of session `id`, if this node holds it.
    func drain(_ id: String, sessions: ClusterSessionTable) async {
        guard let session = sessions.localSession(id) else { return }
        do {
            let holder = try await db.client.query("SELECT node_id FROM arcp_session WHERE session_id = \(id)", logger: log)
                .collect().first?.decode(String?.self)
            guard holder == nodeID else { return }
            var rows: [(Int64, String, String, String, String, Bool)] = []
            for try await row in try await db.client.query(
                """
                DELETE FROM arcp_forward WHERE id IN (SELECT id FROM arcp_forward WHERE session_id = \(id) ORDER BY id LIMIT 10000)
                RETURNING id, job_id, trace_id, principal, frame, terminal
                """, logger: log
            ).decode((Int64, String, String, String, String, Bool).self) {
                rows.append(row)
            }
            rows.sort { $0.0 < $1.0 }
            var ended = Set<String>()
            for (_, job, trace, principal, frame, terminal) in rows where !ended.contains(job) {
                guard case .success(let envelope) = FrameCodec.decode(frame, validate: false) else {
                    log.error("a forwarded frame could not be read", metadata: ["job": "\(job)", "session": "\(id)"])
                    continue
                }
                let fanOut = InMemorySubscriptionFanOut(historyLimit: 1)
                    .fanOut(jobID: job, principal: principal, traceID: trace, ownerSessionID: id, owner: session)
                if terminal {
                    ended.insert(job)
                    fanOut.publishTerminal(envelope.message)
                } else {
                    fanOut.publish(envelope.message, redactedForOthers: nil)
                }
            }
            if rows.count == 10000 { await drain(id, sessions: sessions) }
        } catch {
            log.warning("could not take forwarded events", metadata: ["session": "\(id)", "error": "\(describe(error))"])
        }
    }
}
