/// Failures a transport reports.
public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The transport was closed (locally or by the peer) before the operation.
    case closed
    /// A frame exceeded the configured maximum size (bytes).
    case frameTooLarge(limit: Int)
    /// A frame could not be read (not UTF-8 text, a binary WebSocket frame, …).
    case invalidFrame(String)
    /// Connecting failed: the message says why (e.g. "connection refused").
    case connectFailed(String)
    /// Any other I/O failure.
    case io(String)

    public var description: String {
        switch self {
        case .closed: return "transport closed"
        case .frameTooLarge(let limit): return "frame larger than \(limit) bytes"
        case .invalidFrame(let why): return "invalid frame: \(why)"
        case .connectFailed(let why): return "connect failed: \(why)"
        case .io(let why): return "I/O error: \(why)"
        }
    }
}
