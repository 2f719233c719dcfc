import ARCP
@testable import ARCPPostgres
import ARCPTestSupport
import ARCPWebSocket
import PostgresNIO
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `arcp serve --postgres` nodes on loopback sharing a throwaway PostgreSQL database.
@Suite(
    "Cluster: arcp serve --postgres nodes", .enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)),
    .timeLimit(.minutes(2)))
struct ClusterTests {
    /// One `arcp serve --postgres` process.
    struct Node {
        let process: TestProcess
        let url: String
        let id: String

        func stop() async -> Int32 {
            process.signal(SIGTERM)
            return await process.wait(timeout: .seconds(20))
        }
    }

    static func startNode(_ database: String, _ id: String, nodeTimeoutSec: Int = 10, extra: [String] = []) async throws -> Node {
        let arcp = try ArcpBinary.require()
        let process = try TestProcess(
            arcp,
            [
                "serve", "--port", "0", "--token", "tok=me@example.com", "--token", "tok2=other@example.com", "--postgres", database,
                "--node-id", id, "--node-timeout-sec", String(nodeTimeoutSec), "--log-level", "warning", "--stop-on-eof",
            ] + extra + (extra.contains("--drain-timeout-sec") ? [] : ["--drain-timeout-sec", "0"]), label: "node \(id)")
        let line = try #require(await process.line(startingWith: "LISTENING "), "node \(id) did not start; stderr: \(process.stderr)")
        return Node(process: process, url: String(line.dropFirst("LISTENING ".count)), id: id)
    }

    /// A client session driven frame by frame.
    struct Session {
        let transport: WebSocketTransport
        let id: String
        let token: String
    }

    static func open(_ node: Node, token: String = "tok") async throws -> Session {
        let t = try await WebSocketTransport.connect(to: node.url)
        try await t.send(Frames.hello(token: token))
        let welcome = try #require(try await read(t) { _ in true }.first)
        guard case .sessionWelcome(let w) = welcome.message, let sid = welcome.sessionId else {
            Issue.record("expected session.welcome, got \(welcome.message.type)")
            throw CancellationError()
        }
        return Session(transport: t, id: sid, token: w.resumeToken)
    }

    /// Resumes `session` on `node` after `lastSeq`; returns the new session handle and what
    /// came up to (and including) the frame `until` accepts.
    static func resume(
        _ session: Session, on node: Node, after lastSeq: Int, limit: Duration = .seconds(30),
        until: @escaping @Sendable (Envelope) -> Bool
    ) async throws -> (Session, [Envelope]) {
        let t = try await WebSocketTransport.connect(to: node.url)
        try await t.send(Frames.resume(session.id, token: session.token, after: lastSeq))
        var frames = try await read(t, limit: limit, "the resume's session.welcome on \(node.id)") {
            switch $0.message {
            case .sessionWelcome, .sessionError: return true
            default: return false
            }
        }
        guard case .sessionWelcome(let w)? = frames.last?.message else {
            Issue.record("expected session.welcome on resume at \(node.id), got \(frames.map(\.message.type)): \(frames)")
            throw CancellationError()
        }
        if !until(frames[frames.count - 1]) {
            frames += try await read(t, limit: limit, "the frames after the resume on \(node.id)", until: until)
        }
        return (Session(transport: t, id: session.id, token: w.resumeToken), Array(frames.dropFirst()))
    }

    /// Reads frames until `stop` says so, failing (not hanging) after `limit`.
    static func read(
        _ t: WebSocketTransport, limit: Duration = .seconds(30), _ what: String = "frames",
        sourceLocation: SourceLocation = #_sourceLocation, until stop: @escaping @Sendable (Envelope) -> Bool
    ) async throws -> [Envelope] {
        try await within(limit, "reading \(what)", sourceLocation: sourceLocation) {
            var out: [Envelope] = []
            while let text = try await t.receive() {
                guard let env = Frames.decode(text) else { continue }
                out.append(env)
                if stop(env) { return out }
            }
            Issue.record("the connection ended early after \(out.map(\.message.type))", sourceLocation: sourceLocation)
            return out
        }
    }

    @Sendable static func isResult(_ e: Envelope) -> Bool {
        if case .jobResult = e.message { return true }
        return false
    }

