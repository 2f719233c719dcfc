import ARCP
import Testing

@Suite("SHA-256 and resume token hashing")
struct SHA256Tests {
    private func hex(_ bytes: some Sequence<UInt8>) -> String {
        ResumeTokenHasher.hex(ResumeTokenHasher.SHA256.hash(bytes))
    }

    /// FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf").
    @Test func fipsVectors() {
        #expect(hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            hex(
                Array(
                    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
                        .utf8))
                == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        #expect(hex([0xbd]) == "68325720aabd7c82f30f554b313d0570c95accbb7dc4b5aae11204c08ffe732b")
        #expect(
            hex([0xc9, 0x8c, 0x8e, 0x55])
                == "7abc22c0ae5af26ce93dbb94433a0e0b2e119d014f8e7f65bd56c61ccccd9504")
    }

    @Test func oneMillionA() {
        var hasher = ResumeTokenHasher.SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        #expect(
            ResumeTokenHasher.hex(hasher.finalize())
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Lengths around the padding boundaries (55/56/64 bytes), checked against Python's hashlib.
    @Test(arguments: [
        (55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"),
        (56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"),
        (57, "35df609437dcfea3279283ab79fd554e2bf78f8f7ae2de532d8ee300b09e8f73"),
        (63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"),
        (64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"),
        (65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"),
        (119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"),
        (120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"),
        (128, "d2742f1f4ac6bb7ca2b239ee18402ba8b3f9f8e652d2a72973c2b9ba11c08cf6"),
    ])
    func paddingBoundaries(length: Int, expected: String) {
        let bytes = (0..<length).map { UInt8(($0 * 7 + 3) % 256) }
        #expect(hex(bytes) == expected)
        // Fed in uneven pieces, the digest is the same.
        var hasher = ResumeTokenHasher.SHA256()
        var start = 0
        var step = 1
        while start < bytes.count {
            let end = min(bytes.count, start + step)
            hasher.update(bytes[start..<end])
            start = end
            step += 3
        }
        #expect(ResumeTokenHasher.hex(hasher.finalize()) == expected)
    }

    @Test func tokenHashAndVerify() {
        let token = "rtk_01M8876FA2A1PZ92A91GXG3KN8"
        let stored = ResumeTokenHasher.hash(token)
        #expect(stored == "bb9a5b3775830fb47a032e7623eee659e0a52346c58ed6cb137a1e4fa35daded")
        #expect(
            ResumeTokenHasher.hash("héllo wörld ✓")
                == "c2a59c71097b678dc5af2eb1f98ddc575b63948b0fa6740071a945673aaada4d")
        #expect(ResumeTokenHasher.verify(token, against: stored))
        #expect(ResumeTokenHasher.verify(token, against: stored.uppercased()))
        #expect(!ResumeTokenHasher.verify(token + "x", against: stored))
        #expect(!ResumeTokenHasher.verify("", against: stored))
        #expect(!ResumeTokenHasher.verify(token, against: ""))
        #expect(!ResumeTokenHasher.verify(token, against: String(stored.dropLast())))
    }

    @Test func constantTimeEquals() {
        #expect(ResumeTokenHasher.constantTimeEquals([], []))
        #expect(ResumeTokenHasher.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!ResumeTokenHasher.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!ResumeTokenHasher.constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(!ResumeTokenHasher.constantTimeEquals([], [0]))
        // Lengths that differ by a multiple of 256 are still unequal.
        #expect(!ResumeTokenHasher.constantTimeEquals([UInt8](repeating: 0, count: 256), []))
    }
}
