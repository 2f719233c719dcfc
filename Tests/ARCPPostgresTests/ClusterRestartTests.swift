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

/// Restartable agents (docs/CLUSTER.md, "Failure model"): a job of an agent registered
/// restartable whose node is killed runs again, once, on another node, under the same job id.
extension ClusterTests {
    /// How long a client resumed on a surviving node may wait for the outcome of a killed
    /// node's jobs: detection (2 s timeout + a heartbeat), the claim, and the new run.
    static let restartBound: Duration = .seconds(75)
    static let restartable = ["--restartable-agent", "slow"]

    /// The `status` event `restarted` of job `job`, if `e` is one; its `lost_node`.
    static func restartedNotice(_ e: Envelope, job: String) -> String? {
        guard e.jobId == job, case .jobEvent(let ev) = e.message, case .status(let st) = ev.body, st.phase == "restarted" else { return nil }
        return st.additionalFields["lost_node"]?.stringValue ?? ""
    }

    static func isEvent(_ e: Envelope, of job: String) -> Bool {
        if e.jobId == job, case .jobEvent = e.message { return true }
        return false
    }

    /// Waits until node stores have the session's events up to `seq` (write-behind: a node
    /// stores what its client saw a moment later), so a kill loses none of them.
    static func waitStored(_ session: String, upTo seq: Int, database: String) async throws {
        let store = try await PostgresRuntimeStore.connect(url: database, connectTimeout: .seconds(60))
        defer { store.close() }
        let deadline = ContinuousClock.now + .seconds(30)
        while try await store.bufferStatus(session: session)?.lastSeq ?? 0 < Int64(seq) {
            guard ContinuousClock.now < deadline else {
                Issue.record("seq \(seq) of session \(session) was not stored within 30 s")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    static func restartRecords(_ job: String, database: String) async throws -> Int {
        let store = try await PostgresRuntimeStore.connect(url: database, connectTimeout: .seconds(60))
        defer { store.close() }
        return try await store.db.client.query("SELECT count(*)::int8 FROM arcp_restart WHERE job_id = \(job)", logger: store.logger)
            .collect().first.map { Int(try $0.decode(Int64.self)) } ?? -1
    }

    @Test func aRestartableJobOfAKilledNodeCompletesOnAnotherNodeAndANonRestartableOneEndsWithTheError() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "restart")
        let a = try await Self.startNode(db, "a", nodeTimeoutSec: 2, extra: Self.restartable)
        let b = try await Self.startNode(db, "b", nodeTimeoutSec: 2, extra: Self.restartable)
        let c = try await Self.startNode(db, "c", nodeTimeoutSec: 2, extra: Self.restartable)
        let s = try await Self.open(a)
        try await s.transport.send(Frames.submit("slow", ["seconds": 8, "tick": 0.5], session: s.id))
        try await s.transport.send(Frames.submit("progress", ["steps": 1200, "delay": 0.1], session: s.id))
        var frames: [Envelope] = []
        while Self.acceptedIDs(frames).count < 2 {
            frames += try await Self.read(s.transport) { if case .jobAccepted = $0.message { true } else { false } }
        }
        let (restartable, plain) = (Self.acceptedIDs(frames)[0], Self.acceptedIDs(frames)[1])
        // Both run on A: an event of each reached the client.
        while !(frames.contains { Self.isEvent($0, of: restartable) } && frames.contains { Self.isEvent($0, of: plain) }) {
            frames += try await Self.read(s.transport) { $0.jobId != nil }
        }
        #expect(try await Self.nodes(of: [restartable, plain], database: db) == [restartable: "a", plain: "a"])
        let killedAt = ContinuousClock.now
        a.process.signal(SIGKILL)
        _ = await a.process.wait(timeout: .seconds(20))
        await s.transport.close()

        // The client resumes on B (from the start: A's write-behind may not have stored the
        // last events it saw) and reads until both jobs ended.
        let ended = Mutex<Set<String>>([])
        let (onB, later) = try await Self.resume(s, on: b, after: 0, limit: Self.restartBound) { e in
            guard let job = e.jobId, Self.isTerminal(e) else { return false }
            return ended.withLock { $0.insert(job); return $0.count == 2 }
        }
        #expect(ContinuousClock.now - killedAt < Self.restartBound)
        // The non-restartable job: the lost-node error, as before.
        let plainEnd = later.last { $0.jobId == plain && Self.isTerminal($0) }
        guard case .jobError(let e)? = plainEnd?.message else {
            Issue.record("expected job.error for the non-restartable job, got \(later.filter { $0.jobId == plain }.map(\.message.type))")
            throw CancellationError()
        }
        #expect(e.code == .internalError)
        #expect(e.retryable == true)
        #expect(e.message.contains("node a was lost"), "\(e.message)")
        #expect(e.details?["lost_node"]?.stringValue == "a")
        // The restartable job: a `restarted` notice naming A, then the new run's events, then
        // its result; no job.error.
        let own = later.filter { $0.jobId == restartable }
        let notices = own.indices.filter { Self.restartedNotice(own[$0], job: restartable) != nil }
        #expect(notices.count == 1, "\(own.map(\.message.type))")
        #expect(notices.first.map { Self.restartedNotice(own[$0], job: restartable) } == "a")
        #expect(!own.contains { if case .jobError = $0.message { true } else { false } })
        guard case .jobResult(let r)? = own.last?.message else {
            Issue.record("expected job.result for the restartable job, got \(own.map(\.message.type)); b: \(b.process.stderr.suffix(2000))")
            throw CancellationError()
        }
        #expect(r.result?["slept"]?.doubleValue == 8)
        if let n = notices.first {
            #expect(own[(n + 1)...].contains { Self.isEvent($0, of: restartable) }, "the new run's events follow the notice")
        }
        // One numbering: every event once, in order.
        let seqs = later.compactMap(\.eventSeq)
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "\(seqs)")
        let ranOn = try await Self.nodes(of: [restartable], database: db)[restartable]
        #expect(ranOn == "b" || ranOn == "c", "\(ranOn ?? "nil")")
        let listed = try await Self.listJobs(onB)
        #expect(listed.first { $0.jobId == restartable }?.status == .success)
        #expect(listed.first { $0.jobId == plain }?.status == .error)
        await onB.transport.close()
        #expect(await b.stop() == 0)
        #expect(await c.stop() == 0)
    }

