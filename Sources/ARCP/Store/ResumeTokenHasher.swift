/// Hashing and comparison of resume tokens (§6.3, §14), so stores keep digests, never tokens.
///
/// ```swift
/// let hash = ResumeTokenHasher.hash(token)            // stored in SessionRecord
/// ResumeTokenHasher.verify(presented, against: hash)   // constant-time
/// ```
public enum ResumeTokenHasher {
    /// Lowercase hex SHA-256 of the token's UTF-8 bytes (64 characters).
    public static func hash(_ token: String) -> String {
        hex(SHA256.hash(token.utf8))
    }

    /// Whether `token` hashes to `storedHash`, compared in constant time for equal lengths
    /// (the length of a hex SHA-256 is public).
    public static func verify(_ token: String, against storedHash: String) -> Bool {
        constantTimeEquals(Array(hash(token).utf8), Array(storedHash.lowercased().utf8))
    }

    /// Compares two byte strings; the time taken depends only on their lengths.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference: UInt8 = a.count == b.count ? 0 : 1
        let count = max(a.count, b.count)
        var index = 0
        while index < count {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
            index += 1
        }
        return difference == 0
    }

    /// Lowercase hexadecimal text of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
