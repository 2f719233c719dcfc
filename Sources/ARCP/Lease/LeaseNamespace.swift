/// A capability namespace of a lease (spec §9.2): the seven reserved namespaces plus
/// runtime-defined ones.
///
/// Equality and hashing go by `rawValue`, so `.custom("fs.read")` equals `.fsRead`;
/// prefer `LeaseNamespace(_:)`, which maps reserved names to their cases.
public enum LeaseNamespace: Sendable, Hashable, CustomStringConvertible {
    /// `fs.read`: filesystem read; patterns are absolute path globs.
    case fsRead
    /// `fs.write`: filesystem write; patterns are absolute path globs.
    case fsWrite
    /// `net.fetch`: outbound HTTP(S); patterns are URL globs.
    case netFetch
    /// `tool.call`: calling registered tools; patterns are tool name globs.
    case toolCall
    /// `agent.delegate`: delegating to sub-agents; patterns are agent name globs.
    case agentDelegate
    /// `cost.budget`: cost ceilings; "patterns" are amounts such as `USD:5.00` (§9.6).
    case costBudget
    /// `model.use`: LLM model selection; patterns are model name globs (§9.7).
    case modelUse
    /// A runtime-defined namespace. It is only accepted in a lease when the runtime
    /// registered it in a `LeaseNamespaceRegistry`.
    case custom(String)

    /// The reserved namespaces, in spec order.
    public static let reserved: [LeaseNamespace] = [
        .fsRead, .fsWrite, .netFetch, .toolCall, .agentDelegate, .costBudget, .modelUse,
    ]

    /// Parses a namespace name, checking the grammar (§9.2: dot-separated lowercase
    /// identifiers, each `[a-z][a-z0-9_-]*`, at most 128 bytes). Reserved names map to
    /// their cases; anything else becomes `.custom`. Registration is checked by `ValidatedLease`.
    public init(_ name: String) throws(LeaseError) {
        guard LeaseNamespace.isValidName(name) else {
            throw LeaseError(.invalidRequest, "invalid capability namespace \(LeaseText.quote(name)): expected dot-separated lowercase identifiers")
        }
        switch name {
        case "fs.read": self = .fsRead
        case "fs.write": self = .fsWrite
        case "net.fetch": self = .netFetch
        case "tool.call": self = .toolCall
        case "agent.delegate": self = .agentDelegate
        case "cost.budget": self = .costBudget
        case "model.use": self = .modelUse
        default: self = .custom(name)
        }
    }

    /// The wire name, e.g. `"fs.read"`.
    public var rawValue: String {
        switch self {
        case .fsRead: return "fs.read"
        case .fsWrite: return "fs.write"
        case .netFetch: return "net.fetch"
        case .toolCall: return "tool.call"
        case .agentDelegate: return "agent.delegate"
        case .costBudget: return "cost.budget"
        case .modelUse: return "model.use"
        case .custom(let name): return name
        }
    }

    /// Index of a reserved namespace in `reserved`; `nil` for runtime-defined ones.
    @inline(__always)
    var slot: Int? {
        switch self {
        case .fsRead: return 0
        case .fsWrite: return 1
        case .netFetch: return 2
        case .toolCall: return 3
        case .agentDelegate: return 4
        case .costBudget: return 5
        case .modelUse: return 6
        case .custom(let name): return LeaseNamespace.reservedSlot(name)
        }
    }

    private static func reservedSlot(_ name: String) -> Int? {
        switch name {
        case "fs.read": return 0
        case "fs.write": return 1
        case "net.fetch": return 2
        case "tool.call": return 3
        case "agent.delegate": return 4
        case "cost.budget": return 5
        case "model.use": return 6
        default: return nil
        }
    }

    /// Whether this is one of the seven reserved namespaces.
    public var isReserved: Bool {
        switch self {
        case .custom(let name): return LeaseNamespace.reservedSyntax(name) != nil
        default: return true
        }
    }

    /// The pattern syntax of a reserved namespace; `nil` for a runtime-defined one.
    public var reservedSyntax: LeasePatternSyntax? { LeaseNamespace.reservedSyntax(rawValue) }

    public var description: String { rawValue }

    public static func == (lhs: LeaseNamespace, rhs: LeaseNamespace) -> Bool { lhs.rawValue == rhs.rawValue }

    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    static func reservedSyntax(_ name: String) -> LeasePatternSyntax? {
        switch name {
        case "fs.read", "fs.write": return .path
        case "net.fetch": return .url
        case "tool.call": return .name
        case "agent.delegate": return .agentName
        case "cost.budget": return .amount
        case "model.use": return .modelName
        default: return nil
        }
    }

