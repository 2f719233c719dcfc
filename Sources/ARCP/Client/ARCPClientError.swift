/// A failure on the client's side of the wire: the request or job did not get an answer from the
/// runtime, for a local reason. (What the runtime answers with an error, `session.error` or
/// `job.error`, is an `ARCPError` with its wire code; the two never mix.)
///
/// ```swift
/// do {
///     let outcome = try await job.result()
/// } catch let e as ARCPError {          // the runtime said no (e.code is the wire code)
/// } catch let e as ARCPClientError where e.code == .connectionLost {
///     // the connection dropped and could not be resumed; e.cause says why
/// }
/// ```
public struct ARCPClientError: Error, Sendable, CustomStringConvertible {
    /// What kind of local failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case notConnected = "not connected"
            case connectionLost = "connection lost"
            case timedOut = "timed out"
            case cancelled = "cancelled"
            case closed = "closed"
            case protocolViolation = "protocol violation"
            case resultTooLarge = "result too large"
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// There is no session to send on: `connect` was never called, it failed, or the
        /// session ended (the `cause` is what ended it).
        public static let notConnected = Code(.notConnected)
        /// The connection dropped (or could not be resumed) before the answer came. The
        /// request may or may not have reached the runtime; the `cause` is the transport's
        /// error, the runtime's `HEARTBEAT_LOST`, or the last reconnect attempt's failure.
        public static let connectionLost = Code(.connectionLost)
        /// No answer within `Options.requestTimeout` (a request, or the handshake).
        public static let timedOut = Code(.timedOut)
        /// The waiting task was cancelled (`cause` is its `CancellationError`), or the caller
        /// gave the job up (`unsubscribe`).
        public static let cancelled = Code(.cancelled)
        /// The session was closed before the answer came: by `close()`, or by the runtime's
        /// `session.bye`.
        public static let closed = Code(.closed)
        /// The runtime sent something the client cannot accept (an unreadable handshake reply,
        /// a reply of the wrong type, result chunks out of order or not valid base64).
        public static let protocolViolation = Code(.protocolViolation)
        /// A streamed result grew past `Options.maxAssembledResult`.
        public static let resultTooLarge = Code(.resultTooLarge)

        public var description: String { value.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A sentence for people (logs, error messages).
    public var message: String
    /// The error underneath, when there is one (a `TransportError`, the runtime's
    /// `ARCPError`, a `CancellationError`, …).
    public var cause: (any Error)?

    /// A failure of kind `code`, described by `message`, caused by `cause` if any.
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// Whether trying again may succeed: after a lost connection or a timeout the runtime
    /// may not have seen the request (use an idempotency key to submit safely again).
    public var isRetryable: Bool { code == .connectionLost || code == .timedOut }

    public var description: String {
        if let cause { return "\(code): \(message) (cause: \(cause))" }
        return "\(code): \(message)"
    }
}
