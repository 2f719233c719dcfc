import Foundation

/// One step of a JSON path.
public enum JSONPathComponent: Sendable, Hashable {
    /// An object member, by name.
    case key(String)
    /// An array element, by position from 0.
    case index(Int)
}

/// Renders a path as a JSON Pointer (RFC 6901): `/payload/lease_request/cost.budget/0`.
public func jsonPointer(_ path: [JSONPathComponent]) -> String {
    var out = ""
    for c in path {
        out += "/"
        switch c {
        case .key(let k): out += k.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
        case .index(let i): out += String(i)
        }
    }
    return out
}

/// A typed decoding failure naming the JSON path of the offending value. The engine answers
/// it with `INVALID_REQUEST`.
public struct WireDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with the value at `path`.
    public enum Reason: Sendable, Equatable {
        /// The text is not JSON.
        case syntax(JSONSyntaxError)
        /// A value has the wrong JSON type.
        case typeMismatch(expected: String, found: String)
        /// A required member is missing.
        case missing
        /// A value is out of range or otherwise unacceptable.
        case invalidValue(String)
    }

    /// Where the offending value is, from the document's root.
    public var path: [JSONPathComponent]
    /// What is wrong with it.
    public var reason: Reason

    /// A failure at `path` (default: the whole document) for `reason`.
    public init(path: [JSONPathComponent] = [], reason: Reason) {
        self.path = path
        self.reason = reason
    }

    /// The JSON Pointer of the offending value ("" is the whole document).
    public var pointer: String { jsonPointer(path) }

    public var description: String {
        let at = pointer.isEmpty ? "at the top level" : "at \(pointer)"
        switch reason {
        case .syntax(let e): return e.description
        case .typeMismatch(let expected, let found): return "expected \(expected) but found \(found) \(at)"
        case .missing: return "missing required member \(at)"
        case .invalidValue(let why): return "invalid value \(at): \(why)"
        }
    }

    /// The same error, located one level deeper in the caller's coordinates.
    public func prefixed(_ c: JSONPathComponent) -> WireDecodingError {
        var e = self
        e.path.insert(c, at: 0)
        return e
    }
}

/// A type that converts to and from `JSONValue`. Every generated wire type conforms, and
/// through it also to `Codable`.
public protocol JSONCodable: Sendable, Codable {
    /// Decodes from a JSON value. Throws `WireDecodingError` (never traps).
    init(json: JSONValue) throws(WireDecodingError)
    /// Encodes to a JSON value.
    func toJSON() -> JSONValue
    /// Writes the JSON text straight into `writer` (the same text as `toJSON()` gives,
    /// without building the value first).
    func write(to writer: inout JSONWriter)
}

