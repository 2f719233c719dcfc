import ARCP
import Foundation
import Logging
import PostgresNIO

// `job.subscribe` on one node to a job another node runs (spec §7.6; docs/CLUSTER.md,
// "Subscribe across nodes"). The subscriber's node follows the job's events where they are
// numbered for good: the event log of the job's submitting session (`arcp_event`, keyed by
// session, job and seq), whichever node holds that session now. It reads the history from
// the log, then every event appended after it, in seq order, and delivers each through the
// subscriber's bounded queue (`JobSubscriberEndpoint`), up to the terminal frame. The job's
// node is never asked anything: an observer has no way to slow the job.
//
// Waking up: the follower broadcasts `watch:<job>` (and again every `ClusterWatches.renewal`
// while it follows); every node remembers the watched jobs for `ClusterWatches.lifetime`, and
// a store append holding events of a watched job notifies `ev:<job>` in its transaction (so
// the events are readable when the hint arrives). Hints can be lost (a LISTEN connection
// down, a watch not yet known): the follower also reads every `ClusterFollows.pollInterval`.

/// The jobs some node of the cluster follows for a subscriber, each until its watch lapses
/// (`lifetime` after the last `watch:` notification). Bounded: beyond `capacity` live
/// watches a new one is not kept (its follower still reads every poll interval).
final class ClusterWatches: Sendable {
    static let lifetime: Duration = .seconds(60)
    static let renewal: Duration = .seconds(20)
    static let capacity = 100_000
    private let jobs = RankedMutex<[String: ContinuousClock.Instant]>(.leaf, [:])

    /// Job `id` is followed somewhere (a `watch:` notification).
    func note(_ id: String) {
        let now = ContinuousClock.now
        jobs.withLock { j in
            if j.count >= Self.capacity && j[id] == nil {
                j = j.filter { $0.value > now }
                guard j.count < Self.capacity else { return }
            }
            j[id] = now + Self.lifetime
        }
    }

    /// The watched jobs among `ids` (each once); lapsed watches are dropped on the way.
    func watched(among ids: [String]) -> [String] {
        let now = ContinuousClock.now
        return jobs.withLock { j in
            guard !j.isEmpty else { return [] }
            var out: [String] = []
            var seen = Set<String>()
            for id in ids where seen.insert(id).inserted {
                guard let until = j[id] else { continue }
                if until > now { out.append(id) } else { j[id] = nil }
            }
            return out
        }
    }
}

/// The subscriptions of this node's sessions to jobs other nodes run: one follower task
/// each, keyed by (session, job), at most `maxPerSession` per session.
final class ClusterFollows: Sendable {
    struct Key: Hashable, Sendable {
        var session: String
        var job: String
    }

    private struct Entry {
        var id: UInt64
        var wake: AsyncStream<Void>.Continuation
        var task: Task<Void, Never>?
    }

    private struct State {
        var entries: [String: [Key: Entry]] = [:]
        var perSession: [String: Int] = [:]
        var next: UInt64 = 0
        var closed = false
    }

    /// How often a follower reads the log without a hint.
    static let pollInterval: Duration = .seconds(2)
    /// Log rows read per query.
    static let page = 500

    let db: PostgresDatabase
    let watches: ClusterWatches
    private let state = RankedMutex(.leaf, State())
    private let limits = RankedMutex(.leaf, (historyLimit: 10_000, historyBytes: Int.max, maxPerSession: 256))
    var log: Logger { db.logger }

    init(db: PostgresDatabase, watches: ClusterWatches) {
        self.db = db
        self.watches = watches
    }

    /// The history bounds of the runtime's in-memory fan-out (`historyLimitPerJob`,
    /// `historyBytesPerJob`) and the cap on followed jobs per session.
    func configure(historyLimit: Int, historyBytes: Int, maxPerSession: Int) {
        limits.withLock { $0 = (max(0, historyLimit), max(0, historyBytes), max(1, maxPerSession)) }
    }

    /// How many jobs this node follows (introspection, tests).
    var count: Int { state.withLock { $0.entries.values.reduce(0) { $0 + $1.count } } }

    /// The row of a job, as `job.subscribed` shows it: `ClusterJobTable.Row`, then the
    /// submitting session and the budget.
    private typealias JobRow = (
        String, String, String, String, String, String?, String?, String?, Double, String?, Int64, String, String?
    )

    // MARK: Subscribe

