/// Byte tests the JSON reader and writer share.
enum JSONBytes {
    /// Whether any of the eight bytes in `w` may be one a JSON string cannot hold as is or that
    /// needs a closer look: a quote, a backslash, a control character (below 0x20), or a
    /// non-ASCII byte. Never false when one is; sometimes true when none is (a borrow across
    /// bytes), which only sends the caller to its byte-by-byte path. `JSONReader.readString`
    /// skips plain words with it, `JSONWriter.writeString` likewise.
    @inline(__always)
    static func mayBeSpecial(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let quote = w ^ (ones &* 0x22)
        let backslash = w ^ (ones &* 0x5C)
        let special = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | (w &- ones &* 0x20) | w
        return special & high != 0
    }
}
