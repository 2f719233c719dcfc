import ARCPWebSocketCore
import NIOCore
import NIOWebSocket

/// One frame off the wire (RFC 6455 §5.2), its payload already unmasked.
struct InboundFrame {
    var fin: Bool
    /// RSV1–RSV3 (no extension is negotiated, so any set bit is a violation).
    var hasReservedBits: Bool
    var opcode: WebSocketOpcode
    /// Whether the frame was masked (a client's must be, a server's must not).
    var wasMasked: Bool
    var payload: ByteBuffer
}

/// Cuts the bytes of a connection into frames, for ``WebSocketProtocolHandler``.
///
/// It replaces NIO's `WebSocketFrameDecoder` (which NIO's upgraders add, and which
/// `WebSocketProtocolHandler.install` then removes; the stand-alone server and client never add
/// it): behind NIO's generic `ByteToMessageHandler`
/// each frame travelled to the handler boxed in an `NIOAny` (an allocation and a dynamic cast
/// per frame) through unspecialized generic code that looked up type metadata on every call.
/// That was a tenth of a client's CPU per streamed event (docs/BENCHMARKS.md, "Frames parsed
/// in the protocol handler"). The rules are the same: a frame longer than `maxFrameSize`
/// fails before its payload is buffered; a control frame is at most 125 bytes and not
/// fragmented; a 64-bit length with its top bit set is refused. Reserved bits, masking and
/// opcodes are left to the handler, which knows which side it is on.
///
/// Bytes that do not make a whole frame yet are kept (at most one frame's worth plus a
/// header: the limit is checked as soon as the length is known).
struct InboundFrameParser {
    let maxFrameSize: Int
    /// Bytes received and not yet cut into frames.
    private var buffer: ByteBuffer?

    init(maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
    }

    enum Next {
        case frame(InboundFrame)
        /// No whole frame yet.
        case needMore
        /// The bytes break the framing rules; nothing after them can be parsed.
        case violation(WebSocketViolation)
    }

    /// Bytes held that are not yet a whole frame.
    var bufferedBytes: Int { buffer?.readableBytes ?? 0 }

    mutating func append(_ bytes: ByteBuffer) {
        if buffer == nil {
            buffer = bytes
        } else {
            var bytes = bytes
            buffer!.writeBuffer(&bytes)
        }
    }

    /// Drops what is held (after a violation).
    mutating func discard() {
        buffer = nil
    }

    /// The next whole frame of what was appended.
    mutating func next() -> Next {
        // Taken out while it is read, so the slices below do not make it copy itself.
        guard var bytes = buffer else { return .needMore }
        buffer = nil
        let result = Self.cut(&bytes, maxFrameSize: maxFrameSize)
        if bytes.readableBytes > 0 {
            // A partial frame stays; the bytes before it are dropped once they outweigh it.
            if bytes.readerIndex > 4096 && bytes.readerIndex > bytes.readableBytes { bytes.discardReadBytes() }
            buffer = bytes
        }
        return result
    }

    /// Reads one frame from the front of `bytes`, or nothing when it is not all there.
    private static func cut(_ bytes: inout ByteBuffer, maxFrameSize: Int) -> Next {
        let start = bytes.readerIndex
        guard let b0 = bytes.getInteger(at: start, as: UInt8.self), let b1 = bytes.getInteger(at: start + 1, as: UInt8.self)
        else { return .needMore }
        let raw = b0 & 0x0F
        let isControl = raw & 0x08 != 0
        let fin = b0 & 0x80 != 0
        let masked = b1 & 0x80 != 0
        var header = 2
        let length: UInt64
        switch b1 & 0x7F {
        case 126:
            guard let l = bytes.getInteger(at: start + 2, as: UInt16.self) else { return .needMore }
            length = UInt64(l)
            header = 4
        case 127:
            guard let l = bytes.getInteger(at: start + 2, as: UInt64.self) else { return .needMore }
            length = l
            header = 10
        case let l:
            length = UInt64(l)
        }
        if isControl && (length > 125 || !fin || header != 2) { return .violation(.invalidControlFrame) }
        // A peer number, compared before it is converted: a length with its top bit set
        // (RFC 6455 §5.2) is over any limit too.
        guard length <= UInt64(maxFrameSize) else { return .violation(.frameTooLarge(limit: maxFrameSize)) }
        let payloadLength = Int(length)
        var maskKey: WebSocketMaskingKey? = nil
        if masked {
            guard let key = bytes.getBytes(at: start + header, length: 4) else { return .needMore }
            maskKey = WebSocketMaskingKey(key)  // four bytes: never nil
            header += 4
        }
        guard bytes.readableBytes - header >= payloadLength else { return .needMore }
        guard let opcode = WebSocketOpcode(encodedWebSocketOpcode: raw) else { return .violation(.unknownOpcode) }
        bytes.moveReaderIndex(forwardBy: header)
        guard var payload = bytes.readSlice(length: payloadLength) else { return .needMore }
        if let maskKey { payload.webSocketUnmask(maskKey) }
        return .frame(InboundFrame(fin: fin, hasReservedBits: b0 & 0x70 != 0, opcode: opcode, wasMasked: masked, payload: payload))
    }
}