    static func listJobs(_ s: Session) async throws -> [JobSummary] {
        try await s.transport.send(
            FrameCodec.encode(Envelope.make(.sessionListJobs(SessionListJobsPayload()), sessionID: s.id)))
        let reply = try await read(s.transport) { if case .sessionJobs = $0.message { return true } else { return false } }
        guard case .sessionJobs(let jobs)? = reply.last?.message else { return [] }
        return jobs.jobs
    }

    @Test func aSessionResumesOnAnotherNodeAndBackWithEveryEventOnce() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "resume")
        let a = try await Self.startNode(db, "a")
        let b = try await Self.startNode(db, "b")

        // On A: one progress job to its end (events 1…5).
        let s = try await Self.open(a)
        try await s.transport.send(Frames.submit("progress", ["steps": 3, "delay": 0.01], session: s.id))
        let first = try await Self.read(s.transport, until: Self.isResult)
        #expect(first.compactMap(\.eventSeq) == [1, 2, 3, 4, 5])
        await s.transport.close()

        // On B, from seq 2: events 3…5, byte for byte as A sent them.
        let (onB, replayed) = try await Self.resume(s, on: b, after: 2) { $0.eventSeq == 5 }
        #expect(replayed.compactMap(\.eventSeq) == [3, 4, 5])
        #expect(replayed.map(\.id) == first.filter { ($0.eventSeq ?? 0) > 2 }.map(\.id))
        // A job on B continues the session's numbering.
        try await onB.transport.send(Frames.submit("progress", ["steps": 1, "delay": 0], session: s.id))
        let second = try await Self.read(onB.transport, until: Self.isResult)
        #expect(second.compactMap(\.eventSeq) == [6, 7, 8])
        await onB.transport.close()

        // Back on A (which held the session before): its old copy is not used; the log is.
        let (onA, again) = try await Self.resume(onB, on: a, after: 5) { $0.eventSeq == 8 }
        #expect(again.compactMap(\.eventSeq) == [6, 7, 8])
        await onA.transport.close()
        #expect(await a.stop() == 0, "stderr: \(a.process.stderr)")
        #expect(await b.stop() == 0, "stderr: \(b.process.stderr)")
    }

    /// The `n` of a `slow` agent's `tick n` log events.
    static func ticks(_ frames: [Envelope]) -> [Int] {
        frames.compactMap { e -> Int? in
            guard case .jobEvent(let p) = e.message, case .log(let l) = p.body, l.message.hasPrefix("tick ") else { return nil }
            return Int(l.message.dropFirst(5))
        }
    }

    @Test func aRunningJobsLiveEventsFollowItsSessionToAnotherNode() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "live")
        let a = try await Self.startNode(db, "a")
        let b = try await Self.startNode(db, "b")
        // On A: a job that ticks twenty times, 0.25 s apart; the client leaves after tick 2.
        let s = try await Self.open(a)
        try await s.transport.send(Frames.submit("slow", ["seconds": 5, "tick": 0.25], session: s.id))
        let onA = try await Self.read(s.transport) { Self.ticks([$0]) == [2] }
        let lastSeq = try #require(onA.compactMap(\.eventSeq).max())
        await s.transport.close()

        // On B: what A stored after lastSeq, then the job's live events from A, numbered by
        // B, to the job.result.
        let (onB, frames) = try await Self.resume(s, on: b, after: lastSeq, limit: .seconds(60), until: Self.isResult)
        let seqs = frames.compactMap(\.eventSeq)
        #expect(seqs == Array((lastSeq + 1)..<(lastSeq + 1 + seqs.count)), "\(seqs)")
        guard case .jobResult(let result)? = frames.last?.message else {
            Issue.record("no job.result on b: \(frames.map(\.message.type))")
            return
        }
        #expect(result.result == ["slept": 5.0])
        // Every tick after the last one the client saw on A, once, in order: those A stored,
        // those emitted while the session moved, and those forwarded after (docs/CLUSTER.md,
        // "Moving a session").
        #expect(Self.ticks(frames) == Array(3...20), "\(Self.ticks(frames))")
        await onB.transport.close()
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
    }

    @Test func jobCancelOnTheNodeHoldingTheSessionCancelsTheJobOnItsNode() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "cancel")
        let a = try await Self.startNode(db, "a")
        let b = try await Self.startNode(db, "b")
        let s = try await Self.open(a)
        try await s.transport.send(Frames.submit("slow", ["seconds": 60, "tick": 0.2], session: s.id))
        let onA = try await Self.read(s.transport) { Self.ticks([$0]) == [1] }
        guard case .jobAccepted(let accepted)? = onA.first(where: { $0.message.type == "job.accepted" })?.message else {
            Issue.record("no job.accepted: \(onA.map(\.message.type))")
            return
        }
        await s.transport.close()
        let (onB, _) = try await Self.resume(s, on: b, after: onA.compactMap(\.eventSeq).max() ?? 0) { _ in true }
        let started = ContinuousClock.now
        try await onB.transport.send(
            FrameCodec.encode(Envelope.make(.jobCancel(JobCancelPayload(reason: "enough", jobId: accepted.jobId)), sessionID: s.id, jobID: accepted.jobId)))
        let frames = try await Self.read(onB.transport) {
            if case .jobError = $0.message { return true }
            if case .jobResult = $0.message { return true }
            return false
        }
        #expect(
            frames.contains { $0.message.type == "job.cancelled" },
            "\(frames.first.map { FrameCodec.encode($0) } ?? "-"); node b: \(b.process.stderr.suffix(2000))")
        guard case .jobError(let e)? = frames.last?.message else {
            Issue.record("expected the job's job.error (cancelled), got \(frames.map(\.message.type))")
            return
        }
        #expect(e.finalStatus == .cancelled, "\(e)")
        #expect(frames.last?.jobId == accepted.jobId)
        #expect(ContinuousClock.now - started < .seconds(20))
        await onB.transport.close()
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
    }

    @Test func listJobsSeesEveryNodesJobsOfThePrincipalOnly() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "list")
        let a = try await Self.startNode(db, "a")
        let b = try await Self.startNode(db, "b")
        let onA = try await Self.open(a)
        let onB = try await Self.open(b)
        let other = try await Self.open(b, token: "tok2")
        try await onA.transport.send(Frames.submit("echo", ["n": 1], session: onA.id))
        _ = try await Self.read(onA.transport, until: Self.isResult)
        try await onB.transport.send(Frames.submit("slow", ["seconds": 30], session: onB.id))
        let accepted = try await Self.read(onB.transport) { if case .jobAccepted = $0.message { return true } else { return false } }
        guard case .jobAccepted(let slow)? = accepted.last?.message else { throw CancellationError() }
        try await other.transport.send(Frames.submit("echo", ["n": 2], session: other.id))
        _ = try await Self.read(other.transport, until: Self.isResult)

        // From either node: both of me@example.com's jobs, the finished one and the running one
        // (another node's running status is published with its heartbeat).
        let deadline = ContinuousClock.now + .seconds(20)
        while try await Self.listJobs(onA).first(where: { $0.jobId == slow.jobId })?.status != .running, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        for s in [onA, onB] {
            let jobs = try await Self.listJobs(s)
            #expect(jobs.count == 2, "\(jobs)")
            #expect(jobs.compactMap(\.agent).sorted() == ["echo", "slow"])
            #expect(jobs.first { $0.agent == "echo" }?.status == .success)
            #expect(jobs.first { $0.jobId == slow.jobId }?.status == .running)
        }
        #expect(try await Self.listJobs(other).count == 1)
        for s in [onA, onB, other] { await s.transport.close() }
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
    }

    @Test func aListJobsCursorFromOneNodeIsHonouredByAnother() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "cursor")
        let a = try await Self.startNode(db, "a")
        let b = try await Self.startNode(db, "b")
        let onA = try await Self.open(a)
        for n in 0..<3 {
            try await onA.transport.send(Frames.submit("echo", ["n": .int(Int64(n))], session: onA.id))
            _ = try await Self.read(onA.transport, until: Self.isResult)
        }
        func page(_ s: Session, cursor: String?) async throws -> SessionJobsPayload? {
            try await s.transport.send(
                FrameCodec.encode(Envelope.make(.sessionListJobs(SessionListJobsPayload(limit: 1, cursor: cursor)), sessionID: s.id)))
            let reply = try await Self.read(s.transport) {
                switch $0.message {
                case .sessionJobs, .sessionError: true
                default: false
                }
            }
            guard case .sessionJobs(let jobs)? = reply.last?.message else { return nil }
            return jobs
        }
        let first = try #require(try await page(onA, cursor: nil))
        let cursor = try #require(first.nextCursor)
        // The client resumed on B (or opened a session there): the listing goes on.
        let onB = try await Self.open(b)
        let second = try #require(try await page(onB, cursor: cursor), "node b refused node a's cursor")
        #expect(second.jobs.count == 1)
        #expect(second.jobs.first?.jobId != first.jobs.first?.jobId)
        for s in [onA, onB] { await s.transport.close() }
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
    }

    @Test func oneIdempotencyKeyOnTwoNodesAtOnceIsOneJob() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "idem")
        let a = try await Self.startNode(db, "a")
        let b = try await Self.startNode(db, "b")
        for round in 0..<5 {
            let onA = try await Self.open(a)
            let onB = try await Self.open(b)
            let key = "key-\(round)"
            let submit = { (s: Session) in
                FrameCodec.encode(
                    Envelope.make(
                        .jobSubmit(JobSubmitPayload(agent: "echo", input: ["round": .int(Int64(round))], idempotencyKey: key)),
                        sessionID: s.id))
            }
            let (frameA, frameB) = (submit(onA), submit(onB))
            async let sentA: Void = onA.transport.send(frameA)
            async let sentB: Void = onB.transport.send(frameB)
            _ = try await (sentA, sentB)
            // Each node answers: the winner with job.accepted, the other with the same job or an error.
            let answers = try await [onA, onB].asyncMap { s in
                try await Self.read(s.transport) {
                    switch $0.message {
                    case .jobAccepted, .sessionError, .jobError: return true
                    default: return false
                    }
                }.last
            }
            let jobs = try await Self.listJobs(onA).filter { $0.agent == "echo" }
            #expect(jobs.count == round + 1, "round \(round): \(jobs.map(\.jobId)) answers \(answers.map { $0?.message.type ?? "-" })")
            let acceptedIDs = Set(answers.compactMap { a -> String? in
                if case .jobAccepted(let p)? = a?.message { return p.jobId }
                return nil
            })
            #expect(acceptedIDs.count == 1, "round \(round): \(answers.map { $0?.message.type ?? "-" })")
            for s in [onA, onB] { await s.transport.close() }
        }
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
    }

    @Test func aKilledNodesJobEndsWithAnErrorNamingItForTheClientResumedElsewhere() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "kill")
        let a = try await Self.startNode(db, "a", nodeTimeoutSec: 2)
        let b = try await Self.startNode(db, "b", nodeTimeoutSec: 2)
        let s = try await Self.open(a)
        try await s.transport.send(Frames.submit("slow", ["seconds": 60, "tick": 0.2], session: s.id))
        let seen = try await Self.read(s.transport) { $0.eventSeq == 2 }
        let lastSeq = seen.compactMap(\.eventSeq).max() ?? 0
        guard case .jobAccepted(let accepted)? = seen.first(where: { if case .jobAccepted = $0.message { true } else { false } })?.message else {
            Issue.record("no job.accepted: \(seen.map(\.message.type))")
            return
        }
        // Events reach the database a moment after the client (write-behind; docs/CLUSTER.md):
        // kill A once what the client saw is stored.
        let store = try await PostgresRuntimeStore.connect(url: db, connectTimeout: .seconds(60))
        defer { store.close() }
        let stored = ContinuousClock.now + .seconds(30)
        while try await store.bufferStatus(session: s.id)?.lastSeq ?? 0 < Int64(lastSeq) {
            guard ContinuousClock.now < stored else {
                Issue.record("node a did not store seq \(lastSeq) within 30 s")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let killedAt = ContinuousClock.now
        a.process.signal(SIGKILL)
        _ = await a.process.wait(timeout: .seconds(10))
        await s.transport.close()

        // The client resumes on B at once, before A is found lost; B finds A silent for 2 s,
        // ends its job, and delivers the job.error in the session's numbering.
        let (onB, frames) = try await Self.resume(s, on: b, after: lastSeq) {
            if case .jobError = $0.message { return true } else { return false }
        }
        guard case .jobError(let e)? = frames.last?.message, let errorSeq = frames.last?.eventSeq else {
            Issue.record("no job.error reached the client resumed on b: \(frames.map(\.message.type))")
            return
        }
        #expect(e.code == .internalError)
        #expect(e.retryable == true)
        #expect(e.message.contains("node a was lost"), "\(e.message)")
        #expect(errorSeq == lastSeq + 1 + frames.dropLast().compactMap(\.eventSeq).count)
        #expect(ContinuousClock.now - killedAt < .seconds(30))
        await onB.transport.close()
        // It is in the log: a later resume replays it.
        let (again, replay) = try await Self.resume(onB, on: b, after: lastSeq) { $0.eventSeq == errorSeq }
        #expect(replay.last?.message.type == "job.error")
        let jobs = try await Self.listJobs(again)
        #expect(jobs.first { $0.jobId == accepted.jobId }?.status == .error)
        await again.transport.close()
        #expect(await b.stop() == 0)
    }

    @Test func aFinishedJobAndAnExpiredSessionAreFreedFromTheDatabaseAfterTheirRetention() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "retention")
        let a = try await Self.startNode(db, "a", extra: ["--job-retention-sec", "1", "--resume-window-sec", "1"])
        let b = try await Self.startNode(db, "b")
        let s = try await Self.open(a)
        try await s.transport.send(Frames.submit("echo", ["n": 1], session: s.id))
        _ = try await Self.read(s.transport, until: Self.isResult)
        await s.transport.close()
        let store = try await PostgresRuntimeStore.connect(url: db, connectTimeout: .seconds(60))
        defer { store.close() }
        func count(_ sql: String) async throws -> Int {
            try await store.db.client.query(PostgresQuery(unsafeSQL: sql), logger: store.logger).collect().first?.decode(Int.self) ?? -1
        }
        // Node a drops the finished job after 1 s and deletes its row; the session's resume
        // window (1 s) passes and its row and events go too. Node b lists nothing of it.
        let deadline = ContinuousClock.now + .seconds(30)
        var left = (jobs: -1, sessions: -1, events: -1)
        while ContinuousClock.now < deadline {
            left = (
                try await count("SELECT count(*)::int FROM arcp_job"), try await count("SELECT count(*)::int FROM arcp_session"),
                try await count("SELECT count(*)::int FROM arcp_event")
            )
            if left == (0, 0, 0) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(left == (0, 0, 0), "rows left: \(left)")
        let onB = try await Self.open(b)
        #expect(try await Self.listJobs(onB).isEmpty)
        await onB.transport.close()
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
    }

    @Test func anUnreachableDatabaseAtStartIsAClearErrorAndExitCode2() async throws {
        let arcp = try ArcpBinary.require()
        let port = PostgresServer.freePort()
        let p = try TestProcess(
            arcp, ["serve", "--port", "0", "--token", "tok", "--postgres", "postgres://arcp@127.0.0.1:\(port)/arcp"])
        let status = await p.wait(timeout: .seconds(60))
        #expect(status == 2, "exit status \(status); stderr ends: \(p.stderr.suffix(1500))")
        #expect(p.stderr.contains("arcp serve: cannot reach PostgreSQL at postgres://arcp@127.0.0.1:\(port)/arcp"), "\(p.stderr.suffix(1500))")
        #expect(!p.stdout.contains("LISTENING"))
    }

    @Test func aNodeIDAlreadyUpIsRefused() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "dup")
        let a = try await Self.startNode(db, "a")
        let arcp = try ArcpBinary.require()
        let twin = try TestProcess(arcp, ["serve", "--port", "0", "--token", "tok", "--postgres", db, "--node-id", "a"])
        let status = await twin.wait(timeout: .seconds(60))
        #expect(status == 2, "exit status \(status); stderr ends: \(twin.stderr.suffix(1500))")
        #expect(twin.stderr.contains("node id a is already up"), "\(twin.stderr)")
        #expect(await a.stop() == 0)
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await transform(e)) }
        return out
    }
}
