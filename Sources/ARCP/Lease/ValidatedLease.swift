/// A lease: capability namespace → patterns (spec §9.1–§9.2), validated and compiled.
///
/// This is the enforcement-side counterpart of the wire type `Lease` (a plain
/// `[String: [String]]` map): build one from the wire map with `init(_:registry:)` and turn
/// it back with `wireValue`. Every glob pattern is compiled
/// once into an automaton, so matching never parses or builds a regex per call.
/// `cost.budget` entries are parsed into `budget`. Equality compares the grants as written
/// (and the syntax of each namespace).
public struct ValidatedLease: Sendable, Equatable, CustomStringConvertible {
    /// Limits that keep a hostile lease from costing much: namespaces per lease,
    /// patterns per namespace, patterns in total.
    public static let maxNamespaces = 64
    /// Maximum number of patterns in one namespace.
    public static let maxPatternsPerNamespace = 256
    /// Maximum number of patterns in a lease.
    public static let maxPatterns = 1024

    /// The grants as written, including `cost.budget` amount strings.
    public let grants: [LeaseNamespace: [String]]
    /// The parsed `cost.budget` amounts (one per currency); empty when not budgeted.
    public let budget: [CostAmount]
    /// Compiled glob patterns per namespace (not `cost.budget`).
    let compiled: [LeaseNamespace: [CompiledPattern]]
    /// The pattern syntax of each namespace present.
    let syntaxes: [LeaseNamespace: LeasePatternSyntax]
    /// Entries of the reserved namespaces, indexed by `LeaseNamespace.slot`.
    let reservedEntries: [Entry?]

    /// The lease that grants nothing.
    public static let empty = ValidatedLease(grants: [:], budget: [], compiled: [:], syntaxes: [:])

    init(grants: [LeaseNamespace: [String]], budget: [CostAmount], compiled: [LeaseNamespace: [CompiledPattern]], syntaxes: [LeaseNamespace: LeasePatternSyntax]) {
        self.grants = grants
        self.budget = budget
        self.compiled = compiled
        self.syntaxes = syntaxes
        self.reservedEntries = ValidatedLease.reservedEntries(compiled: compiled, syntaxes: syntaxes)
    }

    /// Validates and compiles a wire lease (`lease_request` or `lease`).
    ///
    /// Namespace names must follow the grammar (dot-separated lowercase identifiers);
    /// a namespace that is neither reserved nor registered in `registry` is rejected;
    /// every pattern must be valid for its namespace's syntax; `cost.budget` entries must
    /// be `currency:decimal` with each currency at most once. Failures are
    /// `INVALID_REQUEST`.
    public init(_ wire: [String: [String]], registry: LeaseNamespaceRegistry = .standard) throws(LeaseError) {
        var typed: [LeaseNamespace: [String]] = [:]
        for (name, patterns) in wire { typed[try LeaseNamespace(name)] = patterns }
        try self.init(grants: typed, registry: registry)
    }

