import ARCP
import Foundation
import Testing

/// Placement in one process (issue 12): `Configuration.maxRunningJobs` bounds the submitted
/// jobs running at once; beyond it an accepted job waits `pending` in a queue of at most
/// `maxQueuedJobs`, first in first out, and starts when a running job ends.
@Suite("Placement: maxRunningJobs and the job queue in one process", .timeLimit(.minutes(2)))
struct PlacementTests {
    /// Sends a submit and returns its job id from `job.accepted`.
    static func accept(_ peer: RawPeer, _ sid: String, _ agent: String, _ input: JSONValue) async throws -> String {
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: agent, input: input)), sessionID: sid)
        let accepted = try #require(try await peer.next { if case .jobAccepted = $0.message { true } else { $0.error != nil } })
        guard case .jobAccepted(let a) = accepted.message else {
            Issue.record("expected job.accepted for \(agent), got \(accepted.message.type) \(String(describing: accepted.error))")
            throw CancellationError()
        }
        return a.jobId
    }

    static func isTerminal(_ e: Envelope, of job: String) -> Bool {
        guard e.jobId == job else { return false }
        if case .jobResult = e.message { return true }
        if case .jobError = e.message { return true }
        return false
    }

    @Test("beyond maxRunningJobs a job waits pending and starts when the running one ends; a full queue refuses (queued_jobs, retryable); a waiting job cancelled ends without running")
    func queueInOneProcess() async throws {
        let h = try Harness { c in
            c.maxRunningJobs = 1
            c.maxQueuedJobs = 2
        }
        let table = try #require(h.runtime.tables.jobs as? InMemoryJobTable)
        let peer = h.raw()
        let sid = try #require(try await peer.hello()?.sessionId)
        let running = try await Self.accept(peer, sid, "slow", ["ticks": 100_000])
        let first = try await Self.accept(peer, sid, "echo", ["n": 1])
        let second = try await Self.accept(peer, sid, "echo", ["n": 2])
        #expect(await h.runtime.tables.jobs.job(first)?.status == .pending)
        #expect(await h.runtime.tables.jobs.job(second)?.status == .pending)
        #expect(table.placementCounts == (running: 1, waiting: 2))

        // The queue holds two: the next submit is refused, retryable, naming the limit.
        let refusedID = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "echo")), sessionID: sid)
        let refused = try #require(try await peer.next { $0.error != nil }?.error)
        #expect(refused.code == .internalError && refused.retryable == true, "\(refused)")
        #expect(refused.details?["limit"] == "queued_jobs" && refused.details?["max"] == 2, "\(refused)")
        #expect(refused.requestId == refusedID)

        // Cancelling a waiting job: job.cancelled, then its terminal frame, and it never ran.
        _ = try await peer.send(.jobCancel(JobCancelPayload(reason: "not now", jobId: first)), sessionID: sid, jobID: first)
        var frames: [Envelope] = []
        while let e = try await peer.next() {
            frames.append(e)
            if Self.isTerminal(e, of: first) { break }
        }
        let ofFirst = frames.filter { $0.jobId == first }
        #expect(ofFirst.map(\.message.type) == ["job.cancelled", "job.error"], "\(ofFirst.map(\.message.type))")
        if case .jobError(let e)? = ofFirst.last?.message { #expect(e.finalStatus == .cancelled, "\(e)") }
        #expect(await h.runtime.tables.jobs.job(second)?.status == .pending)
        #expect(table.placementCounts == (running: 1, waiting: 1))

        // The running job ends: the waiting one starts (its events, then its result).
        _ = try await peer.send(.jobCancel(JobCancelPayload(jobId: running)), sessionID: sid, jobID: running)
        frames = []
        while let e = try await peer.next() {
            frames.append(e)
            if Self.isTerminal(e, of: second) { break }
        }
        let ends = frames.filter { Self.isTerminal($0, of: running) || Self.isTerminal($0, of: second) }.compactMap(\.jobId)
        #expect(ends == [running, second], "the running job ends before the waiting one starts")
        #expect(frames.contains { $0.jobId == second && $0.message.type == "job.event" }, "the waiting job ran")
        if case .jobResult(let r)? = frames.last?.message { #expect(r.result?["echoed"]?["n"] == 2) } else {
            Issue.record("expected the waiting job's job.result, got \(frames.last?.message.type ?? "nothing")")
        }
        #expect(await eventually(.seconds(30)) { table.placementCounts == (running: 0, waiting: 0) })
        await h.runtime.shutdown()
    }

    @Test("shutdown ends the jobs still waiting for a slot (cancelled, never run)")
    func shutdownEndsWaitingJobs() async throws {
        let h = try Harness { c in c.maxRunningJobs = 1 }
        let peer = h.raw()
        let sid = try #require(try await peer.hello()?.sessionId)
        let running = try await Self.accept(peer, sid, "slow", ["ticks": 100_000])
        let waiting = try await Self.accept(peer, sid, "echo", ["n": 1])
        await h.runtime.shutdown()
        var frames: [Envelope] = []
        while let e = try await peer.next() { frames.append(e) }
        for job in [running, waiting] {
            guard case .jobError(let e)? = frames.first(where: { Self.isTerminal($0, of: job) })?.message else {
                Issue.record("no job.error for \(job): \(frames.map(\.message.type))")
                continue
            }
            #expect(e.finalStatus == .cancelled, "\(e)")
        }
        #expect(!frames.contains { $0.jobId == waiting && $0.message.type == "job.event" }, "the waiting job never ran")
    }

    @Test("a delegated job takes no slot: with maxRunningJobs 1 a job that delegates still completes")
    func delegatedJobsDoNotQueue() async throws {
        let h = try Harness { c in c.maxRunningJobs = 1 }
        try h.runtime.register("parent") { _, ctx in
            let child = try await ctx.delegate(agent: "echo", input: ["from": "parent"])
            return try await child.result()
        }
        let peer = h.raw()
        let sid = try #require(try await peer.hello()?.sessionId)
        _ = try await peer.send(
            .jobSubmit(JobSubmitPayload(agent: "parent", leaseRequest: ["agent.delegate": ["echo"]])), sessionID: sid)
        let accepted = try #require(try await peer.next { if case .jobAccepted = $0.message { true } else { $0.error != nil } })
        let parent = try #require(accepted.jobId, "\(accepted.message.type) \(String(describing: accepted.error))")
        let end = try #require(try await peer.next { Self.isTerminal($0, of: parent) || $0.error != nil })
        guard case .jobResult(let r) = end.message else {
            Issue.record("expected the parent's job.result, got \(end.message.type) \(String(describing: end.error))")
            return
        }
        #expect(r.result?["echoed"]?["from"] == "parent", "\(String(describing: r.result))")
        await h.runtime.shutdown()
    }

    @Test("maxQueuedJobs 0: beyond maxRunningJobs a submit is refused at once (running_jobs, not retryable)")
    func noQueue() async throws {
        let h = try Harness { c in
            c.maxRunningJobs = 1
            c.maxQueuedJobs = 0
        }
        let peer = h.raw()
        let sid = try #require(try await peer.hello()?.sessionId)
        _ = try await Self.accept(peer, sid, "slow", ["ticks": 100_000])
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "echo")), sessionID: sid)
        let refused = try #require(try await peer.next { $0.error != nil }?.error)
        #expect(refused.code == .internalError && refused.retryable == false && refused.details?["limit"] == "running_jobs", "\(refused)")
        await h.runtime.shutdown()
    }
}
