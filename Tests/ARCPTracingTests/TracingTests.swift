import ARCP
import ARCPTracing
import Foundation
import InMemoryTracing
import Synchronization
import Testing
import Tracing

@Suite("tracing (spec §11)")
struct TracingTests {
    @Test("a job span carries the recommended attributes, cost events and the final budget, and links to its session span")
    func jobSpanAttributes() async throws {
        let tracer = W3CInMemoryTracer()
        let runtime = try makeRuntime(tracer: tracer)
        try runtime.register("pricer") { _, ctx in
            await ctx.status("pricing", "looking up")
            await ctx.metric("cost.inference", 0.25, unit: "USD")
            await ctx.log("info", "not significant")
            return ["price": 3]
        }
        let (client, served) = try await connect(runtime)
        let expiresAt = ARCPTimestamp.string(Date().addingTimeInterval(3600))
        let job = try await client.submit(
            agent: "pricer", leaseRequest: ["cost.budget": ["USD:1.00"], "tool.call": ["lookup"]],
            leaseConstraints: LeaseConstraints(expiresAt: expiresAt))
        _ = try await job.result()
        await runtime.waitForJob(job.jobID)

        let span = try #require(tracer.jobSpan(job.jobID))
        let a = span.attributes
        #expect(span.operationName == "arcp.job pricer")
        #expect(span.kind == .server)
        #expect(a.get("arcp.session_id") == .string(try #require(client.sessionID)))
        #expect(a.get("arcp.agent") == "pricer")
        let traceID = try #require(job.accepted?.traceId)
        #expect(a.get("arcp.trace_id") == .string(traceID))
        #expect(a.get("arcp.lease.capabilities") == "cost.budget,tool.call")
        #expect(a.get("arcp.lease.expires_at") == .string(expiresAt))
        #expect(a.get("arcp.budget.remaining") == "USD:0.75")
        #expect(a.get("arcp.job.final_status") == "success")
        #expect(a.get("arcp.error.code") == nil)
        #expect(span.status?.code == .ok)
        // The job is in the trace its trace_id names, under the stand-in parent.
        #expect(span.traceID == traceID)
        #expect(span.parentSpanID == ARCPTraceContext.parentID(for: traceID))
        // Significant events only.
        let names = span.events.map(\.name)
        #expect(names.contains("arcp.status"))
        #expect(names.contains("arcp.cost"))
        #expect(!names.contains("arcp.log"))
        let cost = try #require(span.events.first { $0.name == "arcp.cost" })
        #expect(cost.attributes.get("arcp.metric.value") == .double(0.25))
        #expect(cost.attributes.get("arcp.metric.unit") == "USD")

        // The session's span: open while connected, ended with `closed` after bye; the job links to it.
        await client.close()
        await served.value
        let session = try #require(tracer.finished.first { $0.operationName == "arcp.session" })
        #expect(session.attributes.get("arcp.session_id") == .string(try #require(client.sessionID)))
        #expect(session.attributes.get("arcp.session.resumed") == .bool(false))
        #expect(session.attributes.get("arcp.session.end") == "closed")
        #expect(span.links.map { $0.context.inMemorySpanContext?.spanID } == [session.spanID])
        await runtime.shutdown()
    }

