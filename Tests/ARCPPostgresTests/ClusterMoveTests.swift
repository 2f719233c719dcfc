import ARCP
@testable import ARCPPostgres
import ARCPTestSupport
import ARCPWebSocket
import Foundation
import Logging
import PostgresNIO
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A session moving between `arcp serve --postgres` nodes while a job emits: every event
/// reaches the client exactly once, in order (docs/CLUSTER.md, "Moving a session" and
/// "Delivery guarantees"). One test at a time: each runs two or three nodes, and the suites
/// beside it on CI's two cores have timing-sensitive tests of their own.
@Suite(
    "Cluster: a session moving while its job runs", .enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)),
    .serialized, .timeLimit(.minutes(6)))
struct ClusterMoveTests {
    typealias C = ClusterTests

    /// The `current` of each `progress` event.
    static func steps(_ frames: [Envelope]) -> [Int] {
        frames.compactMap { e -> Int? in
            guard case .jobEvent(let p) = e.message, case .progress(let b) = p.body else { return nil }
            return Int(b.current)
        }
    }

    /// Where `got` first differs from `expected`, in a few words (nil: equal).
    static func firstDifference(_ got: [Int], _ expected: [Int]) -> String? {
        guard got != expected else { return nil }
        let i = zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(got.count, expected.count)
        return "\(got.count) values where \(expected.count) were expected; at index \(i): got \(got[i..<min(i + 5, got.count)]), expected \(expected[i..<min(i + 5, expected.count)])"
    }

    @Sendable static func isTerminal(_ e: Envelope) -> Bool {
        switch e.message {
        case .jobResult, .jobError: return true
        default: return false
        }
    }

