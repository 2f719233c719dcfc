import Foundation

/// The body of an agent: takes the job's `input` and a context, returns the inline result.
/// Throwing `ARCPError` fails the job with that code; any other error is INTERNAL_ERROR
/// (retryable). Cancellation (job.cancel, timeout, lease expiry) arrives as Swift task
/// cancellation: `try Task.checkCancellation()`, or any cancellable await, ends the body.
public typealias AgentBody = @Sendable (JSONValue, JobContext) async throws -> JSONValue

/// Verifies bearer tokens from `session.hello` (spec §6.1).
public protocol BearerVerifier: Sendable {
    /// The authenticated principal for `token`, or nil to reject it with UNAUTHENTICATED.
    func principal(for token: String) async -> String?
}

/// A fixed token → principal table.
public struct StaticBearerVerifier: BearerVerifier {
    public let tokens: [String: String]
    public init(_ tokens: [String: String]) { self.tokens = tokens }
    public func principal(for token: String) async -> String? {
        // Compare in constant time per candidate so timing does not reveal near misses.
        var found: String? = nil
        let tb = Array(token.utf8)
        for (candidate, principal) in tokens {
            let cb = Array(candidate.utf8)
            var diff = cb.count ^ tb.count
            for i in 0..<min(cb.count, tb.count) { diff |= Int(cb[i] ^ tb[i]) }
            if diff == 0 { found = principal }
        }
        return found
    }
}

/// Who may subscribe to (and list) a job submitted by another principal (spec §7.6, §14).
public enum ObservePolicy: Sendable {
    /// Only the submitting principal (the default the spec requires).
    case samePrincipal
    /// A custom rule: `(observer, owner) -> allowed`. The submitter is always allowed.
    case custom(@Sendable (_ observer: String, _ owner: String) -> Bool)

    func allows(observer: String, owner: String) -> Bool {
        if observer == owner { return true }
        switch self {
        case .samePrincipal: return false
        case .custom(let f): return f(observer, owner)
        }
    }
}

struct RegisteredAgent: Sendable {
    var name: String
    var versions: [(version: String, body: AgentBody)]
    var defaultVersion: String?

    func resolve(_ version: String?) -> (String, AgentBody)? {
        if let version {
            return versions.first { $0.version == version }.map { ($0.version, $0.body) }
        }
        if let d = defaultVersion, let v = versions.first(where: { $0.version == d }) { return (v.version, v.body) }
        return versions.first.map { ($0.version, $0.body) }
    }

    var info: AgentInfo {
        AgentInfo(name: name, versions: versions.map(\.version).filter { !$0.isEmpty }, default: defaultVersion.flatMap { $0.isEmpty ? nil : $0 })
    }
}
