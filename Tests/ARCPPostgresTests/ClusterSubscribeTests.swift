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

    @Sendable static func isError(_ e: Envelope) -> Bool { e.message.type == "job.error" }

    @Test func aSubscriberOnAnotherNodeGetsTheHistoryThenTheLiveEventsThenTheTerminalFrame() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "subscribe")
        let a = try await C.startNode(db, "a")
        let b = try await C.startNode(db, "b")
        // On A: a job that ticks every 0.2 s until it is cancelled (at most 120 s).
        let submitter = try await C.open(a)
        try await submitter.transport.send(Frames.submit("slow", ["seconds": 120, "tick": 0.2], session: submitter.id))
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
        // Ticks 1…3 at least come from the history; once the watcher has tick 5, the submitter
        // cancels: the job's terminal frame is emitted after the subscription, so it (and
        // whatever came between) reaches the watcher live.
        var followed = try await C.read(watcher.transport, limit: .seconds(60), "tick 5 on b") { C.ticks([$0]) == [5] }
        try await submitter.transport.send(
            FrameCodec.encode(
                Envelope.make(.jobCancel(JobCancelPayload(reason: "enough", jobId: accepted.jobId)), sessionID: submitter.id, jobID: accepted.jobId)))
        followed += try await C.read(watcher.transport, limit: .seconds(60), "the followed job's terminal frame on b", until: Self.isError)
        let theirs = try await C.read(submitter.transport, limit: .seconds(60), "the job's terminal frame on a", until: Self.isError)

        // Every tick once, in order, then the job.error (cancelled); numbered in the watcher's
        // own session, gap-free; exactly the events the submitter got, in its order.
        let ticks = C.ticks(followed)
        #expect(!ticks.isEmpty && ticks == Array(1...ticks.count), "\(ticks)")
        guard case .jobError(let ended)? = followed.last?.message else {
            Issue.record("no job.error on b: \(followed.map(\.message.type))")
            return
        }
        #expect(ended.finalStatus == .cancelled)
        #expect(followed.allSatisfy { $0.jobId == accepted.jobId })
        let seqs = followed.compactMap(\.eventSeq)
        #expect(seqs == Array(1...seqs.count), "\(seqs)")
        let submitted = (early + theirs).filter { $0.eventSeq != nil }.map(\.message)
        #expect(followed.map(\.message) == submitted)

        // A later subscribe without history to the finished job gets its outcome.
        let late = try await C.open(b)
        try await Self.subscribe(late, job: accepted.jobId, history: false)
        let outcome = try await C.read(late.transport, "the finished job's outcome on b") { Self.isError($0) || $0.message.type == "session.error" }
        #expect(outcome.map(\.message.type) == ["job.subscribed", "job.error"], "\(outcome.map(\.message.type))")
        if case .jobSubscribed(let p)? = outcome.first?.message { #expect(p.currentStatus == .cancelled) }
        for s in [submitter, watcher, late] { await s.transport.close() }
        #expect(await a.stop() == 0, "stderr: \(a.process.stderr.suffix(2000))")
        #expect(await b.stop() == 0, "stderr: \(b.process.stderr.suffix(2000))")
    }

    @Test func aSubscriberOnNodeCFollowsAJobOnNodeAWhoseSessionMovedToNodeB() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "subthree")
        let a = try await C.startNode(db, "a")
        let b = try await C.startNode(db, "b")
        let c = try await C.startNode(db, "c")
        // The job runs on A; its submitter leaves after tick 2 and resumes on B, which numbers
        // the job's forwarded events in the session's log from then on.
        let s = try await C.open(a)
        try await s.transport.send(Frames.submit("slow", ["seconds": 120, "tick": 0.2], session: s.id))
        let onA = try await C.read(s.transport) { C.ticks([$0]) == [2] }
        let jobID = try #require(onA.first { $0.message.type == "job.accepted" }?.jobId)
        let lastSeq = try #require(onA.compactMap(\.eventSeq).max())
        await s.transport.close()
        let (onB, _) = try await C.resume(s, on: b, after: lastSeq) { _ in true }

        // On C: the whole stored sequence, whichever node numbered it, then live.
        let watcher = try await C.open(c)
        try await Self.subscribe(watcher, job: jobID, history: true, from: 0)
        let answer = try await C.read(watcher.transport, "job.subscribed on c", until: Self.answersSubscribe)
        #expect(answer.last?.message.type == "job.subscribed", "\(answer.map(\.message.type))")
        var followed = try await C.read(watcher.transport, limit: .seconds(60), "ticks numbered on b, on c") { (C.ticks([$0]).first ?? 0) >= 12 }
        try await onB.transport.send(
            FrameCodec.encode(Envelope.make(.jobCancel(JobCancelPayload(reason: "enough", jobId: jobID)), sessionID: s.id, jobID: jobID)))
        followed += try await C.read(watcher.transport, limit: .seconds(60), "the job's end on c", until: Self.isError)
        let onBFrames = try await C.read(onB.transport, limit: .seconds(60), "the job's end on b", until: Self.isError)

        // Every tick once, in order (none is lost in the moment the session moved:
        // docs/CLUSTER.md), every tick B's client got, then the end.
        let ticks = C.ticks(followed)
        #expect(ticks == Array(1...max(1, ticks.count)), "\(ticks)")
        #expect(Set(C.ticks(onBFrames)).isSubset(of: Set(ticks)), "b: \(C.ticks(onBFrames)) c: \(ticks)")
        guard case .jobError(let ended)? = followed.last?.message else {
            Issue.record("no job.error on c: \(followed.map(\.message.type))")
            return
        }
        #expect(ended.finalStatus == .cancelled)
        let seqs = followed.compactMap(\.eventSeq)
        #expect(seqs == Array(1...seqs.count), "\(seqs)")
        for session in [onB, watcher] { await session.transport.close() }
        for node in [a, b, c] { #expect(await node.stop() == 0, "node \(node.id): \(node.process.stderr.suffix(2000))") }
    }

    @Test func aForeignPrincipalsJobOnAnotherNodeLooksMissing() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "subforeign")
        let a = try await C.startNode(db, "a")
        let b = try await C.startNode(db, "b", extra: ["--max-followed-jobs-per-session", "1"])
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

        // The submitter's own principal on B is let in, following one job of another node at
        // a time (--max-followed-jobs-per-session 1); unsubscribing frees the slot.
        let mine = try await C.open(b)
        try await Self.subscribe(mine, job: jobID, history: false)
        let answer = try await C.read(mine.transport, "job.subscribed on b", until: Self.answersSubscribe)
        #expect(answer.last?.message.type == "job.subscribed", "\(answer.map(\.message.type))")
        try await submitter.transport.send(Frames.submit("slow", ["seconds": 30, "tick": 0.5], session: submitter.id))
        let second = try #require(try await C.read(submitter.transport) { $0.message.type == "job.accepted" }.last?.jobId)
        try await Self.subscribe(mine, job: second, history: false)
        let refused = try await C.read(mine.transport, "the answer over the cap", until: Self.answersSubscribe)
        guard case .sessionError(let cap)? = refused.last?.message else {
            Issue.record("expected the cap's error, got \(refused.map(\.message.type))")
            return
        }
        #expect(cap.code == .internalError && cap.retryable == false)
        #expect(cap.details?["limit"] == "cluster_subscriptions_per_session")
        try await mine.transport.send(
            FrameCodec.encode(Envelope.make(.jobUnsubscribe(JobUnsubscribePayload(jobId: jobID)), sessionID: mine.id)))
        try await Self.subscribe(mine, job: second, history: false)
        let again = try await C.read(mine.transport, "job.subscribed after unsubscribing", until: Self.answersSubscribe)
        #expect(again.last?.message.type == "job.subscribed", "\(again.map { FrameCodec.encode($0) })")
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

