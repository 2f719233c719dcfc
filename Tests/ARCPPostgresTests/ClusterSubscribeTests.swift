import ARCP
@testable import ARCPPostgres
import ARCPTestSupport
import ARCPWebSocket
import Foundation
import Testing

/// `job.subscribe` on one `arcp serve --postgres` node to a job another node runs (issue 12,
/// spec §7.6): history then live events to the terminal frame; the single-process rules
/// hold (a foreign principal's job looks missing; a subscriber that stops reading never
/// slows the job and is detached with the typed error).
@Suite(
    "Cluster: job.subscribe across nodes", .enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)),
    .timeLimit(.minutes(3)))
struct ClusterSubscribeTests {
    typealias C = ClusterTests

    static func subscribe(_ s: C.Session, job: String, history: Bool, from: Int? = nil) async throws {
        try await s.transport.send(
            FrameCodec.encode(
                Envelope.make(.jobSubscribe(JobSubscribePayload(jobId: job, fromEventSeq: from, history: history)), sessionID: s.id)))
    }

    @Sendable static func answersSubscribe(_ e: Envelope) -> Bool {
        switch e.message {
        case .jobSubscribed, .sessionError: return true
        default: return false
        }
    }

    /// Waits until the database holds session `session`'s events through `seq` (events are
    /// stored a moment after the client reads them: write-behind, docs/CLUSTER.md).
    static func awaitStored(_ db: String, session: String, through seq: Int, limit: Duration = .seconds(30)) async throws {
        let store = try await PostgresRuntimeStore.connect(url: db, connectTimeout: .seconds(60))
        defer { store.close() }
        let deadline = ContinuousClock.now + limit
        while try await store.bufferStatus(session: session)?.lastSeq ?? 0 < Int64(seq) {
            guard ContinuousClock.now < deadline else {
                Issue.record("seq \(seq) of session \(session) was not stored within \(limit)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func aSubscriberOnAnotherNodeGetsTheHistoryThenTheLiveEventsThenTheTerminalFrame() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "subscribe")
        let a = try await C.startNode(db, "a")
        let b = try await C.startNode(db, "b")
        // On A: a job that ticks 15 times, 0.2 s apart; its submitter reads all of it.
        let submitter = try await C.open(a)
        try await submitter.transport.send(Frames.submit("slow", ["seconds": 3, "tick": 0.2], session: submitter.id))
        let early = try await C.read(submitter.transport) { C.ticks([$0]) == [3] }
        guard case .jobAccepted(let accepted)? = early.first(where: { $0.message.type == "job.accepted" })?.message else {
            Issue.record("no job.accepted: \(early.map(\.message.type))")
            return
        }
        try await Self.awaitStored(db, session: submitter.id, through: early.compactMap(\.eventSeq).max() ?? 0)

        // On B, the same principal in another session: history from the start, then live.
        let watcher = try await C.open(b)
        try await Self.subscribe(watcher, job: accepted.jobId, history: true, from: 0)
        let answer = try await C.read(watcher.transport, "job.subscribed on b", until: Self.answersSubscribe)
        guard case .jobSubscribed(let subscribed)? = answer.last?.message else {
            Issue.record("expected job.subscribed, got \(answer.map(\.message.type)); node b: \(b.process.stderr.suffix(2000))")
            return
        }
        #expect(subscribed.jobId == accepted.jobId)
        #expect(subscribed.agent == "slow")
        #expect(subscribed.currentStatus == .running)
        #expect(subscribed.replayed == .bool(true))
        #expect(subscribed.subscribedFrom == 0)
        #expect(subscribed.traceId == accepted.traceId)
        #expect(subscribed.credentials == nil)
        let followed = try await C.read(watcher.transport, limit: .seconds(60), "the followed job's events on b", until: C.isResult)
        let theirs = try await C.read(submitter.transport, limit: .seconds(60), "the job's events on a", until: C.isResult)

        // Every tick once, in order (ticks 1…3 from the history, the rest live), then the
        // job.result; numbered in the watcher's own session, gap-free.
        let ticks = C.ticks(followed)
        #expect(ticks == Array(1...15), "\(ticks)")
        #expect(C.ticks(early + theirs) == Array(1...15))
        guard case .jobResult(let result)? = followed.last?.message else {
            Issue.record("no job.result on b: \(followed.map(\.message.type))")
            return
        }
        #expect(result.result == ["slept": 3.0])
        #expect(followed.allSatisfy { $0.jobId == accepted.jobId })
        let seqs = followed.compactMap(\.eventSeq)
        #expect(seqs == Array(1...seqs.count), "\(seqs)")
        // The same events the submitter got (payloads, in order).
        #expect(followed.map(\.message) == (early + theirs).filter { $0.eventSeq != nil }.map(\.message))

        // A later subscribe without history to the finished job gets its outcome.
        let late = try await C.open(b)
        try await Self.subscribe(late, job: accepted.jobId, history: false)
        let outcome = try await C.read(late.transport, "the finished job's outcome on b") { C.isResult($0) || $0.message.type == "session.error" }
        #expect(outcome.map(\.message.type) == ["job.subscribed", "job.result"], "\(outcome.map(\.message.type))")
        for s in [submitter, watcher, late] { await s.transport.close() }
        #expect(await a.stop() == 0, "stderr: \(a.process.stderr.suffix(2000))")
        #expect(await b.stop() == 0, "stderr: \(b.process.stderr.suffix(2000))")
    }

    @Test func aForeignPrincipalsJobOnAnotherNodeLooksMissing() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "subforeign")
        let a = try await C.startNode(db, "a")
        let b = try await C.startNode(db, "b")
        let submitter = try await C.open(a)
        try await submitter.transport.send(Frames.submit("slow", ["seconds": 30, "tick": 0.5], session: submitter.id))
        let accepted = try await C.read(submitter.transport) { $0.message.type == "job.accepted" }
        let jobID = try #require(accepted.last?.jobId)

        // other@example.com on B: the job answers exactly as one that does not exist.
        let other = try await C.open(b, token: "tok2")
        var errors: [SessionErrorPayload] = []
        for job in [jobID, "job_does_not_exist"] {
            try await Self.subscribe(other, job: job, history: true, from: 0)
            let answer = try await C.read(other.transport, "the answer to a subscribe on b", until: Self.answersSubscribe)
            guard case .sessionError(let e)? = answer.last?.message else {
                Issue.record("expected session.error, got \(answer.map(\.message.type))")
                return
            }
            errors.append(e)
        }
        #expect(errors.map(\.code) == [.jobNotFound, .jobNotFound])
        #expect(errors[0].message == errors[1].message.replacingOccurrences(of: "job_does_not_exist", with: jobID))
        // Unsubscribing is refused the same way, and nothing of the job reached the foreign session.
        try await other.transport.send(
            FrameCodec.encode(Envelope.make(.jobUnsubscribe(JobUnsubscribePayload(jobId: jobID)), sessionID: other.id)))
        try await other.transport.send(FrameCodec.encode(Envelope.make(.sessionPing(SessionPingPayload(nonce: "n")), sessionID: other.id)))
        let rest = try await C.read(other.transport, "the answers to unsubscribe and ping") { $0.message.type == "session.pong" }
        #expect(rest.map(\.message.type) == ["session.error", "session.pong"], "\(rest.map(\.message.type))")
        #expect(rest.allSatisfy { $0.eventSeq == nil })

        // The submitter's own principal on B is let in.
        let mine = try await C.open(b)
        try await Self.subscribe(mine, job: jobID, history: false)
        let answer = try await C.read(mine.transport, "job.subscribed on b", until: Self.answersSubscribe)
        #expect(answer.last?.message.type == "job.subscribed", "\(answer.map(\.message.type))")
        for s in [submitter, other, mine] { await s.transport.close() }
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
    }

    @Test func aSubscriberOnAnotherNodeThatStopsReadingDoesNotStallTheJobAndIsDetached() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "substall")
        let a = try await C.startNode(db, "a")
        let b = try await C.startNode(db, "b", extra: ["--max-subscriber-pending-frames", "16"])
        // The flood waits for its submitter (the only one who back-pressures it), so the
        // subscription is in place before most of it is emitted.
        let events = 100_000
        let submitter = try await C.open(a)
        try await submitter.transport.send(Frames.submit("flood", ["n": .int(Int64(events))], session: submitter.id))
        let accepted = try await C.read(submitter.transport) { $0.message.type == "job.accepted" }
        let jobID = try #require(accepted.last?.jobId)

