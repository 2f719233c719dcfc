/// Hand-written checkers for the string grammars the schema names with `x-arcp-format`.
/// Each mirrors the `pattern` beside it in schema/arcp.schema.json (a test checks they agree);
/// they exist because a byte-level check is far faster than a regular expression.
public enum ARCPFormat {
    /// Checks `value` against the named format. Unknown format names pass.
    public static func check(_ format: String, _ value: String) -> Bool {
        switch format {
        case "message-id": return isMessageID(value)
        case "trace-id": return isTraceID(value)
        case "timestamp": return isTimestamp(value, requireZ: false)
        case "utc-timestamp": return isTimestamp(value, requireZ: true)
        case "agent-ref": return isAgentRef(value)
        case "amount": return isAmount(value)
        case "namespace": return isNamespace(value)
        default: return true
        }
    }

    /// A short description of the format, for violation messages.
    public static func describe(_ format: String) -> String {
        switch format {
        case "message-id": return "a ULID, a lowercase UUIDv7 or prefix_ULID"
        case "trace-id": return "32 lowercase hex characters, not all zero"
        case "timestamp": return "an RFC 3339 timestamp"
        case "utc-timestamp": return "an RFC 3339 UTC timestamp ending in Z"
        case "agent-ref": return "name or name@version (name: [a-z0-9][a-z0-9._-]*)"
        case "amount": return "currency:decimal, e.g. USD:5.00"
        case "namespace": return "a dot-separated lowercase name"
        default: return format
        }
    }