    @Test("a delegated job's span is a child of its parent's; spans the agent starts are children of its job's")
    func childJobSpanUnderParent() async throws {
        let tracer = W3CInMemoryTracer()
        let runtime = try makeRuntime(tracer: tracer)
        try runtime.register("child") { _, ctx in
            // The agent's own span: task-local context is the job's span.
            let forwarded = tracer.withSpan("child.lookup") { _ in ARCPTraceContext.currentTraceParent(tracer: tracer) }
            return ["traceparent": .string(forwarded?.header ?? "")]
        }
        try runtime.register("parent") { _, ctx in
            let child = try await ctx.delegate(agent: "child", leaseRequest: [:])
            return try await child.result()
        }
        let (client, _) = try await connect(runtime)
        let job = try await client.submit(agent: "parent", leaseRequest: ["agent.delegate": ["child"]])
        let outcome = try await job.result()
        let childHandle = try #require(job.childJobs.first)
        await runtime.waitForJob(job.jobID)
        await runtime.waitForJob(childHandle.jobID)

        let parent = try #require(tracer.jobSpan(job.jobID))
        let child = try #require(tracer.jobSpan(childHandle.jobID))
        #expect(child.operationName == "arcp.job child")
        #expect(child.kind == .internal)
        #expect(child.traceID == parent.traceID)
        #expect(child.parentSpanID == parent.spanID)
        #expect(child.spanID != parent.spanID)
        #expect(child.attributes.get("arcp.trace_id") == parent.attributes.get("arcp.trace_id"))
        #expect(child.attributes.get("arcp.parent_job_id") == .string(job.jobID))
        #expect(child.attributes.get("arcp.delegate_id") == .string(try #require(childHandle.delegateID)))
        #expect(child.attributes.get("arcp.job.depth") == .int64(1))
        let delegate = try #require(parent.events.first { $0.name == "arcp.delegate" })
        #expect(delegate.attributes.get("arcp.child_job_id") == .string(childHandle.jobID))

        let lookup = try #require(tracer.finished.first { $0.operationName == "child.lookup" })
        #expect(lookup.parentSpanID == child.spanID)
        #expect(lookup.traceID == parent.traceID)
        // What the agent would forward to a tool server: its current span, in the job's trace.
        #expect(outcome.result?["traceparent"]?.stringValue == "00-\(lookup.traceID)-\(lookup.spanID)-01")
        await client.close()
        await runtime.shutdown()
    }

    @Test("the client sends its active span's trace id; job.accepted and the runtime's job span carry it")
    func clientTraceIDPropagation() async throws {
        let tracer = W3CInMemoryTracer()
        let runtime = try makeRuntime(tracer: tracer)
        try runtime.register("echo") { input, _ in input }
        var options = ARCPClient.Options()
        options.propagateTraceContext(tracer: tracer)
        let (client, _) = try await connect(runtime, options: options)

        let (job, clientTrace) = try await tracer.withSpan("checkout", ofKind: .client) { span in
            (try await client.submit(agent: "echo"), span.context.inMemorySpanContext?.traceID)
        }
        _ = try await job.result()
        await runtime.waitForJob(job.jobID)
        let expected = try #require(clientTrace)
        #expect(job.accepted?.traceId == expected)
        let span = try #require(tracer.jobSpan(job.jobID))
        #expect(span.traceID == expected)
        #expect(span.attributes.get("arcp.trace_id") == .string(expected))

        // No active span: no trace_id sent, the runtime generates one (§11), in a trace of its own.
        let bare = try await client.submit(agent: "echo")
        _ = try await bare.result()
        await runtime.waitForJob(bare.jobID)
        let generated = try #require(bare.accepted?.traceId)
        #expect(generated != expected)
        #expect(tracer.jobSpan(bare.jobID)?.traceID == generated)

        // An explicit trace id wins over the active span's.
        let explicit = "0123456789abcdef0123456789abcdef"
        let pinned = try await tracer.withSpan("other") { _ in try await client.submit(agent: "echo", traceID: explicit) }
        _ = try await pinned.result()
        #expect(pinned.accepted?.traceId == explicit)
        await client.close()
        await runtime.shutdown()
    }

    @Test("job.error sets the span's status to error, records the error and its code")
    func errorStatus() async throws {
        let tracer = W3CInMemoryTracer()
        let runtime = try makeRuntime(tracer: tracer)
        try runtime.register("denied") { _, ctx in
            await ctx.log("warn", "about to fail")
            throw ARCPError(.permissionDenied, "no access to /etc")
        }
        let (client, _) = try await connect(runtime)
        let job = try await client.submit(agent: "denied")
        await #expect(throws: ARCPError.self) { try await job.result() }
        await runtime.waitForJob(job.jobID)
        let span = try #require(tracer.jobSpan(job.jobID))
        #expect(span.status?.code == .error)
        #expect(span.status?.message?.contains("PERMISSION_DENIED") == true)
        #expect(span.attributes.get("arcp.error.code") == "PERMISSION_DENIED")
        #expect(span.attributes.get("arcp.error.retryable") == .bool(false))
        #expect(span.attributes.get("arcp.job.final_status") == "error")
        #expect(span.errors.count == 1)
        #expect((span.errors.first?.error as? ARCPError)?.code == .permissionDenied)
        #expect(span.events.contains { $0.name == "arcp.log" && $0.attributes.get("arcp.log.level") == "warn" })
        await client.close()
        await runtime.shutdown()
    }

