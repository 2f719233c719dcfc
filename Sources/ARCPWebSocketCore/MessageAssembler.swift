import NIOCore
import NIOWebSocket

/// Turns data frames into ARCP messages: the RFC 6455 message rules and ARCP's size rules, as a
/// pure state machine (no I/O) every adapter feeds its frames into.
///
/// - A text frame with FIN is one message; one without starts a message that continuation
///   frames complete. Fragments are reassembled up to the size limit.
/// - The size limit is ``ConnectionLimits/maxFirstMessageSize`` until the first message has
///   been delivered (before the session is established), then ``ConnectionLimits/maxMessageSize``;
///   it applies to each frame and to the message being reassembled, so a fragmented message is
///   refused as soon as it grows past the limit.
/// - Violations: binary → 1003, over the limit → 1009, invalid UTF-8 → 1007, a text frame inside
///   a fragmented message or a continuation without one → 1002. After a violation the assembler
///   delivers nothing more (the caller closes the connection).
///
/// Control frames (ping, pong, close) are the caller's: they do not reach the assembler.
package struct MessageAssembler: Sendable {
    package enum Outcome: Sendable, Equatable {
        /// A fragment was kept; the message is not complete yet.
        case incomplete
        /// A complete message.
        case message(String)
        /// The peer broke a rule: close with the violation's code and reason.
        case violation(WebSocketViolation)
    }

    private let maxMessageSize: Int
    private let maxFirstMessageSize: Int
    private var fragments: ByteBuffer?
    private var deliveredFirst = false
    private var failed = false

    package init(limits: ConnectionLimits) {
        self.maxMessageSize = limits.maxMessageSize
        self.maxFirstMessageSize = limits.maxFirstMessageSize
    }

    /// Whether the first message has been delivered (the first-message cap no longer applies).
    package var hasDeliveredFirstMessage: Bool { deliveredFirst }

    /// The size limit in force now.
    package var currentLimit: Int { deliveredFirst ? maxMessageSize : maxFirstMessageSize }

    /// One data frame (`.text`, `.binary` or `.continuation`), its payload already unmasked.
    package mutating func receive(opcode: WebSocketOpcode, fin: Bool, payload: ByteBuffer) -> Outcome {
        if failed { return .incomplete }
        switch opcode {
        case .text:
            if fragments != nil { return fail(.interleavedMessage) }
            if payload.readableBytes > currentLimit { return fail(tooLarge()) }
            if fin { return complete(payload) }
            fragments = payload
            return .incomplete
        case .continuation:
            guard var message = fragments else { return fail(.unexpectedContinuation) }
            fragments = nil
            if message.readableBytes + payload.readableBytes > currentLimit { return fail(tooLarge()) }
            var more = payload
            message.writeBuffer(&more)
            if fin { return complete(message) }
            fragments = message
            return .incomplete
        case .binary:
            return fail(.binaryFrame)
        default:
            return fail(.unknownOpcode)
        }
    }

    /// A whole message from a framework that reassembles fragments itself (its own size limit
    /// must be at least ``ConnectionLimits/maxMessageSize``): the same size rules.
    package mutating func receive(text: String) -> Outcome {
        if failed { return .incomplete }
        if text.utf8.count > currentLimit { return fail(tooLarge()) }
        deliveredFirst = true
        return .message(text)
    }

    /// A whole binary message from such a framework.
    package mutating func receiveBinary() -> Outcome {
        if failed { return .incomplete }
        return fail(.binaryFrame)
    }

    private func tooLarge() -> WebSocketViolation {
        // The first-message reason only where that cap is tighter than the message limit.
        deliveredFirst || maxFirstMessageSize >= maxMessageSize
            ? .messageTooLarge(limit: currentLimit)
            : .firstMessageTooLarge(limit: maxFirstMessageSize)
    }

    private mutating func complete(_ payload: ByteBuffer) -> Outcome {
        let text = payload.withUnsafeReadableBytes { Self.text($0) }
        guard let text else { return fail(.invalidUTF8) }
        deliveredFirst = true
        return .message(text)
    }

    /// `bytes` as a string when they are UTF-8, else nil. A message that is all ASCII (JSON
    /// almost always is) is checked eight bytes at a time and decoded without the standard
    /// library's generic `String(validating:as:)`, which looks up generic type metadata on
    /// every call (1.5 % of a client's CPU per streamed event, docs/BENCHMARKS.md, session 11).
    package static func text(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let base = bytes.baseAddress else { return "" }
        var i = 0
        var ascii = true
        while bytes.count - i >= 8 {
            if base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 {
                ascii = false
                break
            }
            i += 8
        }
        while ascii && i < bytes.count {
            if bytes[i] >= 0x80 { ascii = false }
            i += 1
        }
        if ascii { return String(decoding: bytes, as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }

    private mutating func fail(_ violation: WebSocketViolation) -> Outcome {
        failed = true
        fragments = nil
        return .violation(violation)
    }
}
