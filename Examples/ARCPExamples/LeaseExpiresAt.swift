import ARCP
import Foundation

/// A lease can carry an expiry (`lease_constraints.expires_at`). Until then the agent
/// works normally; at the expiry the runtime ends the job with `job.error LEASE_EXPIRED`
/// (final status `error`, not retryable) even if the agent is busy, and any later
/// `authorize` fails with LEASE_EXPIRED. An expiry already in the past is refused at submit.
public enum LeaseExpiresAt: Example {
    public static let name = "lease-expires-at"
    public static let summary = "A lease valid for 300 ms: work before it, LEASE_EXPIRED at it; a past expiry is refused."
    public static let spec = "§9.5, §13.4"

    public static func run() async throws {
        var config = ARCPRuntime.Configuration()
        // By default operations are still allowed for 1 s past expires_at (clock skew).
        // No grace here, so the example ends at the expiry itself.
        config.leaseEnforcement.expiryGrace = .zero
        let runtime = ARCPRuntime(configuration: config, verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        try runtime.register("indexer") { _, ctx in
            try ctx.authorize(.fsRead, "/corpus/part-1")
            await ctx.log("info", "indexing /corpus/part-1; lease expires at \(ctx.leaseConstraints?.expiresAt ?? "-")")
            try await Task.sleep(for: .seconds(30))  // far longer than the lease: the runtime ends the job
            return ["indexed": 1]
        }

        let client = ARCPClient(token: "demo-token")
        try await connectInMemory(client, to: runtime)

        let start = ContinuousClock.now
        let expiresAt = LeaseTimestamp(Date().addingTimeInterval(0.3)).text
        let job = try await client.submit(
            agent: "indexer", leaseRequest: ["fs.read": ["/corpus/**"]], leaseConstraints: LeaseConstraints(expiresAt: expiresAt))
        say("accepted with lease_constraints.expires_at \(job.accepted?.leaseConstraints?.expiresAt ?? "-")")
        for try await event in job.events { say(describe(event)) }
        let expired = try await expectError("the job") { _ = try await job.result() }
        let elapsed = ContinuousClock.now - start
        say("job.error \(expired.code.rawValue) after \(elapsed.formatted(.units(allowed: [.milliseconds]))): \(expired.message)")
        say("final_status \(expired.finalStatus?.rawValue ?? "?"), retryable \(expired.retryable)")

        // An expiry that has already passed is an invalid request.
        let past = LeaseTimestamp(Date().addingTimeInterval(-60)).text
        let refused = try await expectError("a submit with a past expiry") {
            _ = try await client.submit(agent: "indexer", leaseConstraints: LeaseConstraints(expiresAt: past))
        }
        say("expires_at in the past → \(refused.code.rawValue): \(refused.message)")

        try check(
            expired.code == .leaseExpired && expired.finalStatus == .error && !expired.retryable, "LEASE_EXPIRED, error, not retryable")
        try check(elapsed < .seconds(5), "the job ended at the expiry, not after its 30 s of work")
        try check(refused.code == .invalidRequest, "a past expiry is INVALID_REQUEST")

        await client.close()
        await runtime.shutdown()
    }
}
