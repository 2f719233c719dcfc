import ARCP
import Foundation

/// A submit carrying an idempotency key can be retried safely: the runtime answers an
/// identical resubmit (same principal, key and parameters) with the original
/// `job.accepted`, and replays the result if the job already ended. Reusing the key with
/// different parameters is DUPLICATE_KEY.
public enum IdempotentRetry: Example {
    public static let name = "idempotent-retry"
    public static let summary = "Same idempotency key → same job_id (result replayed); other parameters → DUPLICATE_KEY."
    public static let spec = "§7.2"

    public static func run() async throws {
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        try runtime.register("invoice") { input, ctx in
            // Side effects the caller must not trigger twice.
            await ctx.log("info", "charging \(input["amount"] ?? .null) to \(input["customer"] ?? .null)")
            return ["charged": input["amount"] ?? .null, "receipt": "r-1001"]
        }
        let order: JSONValue = ["customer": "acme", "amount": 42]
        let key = "invoice-acme-2026-05"

        // First attempt: the job runs.
        let first = ARCPClient(token: "demo-token")
        try await connectInMemory(first, to: runtime)
        let job = try await first.submit(agent: "invoice", input: order, idempotencyKey: key)
        let original = try await job.result()
        say("first attempt: job \(job.jobID) → \(original.result ?? .null)")

        // The caller crashed before recording the receipt. A new process (a new session,
        // same principal) retries with the same key: same job, result replayed, no new charge.
        let retry = ARCPClient(token: "demo-token")
        try await connectInMemory(retry, to: runtime)
        let again = try await retry.submit(agent: "invoice", input: order, idempotencyKey: key)
        let replayed = try await again.result()
        say("retry:         job \(again.jobID) → \(replayed.result ?? .null)")
        say("jobs on the runtime: \(runtime.jobIDs.count)")

        // The same key with different parameters is a conflict, not a retry.
        let conflict = try await expectError("a conflicting resubmit") {
            _ = try await retry.submit(agent: "invoice", input: ["customer": "acme", "amount": 43], idempotencyKey: key)
        }
        say("same key, amount 43: \(conflict.code.rawValue): \(conflict.message)")

        try check(again.jobID == job.jobID, "the retry got the original job id")
        try check(replayed.result == original.result, "the retry got the original result")
        try check(runtime.jobIDs.count == 1, "the job ran once")
        try check(conflict.code == .duplicateKey, "a conflicting resubmit is DUPLICATE_KEY")

        await first.close()
        await retry.close()
        await runtime.shutdown()
    }
}
