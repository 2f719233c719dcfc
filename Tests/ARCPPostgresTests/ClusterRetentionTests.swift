import ARCP
@testable import ARCPPostgres
import ARCPTestSupport
import Foundation
import PostgresNIO
import Testing

/// The retention of the cluster's rows (`ClusterRetention`) and the fences that keep one
/// node from freeing what another holds.
@Suite("Cluster retention", .enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)), .timeLimit(.minutes(2)))
struct ClusterRetentionTests {
    static func run(_ db: ARCPPostgres.PostgresDatabase, _ sql: String) async throws {
        try await db.client.query(PostgresQuery(unsafeSQL: sql), logger: db.logger)
    }

    static func ids(_ db: ARCPPostgres.PostgresDatabase, _ sql: String) async throws -> [String] {
        var out: [String] = []
        for try await id in try await db.client.query(PostgresQuery(unsafeSQL: sql), logger: db.logger).decode(String.self) {
            out.append(id)
        }
        return out.sorted()
    }

    static func job(_ id: String, node: String, status: String, endedAgo: String?, key: String? = nil) -> String {
        let ended = endedAgo.map { "extract(epoch FROM clock_timestamp() - interval '\($0)')" } ?? "NULL"
        return """
            INSERT INTO arcp_job (job_id, session_id, principal, agent, status, created_at, lease_json, last_event_seq, node_id,
                                  ended_at, idempotency_key)
            VALUES ('\(id)', 's', 'p', 'echo', '\(status)', 0, '{}', 0, '\(node)', \(ended), \(key.map { "'\($0)'" } ?? "NULL"))
            """
    }

    static func node(_ id: String, _ state: String, heartbeatAgo: String) -> String {
        "INSERT INTO arcp_node (node_id, state, incarnation, heartbeat_at) VALUES ('\(id)', '\(state)', 1, clock_timestamp() - interval '\(heartbeatAgo)')"
    }

    static func session(_ id: String, node: String?) -> String {
        """
        INSERT INTO arcp_session (session_id, principal, resume_token_hash, created_at, last_seen_at, closed, max_events, max_bytes,
                                  state_json, node_id)
        VALUES ('\(id)', 'p', 'h', 0, 0, false, 100, 100000, '{}', \(node.map { "'\($0)'" } ?? "NULL"))
        """
    }

    @Test func rowsPastTheirRetentionAreDeletedAndTheRestKept() async throws {
        let store = try await PostgresRuntimeStore.connect(url: try await PostgresServer.makeDatabase(prefix: "retain"), connectTimeout: .seconds(60))
        defer { store.close() }
        let db = store.db
        for sql in [
            Self.node("up", "up", heartbeatAgo: "0 s"),
            Self.node("lost-old", "lost", heartbeatAgo: "2 hours"),  // its only job is past retention
            Self.node("lost-busy", "lost", heartbeatAgo: "2 hours"),  // a job of it ended a minute ago
            Self.node("gone-old", "gone", heartbeatAgo: "2 hours"),  // no job
            Self.node("gone-new", "gone", heartbeatAgo: "1 minute"),  // no job, but stopped recently
            Self.job("j-old", node: "lost-old", status: "error", endedAgo: "2 hours"),
            Self.job("j-recent", node: "lost-busy", status: "error", endedAgo: "1 minute"),
            Self.job("j-keyed", node: "up", status: "success", endedAgo: "2 hours", key: "k"),
            Self.job("j-keyed-old", node: "up", status: "success", endedAgo: "2 days", key: "k2"),
            Self.job("j-running", node: "up", status: "running", endedAgo: nil),
            Self.session("s", node: "up"),
            "INSERT INTO arcp_forward (session_id, job_id, trace_id, principal, frame, terminal) VALUES ('s', 'j', 't', 'p', '{}', false)",
            "INSERT INTO arcp_forward (session_id, job_id, trace_id, principal, frame, terminal) VALUES ('gone', 'j', 't', 'p', '{}', false)",
        ] {
            try await Self.run(db, sql)
        }
        var retention = ARCPRuntime.Configuration.Retention()
        retention.finishedJobs = .seconds(600)
        retention.idempotencyWindow = .seconds(86_400)
        retention.storeSweepInterval = .seconds(60)
        let swept = try await ClusterRetention(db: db).sweep(.init(retention))
        #expect(swept == ClusterRetention.Swept(jobs: 2, forwarded: 1, nodes: 2))
        #expect(try await Self.ids(db, "SELECT job_id FROM arcp_job") == ["j-keyed", "j-recent", "j-running"])
        #expect(try await Self.ids(db, "SELECT node_id FROM arcp_node") == ["gone-new", "lost-busy", "up"])
        #expect(try await Self.ids(db, "SELECT session_id FROM arcp_forward") == ["s"])
        // A second round finds nothing more.
        #expect(try await ClusterRetention(db: db).sweep(.init(retention)) == ClusterRetention.Swept())
    }

