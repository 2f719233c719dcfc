import Foundation

/// A JSON syntax error, with the byte offset where it was found.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The byte offset (from 0) in the input where the error was found.
    public var offset: Int
    /// What is wrong there, e.g. "unterminated string".
    public var message: String
    /// An error at byte `offset`, saying `message`.
    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

/// A strict RFC 8259 parser producing `JSONValue`.
///
/// It validates UTF-8, rejects control characters in strings, lone surrogates, trailing
/// garbage, numbers outside the double range and nesting deeper than `maxDepth`, and never
/// traps on any input. `JSONReader` is the same grammar read step by step.
public enum JSONParser {
    /// Nesting deeper than this is rejected (protects the stack).
    public static let maxDepth = 256

    /// Parses `text` as one JSON value (surrounding whitespace allowed).
    /// - Throws: `JSONSyntaxError` with the byte offset of the first problem.
    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        var text = text
        let r: Result<JSONValue, JSONSyntaxError> = text.withUTF8 { buf in
            do throws(JSONSyntaxError) { return .success(try parse(buf)) } catch { return .failure(error) }
        }
        return try r.get()
    }

    /// Parses the UTF-8 bytes of `data` as one JSON value (surrounding whitespace allowed).
    /// - Throws: `JSONSyntaxError` with the byte offset of the first problem (invalid UTF-8
    ///   included).
    public static func parse(_ data: Data) throws(JSONSyntaxError) -> JSONValue {
        let r: Result<JSONValue, JSONSyntaxError> = data.withUnsafeBytes { raw in
            do throws(JSONSyntaxError) { return .success(try parse(raw.bindMemory(to: UInt8.self))) } catch { return .failure(error) }
        }
        return try r.get()
    }

    /// Parses the UTF-8 `bytes` as one JSON value (surrounding whitespace allowed).
    /// - Throws: `JSONSyntaxError` with the byte offset of the first problem (invalid UTF-8
    ///   included).
    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        let r: Result<JSONValue, JSONSyntaxError> = bytes.withUnsafeBufferPointer { buf in
            do throws(JSONSyntaxError) { return .success(try parse(buf)) } catch { return .failure(error) }
        }
        return try r.get()
    }

    /// Parses the UTF-8 bytes in `buffer` as one JSON value (surrounding whitespace allowed),
    /// without copying them.
    /// - Throws: `JSONSyntaxError` with the byte offset of the first problem (invalid UTF-8
    ///   included).
    public static func parse(_ buffer: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) -> JSONValue {
        var r = JSONReader(buffer)
        r.skipWhitespace()
        let v = try r.readValue(depth: 0)
        try r.expectEnd()
        return v
    }
}

/// A member name read by `JSONReader.readKey()`: the raw bytes when the name is plain ASCII
/// without escapes (no allocation), the decoded string otherwise.
@frozen
public struct JSONKey {
    @usableFromInline let raw: UnsafeBufferPointer<UInt8>
    @usableFromInline let decoded: String?

    @inlinable init(raw: UnsafeBufferPointer<UInt8>) {
        self.raw = raw
        self.decoded = nil
    }

    @inlinable init(decoded: String) {
        self.raw = UnsafeBufferPointer(start: nil, count: 0)
        self.decoded = decoded
    }

    /// Whether the name equals `name` (compared as UTF-8 bytes).
    @inlinable @inline(__always)
    public func `is`(_ name: StaticString) -> Bool {
        let n = name.utf8CodeUnitCount
        let p = name.utf8Start
        if let decoded {
            return decoded.utf8.elementsEqual(UnsafeBufferPointer(start: p, count: n))
        }
        guard raw.count == n else { return false }
        var k = 0
        while k < n {
            if raw[k] != p[k] { return false }
            k += 1
        }
        return true
    }

    /// The length of the name in UTF-8 bytes.
    @inlinable @inline(__always)
    public var count: Int { decoded?.utf8.count ?? raw.count }

