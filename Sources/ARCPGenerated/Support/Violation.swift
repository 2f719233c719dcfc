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
    public var path: [JSONPathComponent] = []
    public var violations: [Violation] = []

    public init() {}

    @inline(__always)
    public mutating func report(_ rule: String, _ message: String) {
        violations.append(Violation(path: jsonPointer(path), rule: rule, message: message))
    }
}