    /// `ClusterJobTable.subscribeElsewhere`.
    /// `answer` makes the first frame from the `job.subscribed` payload and the job's
    /// creation time (an idempotent resubmit answers `job.accepted` instead).
    func subscribe(
        _ jobID: String, session: RuntimeSession, history: Bool, fromSeq: Int, requestID: String, observable: (String) -> Bool,
        answer: (JobSubscribedPayload, Date) -> Message = { payload, _ in .jobSubscribed(payload) }
    ) async -> Bool {
        let found: JobRow?
        do {
            found = try await db.client.query(
                "SELECT \(unescaped: ClusterJobTable.columns), session_id, budget_json FROM arcp_job WHERE job_id = \(jobID)", logger: log
            ).collect().first?.decode(JobRow.self)
        } catch {
            log.warning("could not look a job up for job.subscribe", metadata: ["job": "\(jobID)", "error": "\(describe(error))"])
            return false
        }
        guard let found else { return false }
        let row: ClusterJobTable.Row = (
            found.0, found.1, found.2, found.3, found.4, found.5, found.6, found.7, found.8, found.9, found.10
        )
        let (owner, budgetText) = (found.11, found.12)
        let listing = ClusterJobTable.listing(row)
        let allowed = observable(listing.principal)
        log.info(
            "job.subscribe",
            metadata: [
                "subscriber": "\(session.principal)", "job": "\(jobID)", "owner": "\(listing.principal)", "node": "\(row.9 ?? "-")",
                "decision": "\(allowed ? "allow" : "deny")",
            ])
        // A job the policy hides is answered exactly as a missing one.
        guard allowed else { return false }
        let (historyLimit, historyBytes, maxPerSession) = limits.withLock { $0 }
        let key = Key(session: session.id, job: jobID)
        // The submitting session gets the job's events as their owner already: it is answered
        // but not registered, as in the in-memory fan-out.
        var reservation: (id: UInt64, wake: AsyncStream<Void>)? = nil
        if session.id != owner {
            switch reserve(key, max: maxPerSession) {
            case .success(let r): reservation = r
            case .failure(var refused):
                refused.requestID = requestID
                JobSubscriberEndpoint(session: session, jobID: jobID, traceID: listing.traceID).sendControl(.sessionError(refused.payload))
                return true
            }
            await broadcastWatch(jobID)
        }

        // The job's latest event, then the history (the newest `historyLimit` events after
        // fromSeq, within the byte bound), read after the watch went out: an event stored
        // later is hinted or polled, and read after `last`. The latest event says where live
        // delivery starts without history, and whether the job ended (the row's status is
        // written behind: a node publishes its jobs' `running` with its heartbeat).
        var replay: [(seq: Int, message: Message)] = []
        var last = 0
        var terminal: Message? = nil
        var latest = 0
        do {
            for (seq, frame) in try await readLog(
                "SELECT seq, frame FROM arcp_event WHERE session_id = \(owner) AND job_id = \(jobID) ORDER BY seq DESC LIMIT 1")
            {
                latest = seq
                if let message = decode(frame, jobID: jobID, owner: owner), message.endsJob { terminal = message }
            }
            if history {
                var (kept, bytes) = (0, 0)
                for (seq, frame) in try await readLog(
                    """
                    SELECT seq, frame FROM arcp_event WHERE session_id = \(owner) AND job_id = \(jobID) AND seq > \(Int64(fromSeq))
                    ORDER BY seq DESC LIMIT \(historyLimit + 1)
                    """)
                {
                    guard let message = decode(frame, jobID: jobID, owner: owner) else { continue }
                    last = max(last, seq)
                    latest = max(latest, seq)
                    // The terminal frame is always kept (the in-memory history counts it apart).
                    if message.endsJob {
                        terminal = message
                    } else {
                        bytes += frame.utf8.count
                        guard kept < historyLimit, bytes <= historyBytes else { continue }
                        kept += 1
                    }
                    replay.append((seq, message))
                }
                replay.reverse()
                last = max(last, fromSeq)
            } else {
                last = latest
            }
        } catch {
            log.warning("could not read a job's events for job.subscribe", metadata: ["job": "\(jobID)", "error": "\(describe(error))"])
            if let reservation { release(key, id: reservation.id) }
            return false
        }
        var status = listing.status
        switch terminal {
        case .jobResult(let r)?: status = JobStatus(rawValue: r.finalStatus.rawValue)
        case .jobError(let e)?: status = JobStatus(rawValue: (e.finalStatus ?? .error).rawValue)
        default: if status == .pending && latest > 0 { status = .running }
        }
        let endpoint = JobSubscriberEndpoint(session: session, jobID: jobID, traceID: listing.traceID)
        let budget = budgetText.flatMap { try? JSONParser.parse($0) }.flatMap { try? Budget(json: $0) }
        endpoint.sendControl(
            answer(
                JobSubscribedPayload(
                    jobId: jobID, currentStatus: status, agent: listing.agent, lease: listing.lease,
                    leaseConstraints: listing.leaseConstraints, budget: budget, parentJobId: listing.parentJobID, traceId: listing.traceID,
                    subscribedFrom: history ? fromSeq : last, replayed: .bool(!replay.isEmpty), requestId: requestID),
                listing.createdAt))
        for (_, message) in replay { endpoint.replay(message) }
        // Without history a finished job gives its outcome (with history, the terminal frame
        // is the history's last event, unless from_event_seq is past it).
        if !history, let terminal { endpoint.replay(terminal) }
        guard let reservation else { return true }
        guard terminal == nil else {
            release(key, id: reservation.id)
            return true
        }
        start(key, id: reservation.id, wake: reservation.wake, endpoint: endpoint, owner: owner, after: last)
        return true
    }

