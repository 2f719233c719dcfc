/// A request's full W3C Trace Context: `traceparent` and, optionally, `tracestate`.
///
/// ARCP's `trace_id` (spec §11) is the trace-id only; the caller's span id and `tracestate`
/// travel beside it in an envelope-level extension, the form the Python reference SDK's
/// OpenTelemetry middleware (`arcp.middleware.otel`) reads and writes:
///
/// ```json
/// "extensions": {"x-vendor.opentelemetry.tracecontext": {"traceparent": "00-…-…-01", "tracestate": "…"}}
/// ```
///
/// `ARCPClient` sends it on `job.submit` when `Options.traceContextProvider` supplies one;
/// the runtime hands it to its instrumentation (`InstrumentedJob.traceContext`) when it
/// agrees with `trace_id`, so the job's span becomes a child of the caller's span.
public struct W3CTraceContext: Sendable, Hashable, CustomStringConvertible {
    /// The extension's key inside the envelope's `extensions` object.
    public static let extensionKey = "x-vendor.opentelemetry.tracecontext"
    /// The envelope member that holds extensions.
    public static let extensionsMember = "extensions"
    /// The longest `tracestate` accepted, in bytes (W3C asks vendors to propagate at least
    /// 512 characters; 32 members of 128 characters fit).
    public static let maxTraceStateLength = 4096

    /// The `traceparent` header value, as given.
    public let traceparent: String
    /// The `tracestate` header value, if any (never empty).
    public let tracestate: String?
    /// The trace-id of `traceparent`: 32 lowercase hex characters (ARCP's `trace_id`).
    public let traceID: String
    /// The parent (span) id of `traceparent`: 16 lowercase hex characters.
    public let parentID: String
    /// The trace flags of `traceparent`; bit 0 is `sampled`.
    public let flags: UInt8

    /// Whether the `sampled` flag is set.
    public var sampled: Bool { flags & 1 == 1 }

    /// A context from its headers; nil when `traceparent` is not a valid W3C traceparent, or
    /// `tracestate` is not printable ASCII of at most `maxTraceStateLength` bytes. An empty
    /// `tracestate` counts as none.
    ///
    /// `traceparent`: version `00` must be exactly 55 characters; a later version is read by
    /// its first 55 characters, as W3C Trace Context asks; version `ff`, bad hex, upper-case
    /// hex and all-zero ids are rejected.
    public init?(traceparent: String, tracestate: String? = nil) {
        guard let (traceID, parentID, flags) = Self.parse(traceparent) else { return nil }
        let state = tracestate.flatMap { $0.isEmpty ? nil : $0 }
        if let state, !Self.isValidTraceState(state) { return nil }
        self.traceparent = traceparent
        self.tracestate = state
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
    }

    public var description: String {
        tracestate.map { "traceparent=\(traceparent) tracestate=\($0)" } ?? "traceparent=\(traceparent)"
    }

    /// The extension's value: `{"traceparent": …, "tracestate": …}`.
    public var extensionValue: JSONValue {
        var o: JSONObject = ["traceparent": .string(traceparent)]
        if let tracestate { o.append("tracestate", .string(tracestate)) }
        return .object(o)
    }

    /// Parses a `traceparent` value into its trace-id, parent-id and flags.
    static func parse(_ header: String) -> (traceID: String, parentID: String, flags: UInt8)? {
        let u = Array(header.utf8)
        guard u.count >= 55, u[2] == UInt8(ascii: "-"), u[35] == UInt8(ascii: "-"), u[52] == UInt8(ascii: "-") else { return nil }
        let text = { (r: Range<Int>) in String(decoding: u[r], as: UTF8.self) }
        let version = text(0..<2)
        guard isHex(version), version != "ff" else { return nil }
        if version == "00" {
            guard u.count == 55 else { return nil }
        } else if u.count > 55 {
            guard u[55] == UInt8(ascii: "-") else { return nil }
        }
        let flagsText = text(53..<55)
        guard isHex(flagsText), let flags = UInt8(flagsText, radix: 16) else { return nil }
        let traceID = text(3..<35)
        let parentID = text(36..<52)
        guard isHexID(traceID, length: 32), isHexID(parentID, length: 16) else { return nil }
        return (traceID, parentID, flags)
    }

    /// Printable ASCII (and tabs, W3C's optional white space), at most `maxTraceStateLength` bytes.
    static func isValidTraceState(_ s: String) -> Bool {
        s.utf8.count <= maxTraceStateLength && s.utf8.allSatisfy { $0 == 0x09 || (0x20...0x7E).contains($0) }
    }

    /// Whether `s` is `length` lowercase hex characters, not all zero (a W3C trace-id or
    /// parent-id; `package`: ARCPTracing's `TraceParent` checks its parts with it).
    package static func isHexID(_ s: String, length: Int) -> Bool {
        s.utf8.count == length && isHex(s) && s.utf8.contains { $0 != UInt8(ascii: "0") }
    }

    static func isHex(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// What an envelope carries in the extension.
    enum Carried: Equatable {
        /// No `x-vendor.opentelemetry.tracecontext` extension.
        case absent
        /// A valid context; `note` says what was dropped from it (a bad `tracestate`).
        case valid(W3CTraceContext, note: String?)
        /// Present but unusable, and why.
        case invalid(String)
    }

    /// Reads the extension from an envelope's unknown members (`Envelope.additionalFields`).
    /// A malformed `tracestate` is dropped (the `traceparent` is still used), as W3C Trace
    /// Context treats the two headers separately.
    static func read(_ fields: JSONObject) -> Carried {
        guard let extensions = fields[extensionsMember] else { return .absent }
        guard case .object(let members) = extensions else { return .invalid("\"extensions\" is a \(extensions.typeName), not an object") }
        guard let value = members[extensionKey] else { return .absent }
        guard case .object(let carrier) = value else { return .invalid("the extension is a \(value.typeName), not an object") }
        guard let parentValue = carrier["traceparent"] else { return .invalid("no traceparent") }
        guard case .string(let traceparent) = parentValue, let bare = W3CTraceContext(traceparent: traceparent) else {
            return .invalid("traceparent is not a valid W3C traceparent")
        }
        switch carrier["tracestate"] {
        case nil, .null?:
            return .valid(bare, note: nil)
        case .string(let state)?:
            if let full = W3CTraceContext(traceparent: traceparent, tracestate: state) { return .valid(full, note: nil) }
            return .valid(bare, note: "tracestate dropped: not printable ASCII of at most \(maxTraceStateLength) bytes")
        case let other?:
            return .valid(bare, note: "tracestate dropped: a \(other.typeName), not a string")
        }
    }
}

extension Envelope {
    /// The W3C trace context in the envelope's `extensions` member
    /// (`x-vendor.opentelemetry.tracecontext`, see `W3CTraceContext`); nil when absent or
    /// not a valid traceparent (a malformed `tracestate` alone is dropped). Setting it
    /// replaces that extension and keeps any other (an `extensions` member that is not an
    /// object is replaced); nil removes it (and an `extensions` object left empty).
    public var traceContext: W3CTraceContext? {
        get {
            if case .valid(let context, _) = W3CTraceContext.read(additionalFields) { return context }
            return nil
        }
        set {
            let current = additionalFields[W3CTraceContext.extensionsMember]
            if newValue == nil, current?.objectValue == nil { return }
            var extensions = current?.objectValue ?? JSONObject()
            extensions[W3CTraceContext.extensionKey] = newValue?.extensionValue
            additionalFields[W3CTraceContext.extensionsMember] = extensions.isEmpty ? nil : .object(extensions)
        }
    }
}
