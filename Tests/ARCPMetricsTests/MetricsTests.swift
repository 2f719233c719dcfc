import ARCP
import ARCPDemoAgents
@testable import ARCPMetrics
import ARCPTestSupport
import Foundation
import Prometheus
import Testing

/// A runtime instrumented with `MetricsInstrumentation` into a swift-prometheus registry of its
/// own, driven through a scripted scenario; the exposition is read back and checked.
struct Instrumented {
    let registry = PrometheusCollectorRegistry()
    let runtime: ARCPRuntime

    init(_ configure: (inout ARCPRuntime.Configuration) -> Void = { _ in }) throws {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["arcp_outbound_queue_depth_frames"] = [1, 4, 16, 64, 256]
        var c = ARCPRuntime.Configuration()
        c.heartbeatInterval = nil
        c.logger.logLevel = .critical
        c.instrumentation = MetricsInstrumentation(factory: factory)
        configure(&c)
        runtime = ARCPRuntime(configuration: c, verifier: StaticBearerVerifier(["tok": "me@example.com"]))
        try DemoAgents.register(on: runtime)
    }

    var exposition: Exposition { Exposition(registry.emitToString()) }

    /// A client session on a memory transport.
    func client() async throws -> ARCPClient {
        let (a, b) = MemoryTransport.pair()
        Task { await runtime.accept(b) }
        var options = ARCPClient.Options()
        options.logger.logLevel = .critical
        let client = ARCPClient(token: "tok", options: options)
        try await client.connect(a)
        return client
    }

    /// A raw connection, already accepted by the runtime.
    func raw(capacity: Int = 1024) -> MemoryTransport {
        let (a, b) = MemoryTransport.pair(capacity: capacity)
        Task { await runtime.accept(b) }
        return a
    }

