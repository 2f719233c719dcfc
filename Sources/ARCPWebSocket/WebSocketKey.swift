import Crypto

/// The opening handshake's nonce and its answer (RFC 6455 §4.1, §4.2.2), for both ends.
enum WebSocketKey {
    /// A fresh `Sec-WebSocket-Key`: the base64 of 16 random bytes.
    static func make() -> String {
        // Two draws of eight bytes: each draw from the system generator is a getrandom(2) call.
        var generator = SystemRandomNumberGenerator()
        let (a, b) = (generator.next(), generator.next())
        return base64((0..<16).map { i in UInt8(truncatingIfNeeded: (i < 8 ? a : b) >> (UInt64(i % 8) * 8)) })
    }

    /// Whether `key` is the base64 of 16 bytes: 22 base64 digits and `==`.
    static func isValid(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard bytes.count == 24, bytes[22] == UInt8(ascii: "="), bytes[23] == UInt8(ascii: "=") else { return false }
        return bytes[..<22].allSatisfy { c in
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "+"), UInt8(ascii: "/"):
                return true
            default:
                return false
            }
        }
    }

    /// `Sec-WebSocket-Accept` for `key`: base64(SHA-1(key + the protocol's GUID)).
    static func accept(forKey key: String) -> String {
        base64(Array(Insecure.SHA1.hash(data: Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))))
    }

    /// RFC 4648 §4 base64, with padding.
    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            let b0 = UInt32(bytes[i])
            let b1 = n > 1 ? UInt32(bytes[i + 1]) : 0
            let b2 = n > 2 ? UInt32(bytes[i + 2]) : 0
            let v = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(n > 1 ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            out.append(n > 2 ? alphabet[Int(v & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
