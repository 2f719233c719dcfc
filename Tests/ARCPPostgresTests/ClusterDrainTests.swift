@testable import ARCP
@testable import ARCPPostgres
import ARCPTestSupport
import Foundation
import PostgresNIO
import Testing

/// How a node numbers what other nodes forwarded to a session it holds (`ClusterDrain`,
/// docs/CLUSTER.md "Moving a session", step 4), step by step against PostgreSQL, with a drain
/// pass held where it waits for the node's store writer.
@Suite("Cluster: draining forwarded events", .enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)))
struct ClusterDrainTests {
    /// A one-shot gate: the first `pass()` reports that it arrived and waits for `open()`;
    /// later ones go through.
    final class Gate: Sendable {
        private struct State {
            var arrived = false
            var open = false
            var passer: CheckedContinuation<Void, Never>? = nil
            var watcher: CheckedContinuation<Void, Never>? = nil
        }
        private let state = RankedMutex(.leaf, State())

        func pass() async {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let (now, watcher) = state.withLock { s -> (Bool, CheckedContinuation<Void, Never>?) in
                    if s.open || s.arrived { return (true, nil) }
                    s.arrived = true
                    s.passer = c
                    defer { s.watcher = nil }
                    return (false, s.watcher)
                }
                watcher?.resume()
                if now { c.resume() }
            }
        }