    /// The name as a `String`.
    public var string: String { decoded ?? String(decoding: raw, as: UTF8.self) }
}

/// A forward-only reader over UTF-8 JSON bytes: `JSONParser`'s grammar and limits, exposed
/// step by step so generated decoders can read objects member by member without building a
/// `JSONValue` tree. Errors (and their offsets) are exactly `JSONParser`'s.
///
/// The reader points into a buffer it does not own: use it only inside the scope that lends
/// the buffer (`withUnsafeBufferPointer`, `withUTF8`, …).
@frozen
public struct JSONReader {
    @usableFromInline let buffer: UnsafeBufferPointer<UInt8>
    /// The offset of the next byte to read.
    public var offset: Int
    @usableFromInline let end: Int

    /// A reader at the start of `buffer`, which must outlive it.
    @inlinable
    public init(_ buffer: UnsafeBufferPointer<UInt8>) {
        self.buffer = buffer
        self.offset = 0
        self.end = buffer.count
    }

    /// A reader over the same bytes, at `offset` (to read a value again).
    public func at(_ offset: Int) -> JSONReader {
        var r = self
        r.offset = offset
        return r
    }

    /// An error at the current offset.
    public func error(_ message: String) -> JSONSyntaxError { JSONSyntaxError(offset: offset, message: message) }

    /// Moves past spaces, tabs, carriage returns and line feeds (JSON's whitespace).
    @inlinable @inline(__always)
    public mutating func skipWhitespace() {
        while offset < end {
            let c = buffer[offset]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { offset += 1 } else { return }
        }
    }

    /// The next byte, or nil at the end (whitespace is not skipped).
    @inlinable @inline(__always)
    public var current: UInt8? { offset < end ? buffer[offset] : nil }

    /// Skips whitespace and requires the end of the input.
    public mutating func expectEnd() throws(JSONSyntaxError) {
        skipWhitespace()
        if offset != end { throw error("unexpected trailing characters") }
    }

    /// Consumes a `null` literal if one is next (no whitespace skipped).
    @inlinable @inline(__always)
    public mutating func consumeNull() -> Bool {
        guard end - offset >= 4, buffer[offset] == 0x6E, buffer[offset + 1] == 0x75, buffer[offset + 2] == 0x6C, buffer[offset + 3] == 0x6C
        else { return false }
        offset += 4
        return true
    }

    /// At a `{` (the caller checked): enters an object at nesting `depth` (the top-level
    /// object is depth 1). Returns false when the object is empty (its `}` is consumed too).
    @inlinable @inline(__always)
    public mutating func beginObject(depth: Int) throws(JSONSyntaxError) -> Bool {
        if depth > JSONParser.maxDepth { throw error("nesting too deep") }
        offset += 1
        skipWhitespace()
        if offset < end, buffer[offset] == UInt8(ascii: "}") {
            offset += 1
            return false
        }
        return true
    }

    /// Reads a member name and its `:`; the reader is then at the member's value.
    @inlinable @inline(__always)
    public mutating func readKey() throws(JSONSyntaxError) -> JSONKey {
        // Fast path: `"name":` with a plain printable ASCII name, no whitespace around `:`.
        if offset < end, buffer[offset] == UInt8(ascii: "\"") {
            var i = offset + 1
            while i < end {
                let c = buffer[i]
                if c == UInt8(ascii: "\"") {
                    if i + 1 < end, buffer[i + 1] == UInt8(ascii: ":") {
                        let key = JSONKey(raw: UnsafeBufferPointer(rebasing: buffer[(offset + 1)..<i]))
                        offset = i + 2
                        skipWhitespace()
                        return key
                    }
                    break
                }
                if c < 0x20 || c >= 0x80 || c == UInt8(ascii: "\\") { break }
                i += 1
            }
        }
        return try readKeySlow()
    }