    /// The issue's test: three nodes, a 5,000-step `progress` job (5,001 events, then its
    /// `job.result`) on the first, and the client dropped and resumed on a random node 100
    /// times while it runs: it sees events 1…5,002 exactly once each, in order, the progress
    /// values 0…5,000 in order, then the terminal frame.
    @Test func fiveThousandEventsWhileTheClientResumesOnARandomNodeAHundredTimes() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "move")
        let nodes = [try await C.startNode(db, "a"), try await C.startNode(db, "b"), try await C.startNode(db, "c")]
        let steps = 5000
        let total = steps + 2  // progress 0…steps, then job.result
        let resumes = 100
        let started = ContinuousClock.now
        var s = try await C.open(nodes[0])
        try await s.transport.send(Frames.submit("progress", ["steps": .int(Int64(steps)), "delay": 0.002], session: s.id))
        var frames = try await C.read(s.transport) { ($0.eventSeq ?? 0) >= 20 }
        var events = frames.filter { $0.eventSeq != nil }
        var generator = SystemRandomNumberGenerator()
        var placements: [String] = []
        // A failed resume says how the nodes are (a node gone refuses connections).
        func nodesReport() -> String {
            nodes.map { n in
                "node \(n.id) \(n.process.process.isRunning ? "running" : "exited \(n.process.process.terminationStatus)"): \(n.process.stderr.suffix(1500))"
            }.joined(separator: "\n")
        }
        for i in 0..<resumes {
            await s.transport.close()
            let lastSeq = events.last?.eventSeq ?? 0
            // Spread what is left over the resumes left, so the terminal frame comes with the last.
            let left = resumes - i
            let target = lastSeq + max(1, (total - lastSeq + left - 1) / left)
            let node = nodes[Int.random(in: 0..<nodes.count, using: &generator)]
            placements.append(node.id)
            do {
                (s, frames) = try await C.resume(s, on: node, after: lastSeq, limit: .seconds(60)) {
                    ($0.eventSeq ?? 0) >= target || Self.isTerminal($0)
                }
            } catch {
                Issue.record("resume \(i + 1) on \(node.id) failed: \(error)\n\(nodesReport())")
                throw error
            }
            let got = frames.filter { $0.eventSeq != nil }
            #expect(
                got.first?.eventSeq == lastSeq + 1 || got.isEmpty,
                "resume \(i + 1) on \(node.id) after \(lastSeq) began at \(got.first?.eventSeq ?? -1)")
            events += got
            if events.contains(where: Self.isTerminal) && i < resumes - 1 {
                Issue.record("the terminal frame came before the last resume (resume \(i + 1))")
                break
            }
        }
        if !events.contains(where: Self.isTerminal) {
            events += try await C.read(s.transport, limit: .seconds(60), until: Self.isTerminal).filter { $0.eventSeq != nil }
        }
        await s.transport.close()
        let seqs = events.compactMap(\.eventSeq)
        #expect(Self.firstDifference(seqs, Array(1...total)) == nil, "event_seq: \(Self.firstDifference(seqs, Array(1...total)) ?? "")")
        let values = Self.steps(events)
        #expect(Self.firstDifference(values, Array(0...steps)) == nil, "progress: \(Self.firstDifference(values, Array(0...steps)) ?? "")")
        guard case .jobResult(let result)? = events.last?.message else {
            Issue.record("the last event is not the job.result: \(events.last.map { $0.message.type } ?? "-")")
            return
        }
        #expect(result.result == ["steps": .int(Int64(steps))])
        #expect(Set(placements).count == nodes.count, "\(placements)")
        print(
            "ClusterMoveTests: \(total) events, \(resumes) resumes in \(ContinuousClock.now - started)"
        )
        for node in nodes { #expect(await node.stop() == 0, "node \(node.id): \(node.process.stderr.suffix(2000))") }
    }

    /// Asks node `node` to flush `session` for a node `ghost` that never claims it (a node
    /// that died between its flush request and its claim), as a resuming node asks it, and
    /// waits for the answer: from then on `node` forwards the session's events.
    static func askToFlushForAGhost(_ session: C.Session, node: String, database: String) async throws {
        let connection = try await PostgresLocation(url: database).connect(logger: Logger(label: "test"))
        defer { Task { try? await connection.close() } }
        try await within(.seconds(30), "the answer to a flush request") {
            try await connection.listen(on: ClusterListener.channel("ghost")) { answers in
                try await connection.query(
                    "SELECT pg_notify(\(ClusterListener.channel(node)), \("flush:\(session.id):ghost:1"))", logger: Logger(label: "test"))
                for try await answer in answers where answer.payload == ClusterListener.flushed(session.id, request: "1") { return }
            }
        }
    }

    /// A resume of `session` on `node` with a wrong token: refused.
    static func resumeWithAWrongToken(_ session: C.Session, on node: C.Node) async throws {
        let t = try await WebSocketTransport.connect(to: node.url)
        try await t.send(Frames.resume(session.id, token: "not-the-token", after: 0))
        let answer = try await C.read(t, "the refusal of a resume with a wrong token") { _ in true }
        #expect(answer.last?.message.type == "session.error", "\(answer.map(\.message.type))")
        await t.close()
    }

    /// A node asked to flush a session for a node that never claims it takes it back: after
    /// `moveTimeout` while its client stays attached, and at once when its client resumes on
    /// it. The client sees every tick once, in order. (A resume with a wrong token elsewhere
    /// asks nothing: the token is checked before the holder is asked to flush.)
    @Test func aSessionNobodyClaimsIsTakenBackByItsNodeWithNothingLostOrTwice() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "takeback")
        let a = try await C.startNode(db, "a")
        let b = try await C.startNode(db, "b")
        var s = try await C.open(a)
        try await s.transport.send(Frames.submit("slow", ["seconds": 12, "tick": 0.125], session: s.id))
        var frames = try await C.read(s.transport) { C.ticks([$0]) == [5] }
        // 1. A node asks a to flush and never claims; the client stays on a, whose job
        // forwards its events until a takes the session back (moveTimeout later).
        try await Self.askToFlushForAGhost(s, node: a.id, database: db)
        let before = frames.count
        frames += try await C.read(s.transport, limit: .seconds(60)) { C.ticks([$0]).first.map { $0 >= 60 } ?? false }
        let gap = C.ticks(Array(frames[before...]))
        #expect(gap.first == 6, "\(gap.prefix(5))")
        // 2. Again, and the client resumes on a at once: taken back by the lookup. A resume
        // with a wrong token on b before that changes nothing.
        try await Self.askToFlushForAGhost(s, node: a.id, database: db)
        try await Self.resumeWithAWrongToken(s, on: b)
        await s.transport.close()
        let (again, rest) = try await C.resume(s, on: a, after: frames.compactMap(\.eventSeq).max() ?? 0, limit: .seconds(60), until: C.isResult)
        s = again
        frames += rest
        let seqs = frames.compactMap(\.eventSeq)
        #expect(Self.firstDifference(seqs, Array(1...(seqs.last ?? 0))) == nil, "event_seq: \(Self.firstDifference(seqs, Array(1...(seqs.last ?? 0))) ?? "")")
        #expect(Self.firstDifference(C.ticks(frames), Array(1...96)) == nil, "ticks: \(Self.firstDifference(C.ticks(frames), Array(1...96)) ?? "")")
        #expect(frames.last?.message.type == "job.result")
        // Both take-backs moved the session's claim counter (nobody else claimed it).
        let store = try await PostgresRuntimeStore.connect(url: db, connectTimeout: .seconds(60))
        defer { store.close() }
        let row = try await store.db.client.query("SELECT node_id, claim FROM arcp_session WHERE session_id = \(s.id)", logger: store.logger)
            .collect().first?.decode((String?, Int64).self)
        #expect(row?.0 == "a" && row?.1 == 2, "\(String(describing: row))")
        await s.transport.close()
        #expect(await a.stop() == 0, "node a: \(a.process.stderr.suffix(2000))")
        #expect(await b.stop() == 0, "node b: \(b.process.stderr.suffix(2000))")
    }

    /// `--persist-before-send` on two nodes: the job runs on b, its session moved to a, whose
    /// client reads the forwarded events; a is killed with SIGKILL; the client resumes on b.
    /// Every event it had seen is in the log with the same seq (and the same frame id), and
    /// the sequence continues after it with no gap and no duplicate to the job's result.
    @Test func withPersistBeforeSendEveryEventSeenBeforeASigkillIsStoredAndTheSequenceContinues() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "pbs")
        let a = try await C.startNode(db, "a", nodeTimeoutSec: 2, extra: ["--persist-before-send"])
        let b = try await C.startNode(db, "b", nodeTimeoutSec: 2, extra: ["--persist-before-send"])
        let s = try await C.open(b)
        try await s.transport.send(Frames.submit("slow", ["seconds": 8, "tick": 0.0625], session: s.id))
        var seen = try await C.read(s.transport) { C.ticks([$0]) == [5] }
        await s.transport.close()
        // On a: the job's events forwarded by b, numbered and stored by a before it sends them.
        let (onA, forwarded) = try await C.resume(s, on: a, after: seen.compactMap(\.eventSeq).max() ?? 0) {
            C.ticks([$0]).first.map { $0 >= 40 } ?? false
        }
        seen += forwarded
        a.process.signal(SIGKILL)
        _ = await a.process.wait(timeout: .seconds(10))
        await onA.transport.close()
        let lastSeen = seen.compactMap(\.eventSeq).max() ?? 0

        let store = try await PostgresRuntimeStore.connect(url: db, connectTimeout: .seconds(60))
        defer { store.close() }
        let stored = try await store.events(session: s.id, after: 0, limit: 100_000)
        let storedIDs = Dictionary(stored.map { (Int($0.seq), Frames.decode($0.frame)?.id ?? "") }, uniquingKeysWith: { x, _ in x })
        let missing = seen.filter { e in e.eventSeq.map { storedIDs[$0] != e.id } ?? false }.compactMap(\.eventSeq)
        #expect(missing.isEmpty, "events the client saw that the log does not hold as seen: \(missing.prefix(10))")

        // On b (a is found lost within 2 s + a heartbeat): the rest of the job, numbered after
        // what the client saw.
        let (onB, rest) = try await C.resume(onA, on: b, after: lastSeen, limit: .seconds(60), until: C.isResult)
        let all = seen + rest
        let seqs = all.compactMap(\.eventSeq)
        #expect(Self.firstDifference(seqs, Array(1...(seqs.last ?? 0))) == nil, "event_seq: \(Self.firstDifference(seqs, Array(1...(seqs.last ?? 0))) ?? "")")
        #expect(Self.firstDifference(C.ticks(all), Array(1...128)) == nil, "ticks: \(Self.firstDifference(C.ticks(all), Array(1...128)) ?? "")")
        #expect(all.last?.message.type == "job.result")
        await onB.transport.close()
        #expect(await b.stop() == 0, "node b: \(b.process.stderr.suffix(2000))")
    }
}
