@testable import ARCP
@testable import ARCPPostgres
import ARCPTestSupport
import Foundation
import PostgresNIO
import Testing

/// The notifications and lookups around a session changing hands (docs/CLUSTER.md, "Moving a
/// session", steps 3 and 5), step by step against PostgreSQL on one node, the other nodes'
/// moves played on the session's row.
@Suite("Cluster: a session changing hands", .enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)))
struct ClusterHandoverTests {
    static let principal = "me@example.com"

    /// A node `node` of a new database, with session `id`'s row held by node `holder`.
    static func node(_ node: String, session id: String, heldBy holder: String, prefix: String) async throws -> PostgresCluster {
        let url = try await PostgresServer.makeDatabase(prefix: prefix)
        let cluster = try await PostgresCluster.join(url: url, configuration: .init(nodeID: node))
        let store = PostgresRuntimeStore(db: cluster.db, nodeID: holder, ownsDatabase: false)
        try await store.saveSession(
            SessionRecord(sessionID: id, principal: principal, resumeTokenHash: "x", createdAt: Date(), lastSeenAt: Date()))
        return cluster
    }

    static func copy(_ id: String) -> RuntimeSession {
        RuntimeSession(id: id, principal: principal, features: [], resumeToken: "token", limits: ARCPRuntime.Configuration.Buffering())
    }

    /// Moves session `id`'s row to node `to`, as that node's claim does.
    static func claim(_ id: String, for to: String, on node: PostgresCluster) async throws {
        try await node.db.client.query(
            "UPDATE arcp_session SET node_id = \(to), claim = claim + 1 WHERE session_id = \(id)", logger: node.db.logger)
    }

    /// A→B→A: b claimed the session from a (a's jobs forward), then a claimed it back. b's
    /// `claimed:` notification, sent after b's claim, can reach a after a's own claim (and one
    /// can arrive while a's `adopt` is under way): it dropped the copy a had just restored, its
    /// jobs forwarding events nobody drained to the client attached there. A late `claimed:`
    /// leaves a copy the row says this node holds (or is restoring); a real one drops it.
    @Test func aLateClaimedNotificationLeavesTheCopyOfTheSessionClaimedBack() async throws {
        let id = "sess_claimed_back"
        let a = try await Self.node("a", session: id, heldBy: "b", prefix: "claimedback")
        // b's claim notification arrives while a's adopt is under way (right after a's claim).
        a.sessions.onClaimed { id in await a.sessions.claimedElsewhere(id) }
        let copy = Self.copy(id)
        #expect(await a.sessions.adopt(copy) === copy)
        #expect(a.sessions.localSession(id) === copy, "dropped by a claimed: that arrived during its adopt")
        #expect(a.routes.numberedHere(id))
        // … or after it.
        await a.sessions.claimedElsewhere(id)
        #expect(a.sessions.localSession(id) === copy, "dropped by a claimed: that arrived after a claimed the session back")
        #expect(a.routes.numberedHere(id))
        // c claims it: a's copy is dropped, its jobs forward.
        try await Self.claim(id, for: "c", on: a)
        await a.sessions.claimedElsewhere(id)
        #expect(a.sessions.localSession(id) == nil)
        #expect(a.routes.isAway(id))
        await a.leave()
    }
}
