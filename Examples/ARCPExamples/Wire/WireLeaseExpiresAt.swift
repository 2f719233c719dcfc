import ARCP
import Foundation

/// `lease_expires_at`: a lease that expires 2 s after submission on a job that would take
/// 10 s; the runtime's watchdog cancels the agent (which sees task cancellation and logs it)
/// and ends the job with `job.error LEASE_EXPIRED` (spec §9.5, §13.4).
enum WireLeaseExpiresAt: WireExample {
    static let name = "lease_expires_at"
    static let defaultPort = 7890
    static let summary = "expires_at = now + 2 s on a 10 s job: job.error LEASE_EXPIRED."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        let runtime = ARCPRuntime(configuration: setup.configuration(name: "lease-expires-at-server"), verifier: setup.verifier)
        try runtime.register("slow") { _, ctx in
            do {
                try await Task.sleep(for: .seconds(10))
            } catch {
                await ctx.log("warn", "agent observed cancellation from lease expiry")
                throw error
            }
            return ["ok": true]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let client = ARCPClient(token: setup.token, options: setup.options(name: "lease-expires-at-client", features: [.leaseExpiresAt]))
        try await setup.connect(client)
        let expiresAt = LeaseTimestamp(Date().addingTimeInterval(2)).text
        let job = try await client.submit(agent: "slow", leaseConstraints: LeaseConstraints(expiresAt: expiresAt))
        let outcome: JobOutcome
        do {
            outcome = try await job.result()
        } catch let e as ARCPError where e.code == .leaseExpired {
            say("terminal: LEASE_EXPIRED (\(e.message))")
            await client.close()
            return
        }
        throw ExampleFailure(description: "UNEXPECTED \(outcome.finalStatus.rawValue): expected LEASE_EXPIRED")
    }
}
