import ARCP
import ARCPTestSupport
import ARCPTracing
import Foundation
import InMemoryTracing
import Testing
import Tracing

/// The full W3C context beside `trace_id`: the envelope extension
/// `x-vendor.opentelemetry.tracecontext` (the Python SDK's `arcp.middleware.otel` form).
@Suite("trace-context extension (spec §11, Python SDK form)")
struct TraceContextExtensionTests {
    static let key = W3CTraceContext.extensionKey

    /// A runtime whose `probe` agent returns the trace context it runs in, and whose
    /// `planner` delegates to `probe`.
    static func tracedRuntime(_ tracer: W3CInMemoryTracer, logs: LogCapture? = nil) throws -> ARCPRuntime {
        let runtime = try makeRuntime(tracer: tracer) { config in
            if let logs {
                config.logger = logs.logger
                config.logger.logLevel = .debug
            }
        }
        try runtime.register("probe") { _, _ in
            let current = ARCPTraceContext.currentTraceContext(tracer: tracer)
            return ["traceparent": .string(current?.traceparent ?? ""), "tracestate": .string(current?.tracestate ?? "")]
        }
        try runtime.register("planner") { _, ctx in
            try await ctx.delegate(agent: "probe", leaseRequest: [:]).result()
        }
        return runtime
    }

