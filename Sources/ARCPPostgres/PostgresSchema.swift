import Logging
import PostgresNIO

/// The versioned schema of the PostgreSQL store and cluster. Migrations are append-only: a
/// released migration is never edited; a change is a new entry with the next version.
///
/// `migrate` applies the missing ones at start, each in its own transaction, under a
/// transaction-scoped advisory lock, so nodes starting at the same time apply each
/// migration once. A database whose schema is newer than this build knows is refused.
///
/// Every table is prefixed `arcp_`, so the schema can share a database with others.
/// Instants the runtime compares exactly (`createdAt`, `lastSeenAt`) are stored as
/// `double precision` seconds since the reference date (2001-01-01), as the SQLite store
/// does, so they round-trip exactly; instants only PostgreSQL compares (node heartbeats)
/// are `timestamptz` from the server's own clock, so node clocks never need to agree.
enum PostgresSchema {
    struct Migration {
        var version: Int
        var name: String
        var sql: [String]
    }

    /// The advisory lock key migrations run under (`'arcp'` as a number).
    static let migrationLock: Int64 = 0x6172_6370

    static let migrations: [Migration] = [
        Migration(
            version: 1, name: "runtime store",
            sql: [
                // Sessions: the record, and the store-kept buffer bookkeeping (never written by
                // `saveSession`).
                """
                CREATE TABLE arcp_session (
                    session_id text COLLATE "C" PRIMARY KEY,
                    principal text NOT NULL,
                    resume_token_hash text NOT NULL,
                    created_at double precision NOT NULL,
                    last_seen_at double precision NOT NULL,
                    closed boolean NOT NULL,
                    max_events bigint NOT NULL,
                    max_bytes bigint NOT NULL,
                    state_json text NOT NULL,
                    last_seq bigint NOT NULL DEFAULT 0,
                    released_through bigint NOT NULL DEFAULT 0,
                    buffered_events bigint NOT NULL DEFAULT 0,
                    buffered_bytes bigint NOT NULL DEFAULT 0
                )
                """,
                "CREATE INDEX arcp_session_last_seen ON arcp_session (last_seen_at)",
                // The event log: one row per numbered frame, keyed by (session, seq), so a
                // replay is one index range scan.
                """
                CREATE TABLE arcp_event (
                    session_id text COLLATE "C" NOT NULL REFERENCES arcp_session (session_id) ON DELETE CASCADE,
                    seq bigint NOT NULL,
                    job_id text NOT NULL,
                    byte_count integer NOT NULL,
                    frame text NOT NULL,
                    PRIMARY KEY (session_id, seq)
                )
                """,
                "CREATE INDEX arcp_event_job ON arcp_event (session_id, job_id, seq)",
                """
                CREATE TABLE arcp_job (
                    job_id text COLLATE "C" PRIMARY KEY,
                    session_id text NOT NULL,
                    principal text NOT NULL,
                    agent text NOT NULL,
                    status text NOT NULL,
                    created_at double precision NOT NULL,
                    trace_id text,
                    parent_job_id text,
                    lease_json text NOT NULL,
                    lease_constraints_json text,
                    budget_json text,
                    last_event_seq bigint NOT NULL,
                    idempotency_key text
                )
                """,
                "CREATE INDEX arcp_job_principal_created ON arcp_job (principal, created_at, job_id)",
                "CREATE INDEX arcp_job_created ON arcp_job (created_at, job_id)",
                // Idempotency keys: the uniqueness constraint is the primary key, so of two
                // concurrent claims (on any node) exactly one inserts.
                """
                CREATE TABLE arcp_idempotency (
                    principal text NOT NULL,
                    key text NOT NULL,
                    fingerprint text NOT NULL,
                    job_id text NOT NULL,
                    accepted_payload_json text NOT NULL,
                    created_at double precision NOT NULL,
                    PRIMARY KEY (principal, key)
                )
                """,
                "CREATE INDEX arcp_idempotency_created ON arcp_idempotency (created_at)",
                // Provisioned credentials not yet revoked (spec §14). `revocation_json` holds what
                // the provisioner needs to revoke, by default the value: protect the database.
                """
                CREATE TABLE arcp_outstanding_credential (
                    job_id text COLLATE "C" NOT NULL,
                    credential_id text COLLATE "C" NOT NULL,
                    value_digest text COLLATE "C" NOT NULL,
                    revocation_json text NOT NULL,
                    issued_at double precision NOT NULL,
                    attempts integer NOT NULL DEFAULT 0,
                    last_error text,
                    last_attempt_at double precision,
                    PRIMARY KEY (job_id, credential_id, value_digest)
                )
                """,
            ]),
        Migration(
            version: 2, name: "cluster nodes and claims",
            sql: [
                // Cluster nodes and their heartbeats (server clock, so node clocks never need to
                // agree). `incarnation` changes each time a node (re)joins.
                """
                CREATE TABLE arcp_node (
                    node_id text COLLATE "C" PRIMARY KEY,
                    state text NOT NULL,
                    incarnation bigint NOT NULL,
                    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                    heartbeat_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                    max_running integer,
                    running integer NOT NULL DEFAULT 0
                )
                """,
                // Which node holds a session now (`claim` counts the claims, so a node can tell
                // its copy is stale), and which node runs a job.
                "ALTER TABLE arcp_session ADD COLUMN node_id text COLLATE \"C\"",
                "ALTER TABLE arcp_session ADD COLUMN claim bigint NOT NULL DEFAULT 0",
                "ALTER TABLE arcp_job ADD COLUMN node_id text COLLATE \"C\"",
                "CREATE INDEX arcp_job_unfinished ON arcp_job (node_id) WHERE status IN ('pending', 'running')",
            ]),
        Migration(
            version: 3, name: "events forwarded between nodes",
            sql: [
                // A job's events for a session another node holds, in the order the job emitted
                // them (`id`), until the holder numbers them in the session's log.
                """
                CREATE TABLE arcp_forward (
                    id bigserial PRIMARY KEY,
                    session_id text COLLATE "C" NOT NULL,
                    job_id text NOT NULL,
                    trace_id text NOT NULL,
                    principal text NOT NULL,
                    frame text NOT NULL,
                    terminal boolean NOT NULL
                )
                """,
                "CREATE INDEX arcp_forward_session ON arcp_forward (session_id, id)",
            ]),
        Migration(
            version: 4, name: "when jobs ended, for the retention of the cluster's rows",
            sql: [
                // PostgreSQL's clock, Unix seconds (ClusterRetention compares it with the same clock).
                "ALTER TABLE arcp_job ADD COLUMN ended_at double precision",
                """
                UPDATE arcp_job SET ended_at = extract(epoch FROM clock_timestamp())
                WHERE status NOT IN ('pending', 'running')
                """,
                "CREATE INDEX arcp_job_ended ON arcp_job (ended_at) WHERE ended_at IS NOT NULL",
            ]),
        Migration(
            version: 5, name: "the cluster's job queue (placement)",
            sql: [
                // Jobs accepted beyond their node's `maxRunningJobs`, oldest first (`seq`), until a
                // node with a free slot claims one (`FOR UPDATE SKIP LOCKED`) or its session
                // cancels it. `job_json` is everything needed to run it (`QueuedJob`), provisioned
                // credentials included: protect the database as for arcp_outstanding_credential.
                // `ready` is set once the accepting node sent `job.accepted` (or that node is no
                // longer up), so no event of the job can reach its session before it.
                """
                CREATE TABLE arcp_queue (
                    seq bigserial PRIMARY KEY,
                    job_id text COLLATE "C" NOT NULL UNIQUE,
                    session_id text COLLATE "C" NOT NULL,
                    trace_id text NOT NULL,
                    accepted_by text COLLATE "C" NOT NULL,
                    ready boolean NOT NULL DEFAULT false,
                    queued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                    job_json text NOT NULL
                )
                """,
            ]),
        Migration(
            version: 6, name: "restartable jobs (run again once when their node is lost)",
            sql: [
                // A running job of an agent registered restartable: what running it again takes
                // (`QueuedJob`, credentials included: protect it as arcp_queue), and whether it was
                // run again already (once only). Written when the job starts on a node; deleted
                // when a second loss ends it, or once it ended (ClusterRetention).
                """
                CREATE TABLE arcp_restart (
                    job_id text COLLATE "C" PRIMARY KEY,
                    restarted boolean NOT NULL DEFAULT false,
                    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                    job_json text NOT NULL
                )
                """,
            ]),
        Migration(
            version: 7, name: "keys the nodes share (the list_jobs cursor key)",
            sql: [
                // Drawn by the first node that needs one (hex), read by every node at join, so
                // what one node signs another honours. Protect it as the rest of the database:
                // whoever reads it can forge list_jobs cursors (never read other principals' jobs:
                // a listing is always filtered by the caller's principal).
                """
                CREATE TABLE arcp_secret (
                    name text COLLATE "C" PRIMARY KEY,
                    value_hex text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
                )
                """,
            ]),
    ]

