import ARCPWebSocketCore
import NIOCore
import NIOWebSocket
import Testing

@testable import ARCPWebSocket

@Suite("WebSocket: inbound frame parser (RFC 6455 §5.2)")
struct InboundFrameParserTests {
    /// The wire bytes of one frame (a 7-, 16- or 64-bit length as `lengthForm` says, or the
    /// shortest), masked with `mask` when given.
    func wire(
        _ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0, mask: [UInt8]? = nil, lengthForm: Int? = nil,
        declaredLength: UInt64? = nil
    ) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | rsv | opcode]
        let maskBit: UInt8 = mask == nil ? 0 : 0x80
        let length = declaredLength ?? UInt64(payload.count)
        switch lengthForm ?? (length < 126 ? 7 : length <= 0xFFFF ? 16 : 64) {
        case 7: out.append(maskBit | UInt8(length))
        case 16:
            out.append(maskBit | 126)
            out += [UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
        default:
            out.append(maskBit | 127)
            out += (0..<8).reversed().map { UInt8(length >> (UInt64($0) * 8) & 0xFF) }
        }
        if let mask {
            out += mask
            out += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        } else {
            out += payload
        }
        return out
    }

    func frames(_ parser: inout InboundFrameParser) -> [InboundFrame] {
        var out: [InboundFrame] = []
        while case .frame(let f) = parser.next() { out.append(f) }
        return out
    }

    @Test("a masked frame fed one byte at a time comes out once, whole and unmasked")
    func byteByByte() {
        var parser = InboundFrameParser(maxFrameSize: 1 << 20)
        let bytes = wire(0x1, Array("hello, frames".utf8), mask: [1, 2, 3, 4])
        var got: [InboundFrame] = []
        for b in bytes {
            parser.append(ByteBuffer(bytes: [b]))
            got += frames(&parser)
        }
        #expect(got.count == 1)
        #expect(got.first.map { String(buffer: $0.payload) } == "hello, frames")
        #expect(got.first?.wasMasked == true)
        #expect(got.first?.opcode == .text)
        #expect(got.first?.fin == true)
        #expect(parser.bufferedBytes == 0)
    }

    @Test("several frames in one read, with 7-, 16- and 64-bit lengths, in order")
    func lengthForms() {
        var parser = InboundFrameParser(maxFrameSize: 1 << 20)
        let small = Array(repeating: UInt8(ascii: "a"), count: 125)
        let medium = Array(repeating: UInt8(ascii: "b"), count: 300)
        let large = Array(repeating: UInt8(ascii: "c"), count: 70_000)
        parser.append(ByteBuffer(bytes: wire(0x1, small) + wire(0x0, medium, fin: false) + wire(0x2, large, mask: [9, 8, 7, 6]) + [0x81]))
        let got = frames(&parser)
        #expect(got.map(\.payload.readableBytes) == [125, 300, 70_000])
        #expect(got.map(\.opcode) == [.text, .continuation, .binary])
        #expect(got.map(\.fin) == [true, false, true])
        #expect(got.last.map { Array($0.payload.readableBytesView) == large } == true)
        // The start of a fourth frame waits for the rest.
        #expect(parser.bufferedBytes == 1)
        parser.append(ByteBuffer(bytes: [0x00]))
        #expect(frames(&parser).map(\.payload.readableBytes) == [0])
    }

    /// Frames of every length form, masked or not, in reads cut at random places (a read may
    /// end inside a header, a mask or a payload, and carry the starts of the next frames):
    /// each comes out once, whole, in order, and nothing is left over. Half the runs append
    /// two reads before asking for frames.
    @Test("frames cut into reads at random places come out whole and in order")
    func randomCuts() {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<100 {
            var payloads: [[UInt8]] = []
            var stream: [UInt8] = []
            for i in 0..<Int.random(in: 1...12, using: &rng) {
                let count = [0, 1, 125, 126, 300, 70_000, Int.random(in: 0...2000, using: &rng)].randomElement(using: &rng) ?? 0
                let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &+ i &+ round) }
                payloads.append(payload)
                let mask: [UInt8]? = Bool.random(using: &rng) ? [UInt8.random(in: 0...255, using: &rng), 7, 8, 9] : nil
                stream += wire(0x1, payload, mask: mask, lengthForm: count < 126 && Bool.random(using: &rng) ? 64 : nil)
            }
            var parser = InboundFrameParser(maxFrameSize: 1 << 20)
            var got: [[UInt8]] = []
            var offset = 0
            let pairs = round % 2 == 0
            var reads = 0
            while offset < stream.count {
                // Mostly reads as a socket gives them, sometimes a few bytes.
                let n = (Int.random(in: 0..<4, using: &rng) == 0 ? [1, 2, 3, 13, 14, 15] : [200, 1500, 4096, 65536])
                    .randomElement(using: &rng) ?? 1
                parser.append(ByteBuffer(bytes: stream[offset..<min(stream.count, offset + n)]))
                offset += n
                reads += 1
                if !pairs || reads % 2 == 0 || offset >= stream.count {
                    got += frames(&parser).map { Array($0.payload.readableBytesView) }
                }
            }
            #expect(got == payloads, "round \(round): \(got.map(\.count)) vs \(payloads.map(\.count))")
            #expect(parser.bufferedBytes == 0)
            if got != payloads { return }
        }
    }

    @Test("a frame over the limit is refused from its header, before its payload is buffered")
    func overTheLimit() {
        var parser = InboundFrameParser(maxFrameSize: 1000)
        let header = Array(wire(0x1, [], lengthForm: 16, declaredLength: 1001).prefix(4))
        parser.append(ByteBuffer(bytes: header))
        guard case .violation(let v) = parser.next() else {
            Issue.record("expected a violation")
            return
        }
        #expect(v == .frameTooLarge(limit: 1000))
        // Exactly the limit is fine.
        var ok = InboundFrameParser(maxFrameSize: 1000)
        ok.append(ByteBuffer(bytes: wire(0x1, Array(repeating: 0x61, count: 1000))))
        #expect(frames(&ok).count == 1)
    }

    @Test("a 64-bit length with its top bit set is refused (no conversion traps)")
    func topBitLength() {
        var parser = InboundFrameParser(maxFrameSize: .max)
        parser.append(ByteBuffer(bytes: wire(0x1, [], lengthForm: 64, declaredLength: UInt64.max)))
        guard case .violation(let v) = parser.next() else {
            Issue.record("expected a violation")
            return
        }
        #expect(v == .frameTooLarge(limit: .max))
    }

    @Test("control frames: over 125 bytes, fragmented, or with a long length form are refused")
    func controlFrames() {
        let cases: [[UInt8]] = [
            wire(0x9, Array(repeating: 0, count: 126)),
            wire(0x9, [1, 2], fin: false),
            wire(0xA, [1, 2, 3, 4, 5], lengthForm: 16),
            wire(0x8, [0x03, 0xE8], fin: false),
        ]
        for bytes in cases {
            var parser = InboundFrameParser(maxFrameSize: 1 << 20)
            parser.append(ByteBuffer(bytes: bytes))
            guard case .violation(let v) = parser.next() else {
                Issue.record("expected a violation for \(bytes.prefix(4))")
                continue
            }
            #expect(v == .invalidControlFrame)
        }
        // A ping of 125 bytes is fine.
        var parser = InboundFrameParser(maxFrameSize: 1 << 20)
        parser.append(ByteBuffer(bytes: wire(0x9, Array(repeating: 7, count: 125), mask: [0, 1, 0, 1])))
        #expect(frames(&parser).map(\.opcode) == [.ping])
    }

    @Test("reserved bits and reserved opcodes are passed on for the handler to refuse")
    func reservedBitsAndOpcodes() {
        var parser = InboundFrameParser(maxFrameSize: 1 << 20)
        parser.append(ByteBuffer(bytes: wire(0x1, [0x61], rsv: 0x40) + wire(0x3, [0x62])))
        let got = frames(&parser)
        #expect(got.map(\.hasReservedBits) == [true, false])
        #expect(got.map(\.opcode) == [.text, WebSocketOpcode(encodedWebSocketOpcode: 0x3)])
    }
}