extension JSONCodable {
    public init(from decoder: any Decoder) throws {
        try self.init(json: JSONValue(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try toJSON().encode(to: encoder)
    }

    /// Decodes from JSON text.
    public init(jsonText text: String) throws(WireDecodingError) {
        let v: JSONValue
        do { v = try JSONParser.parse(text) } catch { throw WireDecodingError(reason: .syntax(error)) }
        try self.init(json: v)
    }

    /// Decodes from JSON bytes.
    public init(jsonData data: Data) throws(WireDecodingError) {
        let v: JSONValue
        do { v = try JSONParser.parse(data) } catch { throw WireDecodingError(reason: .syntax(error)) }
        try self.init(json: v)
    }

    /// Default: through `toJSON()`.
    public func write(to writer: inout JSONWriter) { writer.write(toJSON()) }

    /// Compact JSON text.
    public func jsonText() -> String {
        var w = JSONWriter()
        write(to: &w)
        return w.string
    }

    /// Compact JSON text as UTF-8 bytes.
    public func jsonData() -> Data {
        var w = JSONWriter()
        write(to: &w)
        return Data(w.bytes)
    }
}

extension JSONValue: JSONCodable {
    public init(json: JSONValue) { self = json }
    public func toJSON() -> JSONValue { self }
    public func write(to writer: inout JSONWriter) { writer.write(self) }
}

extension String: JSONCodable {
    public init(json: JSONValue) throws(WireDecodingError) {
        guard case .string(let s) = json else { throw WireDecodingError(reason: .typeMismatch(expected: "string", found: json.typeName)) }
        self = s
    }
    public func toJSON() -> JSONValue { .string(self) }
    @inline(__always) public func write(to writer: inout JSONWriter) { writer.writeString(self) }
}

extension Bool: JSONCodable {
    public init(json: JSONValue) throws(WireDecodingError) {
        guard case .bool(let b) = json else { throw WireDecodingError(reason: .typeMismatch(expected: "boolean", found: json.typeName)) }
        self = b
    }
    public func toJSON() -> JSONValue { .bool(self) }
    public func write(to writer: inout JSONWriter) { writer.append(raw: self ? "true" : "false") }
}

extension Int64: JSONCodable {
    public init(json: JSONValue) throws(WireDecodingError) {
        switch json {
        case .int(let i): self = i
        case .double(let d):
            guard let i = json.int64Value else {
                throw WireDecodingError(reason: .invalidValue("\(d) is not an integer in the signed 64-bit range"))
            }
            self = i
        default: throw WireDecodingError(reason: .typeMismatch(expected: "integer", found: json.typeName))
        }
    }
    public func toJSON() -> JSONValue { .int(self) }
    @inline(__always) public func write(to writer: inout JSONWriter) { writer.writeInt(self) }
}

extension Int: JSONCodable {
    public init(json: JSONValue) throws(WireDecodingError) {
        self = Int(try Int64(json: json))
    }
    public func toJSON() -> JSONValue { .int(Int64(self)) }
    @inline(__always) public func write(to writer: inout JSONWriter) { writer.writeInt(Int64(self)) }
}

extension Double: JSONCodable {
    public init(json: JSONValue) throws(WireDecodingError) {
        guard let d = json.doubleValue else { throw WireDecodingError(reason: .typeMismatch(expected: "number", found: json.typeName)) }
        self = d
    }
    /// Whole numbers are written as integers (`2`, not `2.0`): a schema `number` does not
    /// distinguish them, and peers such as the Python reference send whole numbers that way, so
    /// a decoded frame re-encodes to the same text.
    public func toJSON() -> JSONValue {
        if rounded(.towardZero) == self, magnitude < 9.0e15, !(self == 0 && sign == .minus) { return .int(Int64(self)) }
        return .double(self)
    }
    public func write(to writer: inout JSONWriter) {
        if rounded(.towardZero) == self, magnitude < 9.0e15, !(self == 0 && sign == .minus) { writer.writeInt(Int64(self)) } else { writer.writeDouble(self) }
    }
}

extension Array: JSONCodable where Element: JSONCodable {
    public init(json: JSONValue) throws(WireDecodingError) {
        guard case .array(let a) = json else { throw WireDecodingError(reason: .typeMismatch(expected: "array", found: json.typeName)) }
        var out: [Element] = []
        out.reserveCapacity(a.count)
        for (i, v) in a.enumerated() {
            do { out.append(try Element(json: v)) } catch { throw error.prefixed(.index(i)) }
        }
        self = out
    }
    public func toJSON() -> JSONValue { .array(map { $0.toJSON() }) }
    public func write(to writer: inout JSONWriter) {
        writer.append(UInt8(ascii: "["))
        var first = true
        for e in self {
            if !first { writer.append(UInt8(ascii: ",")) }
            first = false
            e.write(to: &writer)
        }
        writer.append(UInt8(ascii: "]"))
    }
}

extension Dictionary: JSONCodable where Key == String, Value: JSONCodable {
    public init(json: JSONValue) throws(WireDecodingError) {
        guard case .object(let o) = json else { throw WireDecodingError(reason: .typeMismatch(expected: "object", found: json.typeName)) }
        var out: [String: Value] = [:]
        out.reserveCapacity(o.count)
        for m in o.members {
            do { out[m.key] = try Value(json: m.value) } catch { throw error.prefixed(.key(m.key)) }
        }
        self = out
    }
    /// Keys are written in sorted order so output is deterministic.
    public func toJSON() -> JSONValue {
        .object(JSONObject(keys.sorted().compactMap { k in self[k].map { JSONObject.Member(key: k, value: $0.toJSON()) } }))
    }
    public func write(to writer: inout JSONWriter) {
        writer.append(UInt8(ascii: "{"))
        var first = true
        for k in keys.sorted() {
            guard let v = self[k] else { continue }
            if !first { writer.append(UInt8(ascii: ",")) }
            first = false
            writer.writeString(k)
            writer.append(UInt8(ascii: ":"))
            v.write(to: &writer)
        }
        writer.append(UInt8(ascii: "}"))
    }
}

/// Helpers the generated code calls. Not intended for direct use.
public enum _JSONDecodeSupport {
    /// Writes the members of `fields` after the generated members (`"name":value,…`).
    public static func writeAdditional(_ fields: JSONObject, _ writer: inout JSONWriter, _ first: inout Bool) {
        for m in fields.members {
            if !first { writer.append(UInt8(ascii: ",")) }
            first = false
            writer.writeString(m.key)
            writer.append(UInt8(ascii: ":"))
            writer.write(m.value)
        }
    }

    @inline(__always)
    public static func decode<T: JSONCodable>(_ type: T.Type, _ value: JSONValue, key: String) throws(WireDecodingError) -> T {
        do { return try T(json: value) } catch { throw error.prefixed(.key(key)) }
    }

    /// Decodes an optional member: absent or `null` gives nil.
    @inline(__always)
    public static func decodeOptional<T: JSONCodable>(_ type: T.Type, _ value: JSONValue, key: String) throws(WireDecodingError) -> T? {
        if case .null = value { return nil }
        do { return try T(json: value) } catch { throw error.prefixed(.key(key)) }
    }

    public static func object(_ json: JSONValue) throws(WireDecodingError) -> JSONObject {
        guard case .object(let o) = json else { throw WireDecodingError(reason: .typeMismatch(expected: "object", found: json.typeName)) }
        return o
    }

    public static func missing(_ key: String) -> WireDecodingError {
        WireDecodingError(path: [.key(key)], reason: .missing)
    }
}
