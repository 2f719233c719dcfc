import Foundation

/// Compact JSON serialization of `JSONValue` (RFC 8259, UTF-8, no insignificant whitespace).
///
/// Non-finite doubles, which JSON cannot carry, are written as `null`.
///
/// Generated types write themselves straight into a writer (`JSONCodable.write(to:)`)
/// without building a `JSONValue` first; the `append`/`write…` methods are for that.
public struct JSONWriter: Sendable {
    /// The output so far (UTF-8).
    public var bytes: [UInt8] = []

    /// An empty writer with room for `n` bytes before it grows. The default holds a typical
    /// ARCP frame (an event is ~320 bytes, `job.accepted` ~420) without a regrowth and copy.
    public init(reservingCapacity n: Int = 512) { bytes.reserveCapacity(n) }

    /// The output as a string.
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    /// Appends one byte of JSON syntax.
    @inlinable @inline(__always)
    public mutating func append(_ byte: UInt8) { bytes.append(byte) }

    /// Appends text that is already JSON (e.g. a pre-escaped `"name":`).
    @inlinable @inline(__always)
    public mutating func append(raw text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// `value` as compact JSON text.
    public static func string(_ value: JSONValue) -> String {
        var w = JSONWriter()
        w.write(value)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// `value` as compact JSON, UTF-8 encoded.
    public static func data(_ value: JSONValue) -> Data {
        var w = JSONWriter()
        w.write(value)
        return Data(w.bytes)
    }

    /// Writes any JSON value.
    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(let b):
            if b { bytes.append(contentsOf: [0x74, 0x72, 0x75, 0x65]) } else { bytes.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65]) }
        case .int(let i): writeInt(i)
        case .double(let d): writeDouble(d)
        case .string(let s): writeString(s)
        case .array(let a):
            bytes.append(UInt8(ascii: "["))
            var first = true
            for v in a {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                write(v)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let o):
            bytes.append(UInt8(ascii: "{"))
            var first = true
            for m in o.members {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                writeString(m.key)
                bytes.append(UInt8(ascii: ":"))
                write(m.value)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// Writes an integer.
    public mutating func writeInt(_ v: Int64) {
        if v == 0 { bytes.append(UInt8(ascii: "0")); return }
        var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                  UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = v.magnitude
        var count = 0
        withUnsafeMutableBytes(of: &tmp) { p in
            while n > 0 {
                p[19 - count] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
                count += 1
            }
        }
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        withUnsafeBytes(of: &tmp) { p in bytes.append(contentsOf: p[(20 - count)...]) }
    }

    /// Writes a double (`null` when not finite).
    public mutating func writeDouble(_ d: Double) {
        guard d.isFinite else { bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C]); return }
        bytes.append(contentsOf: d.description.utf8)
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Writes a string with the escapes JSON needs.
    public mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { buf in
            guard let base = buf.baseAddress else { return }
            let raw = UnsafeRawPointer(base)
            let n = buf.count
            var runStart = 0
            var i = 0
            while i < n {
                // Eight bytes at a time while none may need escaping (a quote, a backslash, a
                // control character; non-ASCII bytes take the byte path too, unescaped).
                while n - i >= 8 && !JSONBytes.mayBeSpecial(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) { i += 8 }
                guard i < n else { break }
                let c = buf[i]
                i += 1
                guard c < 0x20 || c == 0x22 || c == 0x5C else { continue }
                if runStart < i - 1 { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[runStart..<(i - 1)])) }
                runStart = i
                switch c {
                case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
                case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0x08: bytes.append(contentsOf: [0x5C, UInt8(ascii: "b")])
                case 0x0C: bytes.append(contentsOf: [0x5C, UInt8(ascii: "f")])
                default:
                    bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, Self.hex[Int(c >> 4)], Self.hex[Int(c & 0xF)]])
                }
            }
            if runStart < n { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[runStart...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
