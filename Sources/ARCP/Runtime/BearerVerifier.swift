/// Verifies bearer tokens from `session.hello` (spec §6.1).
public protocol BearerVerifier: Sendable {
    /// The authenticated principal for `token`, or nil to reject it with UNAUTHENTICATED.
    func principal(for token: String) async -> String?
}

/// A fixed token → principal table.
public struct StaticBearerVerifier: BearerVerifier {
    /// Token → principal.
    public let tokens: [String: String]
    /// A verifier accepting exactly `tokens` (token → principal).
    public init(_ tokens: [String: String]) { self.tokens = tokens }
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