    @Test func oneNodeSweepsAtATime() async throws {
        let store = try await PostgresRuntimeStore.connect(url: try await PostgresServer.makeDatabase(prefix: "retainlock"), connectTimeout: .seconds(60))
        defer { store.close() }
        let db = store.db
        let swept = try await db.transaction { conn in
            try await conn.query("SELECT pg_advisory_xact_lock(\(ClusterRetention.lock))", logger: db.logger)
            return try await ClusterRetention(db: db).sweep(.init(ARCPRuntime.Configuration.Retention()))
        }
        #expect(swept.ran == false)
    }

    @Test func aNodeNeverDeletesASessionAnotherLiveNodeHolds() async throws {
        let single = try await PostgresRuntimeStore.connect(url: try await PostgresServer.makeDatabase(prefix: "fence"), connectTimeout: .seconds(60))
        defer { single.close() }
        let db = single.db
        let b = PostgresRuntimeStore(db: db, nodeID: "b", ownsDatabase: false)
        try await Self.run(db, Self.node("a", "up", heartbeatAgo: "0 s"))
        try await Self.run(db, Self.node("b", "up", heartbeatAgo: "0 s"))
        for (id, holder) in [("held-by-a", "a"), ("held-by-b", "b"), ("nobody", nil), ("of-a-lost-node", "x")] as [(String, String?)] {
            try await Self.run(db, Self.session(id, node: holder))
        }
        // Node b's store sweep sees every stale session but a's.
        #expect(try await b.sessions(lastSeenBefore: Date()).map(\.sessionID).sorted() == ["held-by-b", "nobody", "of-a-lost-node"])
        for id in ["held-by-a", "held-by-b", "nobody", "of-a-lost-node"] { try await b.deleteSession(id) }
        #expect(try await Self.ids(db, "SELECT session_id FROM arcp_session") == ["held-by-a"])
        // Once a is lost, its session may go; a single runtime's store deletes any.
        try await Self.run(db, "UPDATE arcp_node SET state = 'lost' WHERE node_id = 'a'")
        #expect(try await b.sessions(lastSeenBefore: Date()).map(\.sessionID) == ["held-by-a"])
        try await Self.run(db, Self.session("any", node: "b"))
        try await single.deleteSession("any")
        try await b.deleteSession("held-by-a")
        #expect(try await Self.ids(db, "SELECT session_id FROM arcp_session").isEmpty)
    }

    @Test func aJobsEndIsStampedOnceOnTheServersClock() async throws {
        let store = try await PostgresRuntimeStore.connect(url: try await PostgresServer.makeDatabase(prefix: "ended"), connectTimeout: .seconds(60))
        defer { store.close() }
        var record = JobRecord(
            jobID: "job_1", sessionID: "s", principal: "p", agent: "echo", status: .running, createdAt: Date(), traceID: nil,
            parentJobID: nil, leaseJSON: "{}", leaseConstraintsJSON: nil, budgetJSON: nil, lastEventSeq: 1, idempotencyKey: nil)
        let endedAt = { () async throws -> Double? in
            try await store.db.client.query("SELECT ended_at FROM arcp_job WHERE job_id = 'job_1'", logger: store.logger)
                .collect().first?.decode(Double?.self)
        }
        try await store.saveJob(record)
        #expect(try await endedAt() == nil)
        record.status = .success
        try await store.saveJob(record)
        let first = try #require(try await endedAt())
        #expect(abs(first - Date().timeIntervalSince1970) < 60)
        try await Task.sleep(for: .milliseconds(20))
        record.lastEventSeq = 2
        try await store.saveJob(record)
        #expect(try await endedAt() == first)
    }
}
