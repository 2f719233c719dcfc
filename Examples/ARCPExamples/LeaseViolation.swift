import ARCP
import Foundation

/// An agent may only do what its job's lease grants. It asks before each operation with
/// `ctx.authorize(namespace, target)` (or runs a tool through `ctx.callTool`, which asks
/// for `tool.call`). A denial is PERMISSION_DENIED, never retryable; inside a tool call it
/// is also a `tool_result` error event. The agent may handle it, or let it end the job.
public enum LeaseViolation: Example {
    public static let name = "lease-violation"
    public static let summary = "Authorize operations outside the granted lease: PERMISSION_DENIED, as a tool_result and as job.error."
    public static let spec = "§9.1–9.3, §12"

    public static func run() async throws {
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        try runtime.register("auditor") { _, ctx in
            // Inside the lease: fine.
            try ctx.authorize(.fsRead, "/data/reports/q3.csv")
            await ctx.log("info", "read /data/reports/q3.csv")
            _ = try await ctx.callTool("search.web", args: ["q": "q3 revenue"]) { ["hits": 2] }

            // A tool the lease does not grant: callTool emits tool_call, then a tool_result
            // error, and throws. This agent handles it and goes on.
            do {
                _ = try await ctx.callTool("shell.exec", args: ["cmd": "cat /etc/passwd"]) { nil }
            } catch let e as ARCPError {
                await ctx.log("warn", "shell.exec denied (\(e.code.rawValue), retryable \(e.retryable)); skipping")
            }

            // Paths are canonicalized before matching: this escapes /data, so it is denied.
            // Not caught here, so the job ends with job.error PERMISSION_DENIED.
            try ctx.authorize(.fsRead, "/data/../etc/passwd")
            return ["unreachable": true]
        }

        let client = ARCPClient(token: "demo-token")
        try await connectInMemory(client, to: runtime)
        let lease: Lease = ["fs.read": ["/data/**"], "tool.call": ["search.*"]]
        let job = try await client.submit(agent: "auditor", leaseRequest: lease)
        say("granted lease: \(job.accepted?.lease ?? [:])")

        var deniedCalls = 0
        for try await event in job.events {
            say(describe(event))
            if case .toolResult(let r) = event.body, r.error?["code"]?.stringValue == "PERMISSION_DENIED" { deniedCalls += 1 }
        }
        let failure = try await expectError("the job") { _ = try await job.result() }
        say("job.error \(failure.code.rawValue): \(failure.message)")
        say("  final_status \(failure.finalStatus?.rawValue ?? "?"), retryable \(failure.retryable)")

        try check(deniedCalls == 1, "one denied tool call reported as a tool_result error")
        try check(failure.code == .permissionDenied && !failure.retryable, "the uncaught denial ended the job, not retryable")

        await client.close()
        await runtime.shutdown()
    }
}
