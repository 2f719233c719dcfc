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
    /// Bytes received and not yet cut into frames (when `queued` is set: a partial frame).
    private var buffer: ByteBuffer?
    /// What arrived behind the partial frame in `buffer`. Only the bytes that frame lacks are
    /// copied over; the rest is read where it is, so a read's bytes are not copied again
    /// because the previous read ended inside a frame (docs/BENCHMARKS.md, session 15).
    private var queued: ByteBuffer?

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
    var bufferedBytes: Int { (buffer?.readableBytes ?? 0) + (queued?.readableBytes ?? 0) }

    /// Adds the bytes of a read.
    mutating func append(_ bytes: ByteBuffer) {
        if buffer == nil && queued == nil {
            buffer = bytes
        } else if queued == nil {
            queued = bytes
        } else {
            var bytes = bytes
            queued?.writeBuffer(&bytes)
        }
    }

    /// Drops what is held (after a violation).
    mutating func discard() {
        buffer = nil
        queued = nil
    }

    /// The next whole frame of what was appended.
    mutating func next() -> Next {
        while true {
            // Taken out while it is read, so the slices below do not make it copy itself.
            guard var bytes = buffer else {
                guard let rest = queued else { return .needMore }
                (buffer, queued) = (rest, nil)
                continue
            }
            buffer = nil
            let result = Self.cut(&bytes, maxFrameSize: maxFrameSize)
            guard case .needMore = result else {
                if bytes.readableBytes > 0 { buffer = bytes }
                return result
            }
            guard var rest = queued else {
                buffer = Self.compacted(bytes, maxFrameSize: maxFrameSize)
                return .needMore
            }
            // The partial frame takes what it lacks from the bytes behind it.
            let take = min(Self.lacking(bytes, maxFrameSize: maxFrameSize), rest.readableBytes)
            if var part = rest.readSlice(length: take) {
                bytes = Self.compacted(bytes, maxFrameSize: maxFrameSize)
                bytes.writeBuffer(&part)
            }
            buffer = bytes
            queued = rest.readableBytes > 0 ? rest : nil
        }
    }

    /// The longest frame header: 2 bytes, a 64-bit length, a masking key.
    static let maxHeaderLength = 14

    /// How many more bytes the frame at the front of `bytes` needs before it can be cut, or
    /// before its header can be read further (at most a header's worth while it is not known);
    /// `Int.max` for a frame over the limit (`cut` refuses it once its length is there).
    static func lacking(_ bytes: ByteBuffer, maxFrameSize: Int) -> Int {
        let start = bytes.readerIndex
        guard let b1 = bytes.getInteger(at: start + 1, as: UInt8.self) else { return 2 - bytes.readableBytes }
        let maskLength = b1 & 0x80 != 0 ? 4 : 0
        let length: UInt64
        var header: Int
        switch b1 & 0x7F {
        case 126:
            guard let l = bytes.getInteger(at: start + 2, as: UInt16.self) else { return 4 - bytes.readableBytes }
            (length, header) = (UInt64(l), 4)
        case 127:
            guard let l = bytes.getInteger(at: start + 2, as: UInt64.self) else { return 10 - bytes.readableBytes }
            (length, header) = (l, 10)
        case let l:
            (length, header) = (UInt64(l), 2)
        }
        header += maskLength
        // A peer number, compared before it is converted.
        guard length <= UInt64(maxFrameSize) else { return Int.max }
        return Swift.max(1, header + Int(length) - bytes.readableBytes)
    }

    /// A partial frame left at the end of a read, in a buffer of its own with room for what the
    /// frame lacks (up to 64 KiB more; a larger frame's buffer grows as its bytes arrive, so a
    /// peer that announces a long frame and sends nothing more costs no more than before): the
    /// read's buffer is let go, and the frame's next bytes are written without copying it again.
    private static func compacted(_ bytes: ByteBuffer, maxFrameSize: Int) -> ByteBuffer {
        let lack = Swift.min(lacking(bytes, maxFrameSize: maxFrameSize), 64 * 1024)
        guard bytes.readerIndex > 0 || bytes.writableBytes < lack else { return bytes }
        var fresh = ByteBufferAllocator().buffer(capacity: bytes.readableBytes + Swift.max(lack, maxHeaderLength))
        var copy = bytes
        fresh.writeBuffer(&copy)
        return fresh
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
