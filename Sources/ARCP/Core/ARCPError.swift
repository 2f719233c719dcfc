@_exported import ARCPGenerated

/// A typed ARCP error: what a runtime sends as `session.error` / `job.error`, what an agent
/// throws to fail a job with a specific code, and what the client throws to its caller.
public struct ARCPError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var retryable: Bool
    public var details: JSONValue?
    /// For job failures: how the job ended.
    public var finalStatus: FinalStatus?
    /// The id of the request envelope this error answers, when known.
    public var requestID: String?

    public init(
        _ code: ErrorCode, _ message: String, retryable: Bool? = nil, details: JSONValue? = nil,
        finalStatus: FinalStatus? = nil, requestID: String? = nil
    ) {
        self.code = code
        self.message = message
        self.retryable = retryable ?? ARCPError.defaultRetryable(code)
        self.details = details
        self.finalStatus = finalStatus
        self.requestID = requestID
    }

    /// INTERNAL_ERROR is always retryable (spec §12); LEASE_EXPIRED and BUDGET_EXHAUSTED never are.
    public static func defaultRetryable(_ code: ErrorCode) -> Bool {
        switch code {
        case .internalError, .heartbeatLost: return true
        default: return false
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public static func invalidRequest(_ m: String) -> ARCPError { ARCPError(.invalidRequest, m) }
    public static func permissionDenied(_ m: String) -> ARCPError { ARCPError(.permissionDenied, m) }
    public static func jobNotFound(_ id: String) -> ARCPError { ARCPError(.jobNotFound, "unknown job_id: \(id)") }
    public static func internalError(_ m: String) -> ARCPError { ARCPError(.internalError, m, retryable: true) }

    /// The wire payload.
    public var payload: ErrorPayload {
        ErrorPayload(code: code, message: message, retryable: retryable, details: details, requestId: requestID)
    }

    public init(_ p: ErrorPayload) {
        self.init(p.code, p.message, retryable: p.retryable, details: p.details, requestID: p.requestId)
    }

    public init(_ p: JobErrorPayload) {
        self.init(p.code, p.message, retryable: p.retryable, details: p.details, finalStatus: p.finalStatus)
    }
}
