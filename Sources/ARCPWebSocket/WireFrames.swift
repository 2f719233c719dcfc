import NIOCore
import NIOWebSocket

/// Outbound text frames as wire bytes (RFC 6455 §5.2), written by ``OutboundPump`` past NIO's
/// `WebSocketFrameEncoder` (``WebSocketProtocolHandler/writeWire(_:promise:)``).
///
/// Why not a `WebSocketFrame` per message through the encoder: the encoder can put a frame's
/// header in front of its payload only when it owns the payload buffer alone, which a frame
/// written through the pipeline never does unmasked (the frame that carries it still holds
/// it), so each message became two buffers, two pipeline writes and two iovecs. A batch of
/// events is now one buffer: every frame's header and payload, one write. `perf` put the
/// encoder's separate header and the per-frame pipeline writes at about a third of the
/// runtime's event-loop CPU while streaming (docs/BENCHMARKS.md, session 9).
enum WireFrames {
    /// The size of an unfragmented frame's header for a payload of `length` bytes.
    static func headerSize(payloadLength length: Int, masked: Bool) -> Int {
        let lengthBytes = length <= 125 ? 0 : (length <= 0xFFFF ? 2 : 8)
        return 2 + lengthBytes + (masked ? 4 : 0)
    }

    /// The wire size of one unfragmented frame with a payload of `length` bytes.
    static func frameSize(payloadLength length: Int, masked: Bool) -> Int {
        headerSize(payloadLength: length, masked: masked) + length
    }

    /// Appends `text` to `buffer` as one unfragmented text frame (`utf8Count` is
    /// `text.utf8.count`); masked with a fresh random key when `masked` (a client, §5.3).
    static func appendText(_ text: String, utf8Count length: Int, masked: Bool, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0x81))  // FIN, opcode 1 (text)
        let maskBit: UInt8 = masked ? 0x80 : 0
        if length <= 125 {
            buffer.writeInteger(UInt8(length) | maskBit)
        } else if length <= 0xFFFF {
            buffer.writeInteger(126 | maskBit)
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(127 | maskBit)
            buffer.writeInteger(UInt64(length))
        }
        guard masked else {
            buffer.writeString(text)
            return
        }
        let key = WebSocketMaskingKey.random()
        buffer.writeBytes(key)
        let payload = buffer.writerIndex - buffer.readerIndex  // in the readable bytes
        buffer.writeString(text)
        buffer.withUnsafeMutableReadableBytes { bytes in
            for i in 0..<length { bytes[payload + i] ^= key[i & 3] }
        }
    }
}
