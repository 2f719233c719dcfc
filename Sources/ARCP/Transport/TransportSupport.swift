import Synchronization

/// Pieces the package's WebSocket transports share (`package` access: not public API).
package enum WebSocketCloseReason {
    /// `reason` cut at a character boundary to at most 123 bytes of UTF-8: a close frame's
    /// payload is at most 125 bytes, two of them the code.
    package static func truncated(_ reason: String) -> String {
        var out = ""
        var bytes = 0
        for ch in reason {
            let n = String(ch).utf8.count
            if bytes + n > 123 { break }
            bytes += n
            out.append(ch)
        }
        return out
    }
}

/// Reports a connection's failure once: a transport whose connection ended with a protocol
/// violation throws it from the first `receive()` that meets it and returns nil afterwards,
/// like after a close, so a caller that treats `frameTooLarge`/`invalidFrame` as per-frame
/// and reads on does not get the same error forever.
package final class FailureReport: Sendable {
    private let reported = Atomic<Bool>(false)

    package init() {}

    /// True the first time only.
    package func isFirst() -> Bool {
        !reported.exchange(true, ordering: .relaxed)
    }
}
