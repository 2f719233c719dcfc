import ARCP
import ARCPTracing
import Foundation
import InMemoryTracing
import Synchronization
import Tracing

/// Distributed tracing with swift-distributed-tracing (the Python SDK's `host-tracing`,
/// which uses OpenTelemetry). The runtime gets `TracingInstrumentation`: a span per
/// connection (`arcp.session`) and per job (`arcp.job <agent>`), in the trace named by the
/// job's `trace_id`, with a delegated job's span under its parent's and the agent's own
/// spans under its job's. The client gets `propagateTraceContext()`: `job.submit` carries
/// the caller's trace id in `trace_id` and its full W3C context (`traceparent`, as the
/// Python SDK's OpenTelemetry middleware does, in the `x-vendor.opentelemetry.tracecontext`
/// envelope extension), so the job's span is a child of the caller's span. A real program bootstraps swift-otel instead
/// of the in-memory tracer here (see docs/TRACING.md).
public enum HostTracing: Example {
    public static let name = "host-tracing"
    public static let summary = "Client and runtime traced with swift-distributed-tracing: one trace from the caller's span through a job tree."
    public static let spec = "§11, v1.0 §10.3, v1.0 §11"

    public static func run() async throws {
        // Stands in for swift-otel's tracer: spans kept in memory, context propagated as W3C
        // `traceparent`. With swift-otel: `let observability = try OTel.bootstrap()` and
        // `TracingInstrumentation()` (it then uses `InstrumentationSystem.tracer`).
        let finished = FinishedSpans()
        let tracer = W3CTracer(onEnd: finished.record)

        var configuration = ARCPRuntime.Configuration()
        configuration.instrumentation = TracingInstrumentation(tracer: tracer)
        let runtime = ARCPRuntime(configuration: configuration, verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))

        // The child: its own span for a tool call, and the traceparent it forwards (§11:
        // "Runtimes MUST forward the trace context to tool servers and sub-agents").
        try runtime.register("researcher") { input, ctx in
            let forwarded = tracer.withSpan("web.search", ofKind: .client) { span in
                let header = ARCPTraceContext.currentTraceParent(tracer: tracer)?.header ?? "none"
                span.attributes["http.request.header.traceparent"] = header
                return header
            }
            await ctx.log("info", "searched \(input["topic"]?.stringValue ?? "?"); sent traceparent \(forwarded)")
            await ctx.metric("cost.inference", 0.10, unit: "USD")
            return ["sources": 3]
        }
        // The parent: delegates (the child's span will be a child of this job's span).
        try runtime.register("planner") { _, ctx in
            await ctx.status("planning", "asking the researcher")
            let child = try await ctx.delegate(agent: "researcher", input: ["topic": "q3"], leaseRequest: ["cost.budget": ["USD:0.50"]])
            let found = try await child.result()
            await ctx.metric("cost.inference", 0.05, unit: "USD")
            return ["plan": "ok", "research": found]
        }

        var options = ARCPClient.Options()
        options.propagateTraceContext(tracer: tracer)
        let client = ARCPClient(token: "demo-token", options: options)
        let (clientEnd, runtimeEnd) = MemoryTransport.pair()
        let served = Task { await runtime.accept(runtimeEnd) }
        try await client.connect(clientEnd)

        step("the client submits inside its own span")
        let (job, callerTrace) = try await tracer.withSpan("checkout", ofKind: .client) { span in
            let job = try await client.submit(
                agent: "planner", leaseRequest: ["agent.delegate": ["researcher"], "cost.budget": ["USD:1.00"]])
            return (job, span.context.inMemorySpanContext?.traceID)
        }
        say("caller's trace id:       \(callerTrace ?? "-")")
        say("job.accepted trace_id:   \(job.accepted?.traceId ?? "-")")
        for try await event in job.events { say(describe(event)) }
        let outcome = try await job.result()
        say("result: \(outcome.result ?? .null)")
        for id in runtime.jobIDs { await runtime.waitForJob(id) }
        await client.close()
        await served.value

        step("the spans, by trace")
        let spans = finished.spans
        printTraces(spans)