/// An idempotent resubmit on a node other than the one that accepted the job (spec §7.2,
/// issue 12): the original `job.accepted`, then the job's events, as in one process.
@Suite(
    "Cluster: idempotent resubmit on another node", .enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)),
    .timeLimit(.minutes(3)))
struct ClusterResubmitTests {
    typealias C = ClusterTests

    static func submit(_ s: C.Session, _ agent: String, _ input: JSONValue, key: String) -> (frame: String, id: String) {
        let env = Envelope.make(.jobSubmit(JobSubmitPayload(agent: agent, input: input, idempotencyKey: key)), sessionID: s.id)
        return (FrameCodec.encode(env), env.id)
    }

    @Sendable static func answersSubmit(_ e: Envelope) -> Bool {
        switch e.message {
        case .jobAccepted, .sessionError: return true
        default: return false
        }
    }

    @Test func aResubmitOnAnotherNodeReplaysTheOriginalJobAcceptedThenTheJobsEvents() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "resubmit")
        let a = try await C.startNode(db, "a")
        let b = try await C.startNode(db, "b")
        // A job that ticks every 0.1 s until its submitter cancels it (at most 120 s).
        let input: JSONValue = ["seconds": 120, "tick": 0.1]
        let first = try await C.open(a)
        try await first.transport.send(Self.submit(first, "slow", input, key: "k1").frame)
        let onA = try await C.read(first.transport, until: Self.answersSubmit)
        guard case .jobAccepted(let original)? = onA.last?.message else {
            Issue.record("no job.accepted on a: \(onA.map(\.message.type))")
            return
        }

        // The same submit on B, from another session of the same principal.
        let second = try await C.open(b)
        let (frame, requestID) = Self.submit(second, "slow", input, key: "k1")
        try await second.transport.send(frame)
        let onB = try await C.read(second.transport, "the resubmit's answer on b", until: Self.answersSubmit)
        guard case .jobAccepted(let replayed)? = onB.last?.message else {
            Issue.record("expected the original job.accepted on b, got \(onB.map { FrameCodec.encode($0) }); b: \(b.process.stderr.suffix(2000))")
            return
        }
        #expect(replayed.jobId == original.jobId)
        #expect(replayed.acceptedAt == original.acceptedAt)
        #expect(replayed.traceId == original.traceId)
        #expect(replayed.lease == original.lease)
        #expect(replayed.agent == original.agent)
        #expect(replayed.requestId == requestID)
        // Then the running job's events on B, live: a few ticks, then (the submitter cancels
        // on A) its terminal frame.
        var events = try await C.read(second.transport, limit: .seconds(60), "live ticks on b") { C.ticks([$0]).count == 1 }
        events += try await C.read(second.transport, limit: .seconds(60), "more live ticks on b") { C.ticks([$0]).count == 1 }
        try await first.transport.send(
            FrameCodec.encode(
                Envelope.make(.jobCancel(JobCancelPayload(reason: "enough", jobId: original.jobId)), sessionID: first.id, jobID: original.jobId)))
        events += try await C.read(second.transport, limit: .seconds(60), "the job's end on b") { $0.message.type == "job.error" }
        let ticks = C.ticks(events)
        #expect(ticks.count >= 2 && ticks == Array((ticks.first ?? 1)...(ticks.last ?? 0)), "\(ticks)")
        #expect(events.allSatisfy { $0.jobId == original.jobId })
        guard case .jobError(let ended)? = events.last?.message else {
            Issue.record("no job.error on b: \(events.map(\.message.type))")
            return
        }
        #expect(ended.finalStatus == .cancelled)
        _ = try await C.read(first.transport, limit: .seconds(60), "the job's end on a") { $0.message.type == "job.error" }

        // After the job ended: the same job.accepted and the outcome; other parameters under
        // the key are DUPLICATE_KEY.
        let third = try await C.open(b)
        try await third.transport.send(Self.submit(third, "slow", input, key: "k1").frame)
        let again = try await C.read(third.transport, "the resubmit's answer after the end") {
            C.isResult($0) || $0.message.type == "session.error" || $0.message.type == "job.error"
        }
        #expect(again.map(\.message.type) == ["job.accepted", "job.error"], "\(again.map(\.message.type))")
        #expect(again.first?.jobId == original.jobId)
        try await third.transport.send(Self.submit(third, "slow", ["seconds": 3], key: "k1").frame)
        let clash = try await C.read(third.transport, "the answer to other parameters", until: Self.answersSubmit)
        guard case .sessionError(let e)? = clash.last?.message else {
            Issue.record("expected DUPLICATE_KEY, got \(clash.map(\.message.type))")
            return
        }
        #expect(e.code == .duplicateKey)
        let jobs = try await C.listJobs(third)
        #expect(jobs.count == 1, "\(jobs.map(\.jobId))")
        for s in [first, second, third] { await s.transport.close() }
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
    }
    @Test func concurrentSubmitsOfOneKeyOnTwoNodesBothAnswerTheOneJobsAcceptance() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "resubrace")
        let a = try await C.startNode(db, "a")
        let b = try await C.startNode(db, "b")
        for round in 0..<3 {
            let onA = try await C.open(a)
            let onB = try await C.open(b)
            let input: JSONValue = ["round": .int(Int64(round))]
            let (frameA, frameB) = (Self.submit(onA, "echo", input, key: "race-\(round)"), Self.submit(onB, "echo", input, key: "race-\(round)"))
            async let sentA: Void = onA.transport.send(frameA.frame)
            async let sentB: Void = onB.transport.send(frameB.frame)
            _ = try await (sentA, sentB)
            // Both: job.accepted naming the one job, answering their own request, then its result.
            var ids: [String] = []
            for (s, request) in [(onA, frameA.id), (onB, frameB.id)] {
                let frames: [Envelope]
                do {
                    frames = try await C.read(s.transport, "round \(round): the answer and the result") {
                            C.isResult($0) || $0.message.type == "session.error" || $0.message.type == "job.error"
                    }
                } catch {
                    Issue.record("round \(round): a: \(a.process.stderr.suffix(3000)) b: \(b.process.stderr.suffix(3000))")
                    throw error
                }
                guard case .jobAccepted(let accepted)? = frames.first(where: { $0.message.type == "job.accepted" })?.message else {
                    Issue.record("round \(round): no job.accepted: \(frames.map { FrameCodec.encode($0) })")
                    return
                }
                #expect(accepted.requestId == request)
                #expect(frames.last?.message.type == "job.result", "round \(round): \(frames.map(\.message.type))")
                ids.append(accepted.jobId)
            }
            #expect(Set(ids).count == 1, "round \(round): \(ids)")
            for s in [onA, onB] { await s.transport.close() }
        }
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
    }
}

