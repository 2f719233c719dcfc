/// One schema violation found by a generated validator.
public struct Violation: Sendable, Hashable, CustomStringConvertible {
    /// JSON Pointer of the offending value ("" for the whole document).
    public var path: String
    /// The rule broken: a JSON Schema keyword (`type`, `required`, `enum`, `minimum`,
    /// `format`, `anyOf`, `const`, …), `json` for a syntax error, or `x-arcp-discriminator`
    /// for an unknown message type or event kind.
    public var rule: String
    /// A readable sentence.
    public var message: String

    /// A violation of `rule` at `path`, explained by `message`.
    public init(path: String, rule: String, message: String) {
        self.path = path
        self.rule = rule
        self.message = message
    }

    public var description: String { "\(path.isEmpty ? "/" : path): [\(rule)] \(message)" }
}

/// The path being visited, pushed and popped as validation descends. Only rendered to a
/// string when a violation is reported, so valid frames pay nothing for it.
public struct _ValidationContext {
    public var path: [JSONPathComponent]
    public var violations: [Violation] = []
    /// The top-level `id` when it is a string (set by the single-pass decoder).
    public var rootID: String? = nil
    /// Whether the single-pass decoders check the format, enum and length rules of the string
    /// members they read (false for `decodeLenient(frame:)`: those rules never change the value).
    public var checksStringRules = true

    public init() {
        path = []
    }

    /// Inserts member `key` after the current path into the paths of the violations from
    /// index `mark` on (they were reported without it). The single-pass decoders push no
    /// key while reading a member and fix the few violations up instead.
    public mutating func insertKey(_ key: String, from mark: Int) {
        let prefixLength = jsonPointer(path).utf8.count
        let step = "/" + key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
        for i in mark..<violations.count {
            var p = violations[i].path
            let at = p.utf8.index(p.startIndex, offsetBy: min(prefixLength, p.utf8.count))
            p.insert(contentsOf: step, at: at)
            violations[i].path = p
        }
    }

    @inline(__always)
    public mutating func report(_ rule: String, _ message: String) {
        violations.append(Violation(path: jsonPointer(path), rule: rule, message: message))
    }
}

/// The result of a single-pass decode (`Envelope.decodeValidated(frame:)`).
public struct ValidatedFrame<Value: Sendable>: Sendable {
    /// The decoded value: what `Value(json:)` gives for the parsed frame, nil when that throws
    /// or when the text is not JSON. Present even when there are violations the decoder
    /// tolerates (an unknown `type`, a bad id format, …): check `violations` first.
    public var value: Value?
    /// Every violation, as `ARCPValidator.validate(frame:)` reports them.
    public var violations: [Violation]
    /// The top-level `id` when it is a string, even for an invalid frame, so that an error
    /// can answer the request.
    public var id: String?

    /// A validated frame from its parts.
    public init(value: Value?, violations: [Violation], id: String?) {
        self.value = value
        self.violations = violations
        self.id = id
    }

    /// Valid and decoded.
    public var isValid: Bool { violations.isEmpty && value != nil }
}

/// Whether `bytes` are exactly the UTF-8 of `s` (generated matchers). Not for direct use.
@inline(__always)
public func _utf8Equals(_ bytes: UnsafeBufferPointer<UInt8>, _ s: StaticString) -> Bool {
    let n = s.utf8CodeUnitCount
    guard bytes.count == n else { return false }
    let p = s.utf8Start
    var i = 0
    while i < n {
        if bytes[i] != p[i] { return false }
        i += 1
    }
    return true
}