    @Test func aRestartableJobWhoseNodeIsLostTwiceEndsWithTheErrorNamingTheSecondNode() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "restart2")
        let a = try await Self.startNode(db, "a", nodeTimeoutSec: 2, extra: Self.restartable)
        let b = try await Self.startNode(db, "b", nodeTimeoutSec: 2, extra: Self.restartable)
        let s = try await Self.open(a)
        try await s.transport.send(Frames.submit("slow", ["seconds": 60, "tick": 0.5], session: s.id))
        let first = try await Self.read(s.transport) { $0.eventSeq != nil && $0.jobId != nil && { if case .jobEvent = $0.message { true } else { false } }($0) }
        guard let job = Self.acceptedIDs(first).first else {
            Issue.record("no job.accepted: \(first.map(\.message.type))")
            throw CancellationError()
        }
        a.process.signal(SIGKILL)
        _ = await a.process.wait(timeout: .seconds(20))
        await s.transport.close()

        // B is the only node left: the job runs again there, with the client resumed there.
        let (onB, notice) = try await Self.resume(s, on: b, after: 0, limit: Self.restartBound) {
            Self.restartedNotice($0, job: job) != nil
        }
        #expect(notice.last.flatMap { Self.restartedNotice($0, job: job) } == "a")
        let running = try await Self.read(onB.transport, limit: Self.restartBound, "the new run's first event") { Self.isEvent($0, of: job) }
        #expect(try await Self.nodes(of: [job], database: db)[job] == "b")
        let lastSeq = (notice + running).compactMap(\.eventSeq).max() ?? 0
        try await Self.waitStored(s.id, upTo: lastSeq, database: db)

        // B dies too: C ends the job with the lost-node error naming B; it does not run again.
        let c = try await Self.startNode(db, "c", nodeTimeoutSec: 2, extra: Self.restartable)
        b.process.signal(SIGKILL)
        _ = await b.process.wait(timeout: .seconds(20))
        await onB.transport.close()
        let (onC, end) = try await Self.resume(onB, on: c, after: lastSeq, limit: Self.restartBound) {
            $0.jobId == job && Self.isTerminal($0)
        }
        guard case .jobError(let e)? = end.last?.message else {
            Issue.record("expected job.error after the second loss, got \(end.map(\.message.type)); c: \(c.process.stderr.suffix(2000))")
            throw CancellationError()
        }
        #expect(e.code == .internalError)
        #expect(e.retryable == true)
        #expect(e.message.contains("node b was lost"), "\(e.message)")
        #expect(!end.contains { Self.restartedNotice($0, job: job) != nil })
        #expect(try await Self.listJobs(onC).first { $0.jobId == job }?.status == .error)
        #expect(try await Self.restartRecords(job, database: db) == 0)
        await onC.transport.close()
        #expect(await c.stop() == 0)
    }
}
