import ARCP
import Foundation

/// `idempotent_retry`: a submit retried with the same `idempotency_key` (same principal,
/// same parameters) gets the same `job_id`; the key reused for another agent is
/// DUPLICATE_KEY (spec §7.2).
enum WireIdempotentRetry: WireExample {
    static let name = "idempotent_retry"
    static let defaultPort = 7881
    static let summary = "The same idempotency key returns the same job; reused for another agent it is DUPLICATE_KEY."
    static let key = "demo-key-001"

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        let runtime = ARCPRuntime(configuration: setup.configuration(name: "idempotent-retry-server"), verifier: setup.verifier)
        for agent in ["a", "b"] {
            try runtime.register(agent) { input, _ in ["agent": .string(agent), "input": input] }
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let client = ARCPClient(token: setup.token, options: setup.options(name: "idempotent-retry-client", features: []))
        try await setup.connect(client)
        let first = try await client.submit(agent: "a", input: ["x": 1], idempotencyKey: key)
        say("first submit: job_id=\(first.jobID)")
        let retry = try await client.submit(agent: "a", input: ["x": 1], idempotencyKey: key)
        say("retry submit: job_id=\(retry.jobID)")
        try check(first.jobID == retry.jobID, "an idempotent retry MUST return the same job_id")

        let mutated = try await expectError("a submit of agent b with the same key") {
            _ = try await client.submit(agent: "b", input: ["x": 1], idempotencyKey: key)
        }
        say("mutated submit → \(mutated.code.rawValue): \(mutated.message)")
        try check(mutated.code == .duplicateKey, "expected DUPLICATE_KEY, got \(mutated.code.rawValue)")
        await client.close()
    }
}