    /// `readKey` for everything else: whitespace, escapes, non-ASCII names, and errors.
    @usableFromInline
    mutating func readKeySlow() throws(JSONSyntaxError) -> JSONKey {
        skipWhitespace()
        guard offset < end, buffer[offset] == UInt8(ascii: "\"") else { throw error("expected a member name") }
        let quote = offset
        var i = offset + 1
        while i < end {
            let c = buffer[i]
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 || c >= 0x80 || c == UInt8(ascii: "\\") { i = -1; break }
            i += 1
        }
        let key: JSONKey
        if i >= 0, i < end {
            key = JSONKey(raw: UnsafeBufferPointer(rebasing: buffer[(quote + 1)..<i]))
            offset = i + 1
        } else {
            offset = quote
            key = JSONKey(decoded: try readString())
        }
        skipWhitespace()
        guard offset < end, buffer[offset] == UInt8(ascii: ":") else { throw error("expected ':'") }
        offset += 1
        skipWhitespace()
        return key
    }

    /// After a member's value: true when another member follows (its `,` is consumed), false
    /// at the object's `}` (consumed).
    @inlinable @inline(__always)
    public mutating func nextMember() throws(JSONSyntaxError) -> Bool {
        skipWhitespace()
        guard offset < end else { throw error("unexpected end of input in object") }
        let c = buffer[offset]
        if c == UInt8(ascii: ",") {
            offset += 1
            return true
        }
        if c == UInt8(ascii: "}") {
            offset += 1
            return false
        }
        throw error("expected ',' or '}'")
    }

    /// Reads one whole value. `depth` is the nesting of the value's container (0 at the top
    /// level): an object or array read here is at `depth + 1`.
    public mutating func readValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard offset < end else { throw error("unexpected end of input") }
        switch buffer[offset] {
        case UInt8(ascii: "{"): return try readObject(depth: depth + 1)
        case UInt8(ascii: "["): return try readArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try readString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try readNumber()
        default: throw error("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        guard end - offset >= n else { throw error("unexpected end of input") }
        let w = word.utf8Start
        for k in 0..<n where buffer[offset + k] != w[k] { throw error("invalid literal") }
        offset += n
    }

    mutating func readObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard try beginObject(depth: depth) else { return .object(JSONObject()) }
        var members: [JSONObject.Member] = []
        members.reserveCapacity(4)
        repeat {
            let key = try readKey().string
            let v = try readValue(depth: depth)
            members.append(JSONObject.Member(key: key, value: v))
        } while try nextMember()
        return .object(JSONObject(members))
    }

