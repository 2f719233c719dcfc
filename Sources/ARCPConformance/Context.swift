import ARCP
import ARCPGenerated
import Foundation
import Synchronization

/// What the runtime said about itself in the welcome of the kit's first session.
public struct RuntimeProfile: Sendable {
    /// One entry of the agent inventory.
    public struct Agent: Sendable, Equatable {
        /// The agent's name.
        public var name: String
        /// The versions the runtime lists (empty for an unversioned agent).
        public var versions: [String]
        /// The version a submit without `@version` runs, when the runtime says.
        public var defaultVersion: String?
    }

    /// The welcome's payload.
    public var welcome: JSONValue
    /// `runtime.name runtime.version`, when given.
    public var runtime: String?
    /// The features the runtime offers (the welcome's list).
    public var features: [String]
    /// The agent inventory, by name.
    public var agents: [String: Agent]
    /// The welcome's `heartbeat_interval_sec` (seconds), when heartbeats were negotiated.
    public var heartbeatIntervalSec: Int?
    /// The welcome's `resume_window_sec` (seconds).
    public var resumeWindowSec: Int?

    init(welcome: WireFrame) {
        let p = welcome.payload ?? .object([:])
        self.welcome = p
        if let r = p["runtime"] {
            runtime = [r["name"]?.stringValue, r["version"]?.stringValue].compactMap { $0 }.joined(separator: " ")
        }
        features = p["capabilities"]?["features"]?.arrayValue?.compactMap(\.stringValue) ?? []
        var agents: [String: Agent] = [:]
        for entry in p["capabilities"]?["agents"]?.arrayValue ?? [] {
            if let name = entry.stringValue {
                agents[name] = Agent(name: name, versions: [], defaultVersion: nil)
            } else if let name = entry["name"]?.stringValue {
                agents[name] = Agent(
                    name: name, versions: entry["versions"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                    defaultVersion: entry["default"]?.stringValue)
            }
        }
        self.agents = agents
        heartbeatIntervalSec = p["heartbeat_interval_sec"]?.int64Value.map { Int(clamping: $0) }
        resumeWindowSec = p["resume_window_sec"]?.int64Value.map { Int(clamping: $0) }
    }
}

/// Which bearer token a session presents.
public enum Token: Sendable {
    /// `--token`: the primary principal.
    case primary
    /// `--other-token`: a different principal.
    case other
    /// This exact token.
    case literal(String)
    /// No `auth` member at all.
    case none
}

/// What a scenario works with: its connections and sessions, the runtime's profile, the options.
public final class ScenarioContext: Sendable {
    /// The scenario being run.
    public let scenario: Scenario
    /// What the runtime said about itself in the probe's welcome.
    public let profile: RuntimeProfile
    /// The options of the run (tokens, time limits).
    public let options: ConformanceOptions
    let target: ConformanceTarget
    let transcript: Transcript
    private let connections = Mutex<[Connection]>([])
    private let names = Mutex<Set<String>>([])

    init(scenario: Scenario, profile: RuntimeProfile, options: ConformanceOptions, target: ConformanceTarget, transcript: Transcript) {
        self.scenario = scenario
        self.profile = profile
        self.options = options
        self.target = target
        self.transcript = transcript
    }

    /// The eleven feature flags of v1.1: what the kit's sessions ask for by default.
    public static let allFeatures = [
        "heartbeat", "ack", "list_jobs", "subscribe", "lease_expires_at", "cost.budget", "model.use",
        "provisioned_credentials", "progress", "result_chunk", "agent_versions",
    ]

    /// Whether the runtime offers `feature`.
    public func offers(_ feature: String) -> Bool { profile.features.contains(feature) }

    /// Whether every connection reaches the same runtime.
    public var sharesRuntime: Bool { target.sharesRuntime }

    /// Writes a note into the transcript.
    public func note(_ text: String) { transcript.append("", .note, text) }

    /// Waits `duration` (noted in the transcript): for things that must happen, or not, meanwhile.
    public func pause(_ duration: Duration, _ why: String) async throws {
        note("waiting \(Connection.format(duration)): \(why)")
        try await Task.sleep(for: duration)
    }

    /// A string no other scenario (or run) uses, for idempotency keys.
    public func unique(_ prefix: String) -> String { "\(prefix)-\(ARCPID.ulid().lowercased())" }

    // MARK: connections

