import ARCP
import AsyncHTTPClient
import Foundation
import JWTKit
import Logging

/// Verifies `session.hello` bearer tokens that are JWTs (RFC 7519) signed with a key of a
/// JWKS (RFC 7517): HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA
/// (Ed25519), on vapor/jwt-kit.
///
/// ```swift
/// var jwt = JWTBearerVerifier.Configuration()
/// jwt.issuers = ["https://auth.example.com/"]
/// jwt.audiences = ["arcp"]
/// let verifier = JWTBearerVerifier(jwks: .url("https://auth.example.com/.well-known/jwks.json"), configuration: jwt)
/// try await verifier.loadKeys()          // optional: fail at start rather than on the first hello
/// let runtime = ARCPRuntime(verifier: verifier)
/// ```
///
/// A token is accepted when its header names an accepted `alg` (never `none`) and a key of
/// the set (by `kid`, or any key of that algorithm when it has none), its signature
/// verifies, and its claims pass: `exp` (required by default) and `nbf`/`iat` within
/// `leeway`, `iss` among `issuers` and `aud` among `audiences` when those are set. The
/// principal is the `principalClaim` (`sub` by default). Every refusal is
/// `UNAUTHENTICATED` on the wire, the same for every reason; the reason is logged (at
/// `rejectionLogLevel`), never the token.
public final class JWTBearerVerifier: BearerVerifier {
    /// What a token must satisfy, the limits on its size and the key set's, and how the key
    /// set is cached.
    public struct Configuration: Sendable {
        /// Accepted `iss` values; empty accepts any (and none).
        public var issuers: Set<String> = []
        /// Accepted audiences: a token's `aud` (a string or an array) must name at least
        /// one. Empty accepts any (and none).
        public var audiences: Set<String> = []
        /// The claim that names the principal (a non-empty string).
        public var principalClaim = "sub"
        /// Clock skew tolerated on `exp`, `nbf` and `iat`.
        public var leeway: Duration = .seconds(60)
        /// Whether a token without `exp` is refused (a token that never expires is rarely meant).
        public var requireExpiration = true
        /// When set, a token issued longer ago than this (by `iat`, which is then required) is refused.
        public var maxTokenAge: Duration? = nil
        /// Accepted `alg` values. `none` is never accepted.
        public var algorithms: Set<String> = JWTBearerVerifier.supportedAlgorithms
        /// Longest accepted token, in bytes.
        public var maxTokenBytes = 8 * 1024
        /// Longest accepted principal, in bytes.
        public var maxPrincipalBytes = 512
        /// How long a key set is used before it is loaded again (a URL's `Cache-Control:
        /// max-age` may shorten it). The stale set serves while the reload runs, and stays
        /// if it fails.
        public var refreshInterval: Duration = .seconds(600)
        /// Least time between two loads, whatever triggers them (a token with an unknown
        /// `kid`, a stale set, a failed load).
        public var minimumRefreshInterval: Duration = .seconds(30)
        /// Time limit of one JWKS fetch over HTTP.
        public var fetchTimeout: Duration = .seconds(10)
        /// Largest JWKS document read.
        public var maxJWKSBytes = 1 << 20
        /// Most keys read from one JWKS document (the rest are ignored, with a warning).
        public var maxJWKSKeys = 64
        /// Where refusals and key-set loads are logged.
        public var logger = Logger(label: "arcp.jwt")
        /// The level refusals are logged at.
        public var rejectionLogLevel: Logger.Level = .info

        /// The defaults: any issuer and audience, `sub` as the principal, 60 s of leeway, `exp`
        /// required, every supported algorithm, 8 KiB tokens, key sets refreshed every 10 minutes.
        public init() {}
    }

