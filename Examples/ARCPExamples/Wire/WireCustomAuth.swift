import ARCP
import Crypto
import Foundation

/// `custom_auth`: a `BearerVerifier` for stateless HMAC-signed `principal.exp.hmac` tokens
/// (HMAC-SHA256 over `principal.exp` with the reference's shared secret, hex). A valid
/// token connects and the agent sees its principal; anything else — malformed, expired,
/// badly signed — is UNAUTHENTICATED at the handshake (spec §6.1, §12).
enum WireCustomAuth: WireExample {
    static let name = "custom_auth"
    static let defaultPort = 7894
    static let summary = "HMAC-signed principal.exp.hmac tokens: a valid one connects, an invalid one is UNAUTHENTICATED."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        let runtime = ARCPRuntime(configuration: setup.configuration(name: "custom-auth-server"), verifier: SignedTokenVerifier())
        try runtime.register("echo") { _, ctx in ["hello": .string(ctx.principal)] }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        func attempt(_ token: String) async throws -> (ok: Bool, message: String) {
            let client = ARCPClient(token: token, options: setup.options(name: "custom-auth-client", features: []))
            do {
                try await setup.connect(client)
            } catch let e as ARCPError where e.code == .unauthenticated {
                return (false, e.message)
            }
            let job = try await client.submit(agent: "echo")
            try await drain(job)
            let outcome = try await job.result()
            say("result: \(compact(outcome.result))")
            await client.close()
            return (outcome.finalStatus == .success, "ok")
        }
        let valid = try await attempt(SignedToken.make(principal: "alice"))
        say("valid token: ok=\(valid.ok) msg=\(valid.message)")
        try check(valid.ok, valid.message)
        let invalid = try await attempt("not.a.valid.token")
        say("invalid token: ok=\(invalid.ok) msg=\(invalid.message)")
        try check(!invalid.ok, "an invalid token must be rejected")
    }
}

/// The reference's token format: `principal.exp.hmac`, `exp` in Unix seconds, `hmac` the hex
/// HMAC-SHA256 of `principal.exp` under a secret both sides share.
enum SignedToken {
    static let secret = SymmetricKey(data: Data("demo-shared-secret".utf8))

    /// The reference's `make_token(principal, lifetime_sec=60)`.
    static func make(principal: String, lifetime: Int = 60) -> String {
        let exp = String(Int(Date().timeIntervalSince1970) + lifetime)
        return "\(principal).\(exp).\(hex(signature(principal, exp)))"
    }

    /// The principal of a valid, unexpired token; nil for anything else.
    static func verify(_ token: String) -> String? {
        // Python's `token.split(".", 2)`: at most three parts, the last one keeps its dots.
        let parts = token.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let exp = Int(parts[1]), let sig = bytes(fromHex: parts[2]) else { return nil }
        guard exp >= Int(Date().timeIntervalSince1970) else { return nil }
        let message = Data("\(parts[0]).\(parts[1])".utf8)
        // Constant-time comparison.
        guard HMAC<SHA256>.isValidAuthenticationCode(sig, authenticating: message, using: secret) else { return nil }
        return parts[0]
    }

    static func signature(_ principal: String, _ exp: String) -> HashedAuthenticationCode<SHA256> {
        HMAC<SHA256>.authenticationCode(for: Data("\(principal).\(exp)".utf8), using: secret)
    }

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func bytes(fromHex text: String) -> Data? {
        guard text.utf8.count % 2 == 0 else { return nil }
        var out = Data(capacity: text.utf8.count / 2)
        var high: UInt8? = nil
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return out
    }
}

/// The reference's `SignedTokenVerifier`: any mismatch is UNAUTHENTICATED (the runtime sends
/// it when `principal(for:)` returns nil).
struct SignedTokenVerifier: BearerVerifier {
    func principal(for token: String) async -> String? { SignedToken.verify(token) }
}
