import Foundation
import ARCPGenerated

/// One check of the kit: a requirement of the spec that a peer can observe on the wire, with
/// the small program that observes it.
public struct Scenario: Sendable, Identifiable {
    /// How strong the requirement is (RFC 2119).
    public enum Level: String, Sendable, Codable, Comparable {
        /// An absolute requirement: a failure means the runtime does not conform.
        case must = "MUST"
        /// A recommendation: a failure is reported, and fails only a strict run.
        case should = "SHOULD"

        public static func < (a: Level, b: Level) -> Bool { a == .must && b == .should }
    }

    /// Which draft states the requirement.
    public enum Draft: String, Sendable, Codable {
        /// `draft-arcp-1.1` (v1.1).
        case v1_1 = "1.1"
        /// `draft-arcp-02` (the v1.0 details v1.1 leaves implicit).
        case v1_0 = "02"
    }

    /// What a scenario needs beyond one session with the primary token.
    public enum Need: String, Sendable, Codable {
        /// Several connections to the same runtime (resume, subscribe, list across sessions).
        /// Not available over stdio, where each connection is its own runtime process.
        case sharedRuntime
        /// A second token for a different principal (`--other-token`).
        case otherPrincipal
    }

    /// Stable identifier, `area.what` (e.g. `cancel.cancelled-ack`).
    public let id: String
    /// The section of the draft, e.g. `7.4` or `8.2.1`.
    public let section: String
    /// The draft the section belongs to.
    public let draft: Draft
    /// MUST or SHOULD.
    public let level: Level
    /// One line: what is checked.
    public let title: String
    /// The spec text the scenario checks (quoted or closely paraphrased).
    public let requirement: String
    /// Feature flags that must be in the welcome (else: skipped, feature not offered).
    public let features: [String]
    /// Test agents that must be registered (else: skipped).
    public let agents: [String]
    /// What the scenario needs beyond one session with the primary token (else: skipped).
    public let needs: Set<Need>
    /// The scenario's own time limit, when it needs more than the options' default.
    public let timeLimit: Duration?
    /// The observation. Throws ``ScenarioFailure`` to fail and ``ScenarioSkip`` to skip.
    public let run: @Sendable (ScenarioContext) async throws -> Void

    /// A scenario with id `id` checking `requirement` of `section` (of `draft`) at `level`,
    /// described in one line by `title`; it is skipped unless the runtime offers `features`,
    /// registers `agents` and the run provides `needs`. `run` observes it within `timeLimit`
    /// (default: the options' `scenarioTimeout`).
    public init(
        _ id: String, section: String, draft: Draft = .v1_1, level: Level, title: String, requirement: String,
        features: [String] = [], agents: [String] = [], needs: Set<Need> = [], timeLimit: Duration? = nil,
        run: @escaping @Sendable (ScenarioContext) async throws -> Void
    ) {
        self.id = id
        self.section = section
        self.draft = draft
        self.level = level
        self.title = title
        self.requirement = requirement
        self.features = features
        self.agents = agents
        self.needs = needs
        self.timeLimit = timeLimit
        self.run = run
    }

    /// `§7.4`, or `02 §7.2` for a v1.0 section.
    public var sectionLabel: String { draft == .v1_1 ? "§\(section)" : "02 §\(section)" }

    /// Whether `--only` selector `s` picks this scenario: a section (`6`, `6.3`, `02:7.2`,
    /// `§7.4`), a scenario id, or an id prefix ending in `.` or `*` (`resume.`, `cancel*`).
    public func matches(_ selector: String) -> Bool {
        var s = selector.trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("§") { s.removeFirst() }
        if s == id { return true }
        if s.hasSuffix("*") { return id.hasPrefix(String(s.dropLast())) }
        if s.hasSuffix("."), id.hasPrefix(s) { return true }
        if !s.contains(where: \.isLetter) || s.hasPrefix("02") {
            var sec = s
            var wantDraft: Draft? = nil
            for prefix in ["02:", "02 §", "02 ", "02§"] where sec.hasPrefix(prefix) {
                sec = String(sec.dropFirst(prefix.count))
                wantDraft = .v1_0
            }
            if let wantDraft, wantDraft != draft { return false }
            return section == sec || section.hasPrefix(sec + ".")
        }
        return id.hasPrefix(s + ".")
    }
}

/// A scenario's verdict that the runtime does not meet the requirement.
public struct ScenarioFailure: Error, Sendable, CustomStringConvertible {
    /// What the runtime did wrong.
    public var message: String
    /// The frames that show it.
    public var evidence: [WireFrame]

    /// A failure saying `message`, shown by the frames in `evidence`.
    public init(_ message: String, evidence: [WireFrame] = []) {
        self.message = message
        self.evidence = evidence
    }

    public var description: String { message }
}

/// A scenario that cannot run here, and why (a feature not offered, a missing agent, a
/// behaviour the spec leaves optional that the runtime does not have).
public struct ScenarioSkip: Error, Sendable, CustomStringConvertible {
    /// Why the scenario cannot run.
    public var reason: String
    /// A skip for `reason`.
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

