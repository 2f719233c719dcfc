/// Why a bearer token was refused. The runtime answers every refusal with the same
/// `UNAUTHENTICATED` error (a client learns nothing about which check failed); the reason
/// goes to the verifier's log, never the token itself.
public struct JWTRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which check refused the token.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// Not three base64url parts, a header or payload that is not a JSON object, a
        /// `crit` header (no extension is understood here).
        case malformed
        /// Longer than `Configuration.maxTokenBytes`.
        case tooLarge
        /// `alg` is `none`, or not in `Configuration.algorithms`.
        case unsupportedAlgorithm
        /// No key with the token's `kid` (after a refresh of the key set), or none for its `alg`.
        case unknownKey
        /// The key named by `kid` is not for the token's `alg`.
        case algorithmMismatch
        /// The key set could not be loaded (and none was loaded before).
        case keysUnavailable
        /// The signature does not verify.
        case badSignature
        /// `exp` (plus leeway) is in the past.
        case expired
        /// `exp` is absent while `Configuration.requireExpiration` is set.
        case missingExpiration
        /// `nbf` (minus leeway) is in the future.
        case notYetValid
        /// `iat` (minus leeway) is in the future.
        case issuedInFuture
        /// `iat` is older than `Configuration.maxTokenAge` (or absent while it is set).
        case tooOld
        /// `iss` is not one of `Configuration.issuers`.
        case wrongIssuer
        /// No `aud` value is one of `Configuration.audiences`.
        case wrongAudience
        /// The principal claim is absent, not a string, empty, or too long.
        case missingPrincipal
        /// A registered claim has the wrong JSON type (e.g. a string `exp`).
        case invalidClaim
    }

    /// Which check refused the token.
    public let reason: Reason
    /// What was seen, for the log: claim values of the verified payload, key ids, never
    /// the token.
    public let detail: String

    /// A refusal for `reason`, with `detail` for the log (never the token).
    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason.rawValue): \(detail)" }
}
