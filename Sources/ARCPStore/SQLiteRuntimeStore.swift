import ARCP
import Foundation
import GRDB

/// A durable `RuntimeStore` in one SQLite file, built on GRDB.
///
/// - WAL mode (`DatabasePool`): reads run concurrently with each other and with the single
///   writer; writes are serialized.
/// - A versioned migrator creates or upgrades the schema on open.
/// - `append` writes a whole batch in one transaction.
/// - Events are clustered by `(session, seq)`, so a replay is one index range scan.
/// - A runtime restarted on the same file reads its sessions, buffers, jobs and idempotency
///   keys back, and revokes the provisioned credentials an earlier process left outstanding
///   (spec §14; `durablyKeepsOutstandingCredentials` is `true`). Those records hold what the
///   provisioner needs to revoke them, by default the credential value: protect the file.
///
/// Dates are stored as `timeIntervalSinceReferenceDate` (REAL), so they round-trip exactly.
public final class SQLiteRuntimeStore: RuntimeStore {
    /// How hard a commit waits for the disk.
    public enum Durability: Sendable {
        /// `synchronous = NORMAL`: a commit survives a process crash; the last commits may be
        /// lost on power failure. The usual choice for WAL.
        case normal
        /// `synchronous = FULL`: a commit also survives power failure; slower.
        case full
    }

    /// The database file's path.
    public let path: String
    private let pool: DatabasePool

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    /// - Parameters:
    ///   - path: the SQLite file. Its `-wal` and `-shm` companions live beside it.
    ///   - durability: see `Durability`.
    ///   - busyTimeout: how long a write waits for another process's lock before failing.
    public convenience init(path: String, durability: Durability = .normal, busyTimeout: TimeInterval = 5) throws {
        try self.init(path: path, durability: durability, busyTimeout: busyTimeout, migratingUpTo: nil)
    }

