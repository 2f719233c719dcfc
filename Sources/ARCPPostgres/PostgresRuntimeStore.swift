import ARCP
import Foundation
import Logging
import PostgresNIO

/// A durable `RuntimeStore` in PostgreSQL (postgres-nio): sessions with hashed resume tokens,
/// the per-session event log, jobs, idempotency keys (a uniqueness constraint) and
/// outstanding provisioned credentials.
///
/// - `connect` checks the server answers and applies the versioned migrations
///   (`PostgresSchema`) before returning; an unreachable server is a
///   `PostgresUnavailableError` that says why.
/// - `append` writes a whole batch in one transaction, after locking the batch's session
///   rows in a fixed order (so concurrent writers never deadlock), and keeps each session's
///   buffer bookkeeping (`BufferStatus`) in its row, updated in the same transaction.
/// - Events are keyed by `(session, seq)`: a replay is one index range scan.
/// - It passes the same conformance suite as `InMemoryRuntimeStore` and `SQLiteRuntimeStore`.
///
/// A single runtime can use it as its `Configuration.store` (like `SQLiteRuntimeStore`, with
/// the database on another machine); a cluster of runtimes uses it through `PostgresCluster`,
/// which adds the coordination between nodes and makes each node's store write as that node
/// (`nodeID`): see `append`, `saveSession`, `saveJob`, `jobs` and `outstandingCredentials`.
public final class PostgresRuntimeStore: RuntimeStore {
    let db: PostgresDatabase
    /// In a cluster: this node's id. Session and job records are then only written while this
    /// node holds them (a late write-behind from a node a session or job moved away from
    /// changes nothing).
    let nodeID: String?
    /// In a cluster: the jobs some node follows for a subscriber (`ClusterWatches`); an
    /// append with their events tells every node (`ev:<job>`), in its transaction.
    let watches: ClusterWatches?
    private let ownsDatabase: Bool
    /// In a cluster: the `arcp_forward` rows of forwarded events this node numbered and has
    /// not stored yet, by session and seq (`noteForwarded`).
    private let forwarded = RankedMutex(.leaf, [String: [Int64: Int64]]())
    var logger: Logger { db.logger }

    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]`) and
    /// migrates the schema.
    /// - Throws: `PostgresLocationError` (bad URL), `PostgresUnavailableError` (unreachable,
    ///   refused, or the migration failed), `PostgresSchemaError` (a newer schema).
    public static func connect(
        url: String, maxConnections: Int = 8, connectTimeout: Duration = .seconds(10), logger: Logger = Logger(label: "arcp.postgres")
    ) async throws -> PostgresRuntimeStore {
        let db = try await PostgresDatabase.connect(
            try PostgresLocation(url: url), maxConnections: maxConnections, connectTimeout: connectTimeout, logger: logger)
        return PostgresRuntimeStore(db: db, nodeID: nil, ownsDatabase: true)
    }

    init(db: PostgresDatabase, nodeID: String?, ownsDatabase: Bool, watches: ClusterWatches? = nil) {
        self.db = db
        self.nodeID = nodeID
        self.watches = watches
        self.ownsDatabase = ownsDatabase
    }

    /// Closes the connections (when this store opened them). Later calls fail.
    public func close() {
        if ownsDatabase { db.close() }
    }

    /// The schema versions applied to the database.
    public func schemaVersions() async throws -> [Int] {
        try await mapped { try await PostgresSchema.appliedVersions(db.client, logger: logger) }
    }

    // MARK: - Events

    /// A session row locked for an append or a release.
    struct LockedSession {
        var lastSeq: Int64
        var releasedThrough: Int64
        var count: Int64
        var bytes: Int64
        var limits: BufferLimits
        /// In a cluster: the node holding the session (only it numbers the session's events).
        var nodeID: String?
    }

    /// Locks the rows of `sessions` (sorted: concurrent writers lock in one order) and reads
    /// their bookkeeping.
    static func lockSessions(_ sessions: [String], on conn: PostgresConnection, logger: Logger) async throws -> [String: LockedSession] {
        var out: [String: LockedSession] = [:]
        let rows = try await conn.query(
            """
            SELECT session_id, last_seq, released_through, buffered_events, buffered_bytes, max_events, max_bytes, node_id
            FROM arcp_session WHERE session_id = ANY(\(sessions)) ORDER BY session_id FOR UPDATE
            """, logger: logger)
        for try await (id, last, released, count, bytes, maxEvents, maxBytes, node) in rows.decode(
            (String, Int64, Int64, Int64, Int64, Int, Int, String?).self)
        {
            out[id] = LockedSession(
                lastSeq: last, releasedThrough: released, count: count, bytes: bytes,
                limits: BufferLimits(maxEvents: maxEvents, maxBytes: maxBytes), nodeID: node)
        }
        return out
    }

    /// In a cluster: the event numbered `seq` in session `id` is the forwarded row `row`. The
    /// append that stores the event deletes the row in its transaction (taking a forwarded
    /// event and storing it are one step); an append fenced because another node claimed the
    /// session leaves the row for that node.
    func noteForwarded(session id: String, seq: Int64, row: Int64) {
        forwarded.withLock { $0[id, default: [:]][seq] = row }
    }

    /// The forwarded rows of `events` (`noteForwarded`).
    private func forwardedRows(_ events: [StoredEvent]) -> [Int64] {
        forwarded.withLock { f in
            guard !f.isEmpty else { return [] }
            return events.compactMap { f[$0.sessionID]?[$0.seq] }
        }
    }

    /// Forgets the forwarded rows of `events` once their append committed (stored or fenced).
    private func forgetForwarded(_ events: [StoredEvent]) {
        forwarded.withLock { f in
            guard !f.isEmpty else { return }
            for e in events {
                f[e.sessionID]?[e.seq] = nil
                if f[e.sessionID]?.isEmpty == true { f[e.sessionID] = nil }
            }
        }
    }

    /// Appends a batch of events (of one or more sessions) in one PostgreSQL transaction: all of it or,
    /// on error, none.
    /// - Returns: the evictions the sessions' caps forced, one per affected session.
    /// In a cluster, only the events of sessions this node holds are stored; the rest of the
    /// batch goes on (`appendReportingRefusals` says which sessions were refused).
    public func append(_ events: [StoredEvent]) async throws -> [Eviction] {
        try await appendReportingRefusals(events).evictions
    }

    /// `append`, with the sessions whose events were not stored because another node holds
    /// them (the runtime's store writer notes them: a connection that sends only what is
    /// stored does not send those events).
    public func appendReportingRefusals(_ events: [StoredEvent]) async throws -> AppendOutcome {
        guard !events.isEmpty else { return AppendOutcome(evictions: []) }
        let outcome = try await mapped {
            try await db.transaction { conn in
                var order: [String] = []
                var seen = Set<String>()
                for e in events where seen.insert(e.sessionID).inserted { order.append(e.sessionID) }
                var sessions = try await Self.lockSessions(order.sorted(), on: conn, logger: logger)
                var events = events
                var refused = Set<String>()
                if let node = nodeID {
                    // In a cluster only the node holding a session numbers its events: a node whose
                    // session was claimed by another (the client resumed there) writes nothing
                    // more into its log, and the rest of the batch goes on.
                    let fenced = Set(sessions.filter { $0.value.nodeID != node }.keys)
                    if !fenced.isEmpty {
                        let dropped = events.count
                        events.removeAll { fenced.contains($0.sessionID) }
                        order.removeAll { fenced.contains($0) }
                        for id in fenced { sessions[id] = nil }
                        refused = fenced
                        logger.notice(
                            "events not stored: their sessions are held by another node",
                            metadata: ["node": "\(node)", "sessions": "\(fenced.sorted())", "events": "\(dropped - events.count)"])
                    }
                }
                if nodeID != nil {
                    // The holder's numbering wins: events the previous holder appended after this
                    // node read the log to restore the session (and before its claim fenced
                    // them) never reached the client, and are replaced.
                    for id in order {
                        guard let s = sessions[id], let first = events.first(where: { $0.sessionID == id })?.seq, first <= s.lastSeq else {
                            continue
                        }
                        sessions[id] = try await Self.truncate(id, from: first, s, on: conn, logger: logger)
                    }
                }
                for event in events {
                    guard var s = sessions[event.sessionID] else { throw RuntimeStoreError.unknownSession(event.sessionID) }
                    guard event.seq > s.lastSeq else {
                        throw RuntimeStoreError.seqNotIncreasing(sessionID: event.sessionID, seq: event.seq, lastSeq: s.lastSeq)
                    }
                    let size = event.byteCount
                    guard size <= s.limits.maxBytes else {
                        throw RuntimeStoreError.eventTooLarge(sessionID: event.sessionID, seq: event.seq, bytes: size, limit: s.limits.maxBytes)
                    }
                    s.lastSeq = event.seq
                    s.count += 1
                    s.bytes += Int64(size)
                    sessions[event.sessionID] = s
                }
                try await Self.insertEvents(events, on: conn, logger: logger)
                let taken = forwardedRows(events)
                if !taken.isEmpty {
                    // Forwarded events are taken from arcp_forward as they are stored.
                    try await conn.query("DELETE FROM arcp_forward WHERE id = ANY(\(taken))", logger: logger)
                }
                if let watched = watches?.watched(among: events.map(\.jobID)), !watched.isEmpty {
                    // Delivered when this transaction commits: the events are readable then.
                    try await conn.query(
                        "SELECT pg_notify(\(ClusterForwarder.broadcast), 'ev:' || j) FROM unnest(\(watched)::text[]) AS j", logger: logger)
                }
                var evictions: [Eviction] = []
                for id in order {
                    guard var s = sessions[id] else { continue }
                    if let eviction = try await Self.evictOverCaps(id, &s, on: conn, logger: logger) { evictions.append(eviction) }
                    sessions[id] = s
                }
                try await Self.saveBookkeeping(order.compactMap { id in sessions[id].map { (id, $0) } }, on: conn, logger: logger)
                return AppendOutcome(evictions: evictions, refusedSessions: refused)
            }
        }
        forgetForwarded(events)
        return outcome
    }

    /// Deletes session `id`'s events from seq `first` on (a cluster node that claimed the
    /// session renumbers from there) and recounts its buffer.
    static func truncate(_ id: String, from first: Int64, _ s: LockedSession, on conn: PostgresConnection, logger: Logger) async throws
        -> LockedSession
    {
        try await conn.query("DELETE FROM arcp_event WHERE session_id = \(id) AND seq >= \(first)", logger: logger)
        var s = s
        for try await (count, bytes) in try await conn.query(
            "SELECT count(*)::int8, COALESCE(sum(byte_count), 0)::int8 FROM arcp_event WHERE session_id = \(id)", logger: logger
        ).decode((Int64, Int64).self) {
            s.count = count
            s.bytes = bytes
        }
        s.lastSeq = first - 1
        s.releasedThrough = min(s.releasedThrough, s.lastSeq)
        logger.notice(
            "events the session's previous node wrote after this node restored it were replaced",
            metadata: ["session": "\(id)", "from_seq": "\(first)"])
        return s
    }

    /// Inserts numbered frames (one statement for the batch).
    static func insertEvents(_ events: [StoredEvent], on conn: PostgresConnection, logger: Logger) async throws {
        guard !events.isEmpty else { return }
        try await conn.query(
            """
            INSERT INTO arcp_event (session_id, seq, job_id, byte_count, frame)
            SELECT * FROM unnest(\(events.map(\.sessionID))::text[], \(events.map(\.seq))::int8[], \(events.map(\.jobID))::text[],
                                 \(events.map { Int64($0.byteCount) })::int8[], \(events.map(\.frame))::text[])
            """, logger: logger)
    }

    /// Writes the bookkeeping of locked sessions back (one statement).
    static func saveBookkeeping(_ sessions: [(String, LockedSession)], on conn: PostgresConnection, logger: Logger) async throws {
        guard !sessions.isEmpty else { return }
        try await conn.query(
            """
            UPDATE arcp_session s SET last_seq = v.last_seq, released_through = v.released, buffered_events = v.count,
                buffered_bytes = v.bytes
            FROM unnest(\(sessions.map(\.0))::text[], \(sessions.map(\.1.lastSeq))::int8[], \(sessions.map(\.1.releasedThrough))::int8[],
                        \(sessions.map(\.1.count))::int8[], \(sessions.map(\.1.bytes))::int8[]) AS v(id, last_seq, released, count, bytes)
            WHERE s.session_id = v.id
            """, logger: logger)
    }

    /// When session `id` is over a cap, deletes its oldest events until it fits and reports it.
    static func evictOverCaps(_ id: String, _ s: inout LockedSession, on conn: PostgresConnection, logger: Logger) async throws -> Eviction? {
        let overEvents = s.count > Int64(s.limits.maxEvents)
        let overBytes = s.bytes > Int64(s.limits.maxBytes)
        guard overEvents || overBytes else { return nil }
        var evictedCount: Int64 = 0
        var evictedBytes: Int64 = 0
        var through = s.releasedThrough
        var after = s.releasedThrough
        scan: while true {
            let rows = try await conn.query(
                "SELECT seq, byte_count FROM arcp_event WHERE session_id = \(id) AND seq > \(after) ORDER BY seq LIMIT 1000",
                logger: logger)
            var any = false
            for try await (seq, bytes) in rows.decode((Int64, Int64).self) {
                any = true
                after = seq
                guard s.count - evictedCount > Int64(s.limits.maxEvents) || s.bytes - evictedBytes > Int64(s.limits.maxBytes) else {
                    break scan
                }
                through = seq
                evictedBytes += bytes
                evictedCount += 1
            }
            if !any { break }
        }
        try await conn.query("DELETE FROM arcp_event WHERE session_id = \(id) AND seq <= \(through)", logger: logger)
        s.count -= evictedCount
        s.bytes -= evictedBytes
        s.releasedThrough = max(s.releasedThrough, through)
        return Eviction(
            sessionID: id, releasedThrough: s.releasedThrough, events: Int(evictedCount), bytes: Int(evictedBytes),
            overEventLimit: overEvents, overByteLimit: overBytes)
    }

    /// Up to `limit` stored events of `session` with `seq > after`, ascending.
    public func events(session: String, after seq: Int64, limit: Int) async throws -> [StoredEvent] {
        guard limit > 0 else { return [] }
        return try await mapped {
            try await Self.decodeEvents(
                session,
                db.client.query(
                    "SELECT seq, job_id, frame FROM arcp_event WHERE session_id = \(session) AND seq > \(seq) ORDER BY seq LIMIT \(limit)",
                    logger: logger))
        }
    }

    /// Up to `limit` stored events of `job` in `session` with `seq > after`, ascending.
    public func events(session: String, job: String, after seq: Int64, limit: Int) async throws -> [StoredEvent] {
        guard limit > 0 else { return [] }
        return try await mapped {
            try await Self.decodeEvents(
                session,
                db.client.query(
                    """
                    SELECT seq, job_id, frame FROM arcp_event
                    WHERE session_id = \(session) AND job_id = \(job) AND seq > \(seq) ORDER BY seq LIMIT \(limit)
                    """, logger: logger))
        }
    }

    static func decodeEvents(_ session: String, _ rows: PostgresRowSequence) async throws -> [StoredEvent] {
        var out: [StoredEvent] = []
        for try await (seq, job, frame) in rows.decode((Int64, String, String).self) {
            out.append(StoredEvent(sessionID: session, seq: seq, jobID: job, frame: frame))
        }
        return out
    }

    /// In a cluster: what runs before the restore path reads a session (its holder flushes).
    private let beforeRestoreRead = RankedMutex<(@Sendable (String) async -> Void)?>(.leaf, nil)

    /// In a cluster: `hook` runs before each `bufferStatus(session:)`, which the runtime's
    /// restore path calls once the resume token was accepted and before it reads the log
    /// (`ClusterSessionTable.prepareRestore`: the node holding the session flushes first).
    func setBeforeRestoreRead(_ hook: @escaping @Sendable (String) async -> Void) {
        beforeRestoreRead.withLock { $0 = hook }
    }

    /// The buffer bookkeeping of `session`, or `nil` if the session is unknown.
    public func bufferStatus(session: String) async throws -> BufferStatus? {
        if let hook = beforeRestoreRead.withLock({ $0 }) { await hook(session) }
        return try await mapped { try await Self.status(session, query: { try await self.db.client.query($0, logger: self.logger) }) }
    }

    static func status(_ session: String, query: (PostgresQuery) async throws -> PostgresRowSequence) async throws -> BufferStatus? {
        let rows = try await query(
            """
            SELECT last_seq, released_through, buffered_events, buffered_bytes,
                   (SELECT min(seq) FROM arcp_event e WHERE e.session_id = s.session_id)
            FROM arcp_session s WHERE session_id = \(session)
            """)
        for try await (last, released, count, bytes, first) in rows.decode((Int64, Int64, Int, Int, Int64?).self) {
            return BufferStatus(lastSeq: last, releasedThrough: released, firstRetainedSeq: first, eventCount: count, byteCount: bytes)
        }
        return nil
    }

    /// Frees the events of `session` with `seq ≤ through` (acknowledged or evicted).
    /// - Returns: the buffer status afterwards.
    /// - Throws: `RuntimeStoreError.unknownSession`.
    public func release(session: String, through seq: Int64) async throws -> BufferStatus {
        try await mapped {
            try await db.transaction { conn in
                guard var s = try await Self.lockSessions([session], on: conn, logger: logger)[session] else {
                    throw RuntimeStoreError.unknownSession(session)
                }
                let through = min(seq, s.lastSeq)
                if through > s.releasedThrough {
                    let freed = try await conn.query(
                        "DELETE FROM arcp_event WHERE session_id = \(session) AND seq <= \(through) RETURNING byte_count", logger: logger)
                    for try await bytes in freed.decode(Int64.self) {
                        s.count -= 1
                        s.bytes -= bytes
                    }
                    s.releasedThrough = through
                    try await Self.saveBookkeeping([(session, s)], on: conn, logger: logger)
                }
                guard let status = try await Self.status(session, query: { try await conn.query($0, logger: self.logger) }) else {
                    throw RuntimeStoreError.unknownSession(session)
                }
                return status
            }
        }
    }

    // MARK: - Sessions

    /// Inserts or replaces a session record; the buffer is kept.
    /// In a cluster, only while this node holds the session.
    public func saveSession(_ record: SessionRecord) async throws {
        try await mapped {
            // In a cluster only the node the session is attached to updates its record.
            let node = nodeID
            try await db.client.query(
                """
                INSERT INTO arcp_session (session_id, principal, resume_token_hash, created_at, last_seen_at,
                                          closed, max_events, max_bytes, state_json, node_id)
                VALUES (\(record.sessionID), \(record.principal), \(record.resumeTokenHash),
                        \(record.createdAt.storedValue), \(record.lastSeenAt.storedValue), \(record.closed), \(record.limits.maxEvents),
                        \(record.limits.maxBytes), \(record.stateJSON), \(node))
                ON CONFLICT (session_id) DO UPDATE SET
                    principal = excluded.principal, resume_token_hash = excluded.resume_token_hash,
                    created_at = excluded.created_at,
                    last_seen_at = excluded.last_seen_at, closed = excluded.closed, max_events = excluded.max_events,
                    max_bytes = excluded.max_bytes, state_json = excluded.state_json
                WHERE \(node)::text IS NULL OR arcp_session.node_id = \(node)
                """, logger: logger)
        }
    }

    static let sessionColumns =
        "session_id, principal, resume_token_hash, created_at, last_seen_at, closed, max_events, max_bytes, state_json"

    static func sessionRecords(_ rows: PostgresRowSequence) async throws -> [SessionRecord] {
        var out: [SessionRecord] = []
        for try await (id, principal, hash, created, seen, closed, maxEvents, maxBytes, state) in rows.decode(
            (String, String, String, Double, Double, Bool, Int, Int, String).self)
        {
            out.append(
                SessionRecord(
                    sessionID: id, principal: principal, resumeTokenHash: hash,
                    createdAt: Date(stored: created), lastSeenAt: Date(stored: seen), closed: closed,
                    limits: BufferLimits(maxEvents: maxEvents, maxBytes: maxBytes), stateJSON: state))
        }
        return out
    }

    /// The record of session `id`, if stored.
    public func session(_ id: String) async throws -> SessionRecord? {
        try await mapped {
            try await Self.sessionRecords(
                db.client.query(
                    "SELECT \(unescaped: Self.sessionColumns) FROM arcp_session WHERE session_id = \(id)", logger: logger)
            ).first
        }
    }

    /// Sessions last seen strictly before `date` (all of them when `nil`).
    public func sessions(lastSeenBefore date: Date?) async throws -> [SessionRecord] {
        try await mapped {
            if let date {
                // In a cluster, a session another live node holds is that node's to expire.
                return try await Self.sessionRecords(
                    db.client.query(
                        """
                        SELECT \(unescaped: Self.sessionColumns) FROM arcp_session s
                        WHERE last_seen_at < \(date.storedValue)
                          AND (\(nodeID)::text IS NULL OR s.node_id IS NULL OR s.node_id = \(nodeID)
                               OR NOT EXISTS (SELECT 1 FROM arcp_node n WHERE n.node_id = s.node_id AND n.state = 'up'))
                        ORDER BY session_id
                        """,
                        logger: logger))
            }
            return try await Self.sessionRecords(
                db.client.query("SELECT \(unescaped: Self.sessionColumns) FROM arcp_session ORDER BY session_id", logger: logger))
        }
    }

    /// Deletes a session record with its whole event buffer; jobs are kept.
    public func deleteSession(_ id: String) async throws {
        // Its events and control frames go with it (ON DELETE CASCADE). In a cluster, never a
        // session another live node holds (this node's copy expired after the session moved).
        try await mapped {
            // Deletable: any row for a single runtime; in a cluster, a session this node holds,
            // nobody holds, or a node that is not up held.
            try await db.client.query(
                """
                DELETE FROM arcp_session s WHERE session_id = \(id)
                  AND (\(nodeID)::text IS NULL OR s.node_id IS NULL OR s.node_id = \(nodeID)
                       OR NOT EXISTS (SELECT 1 FROM arcp_node n WHERE n.node_id = s.node_id AND n.state = 'up'))
                """, logger: logger)
        }
    }


    // MARK: - Jobs

    /// Inserts or replaces a job record.
    /// In a cluster, only while this node runs the job and is up.
    public func saveJob(_ record: JobRecord) async throws {
        try await mapped {
            // In a cluster only the node running the job (while it is up) updates its record, so
            // a node declared dead can never overwrite how the cluster ended its jobs.
            let node = nodeID
            try await db.client.query(
                """
                INSERT INTO arcp_job (job_id, session_id, principal, agent, status, created_at, trace_id, parent_job_id, lease_json,
                                      lease_constraints_json, budget_json, last_event_seq, idempotency_key, node_id, ended_at)
                VALUES (\(record.jobID), \(record.sessionID), \(record.principal), \(record.agent), \(record.status.rawValue),
                        \(record.createdAt.storedValue), \(record.traceID), \(record.parentJobID), \(record.leaseJSON),
                        \(record.leaseConstraintsJSON), \(record.budgetJSON), \(record.lastEventSeq), \(record.idempotencyKey), \(node),
                        CASE WHEN \(record.status.isTerminal) THEN extract(epoch FROM clock_timestamp()) END)
                ON CONFLICT (job_id) DO UPDATE SET
                    session_id = excluded.session_id, principal = excluded.principal, agent = excluded.agent,
                    status = excluded.status, created_at = excluded.created_at, trace_id = excluded.trace_id,
                    parent_job_id = excluded.parent_job_id, lease_json = excluded.lease_json,
                    lease_constraints_json = excluded.lease_constraints_json, budget_json = excluded.budget_json,
                    last_event_seq = GREATEST(arcp_job.last_event_seq, excluded.last_event_seq),
                    idempotency_key = excluded.idempotency_key,
                    ended_at = CASE WHEN excluded.ended_at IS NULL THEN NULL ELSE COALESCE(arcp_job.ended_at, excluded.ended_at) END
                WHERE \(node)::text IS NULL
                   OR (arcp_job.node_id = \(node)
                       AND EXISTS (SELECT 1 FROM arcp_node n WHERE n.node_id = \(node) AND n.state = 'up'))
                """, logger: logger)
        }
    }

    static let jobColumns = """
        job_id, session_id, principal, agent, status, created_at, trace_id, parent_job_id, lease_json,
        lease_constraints_json, budget_json, last_event_seq, idempotency_key
        """

    static func jobRecords(_ rows: PostgresRowSequence) async throws -> [JobRecord] {
        var out: [JobRecord] = []
        for try await (id, session, principal, agent, status, created, trace, parent, lease, constraints, budget, last, key) in rows.decode(
            (String, String, String, String, String, Double, String?, String?, String, String?, String?, Int64, String?).self)
        {
            guard let status = JobRecord.Status(rawValue: status) else { throw RuntimeStoreError.storage("unknown job status \(status)") }
            out.append(
                JobRecord(
                    jobID: id, sessionID: session, principal: principal, agent: agent, status: status, createdAt: Date(stored: created),
                    traceID: trace, parentJobID: parent, leaseJSON: lease, leaseConstraintsJSON: constraints, budgetJSON: budget,
                    lastEventSeq: last, idempotencyKey: key))
        }
        return out
    }

    /// The record of job `id`, if stored.
    public func job(_ id: String) async throws -> JobRecord? {
        try await mapped {
            try await Self.jobRecords(
                db.client.query("SELECT \(unescaped: Self.jobColumns) FROM arcp_job WHERE job_id = \(id)", logger: logger)
            ).first
        }
    }

    /// One page of job records matching `query`, ordered by `(createdAt, jobID)`.
    /// In a cluster, unfinished jobs that some node runs are not listed (the membership ends
    /// them if that node is lost).
    public func jobs(_ query: JobQuery) async throws -> [JobRecord] {
        guard query.limit > 0 else { return [] }
        if let statuses = query.statuses, statuses.isEmpty { return [] }
        return try await mapped {
            try await Self.jobRecords(db.client.query(Self.jobsQuery(query, runningElsewhereHidden: nodeID != nil), logger: logger))
        }
    }

    /// The SQL of a job query (filters, keyset cursor, order, limit).
    ///
    /// `runningElsewhereHidden` (a cluster node's store): unfinished jobs that a node runs or
    /// that wait in the cluster's queue are left out. They are not lost: their node is alive, or the cluster's membership ends
    /// them when it finds the node lost (`ClusterMembership`); the runtime's restore path,
    /// which reads unfinished jobs to report them lost after a restart, must not end them.
    static func jobsQuery(_ query: JobQuery, columns: String = jobColumns, runningElsewhereHidden: Bool = false) throws -> PostgresQuery {
        var clauses: [String] = []
        if runningElsewhereHidden {
            // …and so are queued jobs (no node yet): a node will claim them.
            clauses.append(
                """
                NOT (status IN ('pending', 'running')
                     AND (node_id IS NOT NULL OR EXISTS (SELECT 1 FROM arcp_queue q WHERE q.job_id = arcp_job.job_id)))
                """)
        }
        var binds = PostgresBindings()
        func bind<T: PostgresNonThrowingEncodable & PostgresDynamicTypeEncodable>(_ value: T) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        if let principal = query.principal { clauses.append("principal = \(bind(principal))") }
        if let statuses = query.statuses { clauses.append("status = ANY(\(bind(statuses.map(\.rawValue).sorted()))::text[])") }
        if let agent = query.agent {
            if agent.contains("@") {
                clauses.append("agent = \(bind(agent))")
            } else {
                // left() counts characters, as the filter's name does.
                clauses.append("(agent = \(bind(agent)) OR left(agent, \(bind(agent.count + 1))::int) = \(bind(agent + "@")))")
            }
        }
        if let after = query.createdAfter { clauses.append("created_at > \(bind(after.storedValue))") }
        if let cursor = query.after {
            let at = bind(cursor.createdAt.storedValue)
            clauses.append("(created_at > \(at) OR (created_at = \(at) AND job_id > \(bind(cursor.jobID))))")
        }
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let sql = "SELECT \(columns) FROM arcp_job \(whereClause) ORDER BY created_at, job_id LIMIT \(bind(query.limit))"
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    /// Deletes a job record.
    public func deleteJob(_ id: String) async throws {
        try await mapped { try await db.client.query("DELETE FROM arcp_job WHERE job_id = \(id)", logger: logger) }
    }

    // MARK: - Idempotency

    /// Stores `record` unless `(principal, key)` is already present, atomically.
    /// - Returns: the record now stored: `record`, or the earlier one.
    public func claimIdempotency(_ record: IdempotencyRecord) async throws -> IdempotencyRecord {
        try await mapped {
            // The insert and the read of the winner are separate statements (a statement's
            // snapshot may predate a concurrent winner's commit): retry until one of them sees a row.
            for _ in 0..<100 {
                // In a cluster the key's row is inserted by the claim (`ClusterIdempotencyIndex`)
                // without the job.accepted, which is known later: it is filled in here, so that
                // another node can replay it for a resubmit.
                let inserted = try await db.client.query(
                    """
                    INSERT INTO arcp_idempotency (principal, key, fingerprint, job_id, accepted_payload_json, created_at)
                    VALUES (\(record.principal), \(record.key), \(record.fingerprint), \(record.jobID), \(record.acceptedPayloadJSON),
                            \(record.createdAt.storedValue))
                    ON CONFLICT (principal, key) DO UPDATE SET accepted_payload_json = excluded.accepted_payload_json
                    WHERE arcp_idempotency.job_id = excluded.job_id AND arcp_idempotency.accepted_payload_json = ''
                    RETURNING 1
                    """, logger: logger
                ).collect()
                if !inserted.isEmpty { return record }
                if let winner = try await idempotencyRecord(principal: record.principal, key: record.key) { return winner }
            }
            throw RuntimeStoreError.storage("idempotency key \(record.key) neither inserted nor found")
        }
    }

    private func idempotencyRecord(principal: String, key: String) async throws -> IdempotencyRecord? {
        let rows = try await db.client.query(
            """
            SELECT fingerprint, job_id, accepted_payload_json, created_at FROM arcp_idempotency
            WHERE principal = \(principal) AND key = \(key)
            """, logger: logger)
        for try await (fingerprint, job, accepted, created) in rows.decode((String, String, String, Double).self) {
            return IdempotencyRecord(
                principal: principal, key: key, fingerprint: fingerprint, jobID: job, acceptedPayloadJSON: accepted,
                createdAt: Date(stored: created))
        }
        return nil
    }

    /// The idempotency record of `(principal, key)`, if stored.
    public func idempotency(principal: String, key: String) async throws -> IdempotencyRecord? {
        try await mapped { try await idempotencyRecord(principal: principal, key: key) }
    }

    /// Deletes the idempotency records created strictly before `date`.
    /// - Returns: how many were deleted.
    public func purgeIdempotency(olderThan date: Date) async throws -> Int {
        try await mapped {
            try await db.client.query("DELETE FROM arcp_idempotency WHERE created_at < \(date.storedValue) RETURNING 1", logger: logger)
                .collect().count
        }
    }

    // MARK: - Outstanding credentials

    /// `true`: the records are committed to the database.
    public var durablyKeepsOutstandingCredentials: Bool { true }

    /// Records an outstanding provisioned credential (by its value's digest, never the value);
    /// when it returns, the record is committed.
    public func saveOutstandingCredential(_ record: OutstandingCredentialRecord) async throws {
        try await mapped {
            try await db.client.query(
                """
                INSERT INTO arcp_outstanding_credential (job_id, credential_id, value_digest, revocation_json, issued_at, attempts,
                                                         last_error, last_attempt_at)
                VALUES (\(record.jobID), \(record.credentialID), \(record.valueDigest), \(record.revocationJSON),
                        \(record.issuedAt.storedValue), \(record.attempts), \(record.lastError), \(record.lastAttemptAt?.storedValue))
                ON CONFLICT (job_id, credential_id, value_digest) DO UPDATE SET
                    revocation_json = excluded.revocation_json, issued_at = excluded.issued_at, attempts = excluded.attempts,
                    last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at
                """, logger: logger)
        }
    }

    /// Deletes the record of `(jobID, credentialID, valueDigest)` once revoked; no error if absent.
    public func removeOutstandingCredential(jobID: String, credentialID: String, valueDigest: String) async throws {
        try await mapped {
            try await db.client.query(
                """
                DELETE FROM arcp_outstanding_credential
                WHERE job_id = \(jobID) AND credential_id = \(credentialID) AND value_digest = \(valueDigest)
                """, logger: logger)
        }
    }

    /// Every outstanding-credential record, ordered by `(issuedAt, jobID, credentialID, valueDigest)`.
    /// In a cluster, those of jobs another live node runs are left out.
    public func outstandingCredentials() async throws -> [OutstandingCredentialRecord] {
        try await mapped {
            // A cluster node is not told about the credentials of jobs another live node runs
            // (the runtime revokes every outstanding credential it is told about and does not
            // handle itself).
            let rows = try await db.client.query(
                """
                SELECT job_id, credential_id, value_digest, revocation_json, issued_at, attempts, last_error, last_attempt_at
                FROM arcp_outstanding_credential c
                WHERE \(nodeID)::text IS NULL OR NOT EXISTS (
                    SELECT 1 FROM arcp_job j JOIN arcp_node n ON n.node_id = j.node_id
                    WHERE j.job_id = c.job_id AND j.status IN ('pending', 'running') AND n.state = 'up' AND j.node_id <> \(nodeID))
                ORDER BY issued_at, job_id, credential_id, value_digest
                """, logger: logger)
            var out: [OutstandingCredentialRecord] = []
            for try await (job, credential, digest, revocation, issued, attempts, lastError, lastAttempt) in rows.decode(
                (String, String, String, String, Double, Int, String?, Double?).self)
            {
                out.append(
                    OutstandingCredentialRecord(
                        jobID: job, credentialID: credential, valueDigest: digest, revocationJSON: revocation,
                        issuedAt: Date(stored: issued), attempts: attempts, lastError: lastError,
                        lastAttemptAt: lastAttempt.map(Date.init(stored:))))
            }
            return out
        }
    }

    // MARK: - Errors

    /// Store errors pass through; cancellation stays `CancellationError`; anything from the
    /// driver becomes `RuntimeStoreError.storage` with the server's reason.
    @discardableResult
    func mapped<T>(_ operation: () async throws -> T) async throws -> T {
        do {
            return try await operation()
        } catch let error as RuntimeStoreError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            throw RuntimeStoreError.storage(describe(error))
        }
    }
}