    /// Registers the follow of `key` (replacing the session's follow of the same job), or the
    /// limit's error when the session already follows `max` jobs.
    private func reserve(_ key: Key, max: Int) -> Result<(id: UInt64, wake: AsyncStream<Void>), ARCPError> {
        let (stream, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let outcome = state.withLock { s -> (Result<(id: UInt64, wake: AsyncStream<Void>), ARCPError>, Entry?) in
            // A new subscribe to the same job replaces the old one.
            let replaced = s.entries[key.job]?[key]
            if replaced != nil { Self.remove(key, from: &s) }
            let n = s.perSession[key.session] ?? 0
            guard !s.closed, n < max else {
                let e = ARCPError(
                    .internalError, "this session already follows \(max) jobs running on other nodes; unsubscribe from one first",
                    retryable: false, details: ["limit": "cluster_subscriptions_per_session", "max": .int(Int64(max))])
                return (.failure(e), replaced)
            }
            s.next += 1
            s.entries[key.job, default: [:]][key] = Entry(id: s.next, wake: wake, task: nil)
            s.perSession[key.session] = n + 1
            return (.success((s.next, stream)), replaced)
        }
        if let replaced = outcome.1 { stop(replaced) }
        if case .failure = outcome.0 { wake.finish() }
        return outcome.0
    }

    /// Starts the follower `id` of `key` from `after` (unless it was ended meanwhile).
    private func start(_ key: Key, id: UInt64, wake stream: AsyncStream<Void>, endpoint: JobSubscriberEndpoint, owner: String, after: Int) {
        guard let wake = state.withLock({ s in s.entries[key.job]?[key].flatMap { $0.id == id ? $0.wake : nil } }) else { return }
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    // The poll, and the watch's renewal.
                    var sinceWatch = Duration.zero
                    while !Task.isCancelled {
                        try? await Task.sleep(for: Self.pollInterval)
                        sinceWatch += Self.pollInterval
                        if sinceWatch >= ClusterWatches.renewal {
                            sinceWatch = .zero
                            await self.broadcastWatch(key.job)
                        }
                        wake.yield()
                    }
                }
                await self.follow(key, endpoint: endpoint, owner: owner, after: after, wake: stream)
                group.cancelAll()
            }
            self.release(key, id: id)
        }
        let ended = state.withLock { s -> Bool in
            guard s.entries[key.job]?[key]?.id == id else { return true }
            s.entries[key.job]?[key]?.task = task
            return false
        }
        if ended { task.cancel() }
    }

    /// Reads and delivers the job's events after `after` until its terminal frame, the
    /// subscriber's overflow or departure, the job's disappearance, or cancellation.
    private func follow(_ key: Key, endpoint: JobSubscriberEndpoint, owner: String, after: Int, wake: AsyncStream<Void>) async {
        var last = after
        var idleRoundsAfterEnd = 0
        var endSeen: ContinuousClock.Instant? = nil
        var wakes = wake.makeAsyncIterator()
        while !Task.isCancelled, endpoint.session != nil {
            let rows: [(Int, String)]
            do {
                rows = try await readLog(
                    """
                    SELECT seq, frame FROM arcp_event WHERE session_id = \(owner) AND job_id = \(key.job) AND seq > \(Int64(last))
                    ORDER BY seq LIMIT \(Self.page)
                    """)
            } catch {
                log.warning("could not read a followed job's events", metadata: ["job": "\(key.job)", "error": "\(describe(error))"])
                guard await wakes.next() != nil else { return }
                continue
            }
            for (seq, frame) in rows {
                let delivered = last
                last = seq
                guard let message = decode(frame, jobID: key.job, owner: owner) else { continue }
                if message.endsJob {
                    endpoint.replay(message)
                    return
                }
                // A subscriber past its bound was sent the typed error: the subscription ends.
                guard endpoint.deliver(message, delivered: delivered) else { return }
            }
            if rows.count == Self.page { continue }
            if rows.isEmpty {
                // A job that ended without its terminal frame in this log (its session's log
                // was deleted), or whose row is gone, is followed no longer.
                // (The terminal frame of a job whose session moved reaches the log through
                // the forwarding, after the job's row says it ended: give it `endGrace`.)
                if await ended(key.job) {
                    idleRoundsAfterEnd += 1
                    let since = endSeen ?? ContinuousClock.now
                    endSeen = since
                    if idleRoundsAfterEnd >= 2 && ContinuousClock.now - since >= Self.endGrace {
                        log.notice("a followed job ended without a terminal frame in its log", metadata: ["job": "\(key.job)"])
                        return
                    }
                }
            } else {
                idleRoundsAfterEnd = 0
                endSeen = nil
            }
            guard await wakes.next() != nil else { return }
        }
    }

    /// How long a follower keeps reading after the job's row says it ended and no terminal
    /// frame is in the log.
    static let endGrace: Duration = .seconds(10)

    /// Whether job `id`'s row is gone or says it ended (true when the database cannot say:
    /// the next round asks again).
    private func ended(_ id: String) async -> Bool {
        do {
            let status = try await db.client.query("SELECT status FROM arcp_job WHERE job_id = \(id)", logger: log)
                .collect().first?.decode(String.self)
            guard let status else { return true }
            return status != "pending" && status != "running"
        } catch {
            return false
        }
    }

    private func readLog(_ query: PostgresQuery) async throws -> [(Int, String)] {
        var out: [(Int, String)] = []
        for try await (seq, frame) in try await db.client.query(query, logger: log).decode((Int64, String).self) {
            out.append((Int(clamping: seq), frame))
        }
        return out
    }

    private func decode(_ frame: String, jobID: String, owner: String) -> Message? {
        guard case .success(let envelope) = FrameCodec.decode(frame, validate: false) else {
            log.error("a stored frame could not be read", metadata: ["job": "\(jobID)", "session": "\(owner)"])
            return nil
        }
        return envelope.message
    }

    private func broadcastWatch(_ job: String) async {
        do {
            try await db.client.query("SELECT pg_notify(\(ClusterForwarder.broadcast), \("watch:" + job))", logger: log)
        } catch {
            log.warning("could not announce a followed job", metadata: ["job": "\(job)", "error": "\(describe(error))"])
        }
    }

    // MARK: Wake, unsubscribe, stop

    /// Events of job `id` were stored (an `ev:` hint).
    func wake(job id: String) {
        let wakes = state.withLock { s in s.entries[id]?.values.map(\.wake) ?? [] }
        for w in wakes { w.yield() }
    }

    /// Wakes every follower (notifications may have been lost).
    func wakeAll() {
        let wakes = state.withLock { s in s.entries.values.flatMap { $0.values.map(\.wake) } }
        for w in wakes { w.yield() }
    }

    /// `ClusterJobTable.unsubscribeElsewhere`.
    func unsubscribe(_ jobID: String, sessionID: String) -> Bool {
        let key = Key(session: sessionID, job: jobID)
        let entry: Entry? = state.withLock { s in
            guard let e = s.entries[jobID]?[key] else { return nil }
            Self.remove(key, from: &s)
            return e
        }
        guard let entry else { return false }
        stop(entry)
        return true
    }

    /// Ends every follower (the node leaves).
    func close() {
        let all = state.withLock { s in
            s.closed = true
            defer {
                s.entries = [:]
                s.perSession = [:]
            }
            return s.entries.values.flatMap(\.values)
        }
        for e in all { stop(e) }
    }

    private func stop(_ entry: Entry) {
        entry.task?.cancel()
        entry.wake.finish()
    }

    /// Forgets the follow `id` of `key` (if it is still that one).
    private func release(_ key: Key, id: UInt64) {
        let entry: Entry? = state.withLock { s in
            guard let e = s.entries[key.job]?[key], e.id == id else { return nil }
            Self.remove(key, from: &s)
            return e
        }
        entry?.wake.finish()
    }

    private static func remove(_ key: Key, from s: inout State) {
        guard s.entries[key.job]?.removeValue(forKey: key) != nil else { return }
        if s.entries[key.job]?.isEmpty == true { s.entries[key.job] = nil }
        if let n = s.perSession[key.session] { s.perSession[key.session] = n > 1 ? n - 1 : nil }
    }
}

extension Message {
    /// A job's terminal frame (`job.result`, `job.error`): nothing of the job follows it.
    var endsJob: Bool {
        switch self {
        case .jobResult, .jobError: true
        default: false
        }
    }
}