    /// Validates and compiles a lease keyed by `LeaseNamespace`.
    public init(grants: [LeaseNamespace: [String]], registry: LeaseNamespaceRegistry = .standard) throws(LeaseError) {
        guard grants.count <= ValidatedLease.maxNamespaces else {
            throw LeaseError(.invalidRequest, "lease names more than \(ValidatedLease.maxNamespaces) namespaces")
        }
        var total = 0
        var budget: [CostAmount] = []
        var compiled: [LeaseNamespace: [CompiledPattern]] = [:]
        var syntaxes: [LeaseNamespace: LeasePatternSyntax] = [:]
        // Deterministic order, so the first error reported does not depend on hashing.
        for (namespace, patterns) in grants.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            guard LeaseNamespace.isValidName(namespace.rawValue) else {
                throw LeaseError(.invalidRequest, "invalid capability namespace \(LeaseText.quote(namespace.rawValue))")
            }
            guard let syntax = registry.syntax(of: namespace) else {
                throw LeaseError(.invalidRequest, "unknown capability namespace \(LeaseText.quote(namespace.rawValue))")
            }
            guard patterns.count <= ValidatedLease.maxPatternsPerNamespace else {
                throw LeaseError(.invalidRequest, "\(namespace) has more than \(ValidatedLease.maxPatternsPerNamespace) patterns")
            }
            total += patterns.count
            guard total <= ValidatedLease.maxPatterns else {
                throw LeaseError(.invalidRequest, "lease has more than \(ValidatedLease.maxPatterns) patterns")
            }
            syntaxes[namespace] = syntax
            if syntax == .amount {
                var seen = Set<String>()
                for text in patterns {
                    let amount = try CostAmount(parsing: text)
                    guard seen.insert(amount.currency).inserted else {
                        throw LeaseError(.invalidRequest, "cost.budget names \(LeaseText.quote(amount.currency)) more than once")
                    }
                    budget.append(amount)
                }
                continue
            }
            var list: [CompiledPattern] = []
            list.reserveCapacity(patterns.count)
            for p in patterns {
                switch LeasePatternCompiler.compile(p, syntax: syntax) {
                case .success(let c): list.append(c)
                case .failure(let e): throw LeaseError(.invalidRequest, "\(namespace): \(e.message)")
                }
            }
            compiled[namespace] = list
        }
        self.init(grants: grants, budget: budget, compiled: compiled, syntaxes: syntaxes)
    }

    /// The lease as a wire map (`namespace → patterns`), e.g. to echo in `job.accepted`.
    public var wireValue: [String: [String]] {
        var out: [String: [String]] = [:]
        for (k, v) in grants { out[k.rawValue] = v }
        return out
    }

    /// The namespaces present, sorted by name.
    public var namespaces: [LeaseNamespace] { grants.keys.sorted { $0.rawValue < $1.rawValue } }

    /// The patterns granted for `namespace`, or `nil` when the lease does not name it.
    public func patterns(for namespace: LeaseNamespace) -> [String]? { grants[namespace] }

    /// Whether the lease names `namespace` (possibly with an empty list).
    public func contains(_ namespace: LeaseNamespace) -> Bool { grants[namespace] != nil }

    /// Whether some pattern of `namespace` covers `target` after canonicalization. Pure
    /// pattern logic: no expiry, budget, model policy or symlink resolution (see
    /// `LeaseAuthority.authorize(_:_:)` for the full check).
    public func covers(_ namespace: LeaseNamespace, _ target: String) -> Bool {
        guard let entry = entry(for: namespace) else { return false }
        if case .matched = LeasePatternCompiler.match(target, syntax: entry.syntax, patterns: entry.patterns) { return true }
        return false
    }

    static func anyMatches(_ patterns: [CompiledPattern], _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { LeasePatternCompiler.anyMatches(patterns, $0) }
    }

    /// A namespace's syntax and compiled patterns.
    struct Entry: Sendable {
        let syntax: LeasePatternSyntax
        let patterns: [CompiledPattern]
    }

    /// The entry for `namespace`; reserved namespaces are found without hashing.
    @inline(__always)
    func entry(for namespace: LeaseNamespace) -> Entry? {
        if let slot = namespace.slot { return reservedEntries[slot] }
        guard let syntax = syntaxes[namespace], let patterns = compiled[namespace] else { return nil }
        return Entry(syntax: syntax, patterns: patterns)
    }

    static func reservedEntries(compiled: [LeaseNamespace: [CompiledPattern]], syntaxes: [LeaseNamespace: LeasePatternSyntax]) -> [Entry?] {
        LeaseNamespace.reserved.map { ns in
            guard let syntax = syntaxes[ns], let patterns = compiled[ns] else { return nil }
            return Entry(syntax: syntax, patterns: patterns)
        }
    }

    public static func == (a: ValidatedLease, b: ValidatedLease) -> Bool { a.grants == b.grants && a.syntaxes == b.syntaxes }

    public var description: String {
        namespaces.map { ns in "\(ns): [\((grants[ns] ?? []).map { LeaseText.quote($0) }.joined(separator: ", "))]" }
            .joined(separator: "; ")
    }
}
