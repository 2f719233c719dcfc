import ARCP
import Foundation
import Testing

/// Issue 10 item 4: observers cannot stall jobs. A subscriber has no authority over a job
/// (spec §7.6), so only the submitter back-pressures it; a subscriber that stops reading is
/// detached from the job with a typed error once its bounded buffer overflows.
@Suite("Observers cannot stall jobs")
struct ObserverIsolationTests {
    @Test("a subscriber that never reads does not slow the submitter's flood job, and is detached with a typed error")
    func stalledSubscriberIsDetached() async throws {
        let events = 30_000
        let h = try Harness { c in
            c.buffering.maxSubscriberPendingFrames = 256
        }
        let gate = Gate()
        try h.runtime.register("gated-flood") { input, ctx in
            await gate.wait()
            let n = input["n"]?.int64Value ?? 0
            for i in 0..<n { await ctx.log("info", "event \(i)") }
            return ["n": .int(n)]
        }
        let submitter = try await h.client()
        let job = try await submitter.submit(agent: "gated-flood", input: ["n": .int(Int64(events))])

        // A second session of the same principal subscribes, then never reads again (its
        // transport holds at most 64 frames: well below the flood).
        let (c, r) = MemoryTransport.pair(capacity: 64)
        Task { await h.runtime.accept(r) }
        let observer = RawPeer(transport: c)
        let welcome = try #require(try await observer.hello())
        let sid = try #require(welcome.sessionId)
        _ = try await observer.send(.jobSubscribe(JobSubscribePayload(jobId: job.jobID)), sessionID: sid)
        let subscribed = try #require(try await observer.next())
        guard case .jobSubscribed = subscribed.message else {
            Issue.record("expected job.subscribed, got \(subscribed.message.type)")
            return
        }
        #expect(h.runtime.tables.jobs.localJob(job.jobID)?.fanOut.subscriberIDs == [sid])

        // The submitter reads everything; the job ends although the observer stalls.
        gate.release()
        let seen = try await within(.seconds(60), "the flood job ends although an observer does not read") {
            var count = 0
            for try await e in job.events { if case .log = e.body { count += 1 } }
            return count
        }
        #expect(seen == events)
        #expect(try await job.result().result == ["n": .int(Int64(events))])
        // The observer was detached: no longer subscribed, and its queue stopped growing at
        // its bound (plus the error frame).
        #expect(h.runtime.tables.jobs.localJob(job.jobID)?.fanOut.subscriberIDs.isEmpty == true)
        let queued = try #require(h.runtime.tables.sessions.localSession(sid)?.pendingCounts)
        #expect(queued.frames <= 256 + 1, "\(queued)")

        // When it reads again, it finds the typed error naming the job, after its events.
        let error = try await within(.seconds(10), "the observer's error frame") {
            try await observer.next { $0.error != nil }
        }
        let e = try #require(error?.error)
        #expect(e.code == .internalError && e.retryable == false)
        #expect(error?.jobId == job.jobID)
        #expect(e.details?["limit"] == "subscriber_buffer")
        await submitter.close()
    }

    @Test("a subscriber detached by overflow sees its ARCPClient job handle end with the typed error")
    func clientHandleEnds() async throws {
        let h = try Harness { $0.buffering.maxSubscriberPendingFrames = 32 }
        let gate = Gate()
        try h.runtime.register("gated-flood") { input, ctx in
            await gate.wait()
            for i in 0..<5000 { await ctx.log("info", "event \(i)") }
            return .null
        }
        let submitter = try await h.client()
        let job = try await submitter.submit(agent: "gated-flood")
        // The watcher's client takes events into a small buffer and its consumer never reads,
        // so its transport stops being read and the runtime-side queue overflows.
        var options = ARCPClient.Options()
        options.eventBuffer = 1
        let watcher = try await h.client(options: options)
        let sub = try await watcher.subscribe(jobID: job.jobID)
        gate.release()
        _ = try await within(.seconds(60), "the submitter's job ends") {
            for try await _ in job.events {}
            return try await job.result()
        }
        #expect(await eventually { h.runtime.tables.jobs.localJob(job.jobID)?.fanOut.subscriberIDs.isEmpty == true })
        // Now drain: the handle ends with the detachment error.
        let ended = try await within(.seconds(10), "the watcher's handle ends") { () -> ARCPError? in
            do {
                for try await _ in sub.events {}
                _ = try await sub.result()
                return nil
            } catch let e as ARCPError {
                return e
            }
        }
        #expect(ended?.code == .internalError)
        #expect(ended?.details?["limit"] == "subscriber_buffer")
        await watcher.close()
        await submitter.close()
    }
}