    @Test("cancelling a job still cancels its agent inside the wrapped body, well before the grace period")
    func cancellationReachesTheAgent() async throws {
        let tracer = W3CInMemoryTracer()
        // An agent that ignored cancellation would only end after 60 s (and not set `sawCancel`).
        let runtime = try makeRuntime(tracer: tracer) { $0.cancelGracePeriod = .seconds(60) }
        let started = Latch()
        let sawCancel = Latch()
        try runtime.register("waits") { _, _ in
            started.open()
            do {
                try await Task.sleep(for: .seconds(60))
            } catch is CancellationError {
                sawCancel.open()
                throw CancellationError()
            }
            return [:]
        }
        let (client, _) = try await connect(runtime)
        let job = try await client.submit(agent: "waits")
        await started.wait()
        let begin = ContinuousClock.now
        try await job.cancel(reason: "test")
        do {
            _ = try await job.result()
            Issue.record("a cancelled job has no result")
        } catch let e as ARCPError {
            #expect(e.code == .cancelled)
        }
        await runtime.waitForJob(job.jobID)
        #expect(sawCancel.isOpen)
        #expect(ContinuousClock.now - begin < .seconds(10))
        let span = try #require(tracer.jobSpan(job.jobID))
        #expect(span.attributes.get("arcp.job.final_status") == "cancelled")
        #expect(span.attributes.get("arcp.error.code") == "CANCELLED")
        #expect(span.status?.code == .error)
        await client.close()
        await runtime.shutdown()
    }

    @Test("without instrumentation nothing is traced and no context is bound; the runtime still generates trace ids")
    func noHooksUnchanged() async throws {
        let tracer = W3CInMemoryTracer()
        let runtime = try makeRuntime(tracer: nil)
        try runtime.register("probe") { _, ctx in
            ["has_context": .bool(ServiceContext.current != nil), "trace_id": .string(ctx.traceID)]
        }
        var diagnostics: [String] = []
        let lines = Mutex<[String]>([])
        var options = ARCPClient.Options()
        options.traceIDProvider = { "not-a-trace-id" }
        options.onDiagnostic = { m in lines.withLock { $0.append(m) } }
        let (client, _) = try await connect(runtime, options: options)
        let job = try await tracer.withSpan("caller") { _ in try await client.submit(agent: "probe") }
        let outcome = try await job.result()
        #expect(outcome.result?["has_context"] == .bool(false))
        let traceID = try #require(job.accepted?.traceId)
        #expect(ARCPFormat.isTraceID(traceID))
        #expect(outcome.result?["trace_id"]?.stringValue == traceID)
        diagnostics = lines.withLock { $0 }
        #expect(diagnostics.contains { $0.contains("not-a-trace-id") })
        // Only the caller's own span: the runtime started none.
        #expect(tracer.finished.map(\.operationName) == ["caller"])
        await client.close()
        await runtime.shutdown()
    }

    @Test("a dropped connection's session span ends as detached; the resumed one gets a new span, ended as closed")
    func sessionSpans() async throws {
        let tracer = W3CInMemoryTracer()
        let runtime = try makeRuntime(tracer: tracer)
        let links = Mutex<[(runtimeEnd: MemoryTransport, served: Task<Void, Never>)]>([])
        let client = ARCPClient(token: "tok")
        try await client.connect(using: {
            let (c, r) = MemoryTransport.pair()
            let served = Task { await runtime.accept(r) }
            links.withLock { $0.append((r, served)) }
            return c
        })
        let sessionID = try #require(client.sessionID)
        let first = try #require(links.withLock { $0.first })
        await first.runtimeEnd.close()  // the link drops: the client resumes on a new one
        await first.served.value
        let dropped = try #require(tracer.finished.first { $0.operationName == "arcp.session" })
        #expect(dropped.attributes.get("arcp.session.end") == "detached")
        #expect(dropped.attributes.get("arcp.session.resumed") == .bool(false))
        #expect(dropped.attributes.get("arcp.session_id") == .string(sessionID))

        var waited = 0
        while client.resumeCount < 1, waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(client.resumeCount == 1)
        await client.close()
        let second = try #require(links.withLock { $0.last })
        await second.served.value
        let spans = tracer.finished.filter { $0.operationName == "arcp.session" }
        #expect(spans.count == 2)
        #expect(spans.last?.attributes.get("arcp.session.resumed") == .bool(true))
        #expect(spans.last?.attributes.get("arcp.session_id") == .string(sessionID))
        #expect(spans.last?.attributes.get("arcp.session.end") == "closed")
        await runtime.shutdown()
    }