    /// Every algorithm this verifier can check.
    public static let supportedAlgorithms: Set<String> = [
        "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    ]

    /// The configuration the verifier was made with.
    public let configuration: Configuration
    let cache: JWKSCache
    let claims: JWTClaimsCheck
    /// Seconds since 1970 now (a parameter for tests).
    let now: @Sendable () -> Double

    /// A verifier that checks tokens against the keys of `jwks` (loaded by `loadKeys()` or by
    /// the first token, then cached and refreshed).
    /// - Parameters:
    ///   - jwks: where the keys are.
    ///   - configuration: the accepted issuers, audiences and algorithms, the limits, the logger.
    ///   - httpClient: the client a `.url` source is fetched with (the shared one by default).
    public convenience init(jwks: JWKSSource, configuration: Configuration = Configuration(), httpClient: HTTPClient = .shared) {
        self.init(jwks: jwks, configuration: configuration, httpClient: httpClient, now: { Date().timeIntervalSince1970 })
    }

    init(jwks: JWKSSource, configuration: Configuration, httpClient: HTTPClient, now: @escaping @Sendable () -> Double) {
        var configuration = configuration
        configuration.algorithms = configuration.algorithms.intersection(Self.supportedAlgorithms)
        self.configuration = configuration
        cache = JWKSCache(source: jwks, configuration: configuration, httpClient: httpClient)
        claims = JWTClaimsCheck(configuration)
        self.now = now
    }

    /// Loads the key set now, throwing why it cannot be (a `JWKSError`, or the file or
    /// HTTP error). Optional: the first token loads it otherwise; call it at start to fail
    /// early on a wrong path or URL.
    public func loadKeys() async throws {
        _ = try await cache.load()
    }

    /// The principal of `token`, or nil (logged with the reason) to refuse it.
    public func principal(for token: String) async -> String? {
        do {
            return try await verify(token)
        } catch {
            configuration.logger.log(
                level: configuration.rejectionLogLevel, "bearer token refused",
                metadata: ["reason": "\(error.reason.rawValue)", "detail": "\(error.detail)"])
            return nil
        }
    }

    /// The principal of `token`, or why it is refused.
    public func verify(_ token: String) async throws(JWTRejection) -> String {
        guard token.utf8.count <= configuration.maxTokenBytes else {
            throw JWTRejection(.tooLarge, "\(token.utf8.count) bytes (at most \(configuration.maxTokenBytes))")
        }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw JWTRejection(.malformed, "\(parts.count) dot-separated parts, not 3 (JWE is not accepted)") }
        let header = try Self.object(parts[0], "header")
        guard let alg = header["alg"]?.stringValue else { throw JWTRejection(.malformed, "no alg in the header") }
        guard configuration.algorithms.contains(alg) else {
            throw JWTRejection(.unsupportedAlgorithm, "alg \(JWTClaimsCheck.quote(alg)) is not accepted")
        }
        // RFC 7515 §4.1.11: extensions listed in crit must be understood; none is here.
        if header["crit"] != nil { throw JWTRejection(.malformed, "crit header (no extension is supported)") }
        let kid: String?
        switch header["kid"] {
        case nil: kid = nil
        case .string(let s)?: kid = s
        case let v?: throw JWTRejection(.malformed, "kid is a \(v.typeName)")
        }
        let shownKID = kid.map(JWTClaimsCheck.quote) ?? "(none)"
        let keys = try await cache.keys(kid: kid)
        let candidates: [JWKSKeySet.Entry]
        switch keys.lookup(kid: kid, algorithm: alg) {
        case .keys(let k): candidates = k
        case .unknownKID: throw JWTRejection(.unknownKey, "no key for kid \(shownKID) and alg \(alg)")
        case .mismatch(let algs): throw JWTRejection(.algorithmMismatch, "key \(shownKID) is for \(algs), the token says \(alg)")
        }
        var verified = false
        var failure = "no key"
        for entry in candidates {
            do {
                _ = try await entry.keys.verify(token, as: SignatureOnly.self)
                verified = true
                break
            } catch {
                failure = "\(error)"
            }
        }
        guard verified else {
            throw JWTRejection(.badSignature, "kid \(shownKID), alg \(alg), \(candidates.count) key(s) tried: \(Self.bounded(failure))")
        }
        let payload = try Self.object(parts[1], "payload")
        return try claims.principal(of: payload, now: now())
    }

    /// A header or payload: base64url of a JSON object without repeated member names (which
    /// two parsers could read differently).
    static func object(_ part: Substring, _ name: String) throws(JWTRejection) -> JSONObject {
        guard let data = Base64URL.decode(part) else { throw JWTRejection(.malformed, "the \(name) is not base64url") }
        guard case .object(let object)? = try? JSONParser.parse(data) else {
            throw JWTRejection(.malformed, "the \(name) is not a JSON object")
        }
        guard Set(object.keys).count == object.count else { throw JWTRejection(.malformed, "the \(name) repeats a member name") }
        return object
    }

    static func bounded(_ s: String) -> String { s.count > 300 ? String(s.prefix(300)) + "…" : s }
}

/// What jwt-kit decodes: nothing. jwt-kit checks the signature; the claims are read from
/// the same bytes by `JWTClaimsCheck`.
struct SignatureOnly: JWTPayload {
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {}
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