    /// Opens the database, migrated only up to schema version `version` (`nil`: the latest).
    /// Tests use it to build a database as an earlier release left it.
    init(path: String, durability: Durability, busyTimeout: TimeInterval, migratingUpTo version: String?) throws {
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        config.label = "ARCPStore"
        let synchronous = durability == .full ? "FULL" : "NORMAL"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            if let version {
                try SQLiteSchema.migrator.migrate(pool, upTo: version)
            } else {
                try SQLiteSchema.migrator.migrate(pool)
            }
        } catch {
            throw RuntimeStoreError.storage("cannot open \(path): \(error)")
        }
        self.path = path
    }

    /// Closes the database. Later calls fail; closing twice is harmless.
    public func close() throws {
        try pool.close()
    }

    /// The bytes the database file takes (pages in use × page size), WAL excluded.
    public func databaseSize() async throws -> Int {
        try await read { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let free = try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            let size = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 0
            return (pages - free) * size
        }
    }

    /// Writes the WAL back into the database file (`wal_checkpoint(TRUNCATE)`).
    public func checkpoint() async throws {
        do {
            _ = try await pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        } catch {
            throw RuntimeStoreError.storage("checkpoint: \(error)")
        }
    }

    // MARK: - Events

    /// Appends a batch of events (of one or more sessions) in one SQLite transaction: all of it or,
    /// on error, none.
    /// - Returns: the evictions the sessions' caps forced, one per affected session.
    public func append(_ events: [StoredEvent]) async throws -> [Eviction] {
        guard !events.isEmpty else { return [] }
        return try await write { db in
            struct Pending {
                var sid: Int64
                var limits: BufferLimits
                var lastSeq: Int64
                var releasedThrough: Int64
                var count: Int
                var bytes: Int
            }
            var order: [String] = []
            var sessions: [String: Pending] = [:]
            let insert = try db.cachedStatement(
                sql: "INSERT INTO event (sid, seq, job_id, byte_count, frame) VALUES (?, ?, ?, ?, ?)")
            for event in events {
                var pending: Pending
                if let known = sessions[event.sessionID] {
                    pending = known
                } else {
                    guard
                        let row = try Row.fetchOne(
                            db,
                            sql: """
                                SELECT sid, max_events, max_bytes, last_seq, released_through,
                                       buffered_events, buffered_bytes
                                FROM session WHERE session_id = ?
                                """,
                            arguments: [event.sessionID])
                    else { throw RuntimeStoreError.unknownSession(event.sessionID) }
                    pending = Pending(
                        sid: try row.decode(atIndex: 0),
                        limits: BufferLimits(
                            maxEvents: try row.decode(atIndex: 1), maxBytes: try row.decode(atIndex: 2)),
                        lastSeq: try row.decode(atIndex: 3),
                        releasedThrough: try row.decode(atIndex: 4),
                        count: try row.decode(atIndex: 5),
                        bytes: try row.decode(atIndex: 6))
                    order.append(event.sessionID)
                }
                guard event.seq > pending.lastSeq else {
                    throw RuntimeStoreError.seqNotIncreasing(
                        sessionID: event.sessionID, seq: event.seq, lastSeq: pending.lastSeq)
                }
                let size = event.byteCount
                guard size <= pending.limits.maxBytes else {
                    throw RuntimeStoreError.eventTooLarge(
                        sessionID: event.sessionID, seq: event.seq, bytes: size, limit: pending.limits.maxBytes)
                }
                try insert.execute(arguments: [pending.sid, event.seq, event.jobID, size, event.frame])
                pending.lastSeq = event.seq
                pending.count += 1
                pending.bytes += size
                sessions[event.sessionID] = pending
            }
            var evictions: [Eviction] = []
            for id in order {
                guard var pending = sessions[id] else { continue }
                let overEvents = pending.count > pending.limits.maxEvents
                let overBytes = pending.bytes > pending.limits.maxBytes
                if overEvents || overBytes {
                    // Walk the oldest events until the rest fits, then delete through there.
                    var evictedCount = 0
                    var evictedBytes = 0
                    var through = pending.releasedThrough
                    do {
                        // The cursor is scoped so its statement is done before the DELETE.
                        let oldest = try Row.fetchCursor(
                            db, sql: "SELECT seq, byte_count FROM event WHERE sid = ? ORDER BY seq",
                            arguments: [pending.sid])
                        while pending.count - evictedCount > pending.limits.maxEvents
                            || pending.bytes - evictedBytes > pending.limits.maxBytes,
                            let row = try oldest.next()
                        {
                            through = try row.decode(atIndex: 0)
                            evictedBytes += try row.decode(Int.self, atIndex: 1)
                            evictedCount += 1
                        }
                    }
                    try db.execute(
                        sql: "DELETE FROM event WHERE sid = ? AND seq <= ?", arguments: [pending.sid, through])
                    pending.count -= evictedCount
                    pending.bytes -= evictedBytes
                    pending.releasedThrough = max(pending.releasedThrough, through)
                    evictions.append(
                        Eviction(
                            sessionID: id, releasedThrough: pending.releasedThrough, events: evictedCount,
                            bytes: evictedBytes, overEventLimit: overEvents, overByteLimit: overBytes))
                }
                try db.execute(
                    sql: """
                        UPDATE session SET last_seq = ?, released_through = ?, buffered_events = ?,
                            buffered_bytes = ?
                        WHERE sid = ?
                        """,
                    arguments: [pending.lastSeq, pending.releasedThrough, pending.count, pending.bytes, pending.sid])
            }
            return evictions
        }
    }

    /// Up to `limit` stored events of `session` with `seq > after`, ascending.
    public func events(session: String, after seq: Int64, limit: Int) async throws -> [StoredEvent] {
        guard limit > 0 else { return [] }
        return try await read { db in
            let statement = try db.cachedStatement(
                sql: """
                    SELECT e.seq, e.job_id, e.frame FROM event e
                    WHERE e.sid = (SELECT sid FROM session WHERE session_id = ?) AND e.seq > ?
                    ORDER BY e.seq LIMIT ?
                    """)
            return try Self.decodeEvents(statement, session: session, arguments: [session, seq, limit])
        }
    }

    /// Up to `limit` stored events of `job` in `session` with `seq > after`, ascending.
    public func events(session: String, job: String, after seq: Int64, limit: Int) async throws -> [StoredEvent] {
        guard limit > 0 else { return [] }
        return try await read { db in
            let statement = try db.cachedStatement(
                sql: """
                    SELECT e.seq, e.job_id, e.frame FROM event e
                    WHERE e.sid = (SELECT sid FROM session WHERE session_id = ?) AND e.job_id = ? AND e.seq > ?
                    ORDER BY e.seq LIMIT ?
                    """)
            return try Self.decodeEvents(statement, session: session, arguments: [session, job, seq, limit])
        }
    }

    private static func decodeEvents(
        _ statement: Statement, session: String, arguments: StatementArguments
    ) throws -> [StoredEvent] {
        var result: [StoredEvent] = []
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        while let row = try rows.next() {
            result.append(
                StoredEvent(
                    sessionID: session, seq: try row.decode(atIndex: 0), jobID: try row.decode(atIndex: 1),
                    frame: try row.decode(atIndex: 2)))
        }
        return result
    }

    /// The buffer bookkeeping of `session`, or `nil` if the session is unknown.
    public func bufferStatus(session: String) async throws -> BufferStatus? {
        try await read { db in try Self.status(db, session: session) }
    }

    private static func status(_ db: Database, session: String) throws -> BufferStatus? {
        guard
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT last_seq, released_through, buffered_events, buffered_bytes,
                           (SELECT MIN(seq) FROM event WHERE event.sid = session.sid)
                    FROM session WHERE session_id = ?
                    """,
                arguments: [session])
        else { return nil }
        return BufferStatus(
            lastSeq: try row.decode(atIndex: 0), releasedThrough: try row.decode(atIndex: 1),
            firstRetainedSeq: try row.decode(atIndex: 4), eventCount: try row.decode(atIndex: 2),
            byteCount: try row.decode(atIndex: 3))
    }

    /// Frees the events of `session` with `seq ≤ through` (acknowledged or evicted).
    /// - Returns: the buffer status afterwards.
    /// - Throws: `RuntimeStoreError.unknownSession`.
    public func release(session: String, through seq: Int64) async throws -> BufferStatus {
        try await write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT sid, last_seq, released_through FROM session WHERE session_id = ?",
                    arguments: [session])
            else { throw RuntimeStoreError.unknownSession(session) }
            let sid: Int64 = try row.decode(atIndex: 0)
            let through = min(seq, try row.decode(Int64.self, atIndex: 1))
            if through > (try row.decode(Int64.self, atIndex: 2)) {
                guard
                    let freed = try Row.fetchOne(
                        db, sql: "SELECT COUNT(*), COALESCE(SUM(byte_count), 0) FROM event WHERE sid = ? AND seq <= ?",
                        arguments: [sid, through])
                else { throw RuntimeStoreError.storage("release: no count") }
                let count: Int = try freed.decode(atIndex: 0)
                let bytes: Int = try freed.decode(atIndex: 1)
                try db.execute(sql: "DELETE FROM event WHERE sid = ? AND seq <= ?", arguments: [sid, through])
                try db.execute(
                    sql: """
                        UPDATE session SET released_through = ?, buffered_events = buffered_events - ?,
                            buffered_bytes = buffered_bytes - ?
                        WHERE sid = ?
                        """,
                    arguments: [through, count, bytes, sid])
            }
            guard let status = try Self.status(db, session: session) else {
                throw RuntimeStoreError.unknownSession(session)
            }
            return status
        }
    }

    // MARK: - Sessions

    /// Inserts or replaces a session record; the buffer is kept.
    public func saveSession(_ record: SessionRecord) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO session (session_id, principal, resume_token_hash, created_at, last_seen_at,
                                         closed, max_events, max_bytes, state_json)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (session_id) DO UPDATE SET
                        principal = excluded.principal, resume_token_hash = excluded.resume_token_hash,
                        created_at = excluded.created_at, last_seen_at = excluded.last_seen_at,
                        closed = excluded.closed, max_events = excluded.max_events,
                        max_bytes = excluded.max_bytes, state_json = excluded.state_json
                    """,
                arguments: [
                    record.sessionID, record.principal, record.resumeTokenHash,
                    record.createdAt.timeIntervalSinceReferenceDate, record.lastSeenAt.timeIntervalSinceReferenceDate,
                    record.closed, record.limits.maxEvents, record.limits.maxBytes, record.stateJSON,
                ])
        }
    }

    private static let sessionColumns =
        "session_id, principal, resume_token_hash, created_at, last_seen_at, closed, max_events, max_bytes, state_json"

    private static func sessionRecord(_ row: Row) throws -> SessionRecord {
        SessionRecord(
            sessionID: try row.decode(atIndex: 0),
            principal: try row.decode(atIndex: 1),
            resumeTokenHash: try row.decode(atIndex: 2),
            createdAt: Date(timeIntervalSinceReferenceDate: try row.decode(atIndex: 3)),
            lastSeenAt: Date(timeIntervalSinceReferenceDate: try row.decode(atIndex: 4)),
            closed: try row.decode(atIndex: 5),
            limits: BufferLimits(maxEvents: try row.decode(atIndex: 6), maxBytes: try row.decode(atIndex: 7)),
            stateJSON: try row.decode(atIndex: 8))
    }

    /// The record of session `id`, if stored.
    public func session(_ id: String) async throws -> SessionRecord? {
        try await read { db in
            try Row.fetchOne(
                db, sql: "SELECT \(Self.sessionColumns) FROM session WHERE session_id = ?", arguments: [id]
            ).map(Self.sessionRecord)
        }
    }

    /// Sessions last seen strictly before `date` (all of them when `nil`).
    public func sessions(lastSeenBefore date: Date?) async throws -> [SessionRecord] {
        try await read { db in
            let rows: [Row]
            if let date {
                rows = try Row.fetchAll(
                    db,
                    sql: "SELECT \(Self.sessionColumns) FROM session WHERE last_seen_at < ? ORDER BY session_id",
                    arguments: [date.timeIntervalSinceReferenceDate])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT \(Self.sessionColumns) FROM session ORDER BY session_id")
            }
            return try rows.map(Self.sessionRecord)
        }
    }

    /// Deletes a session record with its whole event buffer; jobs are kept.
    public func deleteSession(_ id: String) async throws {
        try await write { db in
            // Explicit, rather than relying on ON DELETE CASCADE alone (which needs the
            // foreign_keys pragma): a reused `sid` must never see an old session's events.
            try db.execute(
                sql: "DELETE FROM event WHERE sid = (SELECT sid FROM session WHERE session_id = ?)", arguments: [id])
            try db.execute(sql: "DELETE FROM session WHERE session_id = ?", arguments: [id])
        }
    }

    // MARK: - Jobs

    /// Inserts or replaces a job record.
    public func saveJob(_ record: JobRecord) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO job (job_id, session_id, principal, agent, status, created_at, trace_id,
                        parent_job_id, lease_json, lease_constraints_json, budget_json, last_event_seq,
                        idempotency_key)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.jobID, record.sessionID, record.principal, record.agent, record.status.rawValue,
                    record.createdAt.timeIntervalSinceReferenceDate, record.traceID, record.parentJobID,
                    record.leaseJSON, record.leaseConstraintsJSON, record.budgetJSON, record.lastEventSeq,
                    record.idempotencyKey,
                ])
        }
    }

    private static let jobColumns = """
        job_id, session_id, principal, agent, status, created_at, trace_id, parent_job_id, lease_json,
        lease_constraints_json, budget_json, last_event_seq, idempotency_key
        """

    private static func jobRecord(_ row: Row) throws -> JobRecord {
        let statusText: String = try row.decode(atIndex: 4)
        guard let status = JobRecord.Status(rawValue: statusText) else {
            throw RuntimeStoreError.storage("unknown job status \(statusText)")
        }
        return JobRecord(
            jobID: try row.decode(atIndex: 0),
            sessionID: try row.decode(atIndex: 1),
            principal: try row.decode(atIndex: 2),
            agent: try row.decode(atIndex: 3),
            status: status,
            createdAt: Date(timeIntervalSinceReferenceDate: try row.decode(atIndex: 5)),
            traceID: try row.decode(atIndex: 6),
            parentJobID: try row.decode(atIndex: 7),
            leaseJSON: try row.decode(atIndex: 8),
            leaseConstraintsJSON: try row.decode(atIndex: 9),
            budgetJSON: try row.decode(atIndex: 10),
            lastEventSeq: try row.decode(atIndex: 11),
            idempotencyKey: try row.decode(atIndex: 12))
    }

    /// The record of job `id`, if stored.
    public func job(_ id: String) async throws -> JobRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.jobColumns) FROM job WHERE job_id = ?", arguments: [id])
                .map(Self.jobRecord)
        }
    }

    /// One page of job records matching `query`, ordered by `(createdAt, jobID)`.
    public func jobs(_ query: JobQuery) async throws -> [JobRecord] {
        guard query.limit > 0 else { return [] }
        var clauses: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let principal = query.principal {
            clauses.append("principal = ?")
            arguments.append(principal)
        }
        if let statuses = query.statuses {
            guard !statuses.isEmpty else { return [] }
            clauses.append("status IN (\(Array(repeating: "?", count: statuses.count).joined(separator: ", ")))")
            arguments.append(
                contentsOf: statuses.map(\.rawValue).sorted().map { $0 as (any DatabaseValueConvertible)? })
        }
        if let agent = query.agent {
            if agent.contains("@") {
                clauses.append("agent = ?")
                arguments.append(agent)
            } else {
                clauses.append("(agent = ? OR substr(agent, 1, ?) = ?)")
                arguments.append(agent)
                // substr counts characters (code points), not bytes.
                arguments.append(agent.unicodeScalars.count + 1)
                arguments.append(agent + "@")
            }
        }
        if let createdAfter = query.createdAfter {
            clauses.append("created_at > ?")
            arguments.append(createdAfter.timeIntervalSinceReferenceDate)
        }
        if let cursor = query.after {
            clauses.append("(created_at > ? OR (created_at = ? AND job_id > ?))")
            arguments.append(cursor.createdAt.timeIntervalSinceReferenceDate)
            arguments.append(cursor.createdAt.timeIntervalSinceReferenceDate)
            arguments.append(cursor.jobID)
        }
        arguments.append(query.limit)
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let sql = "SELECT \(Self.jobColumns) FROM job \(whereClause) ORDER BY created_at, job_id LIMIT ?"
        let statementArguments = StatementArguments(arguments)
        return try await read { db in
            try Row.fetchAll(db, sql: sql, arguments: statementArguments).map(Self.jobRecord)
        }
    }

    /// Deletes a job record.
    public func deleteJob(_ id: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM job WHERE job_id = ?", arguments: [id])
        }
    }

    // MARK: - Idempotency

    private static let idempotencyColumns =
        "principal, key, fingerprint, job_id, accepted_payload_json, created_at"

    private static func idempotencyRecord(_ row: Row) throws -> IdempotencyRecord {
        IdempotencyRecord(
            principal: try row.decode(atIndex: 0),
            key: try row.decode(atIndex: 1),
            fingerprint: try row.decode(atIndex: 2),
            jobID: try row.decode(atIndex: 3),
            acceptedPayloadJSON: try row.decode(atIndex: 4),
            createdAt: Date(timeIntervalSinceReferenceDate: try row.decode(atIndex: 5)))
    }

    /// Stores `record` unless `(principal, key)` is already present, atomically.
    /// - Returns: the record now stored: `record`, or the earlier one.
    public func claimIdempotency(_ record: IdempotencyRecord) async throws -> IdempotencyRecord {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO idempotency (\(Self.idempotencyColumns)) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (principal, key) DO NOTHING
                    """,
                arguments: [
                    record.principal, record.key, record.fingerprint, record.jobID, record.acceptedPayloadJSON,
                    record.createdAt.timeIntervalSinceReferenceDate,
                ])
            guard
                let stored = try Row.fetchOne(
                    db, sql: "SELECT \(Self.idempotencyColumns) FROM idempotency WHERE principal = ? AND key = ?",
                    arguments: [record.principal, record.key])
            else { throw RuntimeStoreError.storage("idempotency record vanished") }
            return try Self.idempotencyRecord(stored)
        }
    }

    /// The idempotency record of `(principal, key)`, if stored.
    public func idempotency(principal: String, key: String) async throws -> IdempotencyRecord? {
        try await read { db in
            try Row.fetchOne(
                db, sql: "SELECT \(Self.idempotencyColumns) FROM idempotency WHERE principal = ? AND key = ?",
                arguments: [principal, key]
            ).map(Self.idempotencyRecord)
        }
    }

    /// Deletes the idempotency records created strictly before `date`.
    /// - Returns: how many were deleted.
    public func purgeIdempotency(olderThan date: Date) async throws -> Int {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM idempotency WHERE created_at < ?", arguments: [date.timeIntervalSinceReferenceDate])
            return db.changesCount
        }
    }

    // MARK: - Outstanding credentials

    /// `true`: the records are committed to the database file (with the chosen `Durability`).
    public var durablyKeepsOutstandingCredentials: Bool { true }

    private static let credentialColumns =
        "job_id, credential_id, value_digest, revocation_json, issued_at, attempts, last_error, last_attempt_at"

    /// Records an outstanding provisioned credential (by its value's digest, never the value);
    /// when it returns, the record is committed.
    public func saveOutstandingCredential(_ record: OutstandingCredentialRecord) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO outstanding_credential (\(Self.credentialColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    record.jobID, record.credentialID, record.valueDigest, record.revocationJSON,
                    record.issuedAt.timeIntervalSinceReferenceDate, record.attempts, record.lastError,
                    record.lastAttemptAt?.timeIntervalSinceReferenceDate,
                ])
        }
    }

    /// Deletes the record of `(jobID, credentialID, valueDigest)` once revoked; no error if absent.
    public func removeOutstandingCredential(jobID: String, credentialID: String, valueDigest: String) async throws {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM outstanding_credential WHERE job_id = ? AND credential_id = ? AND value_digest = ?",
                arguments: [jobID, credentialID, valueDigest])
        }
    }

    /// Every outstanding-credential record, ordered by `(issuedAt, jobID, credentialID, valueDigest)`.
    public func outstandingCredentials() async throws -> [OutstandingCredentialRecord] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.credentialColumns) FROM outstanding_credential
                    ORDER BY issued_at, job_id, credential_id, value_digest
                    """
            ).map { row in
                let lastAttempt: Double? = try row.decode(atIndex: 7)
                return OutstandingCredentialRecord(
                    jobID: try row.decode(atIndex: 0),
                    credentialID: try row.decode(atIndex: 1),
                    valueDigest: try row.decode(atIndex: 2),
                    revocationJSON: try row.decode(atIndex: 3),
                    issuedAt: Date(timeIntervalSinceReferenceDate: try row.decode(atIndex: 4)),
                    attempts: try row.decode(atIndex: 5),
                    lastError: try row.decode(atIndex: 6),
                    lastAttemptAt: lastAttempt.map { Date(timeIntervalSinceReferenceDate: $0) })
            }
        }
    }

    // MARK: - Error mapping

    /// Runs `body` in a write transaction; store errors pass through, GRDB errors become
    /// `RuntimeStoreError.storage`, cancellation stays `CancellationError`.
    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await mappingErrors { try await pool.write(body) }
    }

    /// Runs `body` in a read-only snapshot, mapping errors like `write`.
    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await mappingErrors { try await pool.read(body) }
    }

    private func mappingErrors<T: Sendable>(_ operation: () async throws -> T) async throws -> T {
        do {
            return try await operation()
        } catch let error as RuntimeStoreError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            throw RuntimeStoreError.storage(String(describing: error))
        }
    }
}