    /// The newest version this build knows.
    static var latest: Int { migrations.last?.version ?? 0 }

    /// Applies the missing migrations. Returns the versions applied.
    @discardableResult
    static func migrate(_ client: PostgresClient, logger: Logger) async throws -> [Int] {
        // Under the lock too: concurrent CREATE TABLE IF NOT EXISTS can collide in the catalog.
        try await client.withConnection { conn in
            try await conn.query("BEGIN", logger: logger)
            do {
                try await conn.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
                try await conn.query(
                    """
                    CREATE TABLE IF NOT EXISTS arcp_schema_migration (
                        version integer PRIMARY KEY,
                        name text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
                    )
                    """, logger: logger)
                try await conn.query("COMMIT", logger: logger)
            } catch {
                _ = try? await conn.query("ROLLBACK", logger: logger)
                throw error
            }
        }
        var applied: [Int] = []
        for migration in migrations {
            let done = try await client.withConnection { conn -> Bool in
                try await conn.query("BEGIN", logger: logger)
                do {
                    try await conn.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
                    let current = try await conn.query("SELECT COALESCE(max(version), 0) FROM arcp_schema_migration", logger: logger)
                        .collect().first?.decode(Int.self) ?? 0
                    guard current <= latest else {
                        throw PostgresSchemaError.newerSchema(found: current, known: latest)
                    }
                    if current >= migration.version {
                        try await conn.query("COMMIT", logger: logger)
                        return false
                    }
                    for statement in migration.sql { try await conn.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                    try await conn.query(
                        "INSERT INTO arcp_schema_migration (version, name) VALUES (\(migration.version), \(migration.name))", logger: logger)
                    try await conn.query("COMMIT", logger: logger)
                    return true
                } catch {
                    _ = try? await conn.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
            if done {
                applied.append(migration.version)
                logger.info("database schema migrated", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            }
        }
        return applied
    }

    /// The versions recorded as applied.
    static func appliedVersions(_ client: PostgresClient, logger: Logger) async throws -> [Int] {
        var out: [Int] = []
        for try await v in try await client.query("SELECT version FROM arcp_schema_migration ORDER BY version", logger: logger)
            .decode(Int.self)
        {
            out.append(v)
        }
        return out
    }
}

/// A database this build cannot use.
public enum PostgresSchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The database was migrated by a newer release.
    case newerSchema(found: Int, known: Int)

    public var description: String {
        switch self {
        case .newerSchema(let found, let known):
            return "the database schema is version \(found), newer than this build knows (\(known)): upgrade swift-arcp"
        }
    }
}
