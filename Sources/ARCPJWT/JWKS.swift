import ARCP
import Foundation
import JWTKit
import Logging

/// Where a verifier's keys come from.
public enum JWKSSource: Sendable, Hashable, CustomStringConvertible {
    /// A fixed JWKS document (RFC 7517 §5), e.g. `{"keys":[{"kty":"oct","k":"…","kid":"k1","alg":"HS256"}]}`.
    case document(String)
    /// A JWKS file, read again once `refreshInterval` has passed.
    case file(String)
    /// A JWKS URL (`https://…/.well-known/jwks.json`), fetched with AsyncHTTPClient, cached for
    /// its `Cache-Control: max-age` within `minimumRefreshInterval…refreshInterval`, and
    /// fetched again early when a token names a key id it does not hold.
    case url(String)

    /// `http://…` and `https://…` are URLs; anything else is a file path (what `arcp serve
    /// --jwks` takes).
    public init(parsing text: String) {
        let lower = text.lowercased()
        self = lower.hasPrefix("https://") || lower.hasPrefix("http://") ? .url(text) : .file(text)
    }

    public var description: String {
        switch self {
        case .document: "an inline JWKS document"
        case .file(let p): "file \(p)"
        case .url(let u): u
        }
    }
}

/// A key set could not be loaded: the document is unreadable, not a JWKS, or holds no
/// usable signing key.
public struct JWKSError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, for the log (never key material).
    public let message: String
    /// An error saying `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The verification keys of one JWKS document: one entry per (key, algorithm), each its own
/// jwt-kit key collection holding only that key, so jwt-kit never picks a key by itself (a
/// token naming an unknown `kid` must not fall back to another key) and a key without `alg`
/// is offered under each algorithm of its type separately.
struct JWKSKeySet: Sendable {
    struct Entry: Sendable {
        /// The JWK's `kid`, nil for a key without one (then only tokens without `kid` use it).
        let kid: String?
        let algorithm: String
        let keys: JWTKeyCollection
    }

    let entries: [Entry]
    /// Every `kid` in the document, usable or not.
    let kids: Set<String>

    /// The entries a token with header `alg` and optional `kid` may be verified with.
    enum Lookup {
        case keys([Entry])
        case unknownKID
        case mismatch(String)
    }

    func lookup(kid: String?, algorithm: String) -> Lookup {
        if let kid {
            let named = entries.filter { $0.kid == kid }
            if named.isEmpty { return .unknownKID }
            let usable = named.filter { $0.algorithm == algorithm }
            if usable.isEmpty { return .mismatch(named.map(\.algorithm).joined(separator: ", ")) }
            return .keys(usable)
        }
        let usable = entries.filter { $0.algorithm == algorithm }
        return usable.isEmpty ? .unknownKID : .keys(usable)
    }

    /// Reads a JWKS document. Keys that cannot be used (another `use`, an unknown `kty`,
    /// an algorithm outside `algorithms`, an HMAC key shorter than its hash) are skipped and
    /// logged; a document with no usable key at all is an error.
    static func parse(_ data: Data, algorithms: Set<String>, maxKeys: Int, logger: Logger) async throws -> JWKSKeySet {
        let root: JSONValue
        do {
            root = try JSONParser.parse(data)
        } catch {
            throw JWKSError("not JSON: \(error)")
        }
        guard case .array(let keys)? = root["keys"] else { throw JWKSError("not a JWKS document: no \"keys\" array") }
        var entries: [Entry] = []
        var kids: Set<String> = []
        for (index, value) in keys.enumerated() {
            guard index < maxKeys else {
                logger.warning("JWKS holds \(keys.count) keys; only the first \(maxKeys) are used")
                break
            }
            guard case .object(let jwk) = value else {
                logger.warning("JWKS key #\(index) is not an object; skipped")
                continue
            }
            let kid = jwk["kid"]?.stringValue
            let name = kid.map { "JWKS key \(JWTClaimsCheck.quote($0))" } ?? "JWKS key #\(index)"
            if let kid {
                guard kids.insert(kid).inserted else {
                    logger.warning("\(name) appears twice; the second is skipped")
                    continue
                }
            }
            if let use = jwk["use"]?.stringValue, use != "sig" {
                logger.debug("\(name) is for use \(use); skipped")
                continue
            }
            do {
                for (algorithm, collection) in try await signers(jwk, algorithms: algorithms) {
                    entries.append(Entry(kid: kid, algorithm: algorithm, keys: collection))
                }
            } catch {
                logger.warning("\(name) skipped: \(error)")
            }
        }
        guard !entries.isEmpty else { throw JWKSError("the JWKS holds no usable signing key (of \(keys.count))") }
        return JWKSKeySet(entries: entries, kids: kids)
    }