        func arrival() async {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.arrived { return true }
                    s.watcher = c
                    return false
                }
                if now { c.resume() }
            }
        }

        func open() {
            let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
                s.open = true
                defer { s.passer = nil }
                return s.passer
            }
            c?.resume()
        }
    }

    static func session(_ id: String, lastSeq: Int) -> RuntimeSession {
        let s = RuntimeSession(
            id: id, principal: "me@example.com", features: [], resumeToken: "token", limits: ARCPRuntime.Configuration.Buffering())
        s.restore(lastSeq: lastSeq, releasedThrough: 0, events: [])
        return s
    }

    /// The runs that lost 32 events of 5,000, and that numbered 12 twice (`ClusterMoveTests`):
    /// a drain pass on b opened while b held the session, then waited (for b's store writer,
    /// for its queries); meanwhile the session moved to c (b's copy dropped), c numbered on,
    /// and the client resumed on b, which restored a new copy from the log and began its
    /// return. The pass went on (b holds the row again, the routing lets a return's drain
    /// number): into the dropped copy, with seqs the log had already given to c's events
    /// (stored over them, their rows gone); or, reading its rows before c took them, into the
    /// new copy, numbering c's events again. A pass opened before the session left numbers
    /// nothing; the next pass (the return's own drain) numbers into the copy b holds.
    @Test func aDrainPassOpenedBeforeTheSessionMovedAwayAndBackNumbersNothingAndTheNextNumbersIntoTheCopyHeldNow() async throws {
        let url = try await PostgresServer.makeDatabase(prefix: "drain")
        let node = try await PostgresCluster.join(url: url, configuration: .init(nodeID: "b"))
        let id = "sess_drain_test"
        try await node.store.saveSession(
            SessionRecord(sessionID: id, principal: "me@example.com", resumeTokenHash: "x", createdAt: Date(), lastSeenAt: Date()))
        let old = Self.session(id, lastSeq: 10)
        await node.sessions.local.insert(old)
        // Three events another node's job forwarded to the session.
        for job in ["j1", "j2", "j3"] {
            let frame = FrameCodec.encode(Envelope.make(ClusterMembership.lostJobError(node: "x"), jobID: job, traceID: "t"))
            try await node.db.client.query(
                """
                INSERT INTO arcp_forward (session_id, job_id, trace_id, principal, frame, terminal)
                VALUES (\(id), \(job), 't', 'me@example.com', \(frame), false)
                """, logger: node.db.logger)
        }
        // A drain pass takes b's copy, then waits for b's store writer.
        let gate = Gate()
        node.drain.setFlush { await gate.pass() }
        let pass = Task { await node.drain.drain(id, sessions: node.sessions) }
        await gate.arrival()
        // Meanwhile the session moves to c (b stops numbering it, its copy is dropped) and
        // back: b restores a new copy from the log (c numbered up to 20), claims the row and
        // begins its return (`numberHere`), whose own drain waits for the pass in progress.
        let away = await node.routes.leave(id)
        #expect(await node.sessions.local.remove(old))
        try await node.db.client.query(
            "UPDATE arcp_session SET node_id = 'c', claim = claim + 1 WHERE session_id = \(id)", logger: node.db.logger)
        let new = Self.session(id, lastSeq: 20)
        #expect(await node.sessions.local.adopt(new) === new)
        try await node.db.client.query(
            "UPDATE arcp_session SET node_id = 'b', claim = claim + 1 WHERE session_id = \(id)", logger: node.db.logger)
        #expect(node.routes.beginReturn(id, since: away))
        gate.open()
        await pass.value
        #expect(old.lastSeq == 10, "the dropped copy numbered \(old.lastSeq - 10) forwarded events")
        #expect(new.lastSeq == 20, "the pass opened before the session left numbered \(new.lastSeq - 20) events")
        // The return's own drain.
        await node.drain.drain(id, sessions: node.sessions)
        #expect(old.lastSeq == 10)
        #expect(new.lastSeq == 23, "the copy b holds numbered \(new.lastSeq - 20) of the 3 forwarded events")
        #expect(node.routes.takeHeld(id)?.isEmpty == true, "the return ends")
        await node.leave()
    }
    /// A frame of session `id` numbered `seq`, from job `job`.
    static func stored(_ id: String, _ seq: Int, job: String) -> StoredEvent {
        let frame = FrameCodec.encode(
            Envelope.make(ClusterMembership.lostJobError(node: "x"), sessionID: id, jobID: job, eventSeq: seq, traceID: "t"))
        return StoredEvent(sessionID: id, seq: Int64(seq), jobID: job, frame: frame)
    }

    /// The likeliest cause of the run that lost 43 events of 5,000 (`ClusterMoveTests`): b
    /// restores the session a holds, reading the log up to seq 10; a appends 11…13 before b
    /// claims the row. Between b's claim and `adopt` adding 11…13 to its copy, a drain pass
    /// (`fwd:`) numbered the forwarded events into the copy as 11…13, and their append replaced
    /// a's three (the holder's numbering wins). Nothing numbers into a copy being restored: the
    /// forwarded events come after the ones it missed.
    @Test func aDrainDuringARestoreNumbersNothingUntilTheCopyHoldsTheEventsItMissed() async throws {
        let url = try await PostgresServer.makeDatabase(prefix: "adopt")
        let node = try await PostgresCluster.join(url: url, configuration: .init(nodeID: "b"))
        let id = "sess_adopt_test"
        // The session as a holds it: 13 events, of which b's restore read the first 10.
        let a = PostgresRuntimeStore(db: node.db, nodeID: "a", ownsDatabase: false)
        try await a.saveSession(
            SessionRecord(sessionID: id, principal: "me@example.com", resumeTokenHash: "x", createdAt: Date(), lastSeenAt: Date()))
        let log = (1...10).map { Self.stored(id, $0, job: "early") } + (11...13).map { Self.stored(id, $0, job: "late") }
        _ = try await a.append(log)
        for job in ["j1", "j2", "j3"] {
            let frame = FrameCodec.encode(Envelope.make(ClusterMembership.lostJobError(node: "x"), jobID: job, traceID: "t"))
            try await node.db.client.query(
                """
                INSERT INTO arcp_forward (session_id, job_id, trace_id, principal, frame, terminal)
                VALUES (\(id), \(job), 't', 'me@example.com', \(frame), false)
                """, logger: node.db.logger)
        }
        // b's copy, with b's store writer (whose appends delete the forwarded rows they store).
        let writer = RuntimeStoreWriter(store: node.store, capacity: 100, logger: node.db.logger)
        let writing = Task { await writer.run() }
        node.drain.setFlush { await writer.flush() }
        let copy = RuntimeSession(
            id: id, principal: "me@example.com", features: [], resumeToken: "token", limits: ARCPRuntime.Configuration.Buffering(),
            storeWriter: writer)
        copy.restore(lastSeq: 10, releasedThrough: 0, events: Array(log.prefix(10)))
        // Right after the claim, a `fwd:` drain pass runs to its end.
        node.sessions.onClaimed { id in await node.drain.drain(id, sessions: node.sessions) }
        #expect(await node.sessions.adopt(copy) === copy)
        #expect(copy.lastSeq == 16)
        await writer.flush()
        let stored = try await node.store.events(session: id, after: 0, limit: 100).map { "\($0.seq):\($0.jobID)" }
        let expected = (1...10).map { "\($0):early" } + (11...13).map { "\($0):late" } + ["14:j1", "15:j2", "16:j3"]
        #expect(stored == expected, "the log")
        let left = try await node.db.client.query("SELECT count(*)::int8 FROM arcp_forward", logger: node.db.logger)
            .collect().first?.decode(Int64.self)
        #expect(left == 0, "forwarded rows left")
        #expect(node.routes.numberedHere(id), "the return ended")
        writing.cancel()
        await node.leave()
    }
}