/// `job.cancel` on one node of a job another node runs or ran answers as in one process
/// (spec §7.4, §7.6): another session of the principal `PERMISSION_DENIED`, another principal
/// `JOB_NOT_FOUND` (as a missing job), a job that ended `INVALID_REQUEST` with its status.
@Suite(
    "Cluster: job.cancel errors across nodes", .enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)),
    .timeLimit(.minutes(3)))
struct ClusterCancelErrorTests {
    typealias C = ClusterTests

    static func cancel(_ s: C.Session, _ job: String) async throws -> Envelope? {
        try await s.transport.send(
            FrameCodec.encode(Envelope.make(.jobCancel(JobCancelPayload(reason: "why", jobId: job)), sessionID: s.id, jobID: job)))
        return try await C.read(s.transport, "the answer to job.cancel") {
            $0.message.type == "session.error" || $0.message.type == "job.cancelled"
        }.last
    }

    static func error(_ e: Envelope?) -> SessionErrorPayload? {
        if case .sessionError(let p)? = e?.message { return p }
        return nil
    }

    @Test func cancelOfAJobOnAnotherNodeAnswersAsInOneProcess() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "cancelerr")
        let a = try await C.startNode(db, "a")
        let b = try await C.startNode(db, "b")
        let submitter = try await C.open(a)
        try await submitter.transport.send(Frames.submit("slow", ["seconds": 120, "tick": 0.2], session: submitter.id))
        let accepted = try await C.read(submitter.transport) { $0.message.type == "job.accepted" }
        let jobID = try #require(accepted.last?.jobId)

        // Another session of the same principal, on B: no cancel authority.
        let sibling = try await C.open(b)
        let denied = Self.error(try await Self.cancel(sibling, jobID))
        #expect(denied?.code == .permissionDenied, "\(String(describing: denied))")
        // Another principal, on B: the job looks missing.
        let other = try await C.open(b, token: "tok2")
        let hidden = Self.error(try await Self.cancel(other, jobID))
        let missing = Self.error(try await Self.cancel(other, "job_does_not_exist"))
        #expect(hidden?.code == .jobNotFound && missing?.code == .jobNotFound)
        #expect(hidden?.message == missing?.message.replacingOccurrences(of: "job_does_not_exist", with: jobID))

        // The submitter cancels on A; once the job's row says so, its session resumed on B
        // cancels again: the job already ended.
        let cancelled = try await Self.cancel(submitter, jobID)
        #expect(cancelled?.message.type == "job.cancelled")
        let frames = try await C.read(submitter.transport) { $0.message.type == "job.error" }
        let lastSeq = frames.compactMap(\.eventSeq).max() ?? 0
        let store = try await PostgresRuntimeStore.connect(url: db, connectTimeout: .seconds(60))
        defer { store.close() }
        let deadline = ContinuousClock.now + .seconds(30)
        while try await store.job(jobID)?.status.isTerminal != true {
            guard ContinuousClock.now < deadline else {
                Issue.record("the job's row did not say it ended within 30 s")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        await submitter.transport.close()
        let (onB, _) = try await C.resume(submitter, on: b, after: lastSeq) { _ in true }
        let ended = Self.error(try await Self.cancel(onB, jobID))
        #expect(ended?.code == .invalidRequest, "\(String(describing: ended))")
        #expect(ended?.details?["status"] == "cancelled")
        for s in [sibling, other, onB] { await s.transport.close() }
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
    }
}
