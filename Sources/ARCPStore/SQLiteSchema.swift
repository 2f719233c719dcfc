import GRDB

/// The versioned schema of `SQLiteRuntimeStore`. Migrations are append-only: a released
/// migration is never edited, a change is a new `registerMigration` with the next version.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // One row per session. `sid` is a compact key for the event table; the buffer
            // bookkeeping columns are maintained by the store, never by `saveSession`.
            try db.execute(
                sql: """
                    CREATE TABLE session (
                        sid INTEGER PRIMARY KEY,
                        session_id TEXT NOT NULL UNIQUE,
                        principal TEXT NOT NULL,
                        resume_token_hash TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        last_seen_at REAL NOT NULL,
                        closed INTEGER NOT NULL,
                        max_events INTEGER NOT NULL,
                        max_bytes INTEGER NOT NULL,
                        state_json TEXT NOT NULL,
                        last_seq INTEGER NOT NULL DEFAULT 0,
                        released_through INTEGER NOT NULL DEFAULT 0,
                        buffered_events INTEGER NOT NULL DEFAULT 0,
                        buffered_bytes INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE INDEX session_last_seen ON session(last_seen_at);

                    -- Clustered by (session, seq): a replay is one range scan.
                    CREATE TABLE event (
                        sid INTEGER NOT NULL REFERENCES session(sid) ON DELETE CASCADE,
                        seq INTEGER NOT NULL,
                        job_id TEXT NOT NULL,
                        byte_count INTEGER NOT NULL,
                        frame TEXT NOT NULL,
                        PRIMARY KEY (sid, seq)
                    ) WITHOUT ROWID;
                    CREATE INDEX event_job ON event(sid, job_id, seq);

                    CREATE TABLE job (
                        job_id TEXT PRIMARY KEY NOT NULL,
                        session_id TEXT NOT NULL,
                        principal TEXT NOT NULL,
                        agent TEXT NOT NULL,
                        status TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        trace_id TEXT,
                        parent_job_id TEXT,
                        lease_json TEXT NOT NULL,
                        lease_constraints_json TEXT,
                        budget_json TEXT,
                        last_event_seq INTEGER NOT NULL,
                        idempotency_key TEXT
                    );
                    CREATE INDEX job_principal_created ON job(principal, created_at, job_id);
                    CREATE INDEX job_created ON job(created_at, job_id);

                    CREATE TABLE idempotency (
                        principal TEXT NOT NULL,
                        key TEXT NOT NULL,
                        fingerprint TEXT NOT NULL,
                        job_id TEXT NOT NULL,
                        accepted_payload_json TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        PRIMARY KEY (principal, key)
                    ) WITHOUT ROWID;
                    CREATE INDEX idempotency_created ON idempotency(created_at);
                    """)
        }
        migrator.registerMigration("v2") { db in
            // Provisioned credentials issued and not yet revoked (spec §14): a restarted
            // runtime revokes what an earlier process left. One credential id may have two
            // rows while it is rotated (old and new value), told apart by the value's digest.
            // `revocation_json` holds what the provisioner's `revoke` needs: by default the
            // whole credential, value included.
            try db.execute(
                sql: """
                    CREATE TABLE outstanding_credential (
                        job_id TEXT NOT NULL,
                        credential_id TEXT NOT NULL,
                        value_digest TEXT NOT NULL,
                        revocation_json TEXT NOT NULL,
                        issued_at REAL NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        last_error TEXT,
                        last_attempt_at REAL,
                        PRIMARY KEY (job_id, credential_id, value_digest)
                    ) WITHOUT ROWID;
                    CREATE INDEX outstanding_credential_issued
                        ON outstanding_credential(issued_at, job_id, credential_id, value_digest);
                    """)
        }
        return migrator
    }

    /// Every migration, oldest first (as registered in `migrator`).
    static var versions: [String] { migrator.migrations }
}
