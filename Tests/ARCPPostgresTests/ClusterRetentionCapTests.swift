import ARCP
@testable import ARCPPostgres
import ARCPTestSupport
import Foundation
import PostgresNIO
import Testing

/// The cluster-wide caps on finished jobs (`maxFinishedJobs`, `maxFinishedJobBytes`) over the
/// rows every node shares (`ClusterRetention`): whichever node ran a job, and lost nodes'
/// jobs too, the cluster keeps at most the cap, dropping the jobs that ended first.
@Suite("Cluster retention: caps across nodes", .enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)), .timeLimit(.minutes(2)))
struct ClusterRetentionCapTests {
    typealias R = ClusterRetentionTests

    /// Two live nodes and a lost one, each with finished jobs (ended 50, 40, … 10 s ago: all
    /// well inside the 600 s retention by time), one running job, and idempotency keys.
    static func populate(_ db: ARCPPostgres.PostgresDatabase) async throws {
        for sql in [
            R.node("a", "up", heartbeatAgo: "0 s"),
            R.node("b", "up", heartbeatAgo: "0 s"),
            R.node("x", "lost", heartbeatAgo: "1 minute"),
            R.job("j50", node: "x", status: "error", endedAgo: "50 s", key: "k50"),
            R.job("j40", node: "a", status: "success", endedAgo: "40 s"),
            R.job("j30", node: "b", status: "success", endedAgo: "30 s", key: "k30"),
            R.job("j20", node: "a", status: "cancelled", endedAgo: "20 s"),
            R.job("j10", node: "b", status: "success", endedAgo: "10 s"),
            R.job("j-running", node: "a", status: "running", endedAgo: nil),
        ] {
            try await R.run(db, sql)
        }
        for (key, job) in [("k50", "j50"), ("k30", "j30")] {
            try await R.run(
                db,
                """
                INSERT INTO arcp_idempotency (principal, key, fingerprint, job_id, accepted_payload_json, created_at)
                VALUES ('p', '\(key)', 'f', '\(job)', '{}', 0)
                """)
        }
    }

    static func policy(maxJobs: Int = 10_000, maxBytes: Int = 256 << 20) -> ClusterRetention.Policy {
        var retention = ARCPRuntime.Configuration.Retention()
        retention.maxFinishedJobs = maxJobs
        retention.maxFinishedJobBytes = maxBytes
        return ClusterRetention.Policy(retention)
    }

    @Test func theCountCapHoldsAcrossEveryNodesRowsDroppingTheOldestWithTheirKeys() async throws {
        let store = try await PostgresRuntimeStore.connect(url: try await PostgresServer.makeDatabase(prefix: "capcount"), connectTimeout: .seconds(60))
        defer { store.close() }
        let db = store.db
        try await Self.populate(db)
        // Each node holds fewer than three finished jobs; the cluster holds five.
        let swept = try await ClusterRetention(db: db).sweep(Self.policy(maxJobs: 3))
        #expect(swept == ClusterRetention.Swept(capped: 2))
        #expect(try await R.ids(db, "SELECT job_id FROM arcp_job") == ["j-running", "j10", "j20", "j30"])
        // The key of the dropped (lost node's) job is released; the kept job's stays.
        #expect(try await R.ids(db, "SELECT key FROM arcp_idempotency") == ["k30"])
        // Within the cap, a round changes nothing; a running job never counts.
        #expect(try await ClusterRetention(db: db).sweep(Self.policy(maxJobs: 3)) == ClusterRetention.Swept())
        #expect(try await ClusterRetention(db: db).sweep(Self.policy(maxJobs: 0)) == ClusterRetention.Swept(capped: 3))
        #expect(try await R.ids(db, "SELECT job_id FROM arcp_job") == ["j-running"])
    }

    @Test func theByteCapHoldsOverTheRowsStoredSize() async throws {
        let store = try await PostgresRuntimeStore.connect(url: try await PostgresServer.makeDatabase(prefix: "capbytes"), connectTimeout: .seconds(60))
        defer { store.close() }
        let db = store.db
        try await Self.populate(db)
        var sizes: [String: Int] = [:]
        for try await (id, size) in try await db.client.query(
            "SELECT job_id, pg_column_size(j.*)::int8 FROM arcp_job j WHERE ended_at IS NOT NULL", logger: db.logger
        ).decode((String, Int64).self) {
            sizes[id] = Int(size)
        }
        // Room for the two newest rows, not a byte more.
        let room = try #require(sizes["j10"]) + (try #require(sizes["j20"]))
        let swept = try await ClusterRetention(db: db).sweep(Self.policy(maxBytes: room))
        #expect(swept == ClusterRetention.Swept(capped: 3))
        #expect(try await R.ids(db, "SELECT job_id FROM arcp_job") == ["j-running", "j10", "j20"])
        #expect(try await R.ids(db, "SELECT key FROM arcp_idempotency").isEmpty)
    }

    @Test func withoutPurgingTheStoreNothingIsDeleted() async throws {
        let store = try await PostgresRuntimeStore.connect(url: try await PostgresServer.makeDatabase(prefix: "capoff"), connectTimeout: .seconds(60))
        defer { store.close() }
        try await Self.populate(store.db)
        var retention = ARCPRuntime.Configuration.Retention()
        retention.maxFinishedJobs = 1
        retention.deleteFromStore = false
        let cluster = ClusterRetention(db: store.db)
        cluster.configure(retention)
        await cluster.sweepIfDue()
        #expect(try await R.ids(store.db, "SELECT job_id FROM arcp_job").count == 6)
    }
}
