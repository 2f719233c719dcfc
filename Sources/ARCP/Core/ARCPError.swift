@_exported import ARCPGenerated

/// A typed ARCP error: what a runtime sends as `session.error` / `job.error`, what an agent
/// throws to fail a job with a specific code, and what the client throws to its caller.
public struct ARCPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The fields, behind one reference. An error is one pointer wide: async functions keep
    /// every temporary in the task's frame, and `throws(ARCPError)`, `Result<_, ARCPError>`
    /// and error paths put many of them there; at ~80 bytes each they made a connection's
    /// frames kilobytes larger for as long as it lived (docs/BENCHMARKS.md, "Per-session
    /// memory"). The box is immutable: a setter replaces it, so copies never share a change.
    private final class Box: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private struct Fields: Sendable, Equatable {
        var code: ErrorCode
        var message: String
        var retryable: Bool
        var details: JSONValue?
        var finalStatus: FinalStatus?
        var requestID: String?
    }

    private var box: Box

    private mutating func update(_ change: (inout Fields) -> Void) {
        var fields = box.fields
        change(&fields)
        box = Box(fields)
    }

    /// The wire error code (spec §12).
    public var code: ErrorCode {
        get { box.fields.code }
        set { update { $0.code = newValue } }
    }
    /// A sentence for people; sent on the wire, so it never holds secrets.
    public var message: String {
        get { box.fields.message }
        set { update { $0.message = newValue } }
    }
    /// Whether the same request may succeed if sent again (spec §12).
    public var retryable: Bool {
        get { box.fields.retryable }
        set { update { $0.retryable = newValue } }
    }
    /// Structured details (`details` on the wire), e.g. `limit` and `max` for a limit.
    public var details: JSONValue? {
        get { box.fields.details }
        set { update { $0.details = newValue } }
    }
    /// For job failures: how the job ended.
    public var finalStatus: FinalStatus? {
        get { box.fields.finalStatus }
        set { update { $0.finalStatus = newValue } }
    }
    /// The id of the request envelope this error answers, when known.
    public var requestID: String? {
        get { box.fields.requestID }
        set { update { $0.requestID = newValue } }
    }

    /// An error with `code` and `message`; `retryable` defaults to the code's
    /// (`defaultRetryable(_:)`).
    public init(
        _ code: ErrorCode, _ message: String, retryable: Bool? = nil, details: JSONValue? = nil,
        finalStatus: FinalStatus? = nil, requestID: String? = nil
    ) {
        box = Box(
            Fields(
                code: code, message: message, retryable: retryable ?? ARCPError.defaultRetryable(code), details: details,
                finalStatus: finalStatus, requestID: requestID))
    }

    public static func == (a: ARCPError, b: ARCPError) -> Bool { a.box === b.box || a.box.fields == b.box.fields }

    /// INTERNAL_ERROR is always retryable (spec §12); LEASE_EXPIRED and BUDGET_EXHAUSTED never are.
    public static func defaultRetryable(_ code: ErrorCode) -> Bool {
        switch code {
        case .internalError, .heartbeatLost: return true
        default: return false
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// `INVALID_REQUEST` with message `m`.
    public static func invalidRequest(_ m: String) -> ARCPError { ARCPError(.invalidRequest, m) }
    /// `PERMISSION_DENIED` with message `m`.
    public static func permissionDenied(_ m: String) -> ARCPError { ARCPError(.permissionDenied, m) }
    /// `JOB_NOT_FOUND` naming job `id`.
    public static func jobNotFound(_ id: String) -> ARCPError { ARCPError(.jobNotFound, "unknown job_id: \(id)") }
    /// `INTERNAL_ERROR` (retryable) with message `m`.
    public static func internalError(_ m: String) -> ARCPError { ARCPError(.internalError, m, retryable: true) }

    /// The wire payload.
    public var payload: ErrorPayload {
        ErrorPayload(code: code, message: message, retryable: retryable, details: details, requestId: requestID)
    }

    /// The error a `session.error` (or `job.error`-shaped) payload carries.
    public init(_ p: ErrorPayload) {
        self.init(p.code, p.message, retryable: p.retryable, details: p.details, requestID: p.requestId)
    }

    /// The error a `job.error` payload carries, with its final status.
    public init(_ p: JobErrorPayload) {
        self.init(p.code, p.message, retryable: p.retryable, details: p.details, finalStatus: p.finalStatus)
    }
}
