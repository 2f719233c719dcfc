import ARCP
import Foundation

/// Authentication is a `BearerVerifier`: given the bearer token from `session.hello`, it
/// returns the authenticated principal, or nil to refuse the session with UNAUTHENTICATED.
/// It is async, so it can ask an identity service, a database or a JWKS cache. Here it
/// asks an in-process identity service that issues and revokes opaque tokens.
public enum CustomAuth: Example {
    public static let name = "custom-auth"
    public static let summary = "A custom async BearerVerifier backed by an identity service; revoked tokens are UNAUTHENTICATED."
    public static let spec = "§6.1, §12, §14"

    /// Issues random opaque tokens and remembers whom they belong to.
    actor IdentityService {
        private var principals: [String: String] = [:]

        func login(_ user: String) -> String {
            var rng = SystemRandomNumberGenerator()
            let token = "tok_" + (0..<2).map { _ in String(rng.next() as UInt64, radix: 16) }.joined()
            principals[token] = user
            return token
        }

        func revoke(_ token: String) { principals[token] = nil }

        func principal(for token: String) -> String? { principals[token] }
    }

    /// The verifier the runtime calls for every `session.hello` (and token-bearing resume).
    struct IdentityServiceVerifier: BearerVerifier {
        let service: IdentityService

        func principal(for token: String) async -> String? {
            await service.principal(for: token)
        }
    }

    public static func run() async throws {
        let identity = IdentityService()
        let runtime = ARCPRuntime(verifier: IdentityServiceVerifier(service: identity))
        // Agents see who they run for.
        try runtime.register("whoami") { _, ctx in .string(ctx.principal) }

        let token = await identity.login("carol@example.com")
        say("the identity service issued \(token.prefix(8))… for carol@example.com")
        let client = ARCPClient(token: token)
        try await connectInMemory(client, to: runtime)
        say("session \(client.sessionID ?? "?") opened with it")
        let job = try await client.submit(agent: "whoami")
        let principal = try await job.result().result
        say("the agent runs for \(principal ?? .null)")
        await client.close()

        // Once revoked, the same token no longer opens a session.
        await identity.revoke(token)
        let refused = try await expectError("connecting with a revoked token") {
            try await connectInMemory(ARCPClient(token: token), to: runtime)
        }
        say("after revocation: \(refused.code.rawValue): \(refused.message)")

        try check(principal == "carol@example.com", "the job ran for the verified principal")
        try check(refused.code == .unauthenticated, "a revoked token is UNAUTHENTICATED")

        await runtime.shutdown()
    }
}
