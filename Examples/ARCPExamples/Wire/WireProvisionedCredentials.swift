import ARCP
import ARCPTesting
import Foundation

/// `provisioned_credentials`: the runtime issues a lease-bound credential for the job's
/// upstream (`ARCPTesting.InMemoryCredentialProvisioner` standing in for an LLM gateway) before
/// `job.accepted`, which carries it; the agent authorizes its model under `model.use`; the
/// credential is revoked when the job ends (spec §9.7, §9.8, §13.7).
///
/// The reference pairs its provisioner with an in-memory revocation log. Our runtime offers
/// `provisioned_credentials` only when revocation survives a restart (spec §14) unless told
/// otherwise, and only over a confidential transport (TLS, stdio) unless told otherwise: this
/// loopback demo opts in to both with `allowsNonDurableCredentialRevocation` and
/// `allowsCredentialsWithoutConfidentialTransport` (a real deployment configures a durable
/// runtime store, e.g. `SQLiteRuntimeStore`, and serves `wss://`).
enum WireProvisionedCredentials: WireExample {
    static let name = "provisioned_credentials"
    static let defaultPort = 7892
    static let summary = "A lease-bound credential issued with job.accepted, revoked when the job ends."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        var config = setup.configuration(name: "provisioned-credentials-server", version: "1.1.0")
        config.credentialProvisioner = InMemoryCredentialProvisioner()
        config.allowsNonDurableCredentialRevocation = true
        config.allowsCredentialsWithoutConfidentialTransport = true
        let runtime = ARCPRuntime(configuration: config, verifier: setup.verifier)
        try runtime.register("model-user") { input, ctx in
            let model = input["model"]?.stringValue ?? "tier-fast/demo"
            try ctx.authorize(.modelUse, model)
            await ctx.status("using_model", model)
            return ["model": .string(model), "credential_count": .int(Int64(ctx.credentials.count))]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let options = setup.options(
            name: "provisioned-credentials-client", version: "1.1.0", features: [.modelUse, .provisionedCredentials, .costBudget])
        let client = ARCPClient(token: setup.token, options: options)
        try await setup.connect(client)
        let job = try await client.submit(
            agent: "model-user", input: ["model": "tier-fast/demo"],
            leaseRequest: ["model.use": ["tier-fast/*"], "cost.budget": ["USD:1.00"]])
        guard let credential = job.accepted?.credentials?.first else {
            throw ExampleFailure(description: "job.accepted carries no credential")
        }
        say("credential id=\(credential.id) scheme=\(credential.scheme) endpoint=\(credential.endpoint)")
        let outcome = try await job.result()
        say("result: \(compact(outcome.result))")
        try check(outcome.finalStatus == .success, "the job succeeds")
        try check(outcome.result == ["model": "tier-fast/demo", "credential_count": 1], "the agent used its model with one credential")
        await client.close()
    }
}
