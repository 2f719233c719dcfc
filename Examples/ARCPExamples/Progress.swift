import ARCP
import Foundation

/// `progress` events: `current`, optional `total`, `units` and `message`, for a progress
/// bar. Like every v1.1 feature it is negotiated: a session that did not ask for
/// `progress` gets none (the agent's `ctx.progress` calls are skipped for it).
public enum Progress: Example {
    public static let name = "progress"
    public static let summary = "progress events rendered as a bar; a session without the feature gets none."
    public static let spec = "§8.2.1, §6.2"

    public static func run() async throws {
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        try runtime.register("importer") { _, ctx in
            let files = 4
            for done in 0...files {
                let message = done == files ? "done" : "file \(done + 1)"
                try await ctx.progress(Double(done), total: Double(files), units: "files", message: message)
            }
            return ["imported": .int(Int64(files))]
        }

        step("a client that negotiated progress")
        let client = ARCPClient(token: "demo-token")
        try await connectInMemory(client, to: runtime)
        let job = try await client.submit(agent: "importer")
        var updates = 0
        for try await event in job.events {
            guard case .progress(let p) = event.body else { continue }
            updates += 1
            say("\(bar(p.current, of: p.total ?? 0)) \(Int(p.current))/\(Int(p.total ?? 0)) \(p.units ?? "") \(p.message ?? "")")
        }
        _ = try await job.result()

        step("a client that did not")
        var options = ARCPClient.Options()
        options.features.removeAll { $0 == .progress }
        let plain = ARCPClient(token: "demo-token", options: options)
        try await connectInMemory(plain, to: runtime)
        let quiet = try await plain.submit(agent: "importer")
        var kinds: [String] = []
        for try await event in quiet.events { kinds.append(event.body.kind) }
        say("events: \(kinds.isEmpty ? "none" : kinds.joined(separator: ", ")); result \(try await quiet.result().result ?? .null)")

        try check(updates == 5, "five progress updates")
        try check(!kinds.contains("progress"), "no progress without the feature")

        await client.close()
        await plain.close()
        await runtime.shutdown()
    }

    /// `[#####.....]` for `current` of `total`.
    static func bar(_ current: Double, of total: Double, width: Int = 20) -> String {
        let filled = total > 0 ? min(width, Int((current / total * Double(width)).rounded())) : 0
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }
}