    private func uniqueName(_ wanted: String) -> String {
        names.withLock { used in
            var name = wanted
            var n = 2
            while used.contains(name) {
                name = "\(wanted)\(n)"
                n += 1
            }
            used.insert(name)
            return name
        }
    }

    /// Opens a raw connection (nothing sent yet).
    public func open(_ name: String = "A") async throws -> Connection {
        let raw: RawConnection
        do {
            raw = try await target.connect()
        } catch {
            throw ScenarioFailure("cannot connect to \(target.name): \(error)")
        }
        let c = Connection(name: uniqueName(name), raw: raw, transcript: transcript, options: options)
        connections.withLock { $0.append(c) }
        return c
    }

    func closeAll() async {
        let all = connections.withLock { c -> [Connection] in
            defer { c = [] }
            return c
        }
        await withTaskGroup(of: Void.self) { group in
            for c in all { group.addTask { await c.close() } }
        }
    }

    /// The `session.hello` payload the kit sends.
    public func helloPayload(token: Token, features: [String]? = nil, resume: JSONValue? = nil) throws -> JSONValue {
        var p = JSONObject()
        p.append("client", ["name": "arcp-conformance", "version": .string(ConformanceKit.version)])
        let tokenValue: String?
        switch token {
        case .primary: tokenValue = options.token
        case .other:
            guard let t = options.otherToken else { throw ScenarioSkip("needs --other-token (a second principal)") }
            tokenValue = t
        case .literal(let t): tokenValue = t
        case .none: tokenValue = nil
        }
        if let tokenValue { p.append("auth", ["scheme": "bearer", "token": .string(tokenValue)]) }
        p.append("capabilities", [
            "encodings": ["json"], "features": .array((features ?? Self.allFeatures).map(JSONValue.string)),
        ])
        if let resume { p.append("resume", resume) }
        return .object(p)
    }

    /// Opens a connection and completes the handshake (`session.hello` → `session.welcome`).
    /// - Parameters:
    ///   - name: the connection's name in the transcript (`A`, `B`, …).
    ///   - token: whose token the hello carries (default: the primary principal's).
    ///   - features: the features to ask for (default: all eleven).
    ///   - resume: a resume block (`session_id`, `resume_token`, `last_event_seq`).
    /// - Throws: ``ScenarioFailure`` when the runtime answers with anything but a welcome.
    public func session(
        _ name: String = "A", token: Token = .primary, features: [String]? = nil, resume: JSONValue? = nil
    ) async throws -> Session {
        let hello = Envelope.make("session.hello", payload: try helloPayload(token: token, features: features, resume: resume))
        let c = try await open(name)
        try await c.send(hello.text)
        let reply = try await c.frame("session.welcome") { !$0.isHeartbeat }
        guard reply.type == "session.welcome" else {
            let what = resume == nil ? "the handshake" : "the resume"
            throw ScenarioFailure(
                "\(c.name): \(what) was answered with \(reply.type ?? "a non-JSON frame")\(reply.code.map { " \($0)" } ?? "")",
                evidence: [reply])
        }
        return Session(connection: c, context: self, welcome: reply, requested: features ?? Self.allFeatures)
    }

    /// Resumes `session` on a new connection with `session.hello` + `resume` (the form both
    /// drafts and all known runtimes accept).
    public func resume(
        _ session: Session, name: String? = nil, lastEventSeq: Int64? = nil, token: String? = nil
    ) async throws -> Session {
        let block: JSONValue = [
            "session_id": .string(session.id), "resume_token": .string(token ?? session.resumeToken),
            "last_event_seq": .int(lastEventSeq ?? session.lastSeq ?? 0),
        ]
        return try await self.session(name ?? session.connection.name, features: session.requested, resume: block)
    }

    // MARK: verdicts

    /// Fails the scenario.
    public func fail(_ message: String, evidence: [WireFrame] = []) -> ScenarioFailure {
        ScenarioFailure(message, evidence: evidence)
    }

    /// Fails the scenario unless `condition` holds.
    public func check(_ condition: Bool, _ message: @autoclosure () -> String, evidence: [WireFrame] = []) throws {
        if !condition { throw ScenarioFailure(message(), evidence: evidence) }
    }

    /// Skips the scenario.
    public func skip(_ reason: String) -> ScenarioSkip { ScenarioSkip(reason) }
}
