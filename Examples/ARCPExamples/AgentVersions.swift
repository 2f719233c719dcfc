import ARCP
import Foundation

/// Agent versions: a runtime may host several versions of one agent. `session.welcome`
/// lists them with the default; a submit names `agent@version`, or just `agent` for the
/// default, and `job.accepted` says which version was resolved. An unknown version is
/// AGENT_VERSION_NOT_AVAILABLE.
public enum AgentVersions: Example {
    public static let name = "agent-versions"
    public static let summary = "Two versions of one agent: the welcome inventory, name@version, the default, an unknown version."
    public static let spec = "§7.5, §13.8"

    struct Draft: Codable, Sendable { var text: String }
    struct Summary: Codable, Sendable {
        var summary: String
        var model: String
    }

    public static func run() async throws {
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        // Typed agents can be versioned too.
        try runtime.register("summarizer", version: "1.0.0", isDefault: true, input: Draft.self) { draft, _ in
            Summary(summary: String(draft.text.prefix(12)) + "…", model: "extractive")
        }
        try runtime.register("summarizer", version: "2.0.0", input: Draft.self) { draft, _ in
            Summary(summary: "\(draft.text.split(separator: " ").count) words about ARCP", model: "abstractive")
        }

        let client = ARCPClient(token: "demo-token")
        try await connectInMemory(client, to: runtime)
        step("the welcome's agent inventory")
        for entry in client.welcome?.capabilities?.agents ?? [] {
            if case .info(let info) = entry {
                say("\(info.name): versions \(info.versions ?? []), default \(info.default ?? "-")")
            }
        }

        step("submits")
        let draft = Draft(text: "ARCP is a wire protocol for long-running agent jobs")
        var resolved: [String] = []
        for agent in ["summarizer", "summarizer@2.0.0", "summarizer@1.0.0"] {
            let job = try await client.submit(agent: agent, input: draft)
            let summary = try decode(Summary.self, from: try await job.result().result)
            resolved.append(job.accepted?.agent ?? "?")
            say("\(agent) → \(job.accepted?.agent ?? "?"): \(summary.summary) (\(summary.model))")
        }
        let missing = try await expectError("an unknown version") { _ = try await client.submit(agent: "summarizer@9.9.9", input: draft) }
        say("summarizer@9.9.9 → \(missing.code.rawValue)")

        try check(resolved == ["summarizer@1.0.0", "summarizer@2.0.0", "summarizer@1.0.0"], "versions resolved: \(resolved)")
        try check(missing.code == .agentVersionNotAvailable, "an unknown version is refused")

        await client.close()
        await runtime.shutdown()
    }
}
