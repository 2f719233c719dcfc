import ARCP
import ARCPTracing
import Foundation
import InMemoryTracing
import Synchronization
import Tracing

/// `arcp serve --trace-spans PATH|-`: a tracer that writes each finished span as one JSON line
/// (OpenTelemetry-like field names) and keeps nothing. Context travels as W3C `traceparent`,
/// so a job's span carries the ARCP `trace_id` as its trace id and the client's span as its
/// parent. For a real backend, run the runtime in your own process with swift-otel
/// (docs/TRACING.md); this is for looking at what a runtime does.
struct SpanLogTracer: Tracer {
    let sink: SpanLogSink

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> InMemorySpan {
        let parentContext = context()
        let parent = parentContext.inMemorySpanContext
        let spanContext = InMemorySpanContext(
            traceID: parent?.traceID ?? ARCPID.traceID(), spanID: ARCPTraceContext.parentID(for: ARCPID.traceID()),
            parentSpanID: parent?.spanID)
        let sink = self.sink
        return InMemorySpan(
            operationName: operationName, context: parentContext, spanContext: spanContext, kind: kind, startInstant: instant(),
            onEnd: { sink.write($0) })
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

/// Where finished spans go: one JSON object per line, written whole under a lock.
final class SpanLogSink: Sendable {
    private let handle: Mutex<FileHandle>

    init(handle: FileHandle) {
        self.handle = Mutex(handle)
    }

    /// `-` is stderr; anything else a file, created or appended to.
    static func open(_ path: String) throws -> SpanLogSink {
        if path == "-" { return SpanLogSink(handle: .standardError) }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CLIFailure(message: "cannot create --trace-spans file \(path)")
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw CLIFailure(message: "cannot open --trace-spans file \(path)") }
        h.seekToEndOfFile()
        return SpanLogSink(handle: h)
    }

    func write(_ span: FinishedInMemorySpan) {
        let line = JSONWriter.string(Self.json(span)) + "\n"
        handle.withLock { $0.write(Data(line.utf8)) }
    }

    static func json(_ span: FinishedInMemorySpan) -> JSONValue {
        var attributes = JSONObject()
        span.attributes.forEach { key, value in attributes[key] = json(value) }
        var object: JSONObject = [
            "name": .string(span.operationName),
            "trace_id": .string(span.traceID),
            "span_id": .string(span.spanID),
            "kind": .string("\(span.kind)"),
            "start_unix_nano": .int(Int64(clamping: span.startInstant.nanosecondsSinceEpoch)),
            "end_unix_nano": .int(Int64(clamping: span.endInstant.nanosecondsSinceEpoch)),
            "attributes": .object(attributes),
        ]
        if let parent = span.parentSpanID { object["parent_span_id"] = .string(parent) }
        if let status = span.status {
            object["status"] = .string("\(status.code)")
            if let message = status.message { object["status_message"] = .string(message) }
        }
        if !span.events.isEmpty {
            object["events"] = .array(span.events.map { event in
                var a = JSONObject()
                event.attributes.forEach { key, value in a[key] = json(value) }
                return ["name": .string(event.name), "attributes": .object(a)]
            })
        }
        if !span.errors.isEmpty { object["errors"] = .array(span.errors.map { .string("\($0.error)") }) }
        return .object(object)
    }

    static func json(_ attribute: SpanAttribute) -> JSONValue {
        switch attribute {
        case .int32(let v): return .int(Int64(v))
        case .int64(let v): return .int(v)
        case .double(let v): return .double(v)
        case .bool(let v): return .bool(v)
        case .string(let v): return .string(v)
        case .int32Array(let v): return .array(v.map { .int(Int64($0)) })
        case .int64Array(let v): return .array(v.map { .int($0) })
        case .doubleArray(let v): return .array(v.map { .double($0) })
        case .boolArray(let v): return .array(v.map { .bool($0) })
        case .stringArray(let v): return .array(v.map { .string($0) })
        default: return .string("\(attribute)")
        }
    }
}
