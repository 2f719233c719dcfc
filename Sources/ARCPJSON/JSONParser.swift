import Foundation

/// A JSON syntax error, with the byte offset where it was found.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var message: String
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

/// A strict RFC 8259 parser producing `JSONValue`.
///
/// It validates UTF-8, rejects control characters in strings, lone surrogates, trailing
/// garbage, numbers outside the double range and nesting deeper than `maxDepth`, and never
/// traps on any input.
public enum JSONParser {
    /// Nesting deeper than this is rejected (protects the stack).
    public static let maxDepth = 256

    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        var text = text
        let r: Result<JSONValue, JSONSyntaxError> = text.withUTF8 { buf in
            do throws(JSONSyntaxError) { return .success(try parse(buf)) } catch { return .failure(error) }
        }
        return try r.get()
    }

    public static func parse(_ data: Data) throws(JSONSyntaxError) -> JSONValue {
        do {
            return try data.withUnsafeBytes { raw in
                try parse(UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count))
            }
        } catch let e as JSONSyntaxError {
            throw e
        } catch {
            throw JSONSyntaxError(offset: 0, message: "\(error)")
        }
    }

    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        do {
            return try bytes.withUnsafeBufferPointer { buf in try parse(buf) }
        } catch let e as JSONSyntaxError {
            throw e
        } catch {
            throw JSONSyntaxError(offset: 0, message: "\(error)")
        }
    }

    public static func parse(_ buffer: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) -> JSONValue {
        var p = Cursor(buffer: buffer)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        if p.i != p.end { throw p.error("unexpected trailing characters") }
        return v
    }
}

private struct Cursor {
    let buffer: UnsafeBufferPointer<UInt8>
    var i: Int = 0
    let end: Int

    init(buffer: UnsafeBufferPointer<UInt8>) {
        self.buffer = buffer
        self.end = buffer.count
    }

    func error(_ m: String) -> JSONSyntaxError { JSONSyntaxError(offset: i, message: m) }

    @inline(__always) mutating func skipWhitespace() {
        while i < end {
            let c = buffer[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { return }
        }
    }

    mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard i < end else { throw error("unexpected end of input") }
        switch buffer[i] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        guard end - i >= n else { throw error("unexpected end of input") }
        let w = word.utf8Start
        for k in 0..<n where buffer[i + k] != w[k] { throw error("invalid literal") }
        i += n
    }

    mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        if depth > JSONParser.maxDepth { throw error("nesting too deep") }
        i += 1  // {
        var members: [JSONObject.Member] = []
        skipWhitespace()
        if i < end, buffer[i] == UInt8(ascii: "}") { i += 1; return .object(JSONObject(members)) }
        while true {
            skipWhitespace()
            guard i < end, buffer[i] == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let key = try string()
            skipWhitespace()
            guard i < end, buffer[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
            i += 1
            skipWhitespace()
            let v = try value(depth: depth)
            members.append(JSONObject.Member(key: key, value: v))
            skipWhitespace()
            guard i < end else { throw error("unexpected end of input in object") }
            let c = buffer[i]
            i += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { return .object(JSONObject(members)) }
            i -= 1
            throw error("expected ',' or '}'")
        }
    }

    mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        if depth > JSONParser.maxDepth { throw error("nesting too deep") }
        i += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if i < end, buffer[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth))
            skipWhitespace()
            guard i < end else { throw error("unexpected end of input in array") }
            let c = buffer[i]
            i += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "]") { return .array(items) }
            i -= 1
            throw error("expected ',' or ']'")
        }
    }

    mutating func string() throws(JSONSyntaxError) -> String {
        i += 1  // opening quote
        let start = i
        var ascii = true
        // Fast path: no escapes.
        while i < end {
            let c = buffer[i]
            if c == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: buffer[start..<i])
                i += 1
                if ascii { return String(decoding: slice, as: UTF8.self) }
                guard let s = String(validating: slice, as: UTF8.self) else {
                    throw JSONSyntaxError(offset: start, message: "invalid UTF-8 in string")
                }
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("control character in string") }
            if c >= 0x80 { ascii = false }
            i += 1
        }
        guard i < end else { throw error("unterminated string") }
        // Slow path with escapes.
        var bytes = [UInt8](UnsafeBufferPointer(rebasing: buffer[start..<i]))
        while i < end {
            let c = buffer[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: bytes, as: UTF8.self) else {
                    throw JSONSyntaxError(offset: start, message: "invalid UTF-8 in string")
                }
                return s
            }
            if c < 0x20 { throw error("control character in string") }
            if c != UInt8(ascii: "\\") {
                bytes.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < end else { throw error("unterminated escape") }
            let e = buffer[i]
            i += 1
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
                    guard end - i >= 6, buffer[i] == UInt8(ascii: "\\"), buffer[i + 1] == UInt8(ascii: "u") else {
                        throw error("lone high surrogate")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid low surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("lone low surrogate")
                }
                guard let u = Unicode.Scalar(scalar) else { throw error("invalid unicode escape") }
                bytes.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard end - i >= 4 else { throw error("short unicode escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = buffer[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    mutating func number() throws(JSONSyntaxError) -> JSONValue {
        let start = i
        var negative = false
        if buffer[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        guard i < end, isDigit(buffer[i]) else { throw error("invalid number") }
        var integral = true
        var acc: UInt64 = 0
        var overflow = false
        if buffer[i] == UInt8(ascii: "0") {
            i += 1
            if i < end, isDigit(buffer[i]) { throw error("leading zero in number") }
        } else {
            while i < end, isDigit(buffer[i]) {
                let (m, o1) = acc.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(buffer[i] - UInt8(ascii: "0")))
                if o1 || o2 { overflow = true }
                acc = a
                i += 1
            }
        }
        if i < end, buffer[i] == UInt8(ascii: ".") {
            integral = false
            i += 1
            guard i < end, isDigit(buffer[i]) else { throw error("invalid fraction") }
            while i < end, isDigit(buffer[i]) { i += 1 }
        }
        if i < end, buffer[i] == UInt8(ascii: "e") || buffer[i] == UInt8(ascii: "E") {
            integral = false
            i += 1
            if i < end, buffer[i] == UInt8(ascii: "+") || buffer[i] == UInt8(ascii: "-") { i += 1 }
            guard i < end, isDigit(buffer[i]) else { throw error("invalid exponent") }
            while i < end, isDigit(buffer[i]) { i += 1 }
        }
        if integral && !overflow {
            if negative {
                if acc <= UInt64(Int64.max) { return .int(-Int64(acc)) }
                if acc == UInt64(Int64.max) + 1 { return .int(Int64.min) }
            } else if acc <= UInt64(Int64.max) {
                return .int(Int64(acc))
            }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<i]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            throw JSONSyntaxError(offset: start, message: "number out of range")
        }
        return .double(d)
    }

    @inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
}