    mutating func readArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        if depth > JSONParser.maxDepth { throw error("nesting too deep") }
        offset += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if offset < end, buffer[offset] == UInt8(ascii: "]") {
            offset += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try readValue(depth: depth))
            skipWhitespace()
            guard offset < end else { throw error("unexpected end of input in array") }
            let c = buffer[offset]
            offset += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "]") { return .array(items) }
            offset -= 1
            throw error("expected ',' or ']'")
        }
    }

    /// Reads a string (the reader is at its opening quote).
    public mutating func readString() throws(JSONSyntaxError) -> String {
        offset += 1  // opening quote
        let start = offset
        var ascii = true
        // Eight bytes at a time while none is a quote, a backslash, a control character or
        // non-ASCII (then byte by byte, below).
        if let base = buffer.baseAddress {
            let raw = UnsafeRawPointer(base)
            while end - offset >= 8 {
                if JSONBytes.mayBeSpecial(raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) { break }
                offset += 8
            }
        }
        // Byte by byte, no escapes.
        while offset < end {
            let c = buffer[offset]
            if c == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: buffer[start..<offset])
                offset += 1
                if ascii { return String(decoding: slice, as: UTF8.self) }
                guard let s = String(validating: slice, as: UTF8.self) else {
                    throw JSONSyntaxError(offset: start, message: "invalid UTF-8 in string")
                }
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("control character in string") }
            if c >= 0x80 { ascii = false }
            offset += 1
        }
        guard offset < end else { throw error("unterminated string") }
        return try readEscapedString(start: start)
    }

    /// The slow path of `readString`, from the first backslash.
    mutating func readEscapedString(start: Int) throws(JSONSyntaxError) -> String {
        var bytes = [UInt8](UnsafeBufferPointer(rebasing: buffer[start..<offset]))
        bytes.reserveCapacity(bytes.count + 16)
        while offset < end {
            let c = buffer[offset]
            if c == UInt8(ascii: "\"") {
                offset += 1
                guard let s = String(validating: bytes, as: UTF8.self) else {
                    throw JSONSyntaxError(offset: start, message: "invalid UTF-8 in string")
                }
                return s
            }
            if c < 0x20 { throw error("control character in string") }
            if c != UInt8(ascii: "\\") {
                bytes.append(c)
                offset += 1
                continue
            }
            offset += 1
            guard offset < end else { throw error("unterminated escape") }
            let e = buffer[offset]
            offset += 1
            switch e {
            case UInt8(ascii: "\""): bytes.append(0x22)
            case UInt8(ascii: "\\"): bytes.append(0x5C)
            case UInt8(ascii: "/"): bytes.append(0x2F)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard end - offset >= 6, buffer[offset] == UInt8(ascii: "\\"), buffer[offset + 1] == UInt8(ascii: "u") else {
                        throw error("lone high surrogate")
                    }
                    offset += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid low surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("lone low surrogate")
                }
                guard let u = Unicode.Scalar(scalar) else { throw error("invalid unicode escape") }
                if let encoded = UTF8.encode(u) { bytes.append(contentsOf: encoded) }
            default:
                throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard end - offset >= 4 else { throw error("short unicode escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = buffer[offset]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit")
            }
            v = v << 4 | d
            offset += 1
        }
        return v
    }

    /// Reads a number (the reader is at `-` or a digit): `.int` when integral and in the
    /// Int64 range, `.double` otherwise; out of the double range is an error.
    public mutating func readNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = offset
        var negative = false
        if buffer[offset] == UInt8(ascii: "-") {
            negative = true
            offset += 1
        }
        guard offset < end, isDigit(buffer[offset]) else { throw error("invalid number") }
        var integral = true
        var acc: UInt64 = 0
        var overflow = false
        if buffer[offset] == UInt8(ascii: "0") {
            offset += 1
            if offset < end, isDigit(buffer[offset]) { throw error("leading zero in number") }
        } else {
            while offset < end, isDigit(buffer[offset]) {
                let (m, o1) = acc.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(buffer[offset] - UInt8(ascii: "0")))
                if o1 || o2 { overflow = true }
                acc = a
                offset += 1
            }
        }
        if offset < end, buffer[offset] == UInt8(ascii: ".") {
            integral = false
            offset += 1
            guard offset < end, isDigit(buffer[offset]) else { throw error("invalid fraction") }
            while offset < end, isDigit(buffer[offset]) { offset += 1 }
        }
        if offset < end, buffer[offset] == UInt8(ascii: "e") || buffer[offset] == UInt8(ascii: "E") {
            integral = false
            offset += 1
            if offset < end, buffer[offset] == UInt8(ascii: "+") || buffer[offset] == UInt8(ascii: "-") { offset += 1 }
            guard offset < end, isDigit(buffer[offset]) else { throw error("invalid exponent") }
            while offset < end, isDigit(buffer[offset]) { offset += 1 }
        }
        if integral && !overflow {
            if negative {
                if acc <= UInt64(Int64.max) { return .int(-Int64(acc)) }
                if acc == UInt64(Int64.max) + 1 { return .int(Int64.min) }
            } else if acc <= UInt64(Int64.max) {
                return .int(Int64(acc))
            }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<offset]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            throw JSONSyntaxError(offset: start, message: "number out of range")
        }
        return .double(d)
    }

    @inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
}
