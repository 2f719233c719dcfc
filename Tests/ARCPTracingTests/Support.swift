import ARCP
import ARCPTracing
import Foundation
import InMemoryTracing
import Synchronization
import Tracing

/// `InMemoryTracer` with W3C-shaped ids that propagates context as a `traceparent` header,
/// the way swift-otel's tracer does (`InMemoryTracer` alone uses keys of its own).
struct W3CInMemoryTracer: Tracer {
    let base = InMemoryTracer(idGenerator: .init(nextTraceID: { W3CInMemoryTracer.hex(2) }, nextSpanID: { W3CInMemoryTracer.hex(1) }))

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> InMemorySpan {
        base.startSpan(operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line)
    }

    func forceFlush() { base.forceFlush() }

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

    var finished: [FinishedInMemorySpan] { base.finishedSpans }

    /// The finished span of job `id`.
    func jobSpan(_ id: String) -> FinishedInMemorySpan? {
        finished.first { $0.operationName.hasPrefix("arcp.job") && $0.attributes.get("arcp.job_id") == .string(id) }
    }

    /// `words` random 64-bit words as lowercase hex (never all zero).
    static func hex(_ words: Int) -> String {
        var s = ""
        for i in 0..<words {
            let v = UInt64.random(in: (i == 0 ? 1 : 0)...UInt64.max)
            let h = String(v, radix: 16)
            s += String(repeating: "0", count: 16 - h.count) + h
        }
        return s
    }
}

/// A runtime with test agents, traced by `tracer` when `traced`.
func makeRuntime(
    tracer: W3CInMemoryTracer?, options: TracingInstrumentation.Options = .init(),
    configure: (inout ARCPRuntime.Configuration) -> Void = { _ in }
) throws -> ARCPRuntime {
    var config = ARCPRuntime.Configuration()
    config.heartbeatInterval = nil
    if let tracer { config.instrumentation = TracingInstrumentation(tracer: tracer, options: options) }
    configure(&config)
    return ARCPRuntime(configuration: config, verifier: StaticBearerVerifier(["tok": "me@example.com"]))
}

/// Connects a client over `MemoryTransport`; returns it and the runtime's serving task.
func connect(_ runtime: ARCPRuntime, options: ARCPClient.Options = .init()) async throws -> (ARCPClient, Task<Void, Never>) {
    let (c, r) = MemoryTransport.pair()
    let served = Task { await runtime.accept(r) }
    let client = ARCPClient(token: "tok", options: options)
    try await client.connect(c)
    return (client, served)
}

/// A value set once, awaited by others.
final class Flag: Sendable {
    private let state = Mutex<(set: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    var isSet: Bool { state.withLock { $0.set } }
    func set() {
        let w = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.set = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for c in w { c.resume() }
    }
    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.set { return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }
}
