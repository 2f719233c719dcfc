import ARCP
@testable import ARCPPostgres
import ARCPTestSupport
import ARCPWebSocket
import PostgresNIO
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Placement across `arcp serve --postgres` nodes (docs/CLUSTER.md, "Placement").
extension ClusterTests {
    /// The node that ran each of `jobs`, from the database.
    static func nodes(of jobs: [String], database: String) async throws -> [String: String] {
        let store = try await PostgresRuntimeStore.connect(url: database, connectTimeout: .seconds(60))
        defer { store.close() }
        var out: [String: String] = [:]
        for try await (job, node) in try await store.db.client.query(
            "SELECT job_id, COALESCE(node_id, '') FROM arcp_job WHERE job_id = ANY(\(jobs))", logger: store.logger
        ).decode((String, String).self) {
            out[job] = node
        }
        return out
    }

    static func acceptedIDs(_ frames: [Envelope]) -> [String] {
        frames.compactMap { if case .jobAccepted(let a) = $0.message { a.jobId } else { nil } }
    }

    static func isTerminal(_ e: Envelope) -> Bool {
        switch e.message {
        case .jobResult, .jobError: return true
        default: return false
        }
    }

    @Test func withMaxRunningJobsOneOnNodeATenJobsSubmittedToAAllCompleteMostOfThemOnBAndC() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "placement")
        let a = try await Self.startNode(db, "a", extra: ["--max-running-jobs", "1"])
        let b = try await Self.startNode(db, "b")
        let c = try await Self.startNode(db, "c")
        let s = try await Self.open(a)
        // Each job runs 3 s (a tick every 0.5 s): A's one slot stays taken while the rest wait.
        for _ in 0..<10 {
            try await s.transport.send(Frames.submit("slow", ["seconds": 3, "tick": 0.5], session: s.id))
        }
        let ended = Counter()
        let frames = try await Self.read(s.transport, limit: .seconds(90), "ten jobs' frames through node a") {
            Self.isTerminal($0) && ended.increment() == 10
        }
        let accepted = Self.acceptedIDs(frames)
        #expect(accepted.count == 10, "\(frames.map(\.message.type))")
        for job in accepted {
            let own = frames.filter { $0.jobId == job }
            let ticks = own.filter { $0.message.type == "job.event" }.count
            #expect(ticks >= 6, "job \(job): every tick reaches the client on node a (\(ticks))")
            guard case .jobResult(let r)? = own.last?.message else {
                Issue.record("job \(job) ended with \(own.last?.message.type ?? "nothing")")
                continue
            }
            #expect(r.finalStatus == .success)
        }
        // Events arrive numbered once, in order, across the jobs run elsewhere.
        let seqs = frames.compactMap(\.eventSeq)
        #expect(seqs == Array(1...max(1, seqs.count)).prefix(seqs.count).map { $0 }, "the session's numbering has no gap or duplicate")
        let ran = try await Self.nodes(of: accepted, database: db)
        let onA = ran.values.filter { $0 == "a" }.count
        let onBC = ran.values.filter { $0 == "b" || $0 == "c" }.count
        #expect(onA + onBC == 10, "\(ran)")
        #expect(onBC > onA && onBC >= 6, "most of the jobs ran on b and c: \(ran)")
        await s.transport.close()
        for n in [a, b, c] { #expect(await n.stop() == 0) }
    }

    @Test func aQueuedJobIsListedPendingCancelledWithoutRunningAndAFullQueueRefuses() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "queue")
        let a = try await Self.startNode(db, "a", extra: ["--max-running-jobs", "1", "--max-queued-jobs", "1"])
        let s = try await Self.open(a)
        var frames: [Envelope] = []
        // The slow job takes the one slot (its job.accepted comes after its admission); only
        // then the echo, which must wait in the cluster's queue: no other node has a slot.
        // (Sent together, the two may be admitted in either order: a loaded run admitted the
        // echo first, which ran, and the slow job was then running, not queued.)
        try await s.transport.send(Frames.submit("slow", ["seconds": 60, "tick": 0.5], session: s.id))
        while Self.acceptedIDs(frames).isEmpty {
            frames += try await Self.read(s.transport) { if case .jobAccepted = $0.message { true } else { false } }
        }
        try await s.transport.send(Frames.submit("echo", ["n": 1], session: s.id))
        while Self.acceptedIDs(frames).count < 2 {
            frames += try await Self.read(s.transport) { if case .jobAccepted = $0.message { true } else { false } }
        }
        let ids = Self.acceptedIDs(frames)
        let (running, queued) = (ids[0], ids[1])
        let listed = try await Self.listJobs(s)
        #expect(listed.first { $0.jobId == queued }?.status == .pending, "\(listed.map { "\($0.jobId) \($0.agent ?? "-") \($0.status)" })")

        // The queue holds one: the next submit is refused, retryable, naming the limit. (90 s:
        // the refusal is a transaction on the PostgreSQL server every phase-2 suite shares.)
        try await s.transport.send(Frames.submit("echo", ["n": 2], session: s.id))
        let refused = try await Self.read(s.transport, limit: .seconds(90), "the third submit's refusal") { $0.message.type == "session.error" }
        guard case .sessionError(let e)? = refused.last?.message else { throw CancellationError() }
        #expect(e.code == .internalError && e.retryable == true && e.details?["limit"] == "queued_jobs", "\(e)")

        // Cancelled while queued: job.cancelled, then job.error (cancelled); it never ran.
        try await s.transport.send(
            FrameCodec.encode(Envelope.make(.jobCancel(JobCancelPayload(jobId: queued)), sessionID: s.id, jobID: queued)))
        let cancelled = try await Self.read(s.transport) { $0.jobId == queued && Self.isTerminal($0) }
        let own = cancelled.filter { $0.jobId == queued }
        #expect(own.map(\.message.type) == ["job.cancelled", "job.error"], "\(own.map(\.message.type))")
        if case .jobError(let e)? = own.last?.message { #expect(e.finalStatus == .cancelled, "\(e)") }
        #expect(try await Self.listJobs(s).first { $0.jobId == queued }?.status == .cancelled)
        #expect(try await Self.nodes(of: [queued], database: db)[queued] == "", "no node ever ran it")

        try await s.transport.send(
            FrameCodec.encode(Envelope.make(.jobCancel(JobCancelPayload(jobId: running)), sessionID: s.id, jobID: running)))
        _ = try await Self.read(s.transport) { $0.jobId == running && Self.isTerminal($0) }
        await s.transport.close()
        #expect(await a.stop() == 0)
    }

    @Test func aJobQueuedOnANodeThatIsKilledRunsOnAnotherNodeAndItsClientResumedThereGetsItsResult() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "queuekill")
        let a = try await Self.startNode(db, "a", extra: ["--max-running-jobs", "1"])
        let s = try await Self.open(a)
        var frames: [Envelope] = []
        // The slow job takes the slot first, so the echo is the one that waits (see above).
        try await s.transport.send(Frames.submit("slow", ["seconds": 60, "tick": 0.5], session: s.id))
        while Self.acceptedIDs(frames).isEmpty {
            frames += try await Self.read(s.transport) { if case .jobAccepted = $0.message { true } else { false } }
        }
        try await s.transport.send(Frames.submit("echo", ["queued": true], session: s.id))
        while Self.acceptedIDs(frames).count < 2 {
            frames += try await Self.read(s.transport) { if case .jobAccepted = $0.message { true } else { false } }
        }
        let queued = Self.acceptedIDs(frames)[1]
        // A dies with the job still queued; B starts, claims it and runs it. (The client
        // resumes from the start: A's write-behind may not have stored the events it saw.)
        a.process.signal(SIGKILL)
        _ = await a.process.wait(timeout: .seconds(20))
        let b = try await Self.startNode(db, "b")
        let (onB, later) = try await Self.resume(s, on: b, after: 0, limit: .seconds(60)) { $0.jobId == queued && Self.isTerminal($0) }
        guard case .jobResult(let r)? = later.last?.message else {
            Issue.record("expected the queued job's result on b, got \(later.map(\.message.type)); b: \(b.process.stderr.suffix(2000))")
            throw CancellationError()
        }
        #expect(r.result?["echoed"]?["queued"] == true)
        #expect(try await Self.nodes(of: [queued], database: db)[queued] == "b")
        await onB.transport.close()
        #expect(await b.stop() == 0)
    }
}

/// A thread-safe counter for read predicates.
final class Counter: Sendable {
    private let value = Mutex(0)
    func increment() -> Int { value.withLock { $0 += 1; return $0 } }
}
