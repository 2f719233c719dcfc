import ARCP
import ARCPTesting
import Foundation
import Testing

/// Issue 10 item 2: what a finished job, a closed session or an expired key held is freed
/// after a retention you can set. Memory is proven freed by what the tables hold (entries
/// and bytes) and by weak references going nil, never by RSS; time is a `ManualLeaseClock`
/// advanced by the test, and the sweep is run by the test (the sweeper's own interval is an
/// hour here).
@Suite("Retention: finished jobs, keys and sessions are freed")
struct RetentionTests {
    final class WeakBox<T: AnyObject>: @unchecked Sendable {
        // Test-only: written once before any reader runs, then only read.
        weak var value: T?
        init(_ value: T?) { self.value = value }
    }

    static func harness(_ clock: ManualLeaseClock, _ configure: @escaping (inout ARCPRuntime.Configuration) -> Void = { _ in }) throws -> Harness {
        try Harness { c in
            c.leaseClock = clock
            c.retention.sweepInterval = .seconds(3600)
            configure(&c)
        }
    }

    @Test("a finished job kept by the retention no longer holds its agent's task (freed with its frames); a running one does")
    func finishedJobDropsItsTask() async throws {
        let h = try Harness()
        let client = try await h.client()
        var ended: [String] = []
        for i in 0..<20 {
            let job = try await client.submit(agent: "echo", input: ["i": .int(Int64(i))])
            _ = try await job.result()
            ended.append(job.jobID)
        }
        let finished = ended
        let slow = try await client.submit(agent: "slow", input: ["ticks": 100_000])
        #expect(await eventually { h.runtime.tables.jobs.localJob(slow.jobID)?.holdsAgentTask == true }, "a running job can cancel its agent")
        #expect(
            await eventually { finished.allSatisfy { h.runtime.tables.jobs.localJob($0)?.holdsAgentTask == false } },
            "every finished job is retained, without its agent's task")
        await h.runtime.shutdown()
    }

    @Test("finished jobs are kept for the retention, then dropped with their history and keys; keyed jobs for the idempotency window")
    func retentionByTime() async throws {
        let clock = ManualLeaseClock()
        let h = try Self.harness(clock) { c in
            c.retention.finishedJobs = .seconds(60)
            c.retention.idempotencyWindow = .seconds(600)
        }
        let client = try await h.client()
        var plain: [String] = []
        for i in 0..<20 {
            let job = try await client.submit(agent: "echo", input: ["i": .int(Int64(i)), "pad": .string(String(repeating: "x", count: 1024))])
            _ = try await job.result()
            plain.append(job.jobID)
        }
        var keyed: [String] = []
        for i in 0..<5 {
            let job = try await client.submit(agent: "echo", input: ["k": .int(Int64(i))], idempotencyKey: "key-\(i)")
            _ = try await job.result()
            keyed.append(job.jobID)
        }
        #expect(await eventually { h.runtime.heldCounts.finishedJobs == 25 })
        var held = h.runtime.heldCounts
        #expect(held.jobs == 25 && held.idempotencyKeys == 5)
        // Each finished job holds its history: the echo's log, its 1 KiB result.
        #expect(held.finishedJobBytes > 20 * 1024)
        let weakJob = WeakBox(h.runtime.tables.jobs.localJob(plain[0]))
        #expect(weakJob.value != nil)

        // Before the retention passed: nothing dropped.
        clock.advance(by: .seconds(59))
        await h.runtime.sweepRetention()
        #expect(h.runtime.heldCounts.jobs == 25)

        // After it: the plain jobs are gone (listing, lookup, memory); keyed jobs stay.
        clock.advance(by: .seconds(2))
        await h.runtime.sweepRetention()
        held = h.runtime.heldCounts
        #expect(held.jobs == 5 && held.finishedJobs == 5 && held.idempotencyKeys == 5)
        #expect(h.runtime.jobStatus(plain[0]) == nil)
        #expect(await eventually { weakJob.value == nil }, "a dropped job is deallocated")
        let listed = try await client.listJobs().jobs.map(\.jobId)
        #expect(listed == keyed)
        // A resubmit with a kept key still gets the same job and its outcome.
        let again = try await client.submit(agent: "echo", input: ["k": 0], idempotencyKey: "key-0")
        #expect(again.jobID == keyed[0])

        // After the idempotency window: everything is gone, and a key names a new job.
        clock.advance(by: .seconds(600))
        await h.runtime.sweepRetention()
        held = h.runtime.heldCounts
        #expect(held.jobs == 0 && held.finishedJobs == 0 && held.finishedJobBytes == 0 && held.idempotencyKeys == 0)
        let fresh = try await client.submit(agent: "echo", input: ["k": 0], idempotencyKey: "key-0")
        #expect(fresh.jobID != keyed[0])
        _ = try await fresh.result()
        await client.close()
    }

    /// A job is retired (the job table learns it ended, and counts it finished) on its
    /// agent's own task when its agent's return ended it, and on a task of its own
    /// otherwise: a streamed result's `finish` ends it before the agent returns, a cancel
    /// ends it in a cancelled task. Each way must retire it, or it would count as running
    /// for ever (and hold its session's running-job slot).
    @Test("every way a job ends retires it: the agent's return or throw, a streamed result's finish, a cancel")
    func everyEndingRetires() async throws {
        let h = try Self.harness(ManualLeaseClock()) { $0.limits.maxRunningJobsPerSession = 1 }
        let client = try await h.client()
        // One job at a time on this session: each submit below needs the slot the previous
        // job gave back when it was retired.
        func retired(_ n: Int, _ how: String) async {
            #expect(await eventually { h.runtime.heldCounts.finishedJobs == n }, "\(how): \(h.runtime.heldCounts)")
        }
        _ = try await client.submit(agent: "echo", input: ["i": 1]).result()
        await retired(1, "returned")
        await #expect(throws: ARCPError.self) { _ = try await client.submit(agent: "fails", input: ["code": "INVALID_REQUEST"]).result() }
        await retired(2, "threw")
        _ = try await client.submit(agent: "chunked", input: [:]).result()
        await retired(3, "streamed result finished")
        let slow = try await client.submit(agent: "slow", input: ["ticks": 100_000])
        try await slow.cancel(reason: "test")
        let cancelled = await #expect(throws: ARCPError.self) { _ = try await slow.result() }
        #expect(cancelled?.code == .cancelled)
        await retired(4, "cancelled")
        _ = try await client.submit(agent: "echo", input: ["i": 5]).result()
        await retired(5, "returned after the others")
        #expect(h.runtime.heldCounts.jobs == 5)
        await client.close()
    }

    @Test("the count and byte caps drop the oldest finished jobs at once")
    func retentionByCountAndBytes() async throws {
        let clock = ManualLeaseClock()
        let byCount = try Self.harness(clock) { $0.retention.maxFinishedJobs = 3 }
        let client = try await byCount.client()
        var ids: [String] = []
        for i in 0..<10 {
            let job = try await client.submit(agent: "echo", input: ["i": .int(Int64(i))])
            _ = try await job.result()
            ids.append(job.jobID)
        }
        #expect(await eventually { byCount.runtime.heldCounts.jobs == 3 })
        #expect(byCount.runtime.jobIDs == Array(ids.suffix(3)))
        await client.close()

        let cap = 250_000
        let byBytes = try Self.harness(clock) { $0.retention.maxFinishedJobBytes = cap }
        let c2 = try await byBytes.client()
        var last: String? = nil
        for i in 0..<6 {
            let job = try await c2.submit(agent: "echo", input: ["i": .int(Int64(i)), "pad": .string(String(repeating: "y", count: 100_000))])
            _ = try await job.result()
            last = job.jobID
        }
        #expect(await eventually { byBytes.runtime.heldCounts.jobs <= 2 })
        let held = byBytes.runtime.heldCounts
        #expect(held.finishedJobBytes <= cap && held.finishedJobBytes > 100_000, "\(held)")
        #expect(byBytes.runtime.jobIDs.last == last)
        await c2.close()
    }

    @Test("a list_jobs cursor naming a dropped job continues after it (keyset pagination)")
    func cursorSurvivesDroppedJobs() async throws {
        let clock = ManualLeaseClock()
        let h = try Self.harness(clock) { $0.retention.maxFinishedJobs = 4 }
        let client = try await h.client()
        var ids: [String] = []
        func run(_ n: Int) async throws {
            for _ in 0..<n {
                let job = try await client.submit(agent: "echo")
                _ = try await job.result()
                ids.append(job.jobID)
            }
        }
        try await run(4)
        #expect(await eventually { h.runtime.heldCounts.finishedJobs == 4 })
        let first = try await client.listJobs(limit: 2)
        #expect(first.jobs.map(\.jobId) == Array(ids[0..<2]))
        let cursor = try #require(first.nextCursor)
        // Two more jobs: the cap drops the first two, the cursor's own job among them.
        try await run(2)
        let dropped = ids[1]
        #expect(await eventually { h.runtime.jobStatus(dropped) == nil })
        let second = try await client.listJobs(limit: 10, cursor: cursor)
        #expect(second.jobs.map(\.jobId) == Array(ids[2..<6]))
        #expect(second.nextCursor == nil)
        await client.close()
    }

    @Test("a running job does not keep its session alive: the session and its replay buffer are freed at expiry")
    func jobDoesNotKeepSessionAlive() async throws {
        let h = try Harness { $0.resumeWindow = .milliseconds(50) }
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        let sid = try #require(w.sessionId)
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "slow", input: ["ticks": 100_000])), sessionID: sid)
        let accepted = try #require(try await peer.next { if case .jobAccepted = $0.message { true } else { false } })
        let jobID = try #require(accepted.jobId)
        let weakSession = WeakBox(h.runtime.tables.sessions.localSession(sid))
        #expect(weakSession.value != nil)
        peer.transport.drop()
        #expect(await eventually(.seconds(30)) { !h.runtime.sessionIDs.contains(sid) })
        #expect(await eventually(.seconds(30)) { weakSession.value == nil }, "the job held its session (and its replay buffer)")
        #expect(h.runtime.jobStatus(jobID) == .running)
        await h.runtime.shutdown()
    }

    @Test("subscribe history is bounded in bytes per job")
    func historyBoundedInBytes() async throws {
        let h = try Harness { $0.historyBytesPerJob = 20_000 }
        let client = try await h.client()
        let job = try await client.submit(agent: "flood", input: ["n": 2000])
        _ = try await job.result()
        let fanOut = try #require(h.runtime.tables.jobs.localJob(job.jobID)?.fanOut as? InMemoryJobEventFanOut)
        let (events, bytes) = fanOut.historyCounts
        #expect(bytes <= 20_000 && events > 10 && events < 2000, "\(events) events, \(bytes) bytes")
        // A subscriber asking for all of it gets what is kept, ending with the outcome.
        let observer = try await h.client()
        let sub = try await observer.subscribe(jobID: job.jobID, history: true, fromEventSeq: 0)
        let seen = try await collect(sub)
        #expect(seen.count <= events)
        await observer.close()
        await client.close()
    }

    @Test("with a store: dropped jobs and expired sessions are deleted from it; a stale stored session is refused with RESUME_WINDOW_EXPIRED")
    func storeRetention() async throws {
        let clock = ManualLeaseClock()
        let store = InMemoryRuntimeStore()
        let h = try Self.harness(clock) { c in
            c.store = store
            c.resumeWindow = .milliseconds(100)
            c.retention.finishedJobs = .seconds(60)
        }
        let client = try await h.client()
        let job = try await client.submit(agent: "echo")
        _ = try await job.result()
        await h.runtime.flushStore()
        #expect(await store.job(job.jobID) != nil)
        let sid = try #require(client.sessionID)
        await client.close()
        // The session expires: its record and events go.
        #expect(await eventually { !h.runtime.sessionIDs.contains(sid) })
        #expect(await eventually {
            await h.runtime.flushStore()
            return await store.session(sid) == nil
        })
        // The job's retention passes: its record goes.
        #expect(await eventually { h.runtime.heldCounts.finishedJobs == 1 })
        clock.advance(by: .seconds(61))
        await h.runtime.sweepRetention()
        await h.runtime.flushStore()
        #expect(await store.job(job.jobID) == nil)

        // A session record last seen longer ago than the window (the process stopped before
        // its expiry) is not resumable after a restart, and is deleted.
        let token = "rtk_stale"
        await store.saveSession(SessionRecord(
            sessionID: "sess_stale", principal: "me@example.com", resumeTokenHash: ResumeTokenHasher.hash(token),
            createdAt: Date().addingTimeInterval(-3600), lastSeenAt: Date().addingTimeInterval(-3600)))
        let peer = h.raw()
        let e = try #require(try await peer.hello(resume: ResumeBlock(sessionId: "sess_stale", resumeToken: token, lastEventSeq: 0)))
        #expect(e.error?.code == .resumeWindowExpired)
        #expect(await eventually {
            await h.runtime.flushStore()
            return await store.session("sess_stale") == nil
        })
    }

    @Test("freed memory is handed back only after something was freed, at most once per interval, never when off")
    func trimOnlyAfterFreeing() {
        let freed = FreedMemory()
        #expect(!freed.trimIfDue(at: .seconds(10), every: .seconds(5)), "nothing was freed")
        freed.noteFreed()
        #expect(!freed.trimIfDue(at: .seconds(10), every: nil), "off")
        #expect(freed.trimIfDue(at: .seconds(10), every: .seconds(5)))
        #expect(!freed.trimIfDue(at: .seconds(11), every: .seconds(5)), "nothing freed since")
        freed.noteFreed()
        #expect(!freed.trimIfDue(at: .seconds(12), every: .seconds(5)), "within the interval")
        #expect(freed.trimIfDue(at: .seconds(15), every: .seconds(5)))
    }
}