    /// `ident ("." ident)*`, `ident = [a-z][a-z0-9_-]*`, at most 128 bytes.
    static func isValidName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= 128 else { return false }
        var atIdentStart = true
        for b in bytes {
            if atIdentStart {
                guard b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z") else { return false }
                atIdentStart = false
            } else if b == UInt8(ascii: ".") {
                atIdentStart = true
            } else {
                let ok = (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
                    || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
                guard ok else { return false }
            }
        }
        return !atIdentStart
    }
}

/// How the patterns of a namespace are read and matched.
///
/// In every glob syntax patterns are anchored (they match the whole canonical target),
/// only `*` is special, and:
/// - a segment that is exactly `*` matches exactly one non-empty segment;
/// - a `*` inside a segment (`claude-3-*`, `*.swift`) matches any run, possibly empty, of
///   non-separator characters; `**` inside a segment is the same as `*`;
/// - a segment that is exactly `**` matches zero or more whole segments.
/// Comparison is byte-wise on UTF-8: no case folding (except URL scheme and host), no
/// Unicode normalization, so look-alike characters never match each other.
public enum LeasePatternSyntax: Sendable, Hashable {
    /// Absolute filesystem paths; separator `/`. Patterns and targets are canonicalized
    /// (see `LeaseAuthority`): `.`/`..` resolved, duplicate and trailing slashes removed,
    /// percent-escapes decoded once. `..` is not allowed in a pattern.
    case path
    /// URLs `scheme://host[:port]/path`. The scheme is literal; host labels are separated
    /// by `.` (`*` one label, `**` any number of labels); the port is literal digits or `*`
    /// and defaults to the scheme's (80 for http/ws, 443 for https/wss); the path is
    /// a `.path` glob (an absent path means `/` only; use `/**` for a whole site).
    /// Userinfo, query and fragment are not allowed in patterns.
    case url
    /// Dotted or slashed names such as tool names (`search.*`, `mcp:github/*`); both `.`
    /// and `/` separate segments and must match exactly; `:` and other characters are
    /// literal.
    case name
    /// Agent references `name` or `name@version`; the name part is a `.name` glob. A
    /// pattern without `@` covers every version of the agents it names; a pattern with
    /// `@` constrains the version too (the version is one segment: `*` matches any run
    /// of characters other than `@`).
    case agentName
    /// Model identifiers (`tier-fast/*`, `anthropic/claude-3-haiku-*`); only `/`
    /// separates segments, since model ids contain dots (`gpt-4.1`).
    case modelName
    /// `cost.budget` amounts `currency ":" decimal`; not a glob.
    case amount
}

/// The set of runtime-defined namespaces a runtime accepts, with their pattern syntax.
/// A lease naming a namespace that is neither reserved nor registered is rejected.
public struct LeaseNamespaceRegistry: Sendable, Equatable {
    /// Registered runtime-defined namespaces (name → syntax).
    public let custom: [String: LeasePatternSyntax]

    /// A registry with no runtime-defined namespaces.
    public static let standard = LeaseNamespaceRegistry(validated: [:])

    /// Registers runtime-defined namespaces. Names must follow the namespace grammar and
    /// must not be reserved; `.amount` is reserved to `cost.budget`.
    public init(custom: [String: LeasePatternSyntax]) throws(LeaseError) {
        for (name, syntax) in custom {
            guard LeaseNamespace.isValidName(name) else {
                throw LeaseError(.invalidRequest, "invalid namespace name \(LeaseText.quote(name))")
            }
            guard LeaseNamespace.reservedSyntax(name) == nil else {
                throw LeaseError(.invalidRequest, "\(name) is a reserved namespace and cannot be registered")
            }
            guard syntax != .amount else {
                throw LeaseError(.invalidRequest, "only cost.budget uses amount syntax")
            }
        }
        self.custom = custom
    }

    private init(validated: [String: LeasePatternSyntax]) { self.custom = validated }

    /// The syntax of `namespace`, or `nil` when it is neither reserved nor registered.
    public func syntax(of namespace: LeaseNamespace) -> LeasePatternSyntax? {
        if let reserved = namespace.reservedSyntax { return reserved }
        return custom[namespace.rawValue]
    }
}
