@testable import ARCP
@testable import ARCPPostgres
import ARCPTestSupport
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// The notifications and lookups around a session changing hands (docs/CLUSTER.md, "Moving a
/// session", steps 3 and 5), step by step against PostgreSQL on one node, the other nodes'
/// moves played on the session's row.
@Suite("Cluster: a session changing hands", .enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)))
struct ClusterHandoverTests {
    static let principal = "me@example.com"

    /// A node `node` of a new database (at `url`), with session `id`'s row held by node `holder`.
    static func node(_ node: String, session id: String, heldBy holder: String, prefix: String) async throws -> (
        node: PostgresCluster, url: String
    ) {
        let url = try await PostgresServer.makeDatabase(prefix: prefix)
        let cluster = try await PostgresCluster.join(url: url, configuration: .init(nodeID: node))
        let store = PostgresRuntimeStore(db: cluster.db, nodeID: holder, ownsDatabase: false)
        try await store.saveSession(
            SessionRecord(sessionID: id, principal: principal, resumeTokenHash: "x", createdAt: Date(), lastSeenAt: Date()))
        return (cluster, url)
    }

    /// Waits until a query of `node`'s waits for a row lock.
    static func untilAQueryWaitsForALock(_ node: PostgresCluster) async throws {
        try await within(.seconds(30), "a query waiting for a row lock") {
            while try await node.db.client.query(
                "SELECT count(*)::int8 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
                logger: node.db.logger
            ).collect().first?.decode(Int64.self) == 0 {
                await Task.yield()
            }
        }
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
        let (a, _) = try await Self.node("a", session: id, heldBy: "b", prefix: "claimedback")
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

    /// The take-back of a session a flushed for a node that never claimed it (its client came
    /// back to a) used the copy looked up before its database wait: if that copy was dropped
    /// and the session restored meanwhile, the old copy was numbered into (the jobs rebound to
    /// it, what was held) and served to the client, while the table held the new one. The
    /// take-back numbers and serves the copy the table holds once the row is kept.
    @Test func aTakeBackNumbersTheCopyTheTableHoldsOnceTheRowIsKept() async throws {
        let id = "sess_take_back"
        let (a, url) = try await Self.node("a", session: id, heldBy: "a", prefix: "takeback")
        let old = Self.copy(id)
        await a.sessions.local.insert(old)
        await a.routes.leave(id)  // flushed for a node that never claims it
        // The take-back's update waits for the row, locked by another transaction.
        let locker = try await PostgresLocation(url: url).connect(logger: a.db.logger)
        try await locker.query("BEGIN", logger: a.db.logger)
        try await locker.query("SELECT 1 FROM arcp_session WHERE session_id = \(id) FOR UPDATE", logger: a.db.logger)
        let lookup = Task { await a.sessions.session(id) }
        try await Self.untilAQueryWaitsForALock(a)
        // Meanwhile the copy is dropped and the session restored: a new copy in the table.
        #expect(await a.sessions.local.remove(old))
        let new = Self.copy(id)
        #expect(await a.sessions.local.adopt(new) === new)
        try await locker.query("COMMIT", logger: a.db.logger)
        let served = await lookup.value
        #expect(served === new, "the lookup served the copy dropped during the take-back")
        #expect(a.sessions.localSession(id) === new)
        #expect(a.routes.numberedHere(id), "the return ended")
        try await locker.close()
        await a.leave()
    }

    /// A `flushed:` answer was matched by session only: b gave up on a request a answered too
    /// late, asked again, and a's late answer to the first request ended b's wait for the
    /// second, before a had flushed what it numbered since (had it taken the session back
    /// meanwhile); b then restored without those events. An answer ends the wait of the
    /// request it answers only.
    @Test func aLateFlushedAnswerToAnEarlierRequestDoesNotEndTheWaitForALaterOne() async throws {
        let id = "sess_flushed"
        let (b, url) = try await Self.node("b", session: id, heldBy: "a", prefix: "flushed")
        let connection = try await PostgresLocation(url: url).connect(logger: b.db.logger)
        // a's answer to request `payload` (`flush:<session>:<asker>:<request>`).
        let answer: @Sendable (String) -> String = { payload in
            ClusterListener.flushed(id, request: String(payload.split(separator: ":").last ?? ""))
        }
        try await within(.seconds(30), "two flush requests and their answers") {
            try await connection.listen(on: ClusterListener.channel("a")) { requests in
                var received = requests.makeAsyncIterator()
                // 1. A request b gives up on at once.
                #expect(await b.listener.requestFlush(session: id, holder: "a", limit: .zero) == false)
                let first = try #require(try await received.next()).payload
                // 2. b asks again.
                let second = Task { await b.listener.requestFlush(session: id, holder: "a", limit: .seconds(60)) }
                let again = try #require(try await received.next()).payload
                #expect(first != again)
                // a's answer to the first request arrives now: the second still waits.
                b.listener.handle(answer(first))
                #expect(b.listener.flushRequestsWaiting(id) == 1, "a late answer to the first request ended the second's wait")
                b.listener.handle(answer(again))
                #expect(await second.value)
            }
        }
        try await connection.close()
        await b.leave()
    }

    /// c asks b for the session (a `flush:` request: c read the row b had just claimed) while
    /// b's `adopt` is still under way, or while b's take-back waits for the row: b stops
    /// numbering and answers. b's return then began all the same, and b numbered events after
    /// its answer, which c's claim fenced: lost. A return decided before the session left again
    /// does not begin; the session stays away, its events forwarded for c.
    @Test func aSessionAskedForWhileItIsClaimedOrTakenBackHereStaysAway() async throws {
        let id = "sess_asked_meanwhile"
        let (b, url) = try await Self.node("b", session: id, heldBy: "a", prefix: "askedmeanwhile")
        // c's request, as b's listener handles it (before flushing and answering), right after
        // b's claim.
        b.sessions.onClaimed { id in await b.routes.leave(id) }
        let copy = Self.copy(id)
        #expect(await b.sessions.adopt(copy) === copy)
        #expect(b.routes.isAway(id), "b numbers the session it answered it numbers no more")
        // The same during a take-back (c never claims; b's client comes back to b).
        await b.routes.leave(id)
        let locker = try await PostgresLocation(url: url).connect(logger: b.db.logger)
        try await locker.query("BEGIN", logger: b.db.logger)
        try await locker.query("SELECT 1 FROM arcp_session WHERE session_id = \(id) FOR UPDATE", logger: b.db.logger)
        let lookup = Task { await b.sessions.session(id) }
        try await Self.untilAQueryWaitsForALock(b)
        await b.routes.leave(id)  // d asks for it
        try await locker.query("COMMIT", logger: b.db.logger)
        #expect(await lookup.value === copy)
        #expect(b.routes.isAway(id), "b numbers the session it answered it numbers no more")
        try await locker.close()
        await b.leave()
    }

    /// c asks b for the session while b's `adopt` is under way (an adopt can wait seconds for
    /// a holder's flush), then never claims it (c was stopping), and b's take-back comes while
    /// the adopt still runs. The take-back left the numbering to the adopt, and the adopt, whose
    /// claim came before c's request, found the session had left since: nobody numbered it, and
    /// the events forwarded to it waited for good (a rolling-restart run: 19 of them). The adopt
    /// now numbers the session from the take-back's leave.
    @Test func aTakeBackDuringTheAdoptLeavesTheSessionNumberedHere() async throws {
        let id = "sess_taken_back_during_adopt"
        let (b, _) = try await Self.node("b", session: id, heldBy: "a", prefix: "takebackadopt")
        b.sessions.onClaimed { id in
            let generation = await b.routes.leave(id)  // c asks
            #expect(await b.sessions.takeBack(id, since: generation), "the row still names b")
        }
        let copy = Self.copy(id)
        #expect(await b.sessions.adopt(copy) === copy)
        #expect(b.routes.numberedHere(id), "nobody numbers the session b holds")
        await b.leave()
    }

    /// Two resumes of one session on one node: the second finds the copy the first one's
    /// adopt is restoring (`ClusterSessionTable.session(_:)` returns it) and attaches to it,
    /// with the replay it holds, before the adopt adds the events the previous holder appended
    /// after the restore read the log. The adopt sends those to that connection too: its
    /// client would otherwise miss them for good (its next resume asks from a later seq).
    @Test func aConnectionAttachedDuringTheAdoptIsSentTheEventsTheAdoptAdds() async throws {
        let id = "sess_attached_during_adopt"
        let (b, _) = try await Self.node("b", session: id, heldBy: "a", prefix: "attachadopt")
        // a's last appends, after b's restore read the log (the copy below holds none).
        let a = PostgresRuntimeStore(db: b.db, nodeID: "a", ownsDatabase: false)
        _ = try await a.append([
            StoredEvent(sessionID: id, seq: 1, jobID: "j", frame: "e1"), StoredEvent(sessionID: id, seq: 2, jobID: "j", frame: "e2"),
        ])
        let copy = Self.copy(id)
        let attached = Mutex<UInt64?>(nil)
        b.sessions.onClaimed { id in
            // The second resume, from before any event.
            #expect(await b.sessions.session(id) === copy, "the copy being adopted")
            if case .attached(let c, _) = copy.attach(welcome: "W", resumeFrom: 0, newToken: nil).result {
                attached.withLock { $0 = c }
            }
        }
        #expect(await b.sessions.adopt(copy) === copy)
        let connection = try #require(attached.withLock { $0 })
        #expect(copy.lastSeq == 2)
        #expect(await copy.nextBatch(connection) == ["W", "e1", "e2"])
        await b.leave()
    }

    /// The first frame `t` receives, as a `session.welcome`: the session's id and its token.
    static func welcome(_ t: MemoryTransport) async throws -> (id: String, token: String) {
        let frame = try #require(try await within(.seconds(30), "a session.welcome") { try await t.receive() })
        let envelope = try #require(Frames.decode(frame))
        guard case .sessionWelcome(let w) = envelope.message, let id = envelope.sessionId else {
            Issue.record("expected session.welcome, got \(envelope.message.type)")
            throw CancellationError()
        }
        return (id, w.resumeToken)
    }

    /// The `UNAUTHENTICATED` a `ClusterMoveTests` run saw once in ten (docs/CLUSTER.md "Moving
    /// a session", step 1). A resume on the node holding the session, while the client's
    /// previous connection was still attached, stored the new token's record before the
    /// rotation; the previous connection then ended and its record, taken with the token it
    /// had, was written after it. In between, the log said the previous token: a resume on
    /// another node then (its token checked against the record before the holder is asked to
    /// flush) was refused. Now the rotation queues the new token's record under the session's
    /// lock (`RuntimeSession.attach`): every record after it carries the new token. The test
    /// holds the new token's write on a row lock while the previous connection ends.
    @Test func aResumeOnTheHoldingNodeNeverStoresThePreviousTokenAfterTheNewOne() async throws {
        let url = try await PostgresServer.makeDatabase(prefix: "token")
        let node = try await PostgresCluster.join(url: url, configuration: .init(nodeID: "a"))
        var configuration = ARCPRuntime.Configuration()
        configuration.heartbeatInterval = nil
        configuration.logger.logLevel = .critical
        node.configure(&configuration)
        let runtime = ARCPRuntime(configuration: configuration, verifier: StaticBearerVerifier(["tok": Self.principal]))
        node.attach(runtime)
        let writer = try #require(runtime.storeWriter)
        // Every token hash the session's row is given, in order.
        try await node.db.client.query("CREATE TABLE token_history (n serial PRIMARY KEY, hash text NOT NULL)", logger: node.db.logger)
        try await node.db.client.query(
            """
            CREATE FUNCTION note_token() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO token_history (hash) VALUES (NEW.resume_token_hash); RETURN NEW; END $$
            """, logger: node.db.logger)
        try await node.db.client.query(
            "CREATE TRIGGER note_token AFTER INSERT OR UPDATE ON arcp_session FOR EACH ROW EXECUTE FUNCTION note_token()",
            logger: node.db.logger)
        // Connection 1: a new session.
        let (client1, server1) = MemoryTransport.pair()
        let serving1 = Task { await runtime.accept(server1) }
        try await client1.send(Frames.hello())
        let (id, first) = try await Self.welcome(client1)
        await runtime.flushStore()
        // Connection 2 resumes it on this node; the new token's record waits for the row.
        let locker = try await PostgresLocation(url: url).connect(logger: node.db.logger)
        try await locker.query("BEGIN", logger: node.db.logger)
        try await locker.query("SELECT 1 FROM arcp_session WHERE session_id = \(id) FOR UPDATE", logger: node.db.logger)
        let (client2, server2) = MemoryTransport.pair()
        let serving2 = Task { await runtime.accept(server2) }
        try await client2.send(Frames.resume(id, token: first, after: 0))
        try await Self.untilAQueryWaitsForALock(node)
        // Meanwhile connection 1 ends: its record is queued behind the new token's.
        await client1.close()
        try await within(.seconds(30), "the record of connection 1's end") {
            while writer.pending < 2 { await Task.yield() }
        }
        try await locker.query("COMMIT", logger: node.db.logger)
        let (_, second) = try await Self.welcome(client2)
        await runtime.flushStore()
        var history: [String] = []
        for try await hash in try await node.db.client.query("SELECT hash FROM token_history ORDER BY n", logger: node.db.logger)
            .decode(String.self)
        {
            history.append(hash)
        }
        let stored = try #require(history.firstIndex(of: ResumeTokenHasher.hash(second)), "the new token was never stored")
        #expect(!history[stored...].contains(ResumeTokenHasher.hash(first)), "the previous token was stored after the new one")
        try await locker.close()
        await client2.close()
        await serving1.value
        await serving2.value
        await runtime.shutdown()
        await node.leave()
    }

    /// docs/CLUSTER.md "Delivery guarantees": with persist-before-send, a connection sends a
    /// batch once the store writer wrote the session's latest event. An append the store
    /// fenced (another node claimed the session) used to count as written, so a connection
    /// still attached on the node that lost the session was sent an event the log never got,
    /// whose seq the new holder gives to another event. Now the store reports the sessions it
    /// refused (`appendReportingRefusals`), the writer notes them, and the connection ends
    /// instead of sending: the client resumes on the holder.
    @Test func withPersistBeforeSendAnEventWhoseAppendWasFencedIsNotSent() async throws {
        let url = try await PostgresServer.makeDatabase(prefix: "fenced")
        let node = try await PostgresCluster.join(url: url, configuration: .init(nodeID: "a"))
        var configuration = ARCPRuntime.Configuration()
        configuration.heartbeatInterval = nil
        configuration.persistEventsBeforeSending = true
        configuration.logger.logLevel = .critical
        node.configure(&configuration)
        let runtime = ARCPRuntime(configuration: configuration, verifier: StaticBearerVerifier(["tok": Self.principal]))
        node.attach(runtime)
        let (client, server) = MemoryTransport.pair()
        let serving = Task { await runtime.accept(server) }
        try await client.send(Frames.hello())
        let (id, _) = try await Self.welcome(client)
        await runtime.flushStore()
        // b claims the session (a has not heard yet), and an event is numbered on a.
        try await Self.claim(id, for: "b", on: node)
        node.sessions.deliver(
            ClusterMembership.lostJobError(node: "x"), session: id, job: "j", trace: "t", principal: Self.principal, terminal: true)
        await runtime.flushStore()
        let stored = try await node.store.events(session: id, after: 0, limit: 10)
        #expect(stored.isEmpty, "the append was fenced")
        let sent = try await within(.seconds(30), "the event, or the end of the connection") { try await client.receive() }
        #expect(sent.flatMap(Frames.decode)?.eventSeq == nil, "the client was sent an event the log does not hold")
        await client.close()
        await serving.value
        await runtime.shutdown()
        await node.leave()
    }
}
