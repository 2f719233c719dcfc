/// Failures a `RuntimeStore` reports.
public enum RuntimeStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Events were appended to, or released from, a session that was never saved.
    case unknownSession(String)
    /// An appended seq was not above the session's last seq (or was below 1).
    case seqNotIncreasing(sessionID: String, seq: Int64, lastSeq: Int64)
    /// One frame is larger than the session's byte cap and can never be buffered.
    case eventTooLarge(sessionID: String, seq: Int64, bytes: Int, limit: Int)
    /// The underlying storage failed or holds data this version cannot read.
    case storage(String)

    public var description: String {
        switch self {
        case .unknownSession(let id): return "unknown session \(id)"
        case .seqNotIncreasing(let id, let seq, let last):
            return "event_seq \(seq) of session \(id) is not above its last seq \(last)"
        case .eventTooLarge(let id, let seq, let bytes, let limit):
            return "event \(seq) of session \(id) has \(bytes) bytes, above the session cap of \(limit)"
        case .storage(let why): return "event store: \(why)"
        }
    }
}
