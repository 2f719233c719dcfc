import ARCP

/// The WebSocket close codes ARCP connections use (RFC 6455 §7.4.1), in one place.
package enum CloseCode {
    /// The session ended normally.
    package static let normal: UInt16 = 1000
    /// The server is shutting down.
    package static let goingAway: UInt16 = 1001
    /// A frame-level protocol violation (unmasked client frame, stray continuation, …).
    package static let protocolError: UInt16 = 1002
    /// A binary frame: ARCP envelopes are text.
    package static let unsupportedData: UInt16 = 1003
    /// A text message that is not UTF-8.
    package static let invalidPayload: UInt16 = 1007
    /// A peer that breaks a limit other than size (pings while not reading).
    package static let policyViolation: UInt16 = 1008
    /// A message over the size limit (or a first message over the first-message cap).
    package static let messageTooBig: UInt16 = 1009
    /// The server has no room for another connection now.
    package static let tryAgainLater: UInt16 = 1013
}

/// Why this side closes a connection: the close code and reason it sends, and the
/// `TransportError` its `receive()` reports (once) for it.
package struct WebSocketViolation: Error, Sendable, Equatable {
    package var code: UInt16
    package var reason: String
    package var error: TransportError

    package init(code: UInt16, reason: String, error: TransportError) {
        self.code = code
        self.reason = reason
        self.error = error
    }

    package static let binaryFrame = WebSocketViolation(
        code: CloseCode.unsupportedData,
        reason: "binary frames are not supported: send each ARCP envelope as one text frame",
        error: .invalidFrame("binary frame"))

    package static let interleavedMessage = WebSocketViolation(
        code: CloseCode.protocolError, reason: "new message before the previous one ended",
        error: .invalidFrame("interleaved message"))

    package static let unexpectedContinuation = WebSocketViolation(
        code: CloseCode.protocolError, reason: "continuation frame without a message",
        error: .invalidFrame("unexpected continuation frame"))

    package static let invalidUTF8 = WebSocketViolation(
        code: CloseCode.invalidPayload, reason: "text frame is not valid UTF-8",
        error: .invalidFrame("text frame is not valid UTF-8"))

    package static let reservedBits = WebSocketViolation(
        code: CloseCode.protocolError, reason: "reserved bits set without a negotiated extension",
        error: .invalidFrame("reserved bits set"))

    package static let unmaskedClientFrame = WebSocketViolation(
        code: CloseCode.protocolError, reason: "client frames must be masked",
        error: .invalidFrame("unmasked client frame"))

    package static let maskedServerFrame = WebSocketViolation(
        code: CloseCode.protocolError, reason: "server frames must not be masked",
        error: .invalidFrame("masked server frame"))

    package static let unknownOpcode = WebSocketViolation(
        code: CloseCode.protocolError, reason: "unknown opcode", error: .invalidFrame("unknown opcode"))

    package static let invalidControlFrame = WebSocketViolation(
        code: CloseCode.protocolError, reason: "invalid control frame", error: .invalidFrame("invalid control frame"))

    /// A message (or one frame) over `limit` bytes.
    package static func messageTooLarge(limit: Int) -> WebSocketViolation {
        WebSocketViolation(
            code: CloseCode.messageTooBig, reason: "message larger than \(limit) bytes", error: .frameTooLarge(limit: limit))
    }

    /// A frame over the frame decoder's limit (reported by the codec, before reassembly).
    package static func frameTooLarge(limit: Int) -> WebSocketViolation {
        WebSocketViolation(
            code: CloseCode.messageTooBig, reason: "frame larger than \(limit) bytes", error: .frameTooLarge(limit: limit))
    }

    /// The first message, before the session is established, over its cap.
    package static func firstMessageTooLarge(limit: Int) -> WebSocketViolation {
        WebSocketViolation(
            code: CloseCode.messageTooBig,
            reason: "first message larger than \(limit) bytes (the limit before the session is established)",
            error: .frameTooLarge(limit: limit))
    }

    /// More than `limit` pings while the peer did not read the pongs.
    package static func pingFlood(limit: Int) -> WebSocketViolation {
        WebSocketViolation(
            code: CloseCode.policyViolation, reason: "more than \(limit) pings while not reading the pongs",
            error: .invalidFrame("ping flood: more than \(limit) pings while not reading the pongs"))
    }

    /// The connection limit was reached after the handshake was accepted (a race, or a
    /// framework that answers every refused upgrade the same way).
    package static func tooManyConnections(limit: Int) -> WebSocketViolation {
        WebSocketViolation(
            code: CloseCode.tryAgainLater, reason: "too many connections (limit \(limit)); try again later",
            error: .io("refused: too many connections (limit \(limit))"))
    }
}

/// Close reasons on the wire.
package enum CloseReason {
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
