import ARCP
import Foundation

/// The claim rules (RFC 7519 §4.1) applied to a payload whose signature verified: the one
/// place `exp`, `nbf`, `iat`, `iss`, `aud` and the principal claim are judged.
///
/// Pure: `now` is a parameter (seconds since 1970), so every rule is testable without a clock.
struct JWTClaimsCheck: Sendable {
    var issuers: Set<String>
    var audiences: Set<String>
    var principalClaim: String
    var leeway: Double
    var requireExpiration: Bool
    var maxTokenAge: Double?
    var maxPrincipalBytes: Int

    init(_ c: JWTBearerVerifier.Configuration) {
        issuers = c.issuers
        audiences = c.audiences
        principalClaim = c.principalClaim
        leeway = c.leeway.seconds
        requireExpiration = c.requireExpiration
        maxTokenAge = c.maxTokenAge?.seconds
        maxPrincipalBytes = c.maxPrincipalBytes
    }

    /// The principal named by `claims`, or why the token is refused.
    func principal(of claims: JSONObject, now: Double) throws(JWTRejection) -> String {
        // Time claims first: an expired token is reported as expired whatever else is wrong.
        let exp = try numericDate(claims, "exp")
        let nbf = try numericDate(claims, "nbf")
        let iat = try numericDate(claims, "iat")
        if let exp {
            if exp + leeway <= now {
                throw JWTRejection(.expired, "exp \(Self.show(exp)) is \(Self.show(now - exp)) s ago (leeway \(Self.show(leeway)) s)")
            }
        } else if requireExpiration {
            throw JWTRejection(.missingExpiration, "no exp claim")
        }
        if let nbf, nbf - leeway > now {
            throw JWTRejection(.notYetValid, "nbf \(Self.show(nbf)) is \(Self.show(nbf - now)) s ahead (leeway \(Self.show(leeway)) s)")
        }
        if let iat, iat - leeway > now {
            throw JWTRejection(.issuedInFuture, "iat \(Self.show(iat)) is \(Self.show(iat - now)) s ahead (leeway \(Self.show(leeway)) s)")
        }
        if let maxTokenAge {
            guard let iat else { throw JWTRejection(.tooOld, "no iat claim, and a maximum token age is set") }
            if now - iat > maxTokenAge + leeway {
                throw JWTRejection(.tooOld, "issued \(Self.show(now - iat)) s ago (at most \(Self.show(maxTokenAge)) s)")
            }
        }
        if !issuers.isEmpty {
            guard let v = claims["iss"] else { throw JWTRejection(.wrongIssuer, "no iss claim") }
            guard let iss = v.stringValue else { throw JWTRejection(.invalidClaim, "iss is a \(v.typeName), not a string") }
            guard issuers.contains(iss) else { throw JWTRejection(.wrongIssuer, "iss \(Self.quote(iss)) is not accepted") }
        }
        if !audiences.isEmpty {
            let aud: [String]
            switch claims["aud"] {
            case nil: throw JWTRejection(.wrongAudience, "no aud claim")
            case .string(let s)?: aud = [s]
            case .array(let a)?:
                var all: [String] = []
                for v in a {
                    guard let s = v.stringValue else { throw JWTRejection(.invalidClaim, "aud holds a \(v.typeName)") }
                    all.append(s)
                }
                aud = all
            case let v?: throw JWTRejection(.invalidClaim, "aud is a \(v.typeName)")
            }
            guard aud.contains(where: audiences.contains) else {
                throw JWTRejection(.wrongAudience, "aud \(aud.prefix(8).map(Self.quote).joined(separator: ", ")) names none of the accepted audiences")
            }
        }
        guard let v = claims[principalClaim] else { throw JWTRejection(.missingPrincipal, "no \(principalClaim) claim") }
        guard let principal = v.stringValue else {
            throw JWTRejection(.missingPrincipal, "\(principalClaim) is a \(v.typeName), not a string")
        }
        guard !principal.isEmpty else { throw JWTRejection(.missingPrincipal, "\(principalClaim) is empty") }
        guard principal.utf8.count <= maxPrincipalBytes else {
            throw JWTRejection(.missingPrincipal, "\(principalClaim) is \(principal.utf8.count) bytes (at most \(maxPrincipalBytes))")
        }
        return principal
    }

    /// A NumericDate claim (seconds since 1970, integral or not), nil when absent.
    func numericDate(_ claims: JSONObject, _ name: String) throws(JWTRejection) -> Double? {
        guard let v = claims[name] else { return nil }
        guard let d = v.doubleValue, d.isFinite else {
            throw JWTRejection(.invalidClaim, "\(name) is a \(v.typeName), not a NumericDate")
        }
        return d
    }

    static func show(_ d: Double) -> String {
        d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(format: "%.3f", d)
    }

    /// A claim value for the log: bounded, and quoted so that odd characters stay visible.
    static func quote(_ s: String) -> String {
        let cut = s.utf8.count > 128 ? String(decoding: Array(s.utf8.prefix(128)), as: UTF8.self) + "…" : s
        return "\"" + cut.unicodeScalars.map { $0.value < 0x20 || $0 == "\"" ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined() + "\""
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }
}
