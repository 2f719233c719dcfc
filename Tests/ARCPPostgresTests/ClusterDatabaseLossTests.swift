import ARCP
import ARCPTestSupport
import ARCPWebSocket
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// A node that loses PostgreSQL while it runs (issue 12, "Bad input and faults"): it stops
/// accepting new sessions (a retryable refusal a client takes to another node), keeps serving
/// the sessions attached to it from memory, and accepts new sessions again once the database
/// answers.
@Suite(
    "Cluster: a node that loses its database", .enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)),
    .timeLimit(.minutes(3)))
struct ClusterDatabaseLossTests {
    /// Cuts the database off (no new connection is allowed, the existing ones are ended), or
    /// lets it be reached again.
    static func setReachable(_ url: String, _ reachable: Bool) async throws {
        let server = try await PostgresServer.shared()
        let name = String(url.split(separator: "/").last ?? "")
        let sql =
            reachable
            ? "ALTER DATABASE \(name) ALLOW_CONNECTIONS true"
            : "ALTER DATABASE \(name) ALLOW_CONNECTIONS false; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(name)'"
        let (status, _, err) = try await runOffPool(
            PostgresServer.binDirectory! + "/psql",
            ["-h", server.host, "-p", String(server.port), "-U", server.user, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql])
        #expect(status == 0, "psql: \(err)")
    }

    /// The first frame a fresh connection gets in answer to its hello.
    static func helloAnswer(_ node: ClusterTests.Node) async throws -> Envelope? {
        let t = try await WebSocketTransport.connect(to: node.url)
        defer { Task { await t.close() } }
        try await t.send(Frames.hello())
        return try await ClusterTests.read(t, limit: .seconds(20)) { _ in true }.first
    }

    @Test func aNodeThatLosesPostgreSQLRefusesNewSessionsServesItsAttachedOnesAndRecovers() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "dbloss")
        let a = try await ClusterTests.startNode(db, "a", nodeTimeoutSec: 3)
        let s = try await ClusterTests.open(a)

        try await Self.setReachable(db, false)
        // Within a few heartbeats the node notices and says so in its log (a hello that
        // arrived before that waits for the database, as its session is stored first).
        let deadline = ContinuousClock.now + .seconds(60)
        while !a.process.stderr.contains("not accepting new sessions"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(a.process.stderr.contains("not accepting new sessions"), "stderr: \(a.process.stderr.suffix(3000))")
        // From then on a new hello is refused at once: retryable, saying why, naming the node.
        guard case .sessionError(let e)? = try await Self.helloAnswer(a)?.message else {
            Issue.record("a new session was not refused; stderr: \(a.process.stderr.suffix(3000))")
            return
        }
        #expect(e.code == .internalError && e.retryable == true, "\(e)")
        #expect(e.details?["reason"] == "unavailable" && e.details?["node"] == "a", "\(e)")

        // The attached session goes on from memory: a ping is answered.
        try await s.transport.send(Frames.ping("still-there", session: s.id))
        let pong = try await ClusterTests.read(s.transport, limit: .seconds(20)) { $0.message.type == "session.pong" }
        #expect(pong.last?.message.type == "session.pong")

        // The database is back: new sessions are accepted again.
        try await Self.setReachable(db, true)
        var welcomed = false
        let back = ContinuousClock.now + .seconds(60)
        while !welcomed, ContinuousClock.now < back {
            if case .sessionWelcome? = try await Self.helloAnswer(a)?.message { welcomed = true } else { try await Task.sleep(for: .milliseconds(300)) }
        }
        #expect(welcomed, "node a accepts new sessions once PostgreSQL answers; stderr: \(a.process.stderr.suffix(3000))")
        await s.transport.close()
        #expect(await a.stop() == 0, "stderr: \(a.process.stderr.suffix(3000))")
    }

    @Test func aNodeWhoseDatabaseIsUnreachableStillStops() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "dblossstop")
        let a = try await ClusterTests.startNode(db, "a", nodeTimeoutSec: 3)
        let s = try await ClusterTests.open(a)
        // An event queued for the store that the store cannot take.
        try await s.transport.send(Frames.submit("echo", ["n": 1], session: s.id))
        _ = try await ClusterTests.read(s.transport) { ClusterTests.isResult($0) }
        try await Self.setReachable(db, false)
        let deadline = ContinuousClock.now + .seconds(60)
        while !a.process.stderr.contains("not accepting new sessions"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        try await s.transport.send(Frames.submit("echo", ["n": 2], session: s.id))
        // Stopped (stdin closed): it ends, bounded, though it cannot mark itself gone or
        // store what it holds (the store's flush and the leave are bounded).
        let started = ContinuousClock.now
        a.process.signal(SIGTERM)
        let status = await a.process.wait(timeout: .seconds(60))  // store flush 10 s + leave 5 s, bounded
        #expect(status == 0, "stderr: \(a.process.stderr.suffix(3000))")
        #expect(ContinuousClock.now - started < .seconds(60))
        try await Self.setReachable(db, true)
    }
}
