import ARCP
@testable import ARCPJWT
import CryptoExtras
import Foundation
import JWTKit

/// A claim value as a test writes it.
enum ClaimValue: Codable, Sendable, Equatable {
    case string(String)
    case number(Double)
    case strings([String])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else {
            self = .strings(try c.decode([String].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .number(let d): try c.encode(d)
        case .strings(let a): try c.encode(a)
        }
    }
}

/// Any set of claims, signed by jwt-kit as is.
struct Claims: JWTPayload {
    var fields: [String: ClaimValue]
    init(_ fields: [String: ClaimValue]) { self.fields = fields }
    init(from decoder: any Decoder) throws { fields = try decoder.singleValueContainer().decode([String: ClaimValue].self) }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(fields)
    }
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    /// `sub`, `iat` now and `exp` in an hour, plus `extra` (which may replace them; `.number(.nan)` removes one).
    static func standard(sub: String = "alice@example.com", now: Double = Date().timeIntervalSince1970, _ extra: [String: ClaimValue] = [:]) -> Claims {
        var f: [String: ClaimValue] = ["sub": .string(sub), "iat": .number(now.rounded()), "exp": .number((now + 3600).rounded())]
        for (k, v) in extra {
            if case .number(let d) = v, d.isNaN { f[k] = nil } else { f[k] = v }
        }
        return Claims(f)
    }
}

/// A signing key generated for the test, with its public JWK.
struct TestKey: Sendable {
    let kid: String
    let alg: String
    /// The public JWK (for HMAC, the secret) as a JSON object text.
    let jwk: String
    let signer: JWTKeyCollection

    func sign(_ claims: Claims, kid: String? = nil) async throws -> String {
        var header = JWTHeader()
        header.kid = kid ?? self.kid
        return try await signer.sign(claims, kid: JWKIdentifier(string: kid ?? self.kid), header: header)
    }

    static func hs256(kid: String = "h1", bytes: Int = 32) async -> TestKey {
        let secret = (0..<bytes).map { _ in UInt8.random(in: 0...255) }
        let signer = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
        return TestKey(
            kid: kid, alg: "HS256", jwk: #"{"kty":"oct","kid":"\#(kid)","alg":"HS256","k":"\#(Base64URL.encode(secret))"}"#, signer: signer)
    }

    static func rs256(kid: String = "r1", declareAlg: Bool = true) async throws -> TestKey {
        let key = try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let (n, e) = try key.publicKey.getKeyPrimitives()
        let signer = await JWTKeyCollection().add(rsa: key, digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
        let alg = declareAlg ? #","alg":"RS256""# : ""
        return TestKey(
            kid: kid, alg: "RS256",
            jwk: #"{"kty":"RSA","kid":"\#(kid)","use":"sig"\#(alg),"n":"\#(Base64URL.encode(n))","e":"\#(Base64URL.encode(e))"}"#,
            signer: signer)
    }

    static func es256(kid: String = "e1") async throws -> TestKey {
        let key = ES256PrivateKey()
        let p = try requireParameters(key.parameters)
        let signer = await JWTKeyCollection().add(ecdsa: key, kid: JWKIdentifier(string: kid))
        return TestKey(
            kid: kid, alg: "ES256", jwk: #"{"kty":"EC","kid":"\#(kid)","crv":"P-256","x":"\#(p.x)","y":"\#(p.y)"}"#, signer: signer)
    }

    static func eddsa(kid: String = "d1") async throws -> TestKey {
        let key = try EdDSA.PrivateKey(curve: .ed25519)
        let signer = await JWTKeyCollection().add(eddsa: key, kid: JWKIdentifier(string: kid))
        return TestKey(
            kid: kid, alg: "EdDSA",
            jwk: #"{"kty":"OKP","kid":"\#(kid)","crv":"Ed25519","alg":"EdDSA","x":"\#(Base64URL.encode(key.publicKey.rawRepresentation))"}"#,
            signer: signer)
    }
}

struct MissingParameters: Error {}

func requireParameters(_ p: ECDSAParameters?) throws -> ECDSAParameters {
    guard let p else { throw MissingParameters() }
    return p
}

/// `{"keys":[…]}` of these keys.
func jwks(_ keys: [TestKey]) -> String {
    #"{"keys":["# + keys.map(\.jwk).joined(separator: ",") + "]}"
}

/// A token assembled by hand (header and payload as JSON texts, any signature bytes).
func handMade(header: String, payload: String, signature: String = "c2lnbmF0dXJl") -> String {
    Base64URL.encode(Data(header.utf8)) + "." + Base64URL.encode(Data(payload.utf8)) + "." + signature
}

/// Why `v` refuses `token` (nil when it accepts it).
func rejection(_ v: JWTBearerVerifier, _ token: String) async -> JWTRejection? {
    do {
        _ = try await v.verify(token)
        return nil
    } catch {
        return error
    }
}
