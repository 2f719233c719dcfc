import ARCP
import ARCPTracing
import Foundation
import InMemoryTracing
import Tracing

/// `host_tracing`: both sides traced, spans printed as they end (the reference uses
/// OpenTelemetry's `ConsoleSpanExporter`; here swift-distributed-tracing with `ConsoleTracer`,
/// which prints one `span {…}` JSON line per finished span). The runtime gets
/// `TracingInstrumentation` (a span per session and per job); the client gets
/// `propagateTraceContext()`, so `job.submit` carries the caller's span as W3C trace context
/// (`trace_id` and the `x-vendor.opentelemetry.tracecontext` extension the reference's
/// `with_tracing` also sends) and the job's span joins the caller's trace (spec §11).
/// A real program bootstraps swift-otel instead (docs/TRACING.md).
enum WireHostTracing: WireExample {
    static let name = "host_tracing"
    static let defaultPort = 7895
    static let summary = "Client and runtime traced (swift-distributed-tracing); the job's span joins the caller's trace."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        var config = setup.configuration(name: "host-tracing-server")
        config.instrumentation = TracingInstrumentation(tracer: ConsoleTracer.make())
        let runtime = ARCPRuntime(configuration: config, verifier: setup.verifier)
        try runtime.register("echo") { input, ctx in
            await ctx.log("info", "echo started")
            return ["echoed": input]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let tracer = ConsoleTracer.make()
        var options = setup.options(name: "host-tracing-client", features: [])
        options.propagateTraceContext(tracer: tracer)
        let client = ARCPClient(token: setup.token, options: options)
        try await setup.connect(client)
        let (outcome, traceID, accepted) = try await tracer.withSpan("host_tracing.client", ofKind: .client) { span in
            let job = try await client.submit(agent: "echo", input: ["k": 1])
            return (try await job.result(), span.context.inMemorySpanContext?.traceID, job.accepted?.traceId)
        }
        say("job -> \(outcome.finalStatus.rawValue); caller trace \(traceID ?? "-"), job.accepted trace_id \(accepted ?? "-")")
        try check(outcome.finalStatus == .success, "the job succeeds")
        await client.close()
    }
}

/// The console exporter of the reference's example: a `W3CTracer` that prints each span as
/// one JSON line on stdout when it ends
/// (`span {"name":…,"trace_id":…,"span_id":…,"parent_span_id":…,"kind":…,"attributes":{…}}`).
enum ConsoleTracer {
    static func make() -> W3CTracer {
        W3CTracer(onEnd: { printLine("span " + JSONWriter.string(json($0))) })
    }

    static func json(_ span: FinishedInMemorySpan) -> JSONValue {
        var attributes: JSONObject = [:]
        span.attributes.forEach { key, value in
            switch value {
            case .string(let s): attributes[key] = .string(s)
            case .int64(let i): attributes[key] = .int(i)
            case .double(let d): attributes[key] = .double(d)
            case .bool(let b): attributes[key] = .bool(b)
            default: attributes[key] = .string("\(value)")
            }
        }
        return [
            "name": .string(span.operationName), "trace_id": .string(span.traceID), "span_id": .string(span.spanID),
            "parent_span_id": span.parentSpanID.map { .string($0) } ?? .null, "kind": .string("\(span.kind)"),
            "attributes": .object(attributes),
        ]
    }
}
