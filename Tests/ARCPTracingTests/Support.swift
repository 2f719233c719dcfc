import ARCP
import ARCPTestSupport
import ARCPTracing
import Foundation
import InMemoryTracing
import Logging
import Synchronization
import Testing
import Tracing

/// The W3C `tracestate` of a context, as `W3CInMemoryTracer` propagates it.
enum TraceStateKey: ServiceContextKey {
    typealias Value = String
}

extension ServiceContext {
    var traceState: String? {
        get { self[TraceStateKey.self] }
        set { self[TraceStateKey.self] = newValue }
    }
}

/// `InMemoryTracer` with W3C-shaped ids that propagates context as `traceparent` and
/// `tracestate` headers, the way swift-otel's tracer does (`InMemoryTracer` alone uses keys
/// of its own). A span's context inherits its parent context's `tracestate`.
struct W3CInMemoryTracer: Tracer {
    let base = InMemoryTracer(idGenerator: .init(nextTraceID: { ARCPID.traceID() }, nextSpanID: { ARCPTraceContext.parentID(for: ARCPID.traceID()) }))

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
        if let state = context.traceState { injector.inject(state, forKey: "tracestate", into: &carrier) }
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: "traceparent", from: carrier), let parent = TraceParent(header) else { return }
        context.inMemorySpanContext = InMemorySpanContext(traceID: parent.traceID, spanID: parent.parentID, parentSpanID: nil)
        context.traceState = extractor.extract(key: "tracestate", from: carrier)
    }

    var finished: [FinishedInMemorySpan] { base.finishedSpans }

    /// The finished span of job `id`.
    func jobSpan(_ id: String) -> FinishedInMemorySpan? {
        finished.first { $0.operationName.hasPrefix("arcp.job") && $0.attributes.get("arcp.job_id") == .string(id) }
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

/// A client-side transport that keeps a copy of every frame the client sends.
final class RecordingTransport: Transport {
    let inner: MemoryTransport
    private let frames = Mutex<[String]>([])

    init(_ inner: MemoryTransport) { self.inner = inner }

    var sent: [String] { frames.withLock { $0 } }
    func receive() async throws -> String? { try await inner.receive() }
    func send(_ frame: String) async throws {
        frames.withLock { $0.append(frame) }
        try await inner.send(frame)
    }
    func close() async { await inner.close() }

    /// The sent frames of message type `type`, parsed.
    func sent(_ type: String) throws -> [JSONValue] {
        try sent.map { try JSONParser.parse($0) }.filter { $0["type"]?.stringValue == type }
    }
}

/// Speaks raw frames to a runtime, for wire-level tests.
struct RawPeer {
    let transport: MemoryTransport
    let sessionID: String

    /// Connects and says hello.
    static func connect(_ runtime: ARCPRuntime) async throws -> RawPeer {
        let (c, r) = MemoryTransport.pair()
        Task { await runtime.accept(r) }
        let hello = Envelope.make(.sessionHello(SessionHelloPayload(
            client: PeerInfo(name: "raw", version: "0"), auth: Auth(scheme: "bearer", token: "tok"),
            capabilities: HelloCapabilities(encodings: ["json"], features: Feature.allKnown))))
        try await c.send(FrameCodec.encode(hello))
        let welcome = try #require(try await c.receive().map { try Envelope(jsonText: $0) })
        return RawPeer(transport: c, sessionID: try #require(welcome.sessionId))
    }

    /// Sends `frame` (a `job.submit` text) and returns the `job.accepted` that answers it.
    func submit(_ frame: String) async throws -> JobAcceptedPayload {
        let id = try #require(try JSONParser.parse(frame)["id"]?.stringValue)
        try await transport.send(frame)
        while let text = try await transport.receive() {
            let envelope = try Envelope(jsonText: text)
            switch envelope.message {
            case .jobAccepted(let a) where a.requestId == id: return a
            case .sessionError(let e): throw ARCPError(e)
            default: continue
            }
        }
        throw ARCPError(.invalidRequest, "closed before job.accepted")
    }
}

