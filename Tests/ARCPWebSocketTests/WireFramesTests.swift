import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import ARCPWebSocket

/// The outbound text frames the transport writes as wire bytes, read back by NIO's own frame
/// decoder: every length encoding, masked (a client) and not (a server), several frames in one
/// buffer as a batch is sent.
@Suite("WebSocket: outbound frames as wire bytes")
struct WireFramesTests {
    /// `texts` as one buffer of frames, decoded by NIO's `WebSocketFrameDecoder`.
    func roundTrip(_ texts: [String], masked: Bool) throws -> [WebSocketFrame] {
        var wire = ByteBufferAllocator().buffer(capacity: 0)
        var expectedSize = 0
        for text in texts {
            let count = text.utf8.count
            expectedSize += WireFrames.frameSize(payloadLength: count, masked: masked)
            WireFrames.appendText(text, utf8Count: count, masked: masked, to: &wire)
        }
        #expect(wire.readableBytes == expectedSize)
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        try channel.writeInbound(wire)
        var frames: [WebSocketFrame] = []
        while let frame = try channel.readInbound(as: WebSocketFrame.self) { frames.append(frame) }
        _ = try channel.finish()
        return frames
    }

    @Test("each length encoding (7-bit, 16-bit, 64-bit) reads back as the same text frame", arguments: [false, true])
    func lengths(masked: Bool) throws {
        let texts = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000].map { String(repeating: "é", count: $0 / 2) + String(repeating: "x", count: $0 % 2) }
        let frames = try roundTrip(texts, masked: masked)
        #expect(frames.count == texts.count)
        for (frame, text) in zip(frames, texts) {
            #expect(frame.fin)
            #expect(frame.opcode == .text)
            #expect((frame.maskKey != nil) == masked)
            #expect(frame.rsv1 == false && frame.rsv2 == false && frame.rsv3 == false)
            #expect(String(buffer: frame.unmaskedData) == text)
        }
    }

    @Test("the header sizes are RFC 6455's")
    func headerSizes() {
        #expect(WireFrames.headerSize(payloadLength: 125, masked: false) == 2)
        #expect(WireFrames.headerSize(payloadLength: 126, masked: false) == 4)
        #expect(WireFrames.headerSize(payloadLength: 65_535, masked: false) == 4)
        #expect(WireFrames.headerSize(payloadLength: 65_536, masked: false) == 10)
        #expect(WireFrames.headerSize(payloadLength: 0, masked: true) == 6)
        #expect(WireFrames.headerSize(payloadLength: 65_536, masked: true) == 14)
    }

    @Test("a masked frame's payload is not sent in the clear")
    func maskedPayloadIsMasked() throws {
        let text = String(repeating: "secret ", count: 40)
        var wire = ByteBufferAllocator().buffer(capacity: 0)
        WireFrames.appendText(text, utf8Count: text.utf8.count, masked: true, to: &wire)
        let payload = wire.getSlice(at: wire.readerIndex + 8, length: text.utf8.count).map { String(buffer: $0) }
        #expect(payload != text)
        #expect(try roundTrip([text], masked: true).first.map { String(buffer: $0.unmaskedData) } == text)
    }
}
