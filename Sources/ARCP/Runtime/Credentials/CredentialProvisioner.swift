import Foundation

// Provisioned credentials (spec §9.8, §14): issued before `job.accepted`, shown only to
// the submitting principal, rotated with a `status` `credential_rotated` event, revoked
// (with retries) whenever the job ends.

/// The job a credential is issued for.
public struct CredentialJob: Sendable, Hashable {
    /// The job id.
    public let jobID: String
    /// The resolved agent (`name` or `name@version`).
    public let agent: String
    /// The submitting principal.
    public let principal: String
    /// The delegating job, for a delegated job.
    public let parentJobID: String?
    /// The job's trace id.
    public let traceID: String

    /// Describes a job.
    public init(jobID: String, agent: String, principal: String, parentJobID: String? = nil, traceID: String) {
        self.jobID = jobID
        self.agent = agent
        self.principal = principal
        self.parentJobID = parentJobID
        self.traceID = traceID
    }
}

/// Mints, rotates and revokes short-lived credentials to upstream services on behalf of
/// jobs (spec §9.8): LiteLLM virtual keys, vendor sub-keys, short-lived OAuth tokens…
///
/// The runtime calls `issue` before `job.accepted` (a failure rejects the submission, or
/// the delegation, with `INTERNAL_ERROR`), `rotate` from `JobContext.rotateCredential(_:)`
/// (and then `revoke` on the prior value), and `revoke` for every credential when the job
/// reaches any terminal state, retrying per `CredentialRevocationPolicy`. `revoke` must be
/// idempotent. Implementations must never log credential values.
public protocol CredentialProvisioner: Sendable {
    /// Issues the credentials of `job`, each constrained at or below the lease (§9.8.3):
    /// `budget` is the job's initial budget, `constraints.expiresAt` its expiry. Each
    /// credential needs an `id` unique within the job and a `value` never used for another job.
    func issue(
        for job: CredentialJob, lease: ValidatedLease, constraints: ValidatedLeaseConstraints, budget: [String: Decimal]
    ) async throws -> [Credential]

    /// Revokes `credential` at the upstream. Throwing means "try again later".
    func revoke(_ credential: Credential) async throws

    /// Returns a fresh value for `credential`, keeping its `id`. The runtime revokes the
    /// prior value afterwards.
    func rotate(_ credential: Credential) async throws -> Credential

    /// What the runtime records in its runtime store until `credential` is revoked, so that
    /// `revoke` can still be called after a restart (spec §14). A restarted runtime calls
    /// `revoke` with exactly this value.
    ///
    /// The default keeps the secret off disk (issue 10 item 10: ids and hashes only): the
    /// credential with its `value` replaced by `revocationDigest(of:)`, `"sha256:"` and the
    /// hex SHA-256 of the value, so an upstream that revokes by id, or by a hash of the
    /// key, can still revoke it after a restart; `revoke` must accept that form. A
    /// provisioner whose upstream needs the value itself to revoke returns the whole
    /// credential here, accepting that the value is kept at rest until revocation succeeds.
    func revocationForm(of credential: Credential) -> Credential
}

extension CredentialProvisioner {
    /// The credential with its value replaced by its digest (see the requirement).
    public func revocationForm(of credential: Credential) -> Credential {
        var c = credential
        c.value = revocationDigest(of: credential.value)
        return c
    }

    /// `"sha256:"` and the lowercase hex SHA-256 of `value`: what the default
    /// `revocationForm` keeps instead of a credential's value.
    public func revocationDigest(of value: String) -> String {
        "sha256:" + ResumeTokenHasher.hash(value)
    }

    /// The `constraints` echo for a credential baked with the lease's budget, models and
    /// expiry (§9.8.3); a convenience for implementations whose upstream enforces all three.
    public static func constraintsEcho(
        lease: ValidatedLease, constraints: ValidatedLeaseConstraints, budget: [String: Decimal]
    ) -> JSONValue {
        var o = JSONObject()
        if !budget.isEmpty {
            o.append("cost.budget", .array(budget.keys.sorted().map { .string("\($0):\(LeaseDecimal.format(budget[$0] ?? 0))") }))
        }
        if let models = lease.patterns(for: .modelUse) { o.append("model.use", .array(models.map { .string($0) })) }
        if let e = constraints.expiresAt { o.append("expires_at", .string(e.text)) }
        return .object(o)
    }
}

/// How credential revocation is retried (spec §9.8.2: best effort, retried on transient
/// failure, permanent failures logged and surfaced; §14: retried across restarts).
public struct CredentialRevocationPolicy: Sendable {
    /// Attempts per credential (at least 1), per revocation pass: when the job ends, and
    /// again in each `ARCPRuntime.recoverCredentials()` pass.
    public var maxAttempts = 5
    /// Wait before the first retry; doubled after each failure up to `maxBackoff`.
    public var initialBackoff: Duration = .milliseconds(200)
    /// Longest wait between attempts.
    public var maxBackoff: Duration = .seconds(10)
    /// Credentials revoked at once by a recovery pass (at least 1).
    public var maxConcurrentRecoveries = 4
    /// Called when a credential could not be revoked after every attempt of a pass: (job
    /// id, credential id, last error). Also called for the credentials an earlier process
    /// left that a recovery pass cannot revoke. The credential value is never passed.
    /// The credential is then listed by `ARCPRuntime.unrevokedCredentials()`, logged at
    /// error level, and, with a durable runtime store, retried again after a restart.
    public var onPermanentFailure: (@Sendable (_ jobID: String, _ credentialID: String, _ error: any Error) -> Void)? = nil

    /// The defaults above.
    public init() {}
}

/// A provisioned credential the runtime could not revoke (spec §14: surfaced to operators).
/// It carries no secret: revoke it by hand at the upstream using its ids, or let a later
/// `ARCPRuntime.recoverCredentials()` pass (or a restart on a durable store) retry it.
public struct UnrevokedCredential: Sendable, Hashable {
    /// The job the credential was issued for.
    public let jobID: String
    /// The credential's `id`.
    public let credentialID: String
    /// Lowercase hex SHA-256 of the unrevoked value (tells a rotated credential's values apart).
    public let valueDigest: String
    /// When the credential (this value) was issued.
    public let issuedAt: Date
    /// Failed revocation attempts, over every runtime process that tried.
    public let attempts: Int
    /// The type of the last error (its text could echo the secret, so it is not kept).
    public let lastError: String
    /// When revocation last failed.
    public let lastAttemptAt: Date

    /// Creates a value.
    public init(
        jobID: String, credentialID: String, valueDigest: String, issuedAt: Date, attempts: Int, lastError: String,
        lastAttemptAt: Date
    ) {
        self.jobID = jobID
        self.credentialID = credentialID
        self.valueDigest = valueDigest
        self.issuedAt = issuedAt
        self.attempts = attempts
        self.lastError = lastError
        self.lastAttemptAt = lastAttemptAt
    }
}
