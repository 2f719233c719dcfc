import ARCP
import Instrumentation

/// A W3C Trace Context `traceparent` header value: `00-<trace-id>-<parent-id>-<flags>`.
///
/// ARCP's `trace_id` (spec §11) is the trace-id part: 32 lowercase hex characters, not all
/// zero. The parent-id is 16 lowercase hex characters, not all zero.
public struct TraceParent: Sendable, Hashable, CustomStringConvertible {
    /// The trace-id: 32 lowercase hex characters, not all zero.
    public let traceID: String
    /// The parent (span) id: 16 lowercase hex characters, not all zero.
    public let parentID: String
    /// The trace flags; bit 0 is `sampled`.
    public let flags: UInt8

    /// Whether the `sampled` flag is set.
    public var sampled: Bool { flags & 1 == 1 }

    /// A traceparent from its parts; nil when an id is malformed or all zero.
    public init?(traceID: String, parentID: String, flags: UInt8 = 1) {
        guard W3CTraceContext.isHexID(traceID, length: 32), W3CTraceContext.isHexID(parentID, length: 16) else { return nil }
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
    }

    /// Parses a `traceparent` header value. Version `00` must be exactly 55 characters; a
    /// later version is read by its first 55 characters, as W3C Trace Context asks; version
    /// `ff`, bad hex, upper-case hex and all-zero ids are rejected.
    public init?(_ header: String) {
        guard let context = W3CTraceContext(traceparent: header) else { return nil }
        self.init(traceID: context.traceID, parentID: context.parentID, flags: context.flags)
    }

    /// The `traceparent` of a full W3C trace context (its `tracestate` aside).
    public init(_ context: W3CTraceContext) {
        self.traceID = context.traceID
        self.parentID = context.parentID
        self.flags = context.flags
    }

    /// The header value, version `00`.
    public var header: String {
        let f = String(flags, radix: 16)
        return "00-\(traceID)-\(parentID)-\(f.count == 1 ? "0" + f : f)"
    }

    public var description: String { header }

}

/// A `[String: String]` carrier of trace headers, for `Instrument.extract` / `inject`.
/// Keys are matched exactly; `traceparent` and `tracestate` are lower case (W3C).
struct HeaderDictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

/// Writes trace headers into a `[String: String]` carrier.
struct HeaderDictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
