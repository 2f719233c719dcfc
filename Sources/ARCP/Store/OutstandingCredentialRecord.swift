import Foundation

/// An outstanding credential record's identity: one value of one credential of one job.
struct OutstandingCredentialKey: Hashable, Sendable {
    let jobID: String
    let credentialID: String
    let valueDigest: String

    init(jobID: String, credentialID: String, valueDigest: String) {
        self.jobID = jobID
        self.credentialID = credentialID
        self.valueDigest = valueDigest
    }

    init(_ record: OutstandingCredentialRecord) {
        self.init(jobID: record.jobID, credentialID: record.credentialID, valueDigest: record.valueDigest)
    }

    init(_ credential: Credential, jobID: String) {
        self.init(
            jobID: jobID, credentialID: credential.id,
            valueDigest: OutstandingCredentialRecord.digest(ofValue: credential.value))
    }
}

/// A provisioned credential (§9.8) the runtime issued and has not yet revoked at the
/// upstream (§14, "credential revocation reliability"). The runtime writes it before the
/// credential is surfaced in `job.accepted` (or a `credential_rotated` event), updates it
/// after each failed revocation attempt and deletes it once revocation succeeds, so a
/// runtime restarted on the same store can revoke whatever an earlier process left behind.
///
/// One credential `id` may have two records while it is rotated: the new value is recorded
/// before the prior one is revoked. `valueDigest` tells them apart.
///
/// - Important: `revocationJSON` is by default the whole `Credential`, **value included**
///   (`CredentialProvisioner.revocationForm(of:)` decides): a secret kept at rest until
///   the credential is revoked. Protect the store accordingly. `description` leaves it out.
public struct OutstandingCredentialRecord: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The job the credential was issued for.
    public var jobID: String
    /// The credential's `id` (unique within the job).
    public var credentialID: String
    /// Lowercase hex SHA-256 of the credential's value (see `digest(ofValue:)`).
    public var valueDigest: String
    /// What `CredentialProvisioner.revoke` needs after a restart, as the JSON text of a
    /// `Credential`. Secret: never log it.
    public var revocationJSON: String
    /// When the runtime recorded the credential (its issue or rotation).
    public var issuedAt: Date
    /// Failed revocation attempts so far, over every runtime process.
    public var attempts: Int
    /// The last revocation failure (the error's type name only: its text could echo the
    /// secret), or `nil` before the first failure.
    public var lastError: String?
    /// When revocation last failed, or `nil` before the first failure.
    public var lastAttemptAt: Date?

    /// Creates a record.
    public init(
        jobID: String, credentialID: String, valueDigest: String, revocationJSON: String, issuedAt: Date,
        attempts: Int = 0, lastError: String? = nil, lastAttemptAt: Date? = nil
    ) {
        self.jobID = jobID
        self.credentialID = credentialID
        self.valueDigest = valueDigest
        self.revocationJSON = revocationJSON
        self.issuedAt = issuedAt
        self.attempts = attempts
        self.lastError = lastError
        self.lastAttemptAt = lastAttemptAt
    }

    /// The `valueDigest` of a credential value: lowercase hex SHA-256 of its UTF-8 bytes.
    public static func digest(ofValue value: String) -> String {
        ResumeTokenHasher.hash(value)
    }

    /// The record without its secret part.
    public var description: String {
        "OutstandingCredentialRecord(job: \(jobID), credential: \(credentialID), value sha256: \(valueDigest.prefix(12))…, "
            + "attempts: \(attempts), last error: \(lastError ?? "none"))"
    }

    public var debugDescription: String { description }
}
