import ARCP
import Foundation

/// `agent_versions`: two versions of `summarize`, the default pinned to 1.2.3; the welcome
/// carries the rich inventory (`{name, versions, default}`); a bare name resolves to the
/// default, `@1.2.3` pins, `@9.9.9` is AGENT_VERSION_NOT_AVAILABLE (spec §7.5, §13.8).
enum WireAgentVersions: WireExample {
    static let name = "agent_versions"
    static let defaultPort = 7889
    static let summary = "summarize@1.0.0 and @1.2.3 (default); bare, pinned, and a missing version."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        var config = setup.configuration(name: "agent-versions-server")
        config.features = [.agentVersions]
        let runtime = ARCPRuntime(configuration: config, verifier: setup.verifier)
        for version in ["1.0.0", "1.2.3"] {
            try runtime.register("summarize", version: version, isDefault: version == "1.2.3") { input, _ in
                ["version": .string(version), "len": .int(Int64(JSONWriter.string(input).count))]
            }
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let client = ARCPClient(token: setup.token, options: setup.options(name: "agent-versions-client", features: [.agentVersions]))
        try await setup.connect(client)
        for entry in client.welcome?.capabilities?.agents ?? [] {
            guard case .info(let info) = entry else { throw ExampleFailure(description: "inventory entry is a bare name, not {name, versions, default}") }
            say("agent: \(info.name) versions=\(info.versions ?? []) default=\(info.default ?? "-")")
        }

        let bare = try await client.submit(agent: "summarize", input: ["x": "hello"])
        try await drain(bare)
        let r1 = try await bare.result()
        say("bare → \(compact(r1.result))")
        try check(r1.finalStatus == .success, "the bare name succeeds")

        let pinned = try await client.submit(agent: "summarize@1.2.3", input: ["x": "hi"])
        try await drain(pinned)
        let r2 = try await pinned.result()
        say("@1.2.3 → \(compact(r2.result))")
        try check(r2.finalStatus == .success, "@1.2.3 succeeds")

        let missing = try await expectError("a submit of summarize@9.9.9") { _ = try await client.submit(agent: "summarize@9.9.9", input: ["x": "?"]) }
        say("@9.9.9 → \(missing.code.rawValue): \(missing.message)")
        try check(missing.code == .agentVersionNotAvailable, "expected AGENT_VERSION_NOT_AVAILABLE for @9.9.9, got \(missing.code.rawValue)")
        await client.close()
    }
}
