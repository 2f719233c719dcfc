import ARCP
import ARCPTestSupport
import ARCPWebSocket
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Issue 10's runtime hardening (items 2–5: retention, limits, observers, prompt cancel) proven
// against `arcp serve` over a real WebSocket; items 1, 6–9 and 11 are in HostileRuntimeTests.
// Each asserts, like those, the typed error, that the server is still up and answering, and
// that nothing leaked. (These were written before the features, disabled, and each was enabled
// by the change that made it pass.)

@Suite("Hostile peer: runtime hardening against arcp serve", .timeLimit(.minutes(3)))
struct ServeHardeningTests {
    // MARK: Item 2: lifecycle and retention

    @Test(
        "finished jobs, closed sessions and idempotency keys are freed after the retention")
    func finishedWorkIsFreed() async throws {
        let server = try await ServeProcess.start(["--job-retention-sec", "1", "--resume-window-sec", "1"])
        // Warm up (allocator pools, first-use caches), then take the baseline.
        try await runEchoJobs(server, sessions: 10, jobsPerSession: 20, inputBytes: 1024)
        let baseline = try #require(server.residentKiB)
        try await runEchoJobs(server, sessions: 100, jobsPerSession: 40, inputBytes: 1024)  // 4,000 jobs, ~4 MiB of inputs
        try await runEchoJobs(server, sessions: 10, jobsPerSession: 1, inputBytes: 2 << 20)  // 10 × 2 MiB
        // Once the retention (1 s) and the resume window (1 s) have passed, RSS comes back
        // (awaited: the sweep and the trim run on their own schedule). Before the retention
        // existed this work kept ~110 MiB for good. What may stay is allocator fragmentation:
        // a debug build on an idle machine comes back within 8 MiB; one sharing 2 cores with
        // the other suites has been seen 20 MiB over. The bound is 32 MiB, well under what a
        // leak would keep; the release soak (docs/BENCHMARKS.md) measures the residue
        // (+22 MiB after 100,000 jobs, +18 after 200,000: not per job).
        let deadline = ContinuousClock.now + .seconds(60)
        var rss = server.residentKiB ?? .max
        while rss > baseline + 32 * 1024, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            rss = server.residentKiB ?? .max
        }
        #expect(rss <= baseline + 32 * 1024, "RSS \(rss) KiB vs baseline \(baseline) KiB after the retention")
        try await server.expectAnswering("retention sweep")
        await server.stop()
    }

    // MARK: Item 3: limits

    @Test(
        "connections per principal over the limit are refused with a typed error; others are served")
    func connectionsPerPrincipal() async throws {
        let server = try await ServeProcess.start(["--max-connections-per-principal", "4"])
        var open: [any Transport] = []
        for _ in 0..<4 { open.append(try await server.session().0) }
        let extra = try await WebSocketTransport.connect(to: server.url)
        try await extra.send(Frames.hello())
        let reply = try #require(try await extra.receive())
        guard case .sessionError(let e)? = Frames.decode(reply)?.message else {
            Issue.record("expected session.error, got \(reply)")
            return
        }
        // Spec (v1.0 §14): exceeding a limit is INTERNAL_ERROR with a non-retryable signal.
        #expect(e.code == .internalError && e.retryable == false, "\(e)")
        // Another principal is not affected.
        let other = try await server.client(token: "tok2")
        _ = try await other.ping()
        await other.close()
        for t in open { await t.close() }
        try await server.expectAnswering("connection limit")
        await server.stop()
    }

    @Test(
        "running jobs per session over the limit are refused with a typed error")
    func runningJobsPerSession() async throws {
        let server = try await ServeProcess.start(["--max-running-jobs-per-session", "2"])
        let (t, sid) = try await server.session()
        for _ in 0..<2 { try await t.send(HostileFrames.submit("slow", ["seconds": 30], session: sid)) }
        try await t.send(HostileFrames.submit("slow", ["seconds": 30], session: sid))
        let refused = try await within(.seconds(10), "the third job is refused") { try await terminal(t) }
        switch refused.message {
        case .jobError(let e): #expect(e.code == .internalError && e.retryable == false, "\(e)")
        case .sessionError(let e): #expect(e.code == .internalError && e.retryable == false, "\(e)")
        default: Issue.record("expected an error, got \(refused.message.type)")
        }
        await t.close()
        try await server.expectAnswering("running-job limit")
        await server.stop()
    }

    @Test(
        "a first frame larger than a hello is refused before authentication")
    func firstFrameCap() async throws {
        let server = try await ServeProcess.start()
        let raw = try await RawWebSocketClient.connect(port: server.port)
        let blob = String(repeating: "x", count: 1 << 20)
        let close = try await raw.run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text(#"{"arcp":"1.1","id":"01M8876EHRZFYBWW8NAFTYKXP3","type":"session.hello","payload":{"pad":""# + "\"\(blob)\"}}"))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(close?.code == 1009, "\(String(describing: close))")
        try await server.expectAnswering("a 1 MiB first frame")
        await server.stop()
    }

    @Test(
        "a connection that never says hello, or a session that goes idle, is closed after its timeout")
    func silentConnectionsAreClosed() async throws {
        // 5 s each: the hello timeout also applies to the session below, whose hello must
        // arrive in time on CI's loaded 2 cores (1 s did not always); the bounds are generous.
        let server = try await ServeProcess.start(["--hello-timeout-sec", "5", "--idle-timeout-sec", "5"])
        try await server.expectAnswering("start")  // first-use resources are in the baseline
        let baseline = server.openDescriptors
        let silent = try await WebSocketTransport.connect(to: server.url)
        let first = try await within(.seconds(40), "the silent connection is closed") { try await silent.receive() }
        if let first { #expect(Frames.decode(first)?.message.type == "session.error") }
        let (idle, _) = try await server.session()
        _ = try await within(.seconds(40), "the idle session is closed") {
            while try await idle.receive() != nil {}
        }
        await server.expectDescriptors(backTo: baseline)
        try await server.expectAnswering("silent peers")
        await server.stop()
    }

    // MARK: Item 4: observers cannot stall jobs

    @Test(
        "a subscriber that stops reading is detached; the submitter's job runs at full speed")
    func stalledSubscriberDoesNotStallTheJob() async throws {
        let server = try await ServeProcess.start()
        let (submitter, sid) = try await server.session()
        // 50,000 events: far past a subscriber's buffer (4,096 frames), so the stalled
        // observer must be detached for the job to finish.
        try await submitter.send(HostileFrames.submit("flood", ["n": 50_000], session: sid))
        let accepted = try await next(submitter, "job.accepted")
        let jobID = try #require(accepted.jobId ?? { if case .jobAccepted(let a) = accepted.message { return a.jobId } else { return nil } }())
        // A second session of the same principal subscribes, then never reads again.
        let raw = try await RawWebSocketClient.connect(port: server.port)
        let reader = Task {
            try await raw.run { inbound, outbound in
                try await outbound.write(RawWebSocketClient.text(Frames.hello()))
                var frames = inbound.makeAsyncIterator()
                let welcome = try await RawWebSocketClient.nextText(&frames)
                let observer = welcome.flatMap { Frames.decode($0)?.sessionId }
                try await outbound.write(RawWebSocketClient.text(HostileFrames.envelope("job.subscribe", ["job_id": .string(jobID)], session: observer)))
                try await Task.sleep(for: .seconds(60))  // never reads again
            }
        }
        // The submitter reads everything and the job ends promptly.
        let end = try await within(.seconds(60), "the flood job ends although an observer stalls") { try await terminal(submitter) }
        guard case .jobResult = end.message else {
            Issue.record("expected job.result, got \(end.message.type)")
            return
        }
        reader.cancel()
        await submitter.close()
        try await server.expectAnswering("a stalled subscriber")
        await server.stop()
    }

    // MARK: Item 5: prompt cancel

    @Test(
        "job.cancel ends a job blocked on back-pressure while its peer still does not read")
    func cancelUnderBackPressure() async throws {
        let server = try await ServeProcess.start()
        let raw = try await RawWebSocketClient.connect(port: server.port)
        let observer = try await server.client()
        try await raw.run { inbound, outbound in
            var frames = inbound.makeAsyncIterator()
            try await outbound.write(RawWebSocketClient.text(Frames.hello()))
            let sid = try await RawWebSocketClient.nextText(&frames).flatMap { Frames.decode($0)?.sessionId }
            try await outbound.write(RawWebSocketClient.text(HostileFrames.submit("flood", ["n": 5_000_000], session: try #require(sid))))
            var jobID: String?
            while jobID == nil, let text = try await RawWebSocketClient.nextText(&frames) {
                if case .jobAccepted(let a)? = Frames.decode(text)?.message { jobID = a.jobId }
            }
            // Stop reading until the agent is blocked on back-pressure (its queue full), then,
            // like a slow client with a heartbeat, ping before cancelling: a frame that arrives
            // while the queue is full used to stop the reader until the peer read again, so
            // the cancel behind it was never seen.
            try await Task.sleep(for: .seconds(2))
            try await outbound.write(RawWebSocketClient.text(Frames.ping("slow-reader", session: sid)))
            let cancelledAt = ContinuousClock.now
            // The spec's form: the job's id on the envelope (§7.4).
            try await outbound.write(RawWebSocketClient.text(HostileFrames.envelope(
                "job.cancel", [:], session: sid, extra: ["job_id": .string(try #require(jobID))])))
            // The job is terminal (seen from another session) while this peer still does not
            // read: without the cancel being seen it never would be. Well within a second on an
            // idle machine (PromptCancelTests measures the in-process half); the bound here is
            // 10 s because the suite shares 2 cores with other servers, and the time taken is
            // named if it is exceeded.
            var status: JobStatus?
            while ContinuousClock.now - cancelledAt < .seconds(10) {
                status = try await observer.listJobs().jobs.first { $0.jobId == jobID }?.status
                if status?.isTerminal == true { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(status?.isTerminal == true, "status \(String(describing: status)) \(ContinuousClock.now - cancelledAt) after job.cancel")
        }
        await observer.close()
        try await server.expectAnswering("cancel under back-pressure")
        await server.stop()
    }

    // Items 6, 7, 8, 9 and 11 are enabled in HostileRuntimeTests.
}

/// Runs `sessions` sessions one after another, each submitting `jobsPerSession` echo jobs with
/// an input of `inputBytes` and waiting for their results, then closing with `session.close`.
func runEchoJobs(_ server: ServeProcess, sessions: Int, jobsPerSession: Int, inputBytes: Int) async throws {
    let blob = JSONValue.string(String(repeating: "a", count: inputBytes))
    for _ in 0..<sessions {
        let client = try await server.client()
        for _ in 0..<jobsPerSession {
            let job = try await client.submit(agent: "echo", input: ["blob": blob])
            _ = try await job.result()
        }
        await client.close()
    }
}