    /// Waits (bounded) until `check` holds for the exposition; records the last one otherwise.
    func eventually(
        _ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ check: (Exposition) -> Bool
    ) async {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if check(exposition) { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("never true: \(what)\n\(exposition)", sourceLocation: sourceLocation)
    }
}

@Suite("Metrics", .timeLimit(.minutes(1)))
struct MetricsTests {
    @Test func aScriptedScenario() async throws {
        let m = try Instrumented()
        let client = try await m.client()

        // Jobs of every outcome.
        #expect(try await client.submit(agent: "echo", input: 1).result().result == ["echoed": 1])
        await #expect(throws: ARCPError.self) { try await client.submit(agent: "fails", input: [:]).result() }
        let slow = try await client.submit(agent: "slow", input: ["seconds": 30, "tick": 0.05])
        var slowEvents = slow.events.makeAsyncIterator()
        _ = try await slowEvents.next()
        try await slow.cancel()
        _ = try? await slow.result()
        let flood = try await client.submit(agent: "flood", input: ["n": 250])
        _ = try await flood.result()

        // A refused token, and a malformed frame on an open session.
        let stranger = m.raw()
        try await stranger.send(Frames.hello(token: "wrong"))
        let refusal = try #require(try await stranger.receive())
        #expect(Frames.decode(refusal)?.message.type == "session.error")
        let sloppy = m.raw()
        try await sloppy.send(Frames.hello())
        let first = try #require(try await sloppy.receive())
        let hello = try #require(Frames.decode(first))
        guard case .sessionWelcome(let welcome) = hello.message, let sid = welcome.sessionId ?? hello.sessionId else {
            Issue.record("expected session.welcome, got \(hello.message.type)")
            return
        }
        try await sloppy.send("{not json")
        _ = try await next(sloppy, "session.error")

        // That session drops and is resumed.
        await sloppy.close()
        await m.eventually("the first connection detached") { $0.value("arcp_session_events_total", ["event": "detached"]) == 1 }
        let again = m.raw()
        try await again.send(FrameCodec.encode(Envelope.make(.sessionResume(SessionResumePayload(
            sessionId: sid, resumeToken: welcome.resumeToken, lastEventSeq: 0, auth: Auth(token: "tok"))))))
        let resumed = try #require(try await again.receive())
        #expect(Frames.decode(resumed)?.message.type == "session.welcome")

        await m.eventually("every job ended") { $0.value("arcp_jobs_running") == 0 && $0.value("arcp_jobs_finished_total") == 4 }
        let x = m.exposition
        #expect(x.value("arcp_session_events_total", ["event": "opened"]) == 2, "\(x)")
        #expect(x.value("arcp_session_events_total", ["event": "resumed"]) == 1)
        #expect(x.value("arcp_sessions_live") == 2)
        #expect(x.value("arcp_sessions_connected") == 2)
        for agent in ["echo", "fails", "slow", "flood"] { #expect(x.value("arcp_jobs_started_total", ["agent": agent]) == 1, "\(agent)") }
        #expect(x.value("arcp_jobs_finished_total", ["agent": "echo", "status": "success"]) == 1)
        #expect(x.value("arcp_jobs_finished_total", ["agent": "fails", "status": "error"]) == 1)
        #expect(x.value("arcp_jobs_finished_total", ["agent": "slow", "status": "cancelled"]) == 1)
        #expect(x.value("arcp_jobs_finished_total", ["agent": "flood", "status": "success"]) == 1)
        #expect(x.value("arcp_job_duration_seconds_count", ["agent": "echo", "status": "success"]) == 1)
        #expect((x.value("arcp_job_duration_seconds_sum", ["agent": "slow", "status": "cancelled"]) ?? 0) > 0)
        #expect((x.value("arcp_job_events_total", ["kind": "log"]) ?? 0) >= 251)  // flood's 250, echo's one
        #expect(x.value("arcp_auth_failures_total") == 1)
        #expect(x.value("arcp_errors_total", ["code": "UNAUTHENTICATED", "frame": "session.error"]) == 1)
        #expect(x.value("arcp_errors_total", ["code": "INVALID_REQUEST", "frame": "session.error"]) == 1)
        #expect((x.value("arcp_errors_total", ["frame": "job.error"]) ?? 0) >= 1)
        #expect((x.value("arcp_outbound_queue_depth_frames_count") ?? 0) > 0)
        await client.close()
        await m.eventually("the client's session closed") { $0.value("arcp_session_events_total", ["event": "closed"]) == 1 }
        #expect(m.exposition.value("arcp_sessions_live") == 1)
    }

    @Test func aReaderThatFallsBehindIsBackPressure() async throws {
        let m = try Instrumented { $0.buffering.maxPendingFrames = 8 }
        // A peer that says hello, asks for a flood of events, and does not read for a while.
        let peer = m.raw(capacity: 4)
        let sid = try await handshake(peer)
        try await peer.send(Frames.submit("flood", ["n": 500], session: sid))
        await m.eventually("an emitter waited") { ($0.value("arcp_backpressure_total", ["kind": "emitters"]) ?? 0) >= 1 }
        // Reading resumes: the job finishes, and the writer found full queues on the way.
        _ = try await next(peer, "job.result")
        let x = m.exposition
        #expect((x.value("arcp_outbound_queue_depth_frames_bucket", ["le": "4.0"]) ?? 0) < (x.value("arcp_outbound_queue_depth_frames_count") ?? 0),
            "some drains found more than 4 frames queued\n\(x)")
        await peer.close()
    }

    @Test func aPeerThatSendsWithoutReadingIsReadNoFaster() async throws {
        let m = try Instrumented { $0.buffering.maxPendingFrames = 8 }
        let peer = m.raw(capacity: 4)
        let sid = try await handshake(peer)
        // Requests, each answered by a page this peer does not read (yet). (Not pings: the
        // heartbeat is among the frames a blocked reader still handles, 64 per blocked spell.)
        let listJobs = FrameCodec.encode(Envelope.make(.sessionListJobs(SessionListJobsPayload()), sessionID: sid))
        let sending = Task {
            for _ in 0..<200 { try await peer.send(listJobs) }
        }
        await m.eventually("the reader waited") { ($0.value("arcp_backpressure_total", ["kind": "reader"]) ?? 0) >= 1 }
        var pages = 0
        while pages < 200, let frame = try await peer.receive() {
            if Frames.decode(frame)?.message.type == "session.jobs" { pages += 1 }
        }
        try await sending.value
        #expect(pages == 200)
        #expect(m.exposition.value("arcp_backpressure_total", ["kind": "emitters"]) == nil)
        await peer.close()
    }

    @Test func labelValuesAreBounded() {
        #expect(MetricsInstrumentation.label(.unauthenticated) == "UNAUTHENTICATED")
        #expect(MetricsInstrumentation.label(.unknown("X_VENDOR_THING")) == "other")
        #expect(EventBody.vendor(kind: "x-vendor.acme.thing", body: [:]).metricKind == "vendor")
        #expect(EventBody.log(LogBody(level: "info", message: "m")).metricKind == "log")
    }
}
