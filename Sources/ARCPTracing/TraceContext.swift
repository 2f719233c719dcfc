import ARCP
import Tracing

/// Maps ARCP's `trace_id` (spec §11: a W3C trace-id, 32 lowercase hex characters) to and
/// from a tracer's `ServiceContext`, through the tracer's own W3C propagation: the context
/// is injected into, or extracted from, a `["traceparent": …]` carrier. A tracer that
/// propagates W3C Trace Context (swift-otel's default, `OTel.Configuration.propagators =
/// [.traceContext]`) therefore puts an ARCP job in the trace its `trace_id` names.
///
/// `tracer` nil means `InstrumentationSystem.tracer`, looked up at each call.
public enum ARCPTraceContext {
    /// The `traceparent` header of `context` as `tracer` propagates it, if any.
    public static func traceParent(of context: ServiceContext, tracer: (any Tracer)? = nil) -> TraceParent? {
        traceContext(of: context, tracer: tracer).map(TraceParent.init)
    }

    /// The W3C trace-id of `context` (what a client sends as `trace_id`), if it has one.
    public static func traceID(of context: ServiceContext, tracer: (any Tracer)? = nil) -> String? {
        traceParent(of: context, tracer: tracer)?.traceID
    }

    /// The trace-id of the task's current span (`ServiceContext.current`), if any.
    public static func currentTraceID(tracer: (any Tracer)? = nil) -> String? {
        ServiceContext.current.flatMap { traceID(of: $0, tracer: tracer) }
    }

    /// The `traceparent` of the task's current span, for forwarding the trace context to a
    /// tool server or sub-agent outside ARCP (spec §11: "Runtimes MUST forward the trace
    /// context to tool servers and sub-agents"). Inside an agent body run under
    /// `TracingInstrumentation` the current span is the job's (or one the agent started).
    public static func currentTraceParent(tracer: (any Tracer)? = nil) -> TraceParent? {
        ServiceContext.current.flatMap { traceParent(of: $0, tracer: tracer) }
    }

    /// The full W3C trace context of `context` (`traceparent` and `tracestate`) as `tracer`
    /// propagates it, if it has a valid `traceparent`. A `tracestate` that is not printable
    /// ASCII of at most `W3CTraceContext.maxTraceStateLength` bytes is left out.
    public static func traceContext(of context: ServiceContext, tracer: (any Tracer)? = nil) -> W3CTraceContext? {
        var carrier: [String: String] = [:]
        (tracer ?? InstrumentationSystem.tracer).inject(context, into: &carrier, using: HeaderDictionaryInjector())
        guard let traceparent = carrier["traceparent"] else { return nil }
        return W3CTraceContext(traceparent: traceparent, tracestate: carrier["tracestate"]) ?? W3CTraceContext(traceparent: traceparent)
    }

    /// The full W3C trace context of the task's current span (`ServiceContext.current`), if
    /// any: what `propagateTraceContext()` sends with `job.submit`.
    public static func currentTraceContext(tracer: (any Tracer)? = nil) -> W3CTraceContext? {
        ServiceContext.current.flatMap { traceContext(of: $0, tracer: tracer) }
    }

    /// A context whose remote parent is the span `carried` names (its `traceparent`, with
    /// its `tracestate`), as `tracer` extracts it: a span started in it is a child of that
    /// span. This is how a submitted job's span is parented when the client sent its full
    /// context (`InstrumentedJob.traceContext`). `base` is the context to extend
    /// (`.topLevel` by default); a tracer that does not read `traceparent` leaves it
    /// unchanged.
    public static func context(
        for carried: W3CTraceContext, base: ServiceContext = .topLevel, tracer: (any Tracer)? = nil
    ) -> ServiceContext {
        var carrier = ["traceparent": carried.traceparent]
        if let tracestate = carried.tracestate { carrier["tracestate"] = tracestate }
        var context = base
        (tracer ?? InstrumentationSystem.tracer).extract(carrier, into: &context, using: HeaderDictionaryExtractor())
        return context
    }

    /// A context whose remote parent is in trace `traceID`, as `tracer` extracts it from a
    /// `traceparent`; a span started in it belongs to that trace. `trace_id` carries no span
    /// id, so the parent-id is `parentID(for:)`, a stand-in derived from the trace-id
    /// (backends show the span under a parent they never received: the submitting client's,
    /// in effect). Used for a submitted job whose client sent only `trace_id`; see
    /// `context(for:base:tracer:)` for one that sent its full context. `base` is the context to extend (`.topLevel` by default). An invalid
    /// trace-id, or a tracer that does not read `traceparent`, leaves `base` unchanged.
    public static func context(
        forTraceID traceID: String, sampled: Bool = true, base: ServiceContext = .topLevel, tracer: (any Tracer)? = nil
    ) -> ServiceContext {
        guard let parent = TraceParent(traceID: traceID, parentID: parentID(for: traceID), flags: sampled ? 1 : 0) else {
            return base
        }
        var context = base
        (tracer ?? InstrumentationSystem.tracer).extract(["traceparent": parent.header], into: &context, using: HeaderDictionaryExtractor())
        return context
    }

    /// The stand-in parent-id used for trace `traceID`: its low 64 bits, or its high 64 bits
    /// when those are zero (a valid trace-id is never all zero). Deterministic, so every job
    /// of one trace hangs under the same stand-in.
    public static func parentID(for traceID: String) -> String {
        let low = String(traceID.suffix(16))
        return low.utf8.allSatisfy({ $0 == UInt8(ascii: "0") }) ? String(traceID.prefix(16)) : low
    }
}

extension ARCPClient.Options {
    /// Sends the submitting task's current span with `job.submit` (spec §11, v1.0 §11): its
    /// trace-id as `trace_id` when the caller passes none, and its full W3C context
    /// (`traceparent` with the span id, `tracestate`) in the envelope extension
    /// `x-vendor.opentelemetry.tracecontext`, so the runtime's job span is a child of that
    /// span. Sets `traceContextProvider`.
    ///
    /// ```swift
    /// var options = ARCPClient.Options()
    /// options.propagateTraceContext()
    /// let client = ARCPClient(token: token, options: options)
    /// try await withSpan("checkout") { _ in
    ///     let job = try await client.submit(agent: "pricer")  // trace_id: this span's trace
    /// }
    /// ```
    ///
    /// `tracer` nil means `InstrumentationSystem.tracer` at each submit.
    public mutating func propagateTraceContext(tracer: (any Tracer)? = nil) {
        traceContextProvider = { ARCPTraceContext.currentTraceContext(tracer: tracer) }
    }
}
