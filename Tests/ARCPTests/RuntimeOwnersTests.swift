import Foundation
import Testing

@testable import ARCP

/// The in-memory owners of the runtime's shared state, each on its own: the idempotency
/// index, the session table, the job table and the subscription fan-out.
@Suite("Runtime state owners (in memory)")
struct RuntimeOwnersTests {
    func session(_ id: String = ARCPID.sessionID(), principal: String = "alice", attached: Bool = true) -> RuntimeSession {
        let s = RuntimeSession(id: id, principal: principal, features: [.ack], resumeToken: "rtk", limits: .init())
        if attached { _ = s.attach(welcome: "W", resumeFrom: nil, newToken: nil) }
        return s
    }

    func job(_ id: String = ARCPID.jobID(), owner: RuntimeSession, principal: String = "alice", fanOut: InMemorySubscriptionFanOut = .init(historyLimit: 100)) throws -> RuntimeJob {
        let authority = try LeaseAuthority(lease: ValidatedLease([:]))
        return RuntimeJob(
            id: id, agent: "echo", principal: principal, traceID: ARCPID.traceID(), lease: [:], leaseConstraints: nil, parentJobID: nil,
            idempotencyKey: nil, fingerprint: nil, accepted: JobAcceptedPayload(jobId: id, agent: "echo"), features: owner.featureSet,
            fanOut: fanOut.fanOut(jobID: id, principal: principal, traceID: "t", ownerSessionID: owner.id, owner: owner),
            policy: .init(cancelGracePeriod: .seconds(30), compatibility: .spec, logger: .init(label: "test")), authority: authority)
    }

    /// Every frame queued for `s`'s attached connection, decoded.
    func drain(_ s: RuntimeSession) async -> [Envelope] {
        guard case .attached(let c) = s.lifecycle.connectionCase, let batch = await s.nextBatch(c) else { return [] }
        return batch.compactMap { try? Envelope(jsonText: $0) }
    }

    func log(_ text: String) -> Message {
        .jobEvent(JobEventPayload(body: .log(LogBody(level: "info", message: text)), ts: "2026-01-01T00:00:00Z"))
    }

    // MARK: Event numbering

    /// `queueEvent` encodes before taking the session's lock, for the seq it guesses; a frame
    /// must still carry the seq it was numbered with when the guess is wrong: after a restore
    /// moved the numbering (every guess misses once), and with emitters racing each other.
    @Test func everyFrameCarriesTheSeqItWasNumberedWith() async {
        let restored = session()
        restored.restore(lastSeq: 41, releasedThrough: 41, events: [])
        #expect(restored.sendEvent(log("after restore"), jobID: "job_r", traceID: nil) == 42)
        #expect(await drain(restored).map(\.eventSeq) == [42])

        let s = session()
        let emitters = 4
        let each = 250
        await withTaskGroup(of: [Int].self) { group in
            for e in 0..<emitters {
                group.addTask { (0..<each).map { i in s.sendEvent(log("\(e)-\(i)"), jobID: "job_\(e)", traceID: nil) } }
            }
            var numbered: [Int] = []
            for await seqs in group {
                #expect(seqs == seqs.sorted(), "one emitter's events are numbered in order")
                numbered += seqs
            }
            #expect(numbered.sorted() == Array(1...(emitters * each)))
        }
        let frames = await drain(s)
        #expect(frames.compactMap(\.eventSeq) == Array(1...(emitters * each)), "queued in seq order, each frame with its own seq")
    }

    // MARK: Idempotency index

    @Test("idempotency: one claim wins, the holder is reported with its fingerprint, keys are per principal")
    func idempotency() async {
        let index = InMemoryIdempotencyIndex()
        #expect(await index.claim(principal: "a", key: "k", fingerprint: "f1", jobID: "job_1") == .claimed)
        #expect(await index.claim(principal: "a", key: "k", fingerprint: "f2", jobID: "job_2") == .held(by: .init(jobID: "job_1", fingerprint: "f1")))
        #expect(await index.claim(principal: "b", key: "k", fingerprint: "f2", jobID: "job_3") == .claimed)
        #expect(await index.holder(principal: "a", key: "k")?.jobID == "job_1")
        await index.release(principal: "a", key: "k")
        #expect(await index.holder(principal: "a", key: "k") == nil)
        #expect(await index.holder(principal: "b", key: "k")?.jobID == "job_3")
    }

