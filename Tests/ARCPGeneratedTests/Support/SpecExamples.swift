import ARCPGenerated
import Foundation

/// Extracts the ```json examples of the spec and turns the partial ones into JSON.
enum SpecExamples {
    /// One fenced example: the heading it sits under and its text as written.
    struct Block: Sendable, CustomStringConvertible {
        var section: String
        var index: Int
        var text: String
        var description: String { "§\(section) #\(index)" }
    }

    /// The ```json blocks between the heading that starts with `from` (e.g. "6.2.") and the
    /// heading that starts with `until` (e.g. "10."), numbered per section from 1.
    static func blocks(in markdown: String, from: String, until: String) -> [Block] {
        var out: [Block] = []
        var section: String? = nil
        var inRange = false
        var current: [Substring]? = nil
        var perSection: [String: Int] = [:]
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line.hasPrefix("#") {
                let title = line.drop(while: { $0 == "#" }).drop(while: { $0 == " " })
                let number = String(title.prefix(while: { $0 != " " }))
                if number.hasPrefix(from) { inRange = true }
                if number.hasPrefix(until) { inRange = false }
                section = number.hasSuffix(".") ? String(number.dropLast()) : number
                continue
            }
            if line.hasPrefix("```") {
                if let body = current {
                    if inRange, let section {
                        let n = (perSection[section] ?? 0) + 1
                        perSection[section] = n
                        out.append(Block(section: section, index: n, text: body.joined(separator: "\n")))
                    }
                    current = nil
                } else if line.hasPrefix("```json") {
                    current = []
                }
                continue
            }
            current?.append(line)
        }
        return out
    }

    struct NormalizeError: Error, CustomStringConvertible {
        var description: String
    }

    /// Turns an example as written into JSON text:
    /// - `/* … */` comments are removed;
    /// - `{ ... }` and a bare `...` (outside strings) become `{}`;
    /// - digit separators (`31_457_280`) are removed;
    /// - a bare member (`"lease_constraints": {…}`) is wrapped in `{ }`.
    /// Strings are left untouched.
    static func normalizeText(_ text: String) -> String {
        let b = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        var inString = false
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        func startsDots(_ k: Int) -> Bool { k + 2 < b.count && b[k] == 0x2E && b[k + 1] == 0x2E && b[k + 2] == 0x2E }
        while i < b.count {
            let c = b[i]
            if inString {
                out.append(c)
                if c == UInt8(ascii: "\\"), i + 1 < b.count {
                    out.append(b[i + 1])
                    i += 2
                    continue
                }
                if c == UInt8(ascii: "\"") { inString = false }
                i += 1
                continue
            }
            switch c {
            case UInt8(ascii: "\""):
                inString = true
                out.append(c)
                i += 1
            case UInt8(ascii: "/") where i + 1 < b.count && b[i + 1] == UInt8(ascii: "*"):
                var k = i + 2
                while k + 1 < b.count, !(b[k] == UInt8(ascii: "*") && b[k + 1] == UInt8(ascii: "/")) { k += 1 }
                i = min(k + 2, b.count)
            case UInt8(ascii: "{"):
                // `{ ... }` -> `{}`
                var k = i + 1
                while k < b.count, isSpace(b[k]) { k += 1 }
                if startsDots(k) {
                    var e = k + 3
                    while e < b.count, isSpace(b[e]) { e += 1 }
                    if e < b.count, b[e] == UInt8(ascii: "}") {
                        out.append(contentsOf: Array("{}".utf8))
                        i = e + 1
                        continue
                    }
                }
                out.append(c)
                i += 1
            case UInt8(ascii: "."):
                if startsDots(i) {
                    out.append(contentsOf: Array("{}".utf8))
                    i += 3
                } else {
                    out.append(c)
                    i += 1
                }
            case UInt8(ascii: "_") where i > 0 && isDigit(b[i - 1]) && i + 1 < b.count && isDigit(b[i + 1]):
                i += 1
            default:
                out.append(c)
                i += 1
            }
        }
        var s = String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if s.hasPrefix("\"") { s = "{\n" + s + "\n}" }
        return s
    }

    /// A ULID that stands in for a missing or elided envelope id.
    static let fillerID = "01J9Z6ZK3M8Q4P2V7W1X5Y0A2B"

    /// Expands the placeholders of formatted strings, recursively:
    /// - a `trace_id` written as `4bf92f...` is padded with zeros to 32 hex characters;
    /// - at the top level, an `id` written as `01J...` is padded with zeros to a full ULID.
    /// Every other `...` inside a string is left alone (those members are free-form strings).
    static func expandPlaceholders(_ v: JSONValue, topLevel: Bool = true) -> JSONValue {
        switch v {
        case .array(let a): return .array(a.map { expandPlaceholders($0, topLevel: false) })
        case .object(let o):
            var out = JSONObject()
            for m in o.members {
                var value = expandPlaceholders(m.value, topLevel: false)
                if case .string(let s) = value, s.hasSuffix("...") {
                    let stem = String(s.dropLast(3))
                    if m.key == "trace_id" {
                        value = .string(stem + String(repeating: "0", count: max(0, 32 - stem.count)))
                    } else if topLevel && m.key == "id" {
                        value = .string(stem + String(repeating: "0", count: max(0, 26 - stem.count)))
                    }
                }
                out.append(m.key, value)
            }
            return .object(out)
        default: return v
        }
    }

    /// Full normalization: text fixes, parse, placeholder expansion, and for an envelope
    /// (an object with a `type`) a filler `id` when it has none.
    static func normalize(_ text: String) throws -> JSONValue {
        let fixed = normalizeText(text)
        let parsed: JSONValue
        do { parsed = try JSONParser.parse(fixed) } catch {
            throw NormalizeError(description: "\(error) in normalized text:\n\(fixed)")
        }
        var v = expandPlaceholders(parsed)
        if case .object(var o) = v, o["type"] != nil, o["id"] == nil {
            o.members.insert(.init(key: "id", value: .string(fillerID)), at: 0)
            v = .object(o)
        }
        return v
    }
}
