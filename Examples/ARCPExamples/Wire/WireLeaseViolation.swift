import ARCP
import Foundation

/// `lease_violation`: the lease grants `fs.read` on `/tmp/*`; the agent tries `fs.write` on
/// `/etc/passwd`, the runtime denies it (PERMISSION_DENIED, reported as the call's
/// `tool_result` error), and the agent carries on and succeeds (spec §9.1–9.3).
enum WireLeaseViolation: WireExample {
    static let name = "lease_violation"
    static let defaultPort = 7882
    static let summary = "An fs.write outside an fs.read lease: a PERMISSION_DENIED tool_result; the job still succeeds."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        let runtime = ARCPRuntime(configuration: setup.configuration(name: "lease-violation-server"), verifier: setup.verifier)
        try runtime.register("cautious") { _, ctx in
            do {
                // Denied: the runtime emits the tool_result error for call tc1.
                try ctx.authorize(.fsWrite, "/etc/passwd", toolCallID: "tc1")
                await ctx.toolResult(callID: "tc1", result: "wrote")
            } catch let e as ARCPError where e.code == .permissionDenied {
                // Handled: a lease violation is not fatal unless the agent lets it be.
            }
            await ctx.log("info", "agent continues after lease violation")
            return ["continued": true]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let client = ARCPClient(token: setup.token, options: setup.options(name: "lease-violation-client", features: []))
        try await setup.connect(client)
        let job = try await client.submit(agent: "cautious", leaseRequest: ["fs.read": ["/tmp/*"]])
        var denied = false
        for try await event in job.events {
            if case .toolResult(let r) = event.body, let error = r.error, error["code"]?.stringValue == "PERMISSION_DENIED" {
                denied = true
                say("observed PERMISSION_DENIED in tool_result: \(error["message"]?.stringValue ?? "")")
            }
        }
        let outcome = try await job.result()
        say("terminal: \(outcome.finalStatus.rawValue)")
        try check(denied, "expected a tool_result with PERMISSION_DENIED")
        try check(outcome.finalStatus == .success, "the job succeeds")
        await client.close()
    }
}