    @Test("idempotency: of many concurrent claims exactly one wins")
    func idempotencyRace() async {
        let index = InMemoryIdempotencyIndex()
        let wins = await withTaskGroup(of: Bool.self) { g in
            for i in 0..<64 { g.addTask { await index.claim(principal: "a", key: "k", fingerprint: "f", jobID: "job_\(i)") == .claimed } }
            return await g.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(wins == 1)
    }

    // MARK: Session table

    @Test("session table: adopt keeps the first, remove only removes that object")
    func sessionTable() async {
        let table = InMemorySessionTable()
        let a = session("sess_1")
        let b = session("sess_1")
        await table.insert(a)
        #expect(await table.adopt(b) === a)
        #expect(await table.remove(b) == false)
        #expect(table.localSession("sess_1") === a)
        #expect(await table.remove(a))
        #expect(await table.session("sess_1") == nil)
        #expect(await table.adopt(b) === b)
        #expect(table.localSessionIDs == ["sess_1"])
    }

    // MARK: Job table

    @Test("job table: pages in submission order behind a cursor, with a filter and a limit")
    func jobTablePages() async throws {
        let table = InMemoryJobTable()
        let owner = session()
        var ids: [String] = []
        for i in 0..<5 {
            let j = try job(owner: owner, principal: i % 2 == 0 ? "alice" : "bob")
            ids.append(j.id)
            await table.insert(j)
        }
        #expect(table.localJobIDs == ids)
        let first = await table.page(after: nil, limit: 2) { _ in true }
        #expect(first.jobs.map(\.id) == Array(ids[0..<2]))
        #expect(first.more)
        let rest = await table.page(after: JobListingKey(createdAt: first.jobs[1].createdAt, id: ids[1]), limit: 10) { _ in true }
        #expect(rest.jobs.map(\.id) == Array(ids[2...]))
        #expect(!rest.more)
        let alice = await table.page(after: nil, limit: 10) { $0.principal == "alice" }
        #expect(alice.jobs.map(\.id) == [ids[0], ids[2], ids[4]])
        #expect(await table.page(after: JobListingKey(createdAt: .distantFuture, id: "job_unknown"), limit: 10) { _ in true }.jobs.isEmpty)
        #expect(table.localUnfinished().count == 5)
    }

    @Test("job table: a job beyond the running limit waits; it is handed out once, when a slot frees, and not after it is withdrawn")
    func jobTableWaitingJobs() async throws {
        let table = InMemoryJobTable()
        let owner = session()
        let limits = RunningJobLimits(perSession: .max, perPrincipal: .max, perRuntime: 1, queued: 10)
        let start = JobStart(body: { _, _ in .null }, input: .null, maxRuntime: nil)
        let running = try job(owner: owner)
        let first = try job(owner: owner)
        let second = try job(owner: owner)
        guard case .run = await table.admit(running, limits: limits, start: start) else {
            Issue.record("the first job should run")
            return
        }
        #expect(await table.jobsToStart(limits: limits).isEmpty)
        guard case .waiting = await table.admit(first, limits: limits, start: start),
            case .waiting = await table.admit(second, limits: limits, start: start)
        else {
            Issue.record("the jobs beyond the limit should wait")
            return
        }
        // No slot is free yet: nothing starts, and both still wait.
        #expect(await table.jobsToStart(limits: limits).isEmpty)
        #expect(table.placementCounts.waiting == 2)
        // The second is withdrawn (cancelled while waiting); the running one ends.
        #expect(await table.withdraw(second.id, sessionID: owner.id) != nil)
        _ = await table.jobEnded(running, at: .seconds(1))
        #expect(await table.jobsToStart(limits: limits).map(\.0.id) == [first.id])
        // Handed out once: nothing is left waiting, even with every slot free.
        _ = await table.jobEnded(first, at: .seconds(2))
        #expect(await table.jobsToStart(limits: limits).isEmpty)
        #expect(table.placementCounts == (running: 0, waiting: 0))
    }

    @Test("job table: finished jobs dropped by the count cap leave the listing order as they go, without a full compaction")
    func jobTableRetentionTrimsTheListing() async throws {
        let table = InMemoryJobTable(
            retention: JobRetentionPolicy(finishedJobs: .seconds(86_400), keyedJobs: .seconds(86_400), maxFinishedJobs: 3, maxFinishedBytes: .max))
        let owner = session()
        var jobs: [RuntimeJob] = []
        for _ in 0..<200 {
            let j = try job(owner: owner)
            jobs.append(j)
            _ = await table.admit(j, limits: .none, start: JobStart(body: { _, _ in .null }, input: .null, maxRuntime: nil))
        }
        for (i, j) in jobs.enumerated() { _ = await table.jobEnded(j, at: .seconds(i)) }
        // The three most recent are kept, and the listing holds exactly them.
        #expect(table.localJobIDs == jobs.suffix(3).map(\.id))
        #expect(table.listingOrderCount == 3)
    }

    @Test("job table: a job the count cap drops is freed once jobEnded returns; the table keeps nothing of it")
    func jobTableFreesDroppedJobs() async throws {
        let table = InMemoryJobTable(
            retention: JobRetentionPolicy(finishedJobs: .seconds(86_400), keyedJobs: .seconds(86_400), maxFinishedJobs: 1, maxFinishedBytes: .max))
        let owner = session()
        var dropped: [RetentionTests.WeakBox<RuntimeJob>] = []
        var lastID = ""
        for i in 0..<4 {
            let j = try job(owner: owner)
            _ = await table.admit(j, limits: .none, start: JobStart(body: { _, _ in .null }, input: .null, maxRuntime: nil))
            let retired = await table.jobEnded(j, at: .seconds(i))
            // From the second on, each end drops the one before (the cap keeps one).
            #expect(retired.map(\.id) == (i == 0 ? [] : [lastID]))
            if i < 3 { dropped.append(RetentionTests.WeakBox(j)) }
            lastID = j.id
        }
        #expect(dropped.allSatisfy { $0.value == nil }, "a dropped job is deallocated, not held by the table")
        #expect(table.localJobIDs == [lastID])
    }

    // MARK: Fan-out

    @Test("fan-out: the owner and subscribers get every event, each numbered in its own session; other principals get the redacted form")
    func fanOutDelivery() async throws {
        let owner = session()
        let same = session(principal: "alice")
        let other = session(principal: "bob")
        let j = try job(owner: owner)
        _ = await drain(owner)
        _ = await drain(same)
        _ = await drain(other)
        await j.fanOut.subscribe(same, history: false, fromSeq: 0) { last, _ in .jobSubscribed(JobSubscribedPayload(jobId: j.id, subscribedFrom: last)) }
        await j.fanOut.subscribe(other, history: false, fromSeq: 0) { last, _ in .jobSubscribed(JobSubscribedPayload(jobId: j.id, subscribedFrom: last)) }
        #expect(Set(j.fanOut.subscriberIDs) == [same.id, other.id])
        #expect(j.fanOut.publish(log("secret"), redactedForOthers: log("redacted")) == 1)
        #expect(j.fanOut.publish(log("two"), redactedForOthers: nil) == 2)
        #expect(j.fanOut.lastOwnerSeq == 2)
        let o = await drain(owner)
        #expect(o.map(\.eventSeq) == [1, 2])
        let s = await drain(same)
        #expect(s.map(\.message.type) == ["job.subscribed", "job.event", "job.event"])
        let b = await drain(other)
        guard case .jobEvent(let e) = b[1].message, case .log(let l) = e.body else {
            Issue.record("expected a log event")
            return
        }
        #expect(l.message == "redacted")
        #expect(b[1].eventSeq == 1)
    }

    @Test("fan-out: history replays after from_event_seq; nothing is published after the terminal frame, which releases the subscribers")
    func fanOutHistoryAndTerminal() async throws {
        let owner = session()
        let j = try job(owner: owner)
        for i in 1...3 { _ = j.fanOut.publish(log("e\(i)"), redactedForOthers: nil) }
        let late = session()
        _ = await drain(late)
        await j.fanOut.subscribe(late, history: true, fromSeq: 1) { _, replayed in
            .jobSubscribed(JobSubscribedPayload(jobId: j.id, replayed: .bool(replayed)))
        }
        let replay = await drain(late)
        #expect(replay.map(\.message.type) == ["job.subscribed", "job.event", "job.event"])
        let terminal = Message.jobResult(JobResultPayload(finalStatus: .success, result: 1))
        #expect(j.fanOut.publishTerminal(terminal) == 4)
        #expect(j.fanOut.publishTerminal(terminal) == nil)
        #expect(j.fanOut.publish(log("late"), redactedForOthers: nil) == nil)
        #expect(j.fanOut.subscriberIDs.isEmpty)
        #expect(j.fanOut.terminal == terminal)
        #expect(await drain(late).map(\.message.type) == ["job.result"])
        // A subscriber after the end gets the outcome at once and is not registered.
        let after = session()
        _ = await drain(after)
        await j.fanOut.subscribe(after, history: false, fromSeq: 0) { _, _ in .jobSubscribed(JobSubscribedPayload(jobId: j.id)) }
        #expect(await drain(after).map(\.message.type) == ["job.subscribed", "job.result"])
        #expect(j.fanOut.subscriberIDs.isEmpty)
    }

    @Test("fan-out: a job does not keep its sessions alive (issue 10 item 2)")
    func fanOutHoldsSessionsWeakly() async throws {
        var owner: RuntimeSession? = session()
        weak let weakOwner = owner
        var subscriber: RuntimeSession? = session()
        weak let weakSubscriber = subscriber
        let j = try job(owner: try #require(owner))
        await j.fanOut.subscribe(try #require(subscriber), history: false, fromSeq: 0) { _, _ in .jobSubscribed(JobSubscribedPayload(jobId: "j")) }
        #expect(j.fanOut.publish(log("1"), redactedForOthers: nil) == 1)
        owner = nil
        subscriber = nil
        #expect(weakOwner == nil)
        #expect(weakSubscriber == nil)
        // Events still go to the history (for later subscribers); nobody else receives them.
        #expect(j.fanOut.publish(log("2"), redactedForOthers: nil) == 1)
        #expect(j.fanOut.subscriberIDs.isEmpty)
        #expect(j.fanOut.ownerSessionID == j.ownerSessionID)
    }

    // MARK: Lock order

    @Test("lock order: ranks nest upwards and the held rank is restored")
    func lockRanks() {
        #if DEBUG
        let fan = RankedMutex(.jobFanOut, 0)
        let session = RankedMutex(.session, 0)
        let leaf = RankedMutex(.leaf, 0)
        #expect(LockOrderCheck.held == 0)
        fan.withLock { _ in
            #expect(LockOrderCheck.held == LockRank.jobFanOut.rawValue)
            session.withLock { _ in
                leaf.withLock { _ in #expect(LockOrderCheck.held == LockRank.leaf.rawValue) }
                #expect(LockOrderCheck.held == LockRank.session.rawValue)
            }
        }
        leaf.withLock { _ in }
        #expect(LockOrderCheck.held == 0)
        #endif
    }

    #if DEBUG
    @Test("lock order: taking a lower rank while holding a higher one traps (debug builds)")
    func lockInversionTraps() async {
        await #expect(processExitsWith: .failure) {
            let table = RankedMutex(.leaf, 0)
            let session = RankedMutex(.session, 0)
            table.withLock { _ in session.withLock { _ in } }
        }
        await #expect(processExitsWith: .failure) {
            let a = RankedMutex(.session, 0)
            let b = RankedMutex(.session, 0)
            a.withLock { _ in b.withLock { _ in } }
        }
        await #expect(processExitsWith: .failure) {
            // A parking lock has its place in the same order.
            let table = ParkingMutex(.leaf, 0)
            let session = RankedMutex(.session, 0)
            table.withLock { _ in session.withLock { _ in } }
        }
    }
    #endif

    @Test("parking lock: concurrent updates are serialized, and the held rank is its own while inside")
    func parkingMutex() async {
        let counter = ParkingMutex(.leaf, 0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<10_000 {
                        counter.withLock { n in
                            // A read, then a write: without the lock, concurrent tasks lose updates.
                            let seen = n
                            n = seen &+ 1
                        }
                    }
                }
            }
        }
        #expect(counter.withLock { $0 } == 80_000)
        #if DEBUG
        RankedMutex(.session, 0).withLock { _ in
            counter.withLock { _ in #expect(LockOrderCheck.held == LockRank.leaf.rawValue) }
            #expect(LockOrderCheck.held == LockRank.session.rawValue)
        }
        #endif
    }
}

extension SessionStateMachine.Lifecycle {
    /// The attached connection, as a pattern (tests).
    enum ConnectionCase { case attached(UInt64), none }
    var connectionCase: ConnectionCase {
        if case .attached(let c, _) = self { return .attached(c) }
        return .none
    }
}