        let jobSpans = spans.filter { $0.operationName.hasPrefix("arcp.job") }
        let planner = jobSpans.first { $0.operationName == "arcp.job planner" }
        let researcher = jobSpans.first { $0.operationName == "arcp.job researcher" }
        let search = spans.first { $0.operationName == "web.search" }
        try check(callerTrace != nil && job.accepted?.traceId == callerTrace, "job.submit carried the caller's trace id")
        try check(planner?.traceID == callerTrace, "the job span is in the caller's trace")
        try check(researcher?.parentSpanID == planner?.spanID, "the delegated job's span is a child of its parent's")
        try check(search?.parentSpanID == researcher?.spanID, "the agent's own span is a child of its job's")
        try check(planner?.attributes.get("arcp.budget.remaining") == "USD:0.85", "the parent's final budget is on its span")
        try check(spans.contains { $0.operationName == "arcp.session" }, "the connection has a session span")
        await runtime.shutdown()
    }

    /// Prints each trace as a tree (a span whose parent is not among the spans, such as a
    /// job span under the stand-in for the client's span, starts a line of its own).
    static func printTraces(_ spans: [FinishedInMemorySpan]) {
        var traces: [String] = []
        for s in spans where !traces.contains(s.traceID) { traces.append(s.traceID) }
        for trace in traces {
            let inTrace = spans.filter { $0.traceID == trace }.sorted { $0.startInstant.nanosecondsSinceEpoch < $1.startInstant.nanosecondsSinceEpoch }
            let ids = Set(inTrace.map(\.spanID))
            say("trace \(trace)")
            func show(_ span: FinishedInMemorySpan, depth: Int) {
                let pad = String(repeating: "   ", count: depth)
                var line = "\(pad)└─ \(span.operationName) [\(span.kind)]"
                if let status = span.status { line += " status=\(status.code)" }
                if let parent = span.parentSpanID, !ids.contains(parent) { line += " (parent \(parent): not in this tracer)" }
                say(line)
                for key in shownAttributes { if let value = span.attributes.get(key) { say("\(pad)     \(key)=\(text(value))") } }
                for link in span.links { say("\(pad)     link → span \(link.context.inMemorySpanContext?.spanID ?? "?") (\(link.attributes.get("arcp.link").map(text) ?? ""))") }
                for event in span.events {
                    var attributes: [String] = []
                    event.attributes.forEach { k, v in attributes.append("\(k)=\(text(v))") }
                    say("\(pad)     event \(event.name) \(attributes.sorted().joined(separator: " "))")
                }
                for child in inTrace where child.parentSpanID == span.spanID { show(child, depth: depth + 1) }
            }
            for root in inTrace where root.parentSpanID.map({ !ids.contains($0) }) ?? true { show(root, depth: 0) }
        }
    }

    /// An attribute's value as plain text.
    static func text(_ value: SpanAttribute) -> String {
        switch value {
        case .string(let s): return s
        case .int64(let i): return "\(i)"
        case .double(let d): return "\(d)"
        case .bool(let b): return "\(b)"
        default: return "\(value)"
        }
    }

    static let shownAttributes = [
        "arcp.session_id", "arcp.session.end", "arcp.job_id", "arcp.trace_id", "arcp.lease.capabilities", "arcp.parent_job_id",
        "arcp.budget.remaining", "arcp.job.final_status", "http.request.header.traceparent",
    ]
}

/// A tracer of `InMemorySpan`s with W3C-shaped ids (a 32-hex trace id, a 16-hex span id) that
/// propagates context as a `traceparent` header, as swift-otel's tracer does (`InMemoryTracer`
/// alone uses keys of its own), and hands each span to `onEnd` when it ends. Glue for the
/// tracing examples (`host-tracing` keeps the spans, `host_tracing` prints them), not SDK API.
struct W3CTracer: Tracer {
    let onEnd: @Sendable (FinishedInMemorySpan) -> Void

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> InMemorySpan {
        let parent = context()
        let spanID = ARCPTraceContext.parentID(for: ARCPID.traceID())
        let spanContext =
            parent.inMemorySpanContext.map { InMemorySpanContext(traceID: $0.traceID, spanID: spanID, parentSpanID: $0.spanID) }
            ?? InMemorySpanContext(traceID: ARCPID.traceID(), spanID: spanID, parentSpanID: nil)
        return InMemorySpan(
            operationName: operationName, context: parent, spanContext: spanContext, kind: kind, startInstant: instant(), onEnd: onEnd)
    }

    func forceFlush() {}

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let span = context.inMemorySpanContext, let parent = TraceParent(traceID: span.traceID, parentID: span.spanID) else { return }
        injector.inject(parent.header, forKey: "traceparent", into: &carrier)
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: "traceparent", from: carrier), let parent = TraceParent(header) else { return }
        context.inMemorySpanContext = InMemorySpanContext(traceID: parent.traceID, spanID: parent.parentID, parentSpanID: nil)
    }
}

/// The spans a `W3CTracer` finished, in order.
final class FinishedSpans: Sendable {
    private let state = Mutex<[FinishedInMemorySpan]>([])
    var spans: [FinishedInMemorySpan] { state.withLock { $0 } }
    @Sendable func record(_ span: FinishedInMemorySpan) { state.withLock { $0.append(span) } }
}