    /// A `job.submit` frame, written by hand as another SDK would.
    static func submitFrame(session: String, agent: String = "probe", traceID: String?, extensions: String?) -> String {
        var members = [
            #""arcp":"1.1""#, #""id":"\#(ARCPID.ulid())""#, #""type":"job.submit""#, #""session_id":"\#(session)""#,
        ]
        if let traceID { members.append(#""trace_id":"\#(traceID)""#) }
        members.append(#""payload":{"agent":"\#(agent)","input":{}}"#)
        if let extensions { members.append(#""extensions":\#(extensions)"#) }
        return "{" + members.joined(separator: ",") + "}"
    }

    /// A client that propagates `tracer`'s context, connected to a traced runtime; every frame it
    /// sends is recorded.
    static func tracedClient(_ tracer: W3CInMemoryTracer) async throws -> (ARCPRuntime, ARCPClient, RecordingTransport) {
        let runtime = try tracedRuntime(tracer)
        var options = ARCPClient.Options()
        options.propagateTraceContext(tracer: tracer)
        let (c, r) = MemoryTransport.pair()
        let recording = RecordingTransport(c)
        Task { await runtime.accept(r) }
        let client = ARCPClient(token: "tok", options: options)
        try await client.connect(recording)
        return (runtime, client, recording)
    }

    @Test("the job span is a child of the client's span: job.submit carries its traceparent and tracestate in the extension")
    func clientSpanIsTheParent() async throws {
        let tracer = W3CInMemoryTracer()
        let (runtime, client, recording) = try await Self.tracedClient(tracer)

        var caller = ServiceContext.topLevel
        caller.traceState = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
        let (job, checkout) = try await ServiceContext.withValue(caller) {
            try await tracer.withSpan("checkout", ofKind: .client) { span in
                (try await client.submit(agent: "planner", leaseRequest: ["agent.delegate": ["probe"]]), span.context.inMemorySpanContext)
            }
        }
        let outcome = try await job.result()
        let childHandle = try #require(job.childJobs.first)
        await runtime.waitForJob(job.jobID)
        await runtime.waitForJob(childHandle.jobID)
        let clientSpan = try #require(checkout)

        // On the wire: trace_id and the extension, consistent.
        let submit = try #require(try recording.sent("job.submit").first)
        #expect(submit["trace_id"]?.stringValue == clientSpan.traceID)
        let carried = try #require(submit["extensions"]?[Self.key])
        #expect(carried["traceparent"]?.stringValue == "00-\(clientSpan.traceID)-\(clientSpan.spanID)-01")
        #expect(carried["tracestate"]?.stringValue == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")

        // The job span hangs under the client's span, not the stand-in.
        let span = try #require(tracer.jobSpan(job.jobID))
        #expect(job.accepted?.traceId == clientSpan.traceID)
        #expect(span.traceID == clientSpan.traceID)
        #expect(span.parentSpanID == clientSpan.spanID)
        #expect(span.parentSpanID != ARCPTraceContext.parentID(for: clientSpan.traceID))
        #expect(span.kind == .server)
        // Delegated children as before: a child of the parent job's span, tracestate inherited.
        let child = try #require(tracer.jobSpan(childHandle.jobID))
        #expect(child.parentSpanID == span.spanID)
        #expect(child.traceID == clientSpan.traceID)
        #expect(outcome.result?["traceparent"]?.stringValue == "00-\(child.traceID)-\(child.spanID)-01")
        #expect(outcome.result?["tracestate"]?.stringValue == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")

        // An explicit trace id in another trace: no extension (it would contradict trace_id);
        // in the same trace: the extension goes along.
        let other = "0123456789abcdef0123456789abcdef"
        let (pinned, sameTrace) = try await tracer.withSpan("other") { span in
            let pinned = try await client.submit(agent: "probe", traceID: other)
            let traceID = try #require(span.context.inMemorySpanContext?.traceID)
            return (pinned, try await client.submit(agent: "probe", traceID: traceID))
        }
        _ = try await pinned.result()
        _ = try await sameTrace.result()
        let submits = try recording.sent("job.submit")
        #expect(submits.count == 3)
        #expect(submits[1]["trace_id"]?.stringValue == other)
        #expect(submits[1]["extensions"] == nil)
        #expect(submits[2]["extensions"]?[Self.key]?["traceparent"] != nil)
        await runtime.waitForJob(pinned.jobID)
        #expect(tracer.jobSpan(pinned.jobID)?.parentSpanID == ARCPTraceContext.parentID(for: other))
        await client.close()
        await runtime.shutdown()
    }

    @Test("a mismatched or invalid extension is ignored with a debug log: the job is accepted, under the stand-in")
    func invalidOrMismatchedIgnored() async throws {
        let tracer = W3CInMemoryTracer()
        let logs = LogCapture()
        let runtime = try Self.tracedRuntime(tracer, logs: logs)
        let peer = try await RawPeer.connect(runtime)
        let traceA = "4bf92f3577b34da6a3ce929d0e0e4736"
        let traceB = "0af7651916cd43dd8448eb211c80319c"
        let cases: [(name: String, traceID: String?, extensions: String, log: String)] = [
            ("another trace", traceA, #"{"\#(Self.key)":{"traceparent":"00-\#(traceB)-b7ad6b7169203331-01"}}"#, "is not trace_id"),
            ("bad traceparent", traceA, #"{"\#(Self.key)":{"traceparent":"00-\#(traceA)-0000000000000000-01"}}"#, "not a valid W3C traceparent"),
            ("bad traceparent, no trace_id", nil, #"{"\#(Self.key)":{"traceparent":"garbage"}}"#, "not a valid W3C traceparent"),
            ("traceparent not a string", traceA, #"{"\#(Self.key)":{"traceparent":42}}"#, "not a valid W3C traceparent"),
            ("no traceparent", traceA, #"{"\#(Self.key)":{"tracestate":"a=b"}}"#, "no traceparent"),
            ("extension not an object", traceA, #"{"\#(Self.key)":"00-\#(traceA)-b7ad6b7169203331-01"}"#, "not an object"),
            ("extensions not an object", nil, #"[1,2]"#, "not an object"),
        ]
        for c in cases {
            let before = logs.all.count
            let accepted = try await peer.submit(Self.submitFrame(session: peer.sessionID, traceID: c.traceID, extensions: c.extensions))
            await runtime.waitForJob(accepted.jobId)
            let traceID = try #require(accepted.traceId, "\(c.name)")
            if let sent = c.traceID { #expect(traceID == sent, "\(c.name)") } else { #expect(ARCPFormat.isTraceID(traceID), "\(c.name)") }
            let span = try #require(tracer.jobSpan(accepted.jobId), "\(c.name)")
            #expect(span.traceID == traceID, "\(c.name)")
            #expect(span.parentSpanID == ARCPTraceContext.parentID(for: traceID), "\(c.name)")
            let lines = logs.all.dropFirst(before)
            #expect(lines.contains { $0.hasPrefix("debug ignoring the trace-context extension") && $0.contains(c.log) }, "\(c.name): \(Array(lines))")
        }

        // A bad tracestate alone is dropped; the traceparent still parents the span.
        let before = logs.all.count
        let accepted = try await peer.submit(Self.submitFrame(
            session: peer.sessionID, traceID: traceA,
            extensions: #"{"\#(Self.key)":{"traceparent":"00-\#(traceA)-b7ad6b7169203331-01","tracestate":7}}"#))
        await runtime.waitForJob(accepted.jobId)
        #expect(tracer.jobSpan(accepted.jobId)?.parentSpanID == "b7ad6b7169203331")
        #expect(logs.all.dropFirst(before).contains { $0.contains("tracestate dropped") })
        await peer.transport.close()
        await runtime.shutdown()
    }

    @Test("a raw frame in the Python SDK's form decodes and parents the job span; without trace_id the trace id comes from it")
    func pythonFormFrame() async throws {
        let tracer = W3CInMemoryTracer()
        let runtime = try Self.tracedRuntime(tracer)
        let peer = try await RawPeer.connect(runtime)
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        // As `with_tracing` sends it (after the payload), with the default propagators'
        // `baggage` in the carrier and another vendor's extension beside it.
        let extensions = #"""
            {"x-vendor.example.other":{"k":1},"x-vendor.opentelemetry.tracecontext":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"rojo=00f067aa0ba902b7","baggage":"user=alice"}}
            """#
        for sendTraceID in [true, false] {
            let frame = Self.submitFrame(session: peer.sessionID, traceID: sendTraceID ? traceID : nil, extensions: extensions)
            let envelope = try Envelope(jsonText: frame)
            #expect(envelope.traceContext == W3CTraceContext(traceparent: "00-\(traceID)-00f067aa0ba902b7-01", tracestate: "rojo=00f067aa0ba902b7"))
            #expect(envelope.additionalFields["extensions"]?["x-vendor.example.other"] == ["k": 1])
            let accepted = try await peer.submit(frame)
            await runtime.waitForJob(accepted.jobId)
            #expect(accepted.traceId == traceID, "trace_id sent: \(sendTraceID)")
            let span = try #require(tracer.jobSpan(accepted.jobId))
            #expect(span.traceID == traceID)
            #expect(span.parentSpanID == "00f067aa0ba902b7", "trace_id sent: \(sendTraceID)")
            #expect(span.attributes.get("arcp.trace_id") == .string(traceID))
        }
        await peer.transport.close()
        await runtime.shutdown()
    }

    static let python = PackagePaths.root.appendingPathComponent(".venv/bin/python").path
    static let script = PackagePaths.root.appendingPathComponent("Tests/Interop/otel_tracecontext.py").path
    /// Why the Python SDK's middleware cannot run here, or nil when it can.
    static let pythonUnavailable: String? = {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return "no Python reference venv at \(python) (Scripts/setup-python.sh makes it)"
        }
        let (status, _, err) = runSync(python, ["-c", "import arcp.middleware.otel"])
        return status == 0 ? nil : "arcp.middleware.otel does not import: \(err.split(separator: "\n").last ?? "")"
    }()

    @Test(
        "interop with the Python SDK's otel middleware: it extracts our client's span; the runtime parents a job under its span",
        .enabled(if: pythonUnavailable == nil, Comment(rawValue: pythonUnavailable ?? "")))
    func pythonMiddlewareInterop() async throws {
        let tracer = W3CInMemoryTracer()
        let (runtime, client, recording) = try await Self.tracedClient(tracer)
        var caller = ServiceContext.topLevel
        caller.traceState = "congo=t61rcWkgMzE"
        let (job, checkout) = try await ServiceContext.withValue(caller) {
            try await tracer.withSpan("checkout", ofKind: .client) { span in
                (try await client.submit(agent: "probe"), span.context.inMemorySpanContext)
            }
        }
        _ = try await job.result()
        let ours = try #require(checkout)
        let frame = try #require(recording.sent.first { $0.contains(#""type":"job.submit""#) })

        // The Python middleware's span (trace, span id, tracestate) and its reading of our frame.
        let pyTrace = "0af7651916cd43dd8448eb211c80319c"
        let pySpan = "b7ad6b7169203331"
        let (python, script) = (Self.python, Self.script)
        let (status, out, err) = try await onOwnThread { runSync(python, [script, pyTrace, pySpan, "rojo=00f067aa0ba902b7", frame]) }
        try #require(status == 0, "\(err)")
        let report = try JSONParser.parse(out)
        let received = try #require(report["received"])
        #expect(received["trace_id"]?.stringValue == ours.traceID)
        #expect(received["span_id"]?.stringValue == ours.spanID)
        #expect(received["sampled"] == .bool(true))
        #expect(received["tracestate"]?.stringValue == "congo=t61rcWkgMzE")

        // What the middleware sent, on our runtime (session id swapped for this connection's).
        let peer = try await RawPeer.connect(runtime)
        guard case .object(var sent) = try #require(report["sent"]) else { throw ARCPError(.invalidRequest, "no frame sent") }
        sent["session_id"] = .string(peer.sessionID)
        let accepted = try await peer.submit(JSONWriter.string(.object(sent)))
        await runtime.waitForJob(accepted.jobId)
        #expect(accepted.traceId == pyTrace)
        let span = try #require(tracer.jobSpan(accepted.jobId))
        #expect(span.traceID == pyTrace)
        #expect(span.parentSpanID == pySpan)
        await peer.transport.close()
        await client.close()
        await runtime.shutdown()
    }

    @Test("W3CTraceContext: headers validated; Envelope.traceContext reads, writes and removes the extension, keeping others")
    func contextAndEnvelope() throws {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let context = try #require(W3CTraceContext(traceparent: header, tracestate: "rojo=1"))
        #expect(context.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(context.parentID == "00f067aa0ba902b7")
        #expect(context.sampled)
        #expect(TraceParent(context).header == header)
        #expect(W3CTraceContext(traceparent: header, tracestate: "")?.tracestate == nil)
        #expect(W3CTraceContext(traceparent: header, tracestate: "bad=\u{7}") == nil)
        #expect(W3CTraceContext(traceparent: header, tracestate: String(repeating: "a", count: W3CTraceContext.maxTraceStateLength + 1)) == nil)
        #expect(W3CTraceContext(traceparent: "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01") == nil)
        #expect(W3CTraceContext(traceparent: "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == nil)

        var envelope = Envelope.make(.sessionPing(SessionPingPayload(nonce: "n")))
        envelope.additionalFields["extensions"] = ["x-vendor.example.other": true]
        envelope.traceContext = context
        let text = FrameCodec.encode(envelope)
        let parsed = try JSONParser.parse(text)
        #expect(parsed["extensions"]?[Self.key] == ["traceparent": .string(header), "tracestate": "rojo=1"])
        #expect(parsed["extensions"]?["x-vendor.example.other"] == true)
        var decoded = try Envelope(jsonText: text)
        #expect(decoded.traceContext == context)
        decoded.traceContext = nil
        #expect(decoded.additionalFields["extensions"] == ["x-vendor.example.other": true])
        envelope.additionalFields["extensions"] = nil
        envelope.traceContext = nil
        #expect(envelope.additionalFields["extensions"] == nil)
    }
}
