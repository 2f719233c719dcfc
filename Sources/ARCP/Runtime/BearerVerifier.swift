/// Verifies bearer tokens from `session.hello` (spec §6.1).
public protocol BearerVerifier: Sendable {
    /// The authenticated principal for `token`, or nil to reject it with UNAUTHENTICATED.
    func principal(for token: String) async -> String?

    /// Whether `principal(for:)` may block or run long (a network call, a database, a key
    /// fetch). The runtime then calls it off the connection's executor (the event loop other
    /// connections share). A verifier that only computes over what it holds in memory answers
    /// false and is called in place: two thread hand-offs fewer per connection. Default: true.
    var mayBlock: Bool { get }
}

extension BearerVerifier {
    public var mayBlock: Bool { true }
}

/// A fixed token → principal table.
public struct StaticBearerVerifier: BearerVerifier {
    /// Token → principal.
    public let tokens: [String: String]
    /// A verifier accepting exactly `tokens` (token → principal).
    public init(_ tokens: [String: String]) { self.tokens = tokens }
    /// False: a lookup in memory.
    public var mayBlock: Bool { false }
    public func principal(for token: String) async -> String? {
        // Compare in constant time per candidate so timing does not reveal near misses.
        var found: String? = nil
        let tb = Array(token.utf8)
        for (candidate, principal) in tokens where ResumeTokenHasher.constantTimeEquals(Array(candidate.utf8), tb) {
            found = principal
        }
        return found
    }
}