    @Test("event recording: .all adds every event, .none adds none")
    func eventRecording() async throws {
        for (mode, expectLog) in [(TracingInstrumentation.Options.EventRecording.all, true), (.none, false)] {
            let tracer = W3CInMemoryTracer()
            var options = TracingInstrumentation.Options()
            options.events = mode
            let runtime = try makeRuntime(tracer: tracer, options: options)
            try runtime.register("chatty") { _, ctx in
                await ctx.log("info", "hello")
                await ctx.status("working")
                return [:]
            }
            let (client, _) = try await connect(runtime)
            let job = try await client.submit(agent: "chatty")
            _ = try await job.result()
            await runtime.waitForJob(job.jobID)
            let names = try #require(tracer.jobSpan(job.jobID)).events.map(\.name)
            #expect(names.contains("arcp.log") == expectLog, "\(mode)")
            #expect(names.contains("arcp.status") == expectLog, "\(mode)")
            await client.close()
            await runtime.shutdown()
        }
    }

    @Test("a tracer that does not read traceparent still gets job spans, in a trace of its own")
    func nonW3CTracer() async throws {
        let tracer = InMemoryTracer()
        var config = ARCPRuntime.Configuration()
        config.heartbeatInterval = nil
        config.instrumentation = TracingInstrumentation(tracer: tracer)
        let runtime = ARCPRuntime(configuration: config, verifier: StaticBearerVerifier(["tok": "me@example.com"]))
        try runtime.register("echo") { input, _ in input }
        let (client, _) = try await connect(runtime)
        let job = try await client.submit(agent: "echo")
        _ = try await job.result()
        await runtime.waitForJob(job.jobID)
        let span = try #require(tracer.finishedSpans.first { $0.operationName == "arcp.job echo" })
        #expect(span.attributes.get("arcp.trace_id") == .string(try #require(job.accepted?.traceId)))
        #expect(span.parentSpanID == nil)
        await client.close()
        await runtime.shutdown()
    }
}

@Suite("traceparent")
struct TraceParentTests {
    @Test("parses and formats W3C traceparent values")
    func parsing() throws {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let p = try #require(TraceParent(header))
        #expect(p.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(p.parentID == "00f067aa0ba902b7")
        #expect(p.sampled)
        #expect(p.header == header)
        #expect(TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?.sampled == false)
        // A later version: its first 55 characters, then "-" or the end.
        #expect(TraceParent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")?.traceID == p.traceID)
        for bad in [
            "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // version 00 is exactly 55
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace-id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero parent-id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",  // bad flags
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ] {
            #expect(TraceParent(bad) == nil, "\(bad)")
        }
        #expect(TraceParent(traceID: "abc", parentID: "00f067aa0ba902b7") == nil)
        #expect(TraceParent(traceID: p.traceID, parentID: p.parentID, flags: 0)?.header.hasSuffix("-00") == true)
    }

    @Test("the stand-in parent id is the trace-id's low 64 bits, or its high ones when those are zero")
    func standInParent() {
        #expect(ARCPTraceContext.parentID(for: "4bf92f3577b34da6a3ce929d0e0e4736") == "a3ce929d0e0e4736")
        #expect(ARCPTraceContext.parentID(for: "4bf92f3577b34da60000000000000000") == "4bf92f3577b34da6")
        #expect(ARCPTraceContext.parentID(for: "00000000000000000000000000000001") == "0000000000000001")
    }
}