        let watcher = try await C.open(b)
        try await Self.subscribe(watcher, job: jobID, history: false)
        let answer = try await C.read(watcher.transport, "job.subscribed on b", until: Self.answersSubscribe)
        guard case .jobSubscribed(let subscribed)? = answer.last?.message else {
            Issue.record("expected job.subscribed, got \(answer.map(\.message.type))")
            return
        }
        #expect(subscribed.currentStatus == .running || subscribed.currentStatus == .pending)

        // The watcher reads nothing more; the submitter reads the whole flood to its result.
        let frames = try await C.read(submitter.transport, limit: .seconds(120), "the flood on a although b's subscriber stalls", until: C.isResult)
        #expect(frames.filter { $0.message.type == "job.event" }.count == events)

        // Reading again, the watcher finds the typed error naming the job after the events
        // its bounded queue (and the sockets) held, and not the job's result.
        let seen = try await C.read(watcher.transport, limit: .seconds(60), "the subscriber's error on b") {
            $0.message.type == "session.error" || C.isResult($0)
        }
        guard case .sessionError(let e)? = seen.last?.message else {
            Issue.record("expected the subscriber_buffer error, got \(seen.last?.message.type ?? "-") after \(seen.count) frames")
            return
        }
        #expect(e.code == .internalError && e.retryable == false)
        #expect(e.details?["limit"] == "subscriber_buffer")
        #expect(e.details?["job_id"] == .string(jobID))
        #expect(seen.last?.jobId == jobID)
        #expect(seen.count - 1 < events, "\(seen.count)")
        for s in [submitter, watcher] { await s.transport.close() }
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
    }
}