    /// One verifier per algorithm the key may be used with.
    static func signers(_ jwk: JSONObject, algorithms allowed: Set<String>) async throws -> [(String, JWTKeyCollection)] {
        guard let kty = jwk["kty"]?.stringValue else { throw JWKSError("no kty") }
        let declared = jwk["alg"]?.stringValue
        func string(_ name: String) throws -> String {
            guard let s = jwk[name]?.stringValue, !s.isEmpty else { throw JWKSError("no \(name)") }
            return s
        }
        /// The algorithms this key is offered under: its `alg` (which must be of `family`), or
        /// every algorithm of the family; in both cases only those in `allowed`.
        func offered(_ family: [String]) throws -> [String] {
            if let declared {
                guard family.contains(declared) else { throw JWKSError("alg \(declared) does not fit kty \(kty)") }
                guard allowed.contains(declared) else { throw JWKSError("alg \(declared) is not accepted") }
                return [declared]
            }
            let algs = family.filter(allowed.contains)
            guard !algs.isEmpty else { throw JWKSError("no accepted algorithm for kty \(kty)") }
            return algs
        }
        var out: [(String, JWTKeyCollection)] = []
        switch kty {
        case "oct":
            guard let secret = Base64URL.decode(try string("k")) else { throw JWKSError("k is not base64url") }
            for alg in try offered(["HS256", "HS384", "HS512"]) {
                let (digest, minBytes): (DigestAlgorithm, Int) =
                    switch alg {
                    case "HS384": (.sha384, 48)
                    case "HS512": (.sha512, 64)
                    default: (.sha256, 32)
                    }
                // RFC 7518 §3.2: a key at least as long as the hash.
                guard secret.count >= minBytes else { throw JWKSError("\(alg) key of \(secret.count) bytes (at least \(minBytes))") }
                out.append((alg, await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: digest)))
            }
        case "RSA":
            let key = try Insecure.RSA.PublicKey(modulus: try string("n"), exponent: try string("e"))
            for alg in try offered(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]) {
                let digest: DigestAlgorithm = alg.hasSuffix("384") ? .sha384 : alg.hasSuffix("512") ? .sha512 : .sha256
                let keys = JWTKeyCollection()
                if alg.hasPrefix("PS") {
                    await keys.add(pss: key, digestAlgorithm: digest)
                } else {
                    await keys.add(rsa: key, digestAlgorithm: digest)
                }
                out.append((alg, keys))
            }
        case "EC":
            let parameters = (x: try string("x"), y: try string("y"))
            let crv = try string("crv")
            let keys = JWTKeyCollection()
            let alg: String
            switch crv {
            case "P-256": alg = "ES256"; await keys.add(ecdsa: try ES256PublicKey(parameters: parameters))
            case "P-384": alg = "ES384"; await keys.add(ecdsa: try ES384PublicKey(parameters: parameters))
            case "P-521": alg = "ES512"; await keys.add(ecdsa: try ES512PublicKey(parameters: parameters))
            default: throw JWKSError("unsupported EC curve \(crv)")
            }
            out.append((try offered([alg]).first ?? alg, keys))
        case "OKP":
            let crv = try string("crv")
            guard crv == "Ed25519" else { throw JWKSError("unsupported OKP curve \(crv)") }
            let key = try EdDSA.PublicKey(x: try string("x"), curve: .ed25519)
            let alg = try offered(["EdDSA"]).first ?? "EdDSA"
            out.append((alg, await JWTKeyCollection().add(eddsa: key)))
        default:
            throw JWKSError("unsupported kty \(kty)")
        }
        return out
    }
}
