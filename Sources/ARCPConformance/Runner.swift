import ARCPGenerated
import Foundation
import Synchronization

/// The outcome of one scenario.
public struct ScenarioResult: Sendable {
    /// Passed, failed (with why) or skipped (with why).
    public enum Outcome: Sendable, Equatable {
        /// The runtime met the requirement.
        case passed
        /// The runtime did not meet it: the reason.
        case failed(String)
        /// The scenario could not run here: the reason.
        case skipped(String)

        /// `pass`, `FAIL` or `skip`, for the table.
        public var label: String {
            switch self {
            case .passed: return "pass"
            case .failed: return "FAIL"
            case .skipped: return "skip"
            }
        }
    }

    /// The scenario that ran.
    public let scenario: Scenario
    /// How it ended.
    public let outcome: Outcome
    /// For a failure, the frames that show it.
    public let evidence: [WireFrame]
    /// Everything the scenario sent and received.
    public let transcript: [WireFrame]
    /// How long it took.
    public let duration: Duration

    /// Whether it passed.
    public var passed: Bool { outcome == .passed }
    /// Whether it failed.
    public var failed: Bool { if case .failed = outcome { return true } else { return false } }
    /// Whether it was skipped.
    public var skipped: Bool { if case .skipped = outcome { return true } else { return false } }
}

/// Runs scenarios against a runtime.
public enum ConformanceKit {
    /// The kit's version (reported in its hello as the client version).
    public static let version = "1.0.0"

    /// Runs `scenarios` (default: all, narrowed by `options.only`) against `target`.
    ///
    /// A first session (the probe) reads the runtime's welcome: its features, agents and
    /// heartbeat interval decide which scenarios can run. Scenarios then run concurrently
    /// (`options.concurrency` at a time), each with its own sessions; `progress` is called as
    /// each one ends.
    public static func run(
        _ target: ConformanceTarget, options: ConformanceOptions, scenarios: [Scenario] = ScenarioCatalog.all,
        progress: (@Sendable (ScenarioResult) -> Void)? = nil
    ) async -> ConformanceReport {
        let started = ContinuousClock.now
        let selected = options.only.isEmpty ? scenarios : scenarios.filter { s in options.only.contains { s.matches($0) } }
        let profile: RuntimeProfile
        do {
            profile = try await probe(target, options: options)
        } catch {
            let message = "the probe session failed: \(error)"
            let results = selected.map {
                ScenarioResult(scenario: $0, outcome: .failed(message), evidence: (error as? ScenarioFailure)?.evidence ?? [], transcript: [], duration: .zero)
            }
            return ConformanceReport(
                target: target.name, runtime: nil, profileError: message, results: results, duration: ContinuousClock.now - started)
        }
        var results: [String: ScenarioResult] = [:]
        await withTaskGroup(of: ScenarioResult.self) { group in
            var running = 0
            for scenario in selected {
                if running >= options.concurrency, let r = await group.next() {
                    results[r.scenario.id] = r
                    running -= 1
                }
                running += 1
                group.addTask {
                    let r = await runOne(scenario, target: target, profile: profile, options: options)
                    progress?(r)
                    return r
                }
            }
            for await r in group { results[r.scenario.id] = r }
        }
        let byID = results
        return ConformanceReport(
            target: target.name, runtime: profile.runtime, profileError: nil, results: selected.compactMap { byID[$0.id] },
            duration: ContinuousClock.now - started)
    }

    /// One session to read the welcome; it is closed right after.
    static func probe(_ target: ConformanceTarget, options: ConformanceOptions) async throws -> RuntimeProfile {
        let probeScenario = Scenario("probe", section: "6.2", level: .must, title: "probe", requirement: "") { _ in }
        let ctx = ScenarioContext(
            scenario: probeScenario, profile: RuntimeProfile(welcome: WireFrame(index: 0, connection: "", direction: .note, text: "", at: .zero)),
            options: options, target: target, transcript: Transcript())
        do {
            let session = try await ctx.session("probe")
            let profile = RuntimeProfile(welcome: session.welcome)
            await session.bye()
            await ctx.closeAll()
            return profile
        } catch {
            await ctx.closeAll()
            throw error
        }
    }

    /// Why `scenario` cannot run against this runtime, or nil.
    static func skipReason(_ scenario: Scenario, target: ConformanceTarget, profile: RuntimeProfile, options: ConformanceOptions) -> String? {
        let missing = scenario.features.filter { !profile.features.contains($0) }
        if !missing.isEmpty {
            return "feature \(missing.joined(separator: ", ")) not offered in the welcome"
        }
        let agents = scenario.agents.filter { profile.agents[$0] == nil }
        if !agents.isEmpty {
            return "test agent \(agents.joined(separator: ", ")) not registered (see CONFORMANCE-KIT.md)"
        }
        if scenario.needs.contains(.sharedRuntime), !target.sharesRuntime {
            return "needs several sessions on one runtime (each stdio connection is its own runtime process)"
        }
        if scenario.needs.contains(.otherPrincipal), options.otherToken == nil {
            return "needs --other-token (a second principal)"
        }
        return nil
    }

    static func runOne(_ scenario: Scenario, target: ConformanceTarget, profile: RuntimeProfile, options: ConformanceOptions) async -> ScenarioResult {
        let started = ContinuousClock.now
        if let why = skipReason(scenario, target: target, profile: profile, options: options) {
            return ScenarioResult(scenario: scenario, outcome: .skipped(why), evidence: [], transcript: [], duration: .zero)
        }
        let transcript = Transcript()
        let ctx = ScenarioContext(scenario: scenario, profile: profile, options: options, target: target, transcript: transcript)
        let limit = scenario.timeLimit ?? options.scenarioTimeout
        let outcome: (ScenarioResult.Outcome, [WireFrame]) = await withTaskGroup(of: (ScenarioResult.Outcome, [WireFrame])?.self) { group in
            group.addTask {
                do {
                    try await scenario.run(ctx)
                    return (.passed, [])
                } catch let f as ScenarioFailure {
                    return (.failed(f.message), f.evidence)
                } catch let s as ScenarioSkip {
                    return (.skipped(s.reason), [])
                } catch is CancellationError {
                    return nil
                } catch {
                    return (.failed("\(error)"), [])
                }
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return Task.isCancelled ? nil : (.failed("the scenario did not finish within \(Connection.format(limit))"), [])
            }
            var first: (ScenarioResult.Outcome, [WireFrame])? = nil
            while let next = await group.next() {
                if let next {
                    first = next
                    break
                }
            }
            group.cancelAll()
            // Closing the connections also ends a body blocked in a send or a receive.
            await ctx.closeAll()
            return first ?? (.failed("cancelled"), [])
        }
        return ScenarioResult(
            scenario: scenario, outcome: outcome.0, evidence: outcome.1, transcript: transcript.all,
            duration: ContinuousClock.now - started)
    }
}
