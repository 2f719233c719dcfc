import Foundation

/// The body of an agent: takes the job's `input` and a context, returns the inline result.
/// Throwing `ARCPError` fails the job with that code; any other error is INTERNAL_ERROR
/// (retryable). Cancellation (job.cancel, timeout, lease expiry) arrives as Swift task
/// cancellation: `try Task.checkCancellation()`, or any cancellable await, ends the body.
public typealias AgentBody = @Sendable (JSONValue, JobContext) async throws -> JSONValue

/// One registered agent name with its versions.
struct RegisteredAgent: Sendable {
    var name: String
    var versions: [(version: String, body: AgentBody)]
    var defaultVersion: String?
    /// The versions registered restartable (`""` for an unversioned agent): in a cluster, a
    /// job of one whose node is lost runs again once on another node (docs/CLUSTER.md).
    var restartable: Set<String> = []
    /// The versions registered to start immediately (`""` for an unversioned agent): a job of
    /// one submitted by a peer starts on the thread that read its `job.submit`
    /// (`ARCPRuntime.register(_:startsImmediately:)`).
    var immediate: Set<String> = []

    /// The body for `version` (nil: the default, else the first registered).
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

/// An agent reference resolved at a submission (`AgentRegistry.resolve`).
struct ResolvedAgent {
    /// `name`, or `name@version` for a versioned agent.
    var resolved: String
    var body: AgentBody
    /// Registered restartable (`ARCPRuntime.register(_:restartable:)`).
    var restartable: Bool
    /// Registered to start immediately (`ARCPRuntime.register(_:startsImmediately:)`).
    var startsImmediately: Bool
}

/// The agents a runtime hosts (spec §7.5): names, versions, defaults, in registration order.
/// Its lock is a leaf: it is read while building a welcome (before any session lock) and
/// when a job is submitted or delegated.
final class AgentRegistry: Sendable {
    private struct Agents {
        var byName: [String: RegisteredAgent] = [:]
        var order: [String] = []
    }

    private let agents = RankedMutex(.leaf, Agents())

    /// Registers `body` as `name` (`version` nil: unversioned).
    func register(
        _ name: String, version: String?, isDefault: Bool, restartable: Bool = false, startsImmediately: Bool = false,
        _ body: @escaping AgentBody
    ) throws {
        guard ARCPFormat.isAgentRef(name), !name.contains("@") else {
            throw ARCPError.invalidRequest("invalid agent name \(name): expected [a-z0-9][a-z0-9._-]*")
        }
        if let version, !ARCPFormat.isAgentRef("a@" + version) {
            throw ARCPError.invalidRequest("invalid agent version \(version)")
        }
        try agents.withLock { r in
            var a = r.byName[name] ?? RegisteredAgent(name: name, versions: [], defaultVersion: nil)
            let v = version ?? ""
            if a.versions.contains(where: { $0.version == v }) {
                throw ARCPError.invalidRequest("agent \(name)\(version.map { "@" + $0 } ?? "") is already registered")
            }
            a.versions.append((v, body))
            if restartable { a.restartable.insert(v) }
            if startsImmediately { a.immediate.insert(v) }
            if isDefault || a.defaultVersion == nil { a.defaultVersion = v }
            if r.byName[name] == nil { r.order.append(name) }
            r.byName[name] = a
        }
    }

    /// The agent `name`, if registered.
    func agent(_ name: String) -> RegisteredAgent? {
        agents.withLock { $0.byName[name] }
    }

    /// Resolves an agent reference `name` or `name@version` to its resolved name, body and
    /// registration flags (one lookup: this is on every submit's path).
    /// - Throws: `AGENT_NOT_AVAILABLE`, `AGENT_VERSION_NOT_AVAILABLE`.
    func resolve(_ ref: String) throws -> ResolvedAgent {
        let parts = ref.split(separator: "@", maxSplits: 1).map(String.init)
        guard let name = parts.first, let registered = agent(name) else {
            throw ARCPError(.agentNotAvailable, "unknown agent: \(parts.first ?? ref)")
        }
        guard let (version, body) = registered.resolve(parts.count > 1 ? parts[1] : nil) else {
            throw ARCPError(.agentVersionNotAvailable, "unknown agent version: \(ref)")
        }
        return ResolvedAgent(
            resolved: version.isEmpty ? name : "\(name)@\(version)", body: body, restartable: registered.restartable.contains(version),
            startsImmediately: registered.immediate.contains(version))
    }

    /// Whether the agent a job names (`name` or `name@version`, as resolved at its
    /// submission) was registered restartable.
    func isRestartable(_ resolved: String) -> Bool {
        let parts = resolved.split(separator: "@", maxSplits: 1).map(String.init)
        guard let name = parts.first, let registered = agent(name) else { return false }
        return registered.restartable.contains(parts.count > 1 ? parts[1] : "")
    }

    /// The inventory as advertised in `session.welcome`.
    var inventory: [AgentInfo] {
        agents.withLock { r in r.order.compactMap { r.byName[$0]?.info } }
    }
}