    /// Runs `body` on the UTF-8 bytes of `s` without copying them when the string is native.
    @inline(__always)
    static func withBytes(_ s: String, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        if let r = s.utf8.withContiguousStorageIfAvailable(body) { return r }
        return Array(s.utf8).withUnsafeBufferPointer(body)
    }

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
    @inline(__always) static func isLower(_ c: UInt8) -> Bool { c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") }
    @inline(__always) static func isUpper(_ c: UInt8) -> Bool { c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") }

    @inline(__always) static func isCrockford(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return true
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"):
            let u = c & ~0x20
            return u != UInt8(ascii: "I") && u != UInt8(ascii: "L") && u != UInt8(ascii: "O") && u != UInt8(ascii: "U")
        default: return false
        }
    }

    /// 26 Crockford base32 characters starting with 0-7, at `b[from...]`.
    @inline(__always)
    static func isULID(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> Bool {
        guard b.count - start == 26, b[start] >= UInt8(ascii: "0"), b[start] <= UInt8(ascii: "7") else { return false }
        var i = start
        while i < b.count {
            if !isCrockford(b[i]) { return false }
            i += 1
        }
        return true
    }

    @inline(__always) static func isLowerHex(_ c: UInt8) -> Bool {
        isDigit(c) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f"))
    }

    /// ULID, lowercase UUIDv7, or `prefix_ULID`.
    public static func isMessageID(_ s: String) -> Bool {
        withBytes(s) { b in
            if b.count == 26 { return isULID(b, from: 0) }
            if b.count == 36 {
                for i in 0..<36 {
                    let c = b[i]
                    if i == 8 || i == 13 || i == 18 || i == 23 {
                        if c != UInt8(ascii: "-") { return false }
                    } else if !isLowerHex(c) {
                        return false
                    }
                }
                if b[14] != UInt8(ascii: "7") { return false }
                let v = b[19]
                return v == UInt8(ascii: "8") || v == UInt8(ascii: "9") || v == UInt8(ascii: "a") || v == UInt8(ascii: "b")
            }
            // prefix_ULID: prefix [a-z][a-z0-9]*
            guard b.count > 27, isLower(b[0]) else { return false }
            var i = 1
            while i < b.count, b[i] != UInt8(ascii: "_") {
                if !(isLower(b[i]) || isDigit(b[i])) { return false }
                i += 1
            }
            guard i < b.count else { return false }
            return isULID(b, from: i + 1)
        }
    }

    /// 32 lowercase hex characters, not all zero (W3C Trace Context).
    public static func isTraceID(_ s: String) -> Bool {
        // Over the string's bytes in place: iterating `s.utf8` cost 2 % of a client's CPU per
        // streamed event (docs/BENCHMARKS.md, session 11).
        guard s.utf8.count == 32 else { return false }
        return withBytes(s) { b in
            var nonZero = false
            for c in b {
                guard isLowerHex(c) else { return false }
                if c != UInt8(ascii: "0") { nonZero = true }
            }
            return nonZero
        }
    }

    /// RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS(.frac)?(Z|±HH:MM)`, with an uppercase `T` and `Z`
    /// and each field in range (month 01-12, day 01-31, hour 00-23, minute 00-59, second 00-60).
    public static func isTimestamp(_ s: String, requireZ: Bool) -> Bool {
        withBytes(s) { b in
            guard b.count >= 20 else { return false }
            func digits(_ from: Int, _ count: Int) -> Int? {
                var v = 0
                for i in from..<(from + count) {
                    let c = b[i]
                    guard isDigit(c) else { return nil }
                    v = v * 10 + Int(c - UInt8(ascii: "0"))
                }
                return v
            }
            guard digits(0, 4) != nil, b[4] == UInt8(ascii: "-"), let mo = digits(5, 2), b[7] == UInt8(ascii: "-"),
                  let d = digits(8, 2), b[10] == UInt8(ascii: "T"),
                  let h = digits(11, 2), b[13] == UInt8(ascii: ":"), let mi = digits(14, 2), b[16] == UInt8(ascii: ":"),
                  let sec = digits(17, 2)
            else { return false }
            guard (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec <= 60 else { return false }
            var i = 19
            if b[i] == UInt8(ascii: ".") {
                i += 1
                let start = i
                while i < b.count, isDigit(b[i]) { i += 1 }
                if i == start { return false }
            }
            guard i < b.count else { return false }
            if b[i] == UInt8(ascii: "Z") { return i == b.count - 1 }
            if requireZ { return false }
            guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), b.count - i == 6, let oh = digits(i + 1, 2),
                  b[i + 3] == UInt8(ascii: ":"), let om = digits(i + 4, 2)
            else { return false }
            return oh < 24 && om < 60
        }
    }

    /// `name | name "@" version` with name `[a-z0-9][a-z0-9._-]*`, version `[a-zA-Z0-9.+_-]+`.
    public static func isAgentRef(_ s: String) -> Bool {
        withBytes(s) { b in
            guard let first = b.first, isLower(first) || isDigit(first) else { return false }
            var i = 0
            while i < b.count, b[i] != UInt8(ascii: "@") {
                let c = b[i]
                if !(isLower(c) || isDigit(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")) { return false }
                i += 1
            }
            guard i < b.count else { return true }
            i += 1
            guard i < b.count else { return false }
            while i < b.count {
                let c = b[i]
                let ok = isLower(c) || isUpper(c) || isDigit(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "+")
                    || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
                if !ok { return false }
                i += 1
            }
            return true
        }
    }

    /// `currency ":" decimal` with currency `[A-Za-z][A-Za-z0-9_-]*` and decimal `digits ("." digits)?`.
    public static func isAmount(_ s: String) -> Bool {
        withBytes(s) { b in
            guard let c0 = b.first, isLower(c0) || isUpper(c0) else { return false }
            var i = 0
            while i < b.count, b[i] != UInt8(ascii: ":") {
                let c = b[i]
                if !(isLower(c) || isUpper(c) || isDigit(c) || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")) { return false }
                i += 1
            }
            guard i < b.count else { return false }
            i += 1
            let intStart = i
            while i < b.count, isDigit(b[i]) { i += 1 }
            if i == intStart { return false }
            if i == b.count { return true }
            guard b[i] == UInt8(ascii: ".") else { return false }
            i += 1
            let fracStart = i
            while i < b.count, isDigit(b[i]) { i += 1 }
            return i > fracStart && i == b.count
        }
    }

    /// A lease capability namespace: dot-separated lowercase identifiers (`fs.read`, `x-acme.thing`).
    public static func isNamespace(_ s: String) -> Bool {
        var atStart = true
        for c in s.utf8 {
            if c == UInt8(ascii: ".") {
                if atStart { return false }
                atStart = true
                continue
            }
            let lower = c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")
            if atStart {
                if !lower { return false }
                atStart = false
            } else if !(lower || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")) {
                return false
            }
        }
        return !atStart
    }
}
