import Foundation
import Logging
import Synchronization

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
    /// The default is the whole credential, **value included**: `revoke` receives a
    /// `Credential` and an upstream may need the value to revoke it, so the value is kept
    /// at rest until revocation succeeds. A provisioner whose upstream revokes by `id` (or
    /// by a key hash) should return the credential with `value` replaced, keeping the
    /// secret off disk; its `revoke` must then accept that form too.
    func revocationForm(of credential: Credential) -> Credential
}

extension CredentialProvisioner {
    /// The whole credential (see the requirement's documentation).
    public func revocationForm(of credential: Credential) -> Credential { credential }

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

/// Counts credential revocations in flight, so shutdown can wait for them.
final class RevocationTracker: Sendable {
    private struct State {
        var inFlight = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func begin() { state.withLock { $0.inFlight += 1 } }

    func end() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            s.inFlight -= 1
            guard s.inFlight == 0 else { return [] }
            let w = s.waiters
            s.waiters = []
            return w
        }
        for w in waiters { w.resume() }
    }

    var inFlight: Int { state.withLock { $0.inFlight } }

    /// Waits until no revocation is in flight, or `timeout` passed.
    func waitUntilIdle(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { g in
            g.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now: Bool = self.state.withLock { s in
                        if s.inFlight == 0 { return true }
                        s.waiters.append(c)
                        return false
                    }
                    if now { c.resume() }
                }
            }
            g.addTask { try? await Task.sleep(for: timeout) }
            await g.next()
            g.cancelAll()
            // Release a waiter left behind by the timeout.
            let left: [CheckedContinuation<Void, Never>] = self.state.withLock { s in
                let w = s.waiters
                s.waiters = []
                return w
            }
            for w in left { w.resume() }
        }
    }
}

extension ARCPRuntime {
    /// Whether jobs owned by `session` get provisioned credentials.
    func provisions(for session: RuntimeSession) -> Bool {
        offersProvisionedCredentials && session.has(.provisionedCredentials)
    }

    /// Issues the credentials of a job about to be accepted and records them as
    /// outstanding (awaited: durable before `job.accepted` shows them, §14). Failures
    /// become `INTERNAL_ERROR` (retryable); malformed answers are revoked and rejected.
    func issueCredentials(
        _ job: CredentialJob, lease: ValidatedLease, constraints: ValidatedLeaseConstraints, budget: [String: Decimal]
    ) async throws -> [Credential] {
        guard let provisioner = configuration.credentialProvisioner else { return [] }
        let creds: [Credential]
        do {
            creds = try await provisioner.issue(for: job, lease: lease, constraints: constraints, budget: budget)
        } catch {
            logger.error("credential issue failed", metadata: ["job": "\(job.jobID)", "error": "\(type(of: error))"])
            throw ARCPError(.internalError, "could not provision credentials for the job", retryable: true)
        }
        do {
            try await credentialLedger.record(creds, jobID: job.jobID)
        } catch {
            logger.error(
                "could not record issued credentials in the event store; revoking them and rejecting the job",
                metadata: ["job": "\(job.jobID)", "error": "\(error)"])
            revokeInBackground(creds, jobID: job.jobID)
            throw ARCPError(.internalError, "could not provision credentials for the job", retryable: true)
        }
        let ids = Set(creds.map(\.id))
        guard ids.count == creds.count, creds.allSatisfy({ !$0.id.isEmpty && !$0.scheme.isEmpty && !$0.value.isEmpty }) else {
            logger.error("credential provisioner returned malformed credentials", metadata: ["job": "\(job.jobID)"])
            revokeInBackground(creds, jobID: job.jobID)
            throw ARCPError(.internalError, "could not provision credentials for the job", retryable: true)
        }
        return creds
    }

    /// Revokes `credentials` with retries, in a task that outlives the caller; records
    /// are deleted on success, failures recorded and surfaced (`CredentialLedger`).
    func revokeInBackground(_ credentials: [Credential], jobID: String) {
        credentialLedger.revokeInBackground(credentials, jobID: jobID)
    }

    /// Installs the end-of-job duties of `job`: cancel children still running (a child
    /// never outlives its parent's authority, §9.8.2) and revoke its credentials.
    func installTerminalDuties(_ job: RuntimeJob) {
        job.onTerminal { [weak self] in
            guard let self else { return }
            for childID in job.children {
                if let child = self.registry.withLock({ $0.jobs[childID] }), !child.isTerminal {
                    self.cancelTree(child, reason: .parentCancelled)
                }
            }
            self.revokeInBackground(job.credentials, jobID: job.id)
        }
    }

    /// Rotates credential `id` of `job` (§9.8.2): a new value under the same id, recorded
    /// as outstanding before anything shows it (§14), a `status` `credential_rotated` event
    /// carrying it (redacted for observers of another principal), and revocation of the
    /// prior value (whose record goes once the upstream confirms).
    func rotateCredential(_ id: String, of job: RuntimeJob) async throws -> Credential {
        guard let provisioner = configuration.credentialProvisioner else {
            throw ARCPError.invalidRequest("no credential provisioner is configured")
        }
        guard let current = job.credentials.first(where: { $0.id == id }) else {
            throw ARCPError.invalidRequest("the job has no credential \(id)")
        }
        let fresh: Credential
        do {
            fresh = try await provisioner.rotate(current)
        } catch {
            logger.error("credential rotation failed", metadata: ["job": "\(job.id)", "credential": "\(id)", "error": "\(type(of: error))"])
            throw ARCPError(.internalError, "could not rotate credential \(id)", retryable: true)
        }
        do {
            try await credentialLedger.record([fresh], jobID: job.id)
        } catch {
            logger.error(
                "could not record a rotated credential in the event store; revoking it",
                metadata: ["job": "\(job.id)", "credential": "\(id)", "error": "\(error)"])
            revokeInBackground([fresh], jobID: job.id)
            throw ARCPError(.internalError, "could not rotate credential \(id)", retryable: true)
        }
        guard fresh.id == id, !fresh.value.isEmpty else {
            revokeInBackground([fresh], jobID: job.id)
            throw ARCPError(.internalError, "credential provisioner changed the id of credential \(id) on rotation", retryable: true)
        }
        guard let prior = job.replaceCredential(fresh) else {
            // The job ended meanwhile: its credentials are being revoked; so is this one.
            revokeInBackground([fresh], jobID: job.id)
            throw ARCPError(.invalidRequest, "job \(job.id) already ended")
        }
        let ts = ARCPTimestamp.string()
        job.emit(
            .jobEvent(JobEventPayload(body: .status(StatusBody(phase: "credential_rotated", credentialId: id, value: fresh.value)), ts: ts)),
            redactedForOthers: .jobEvent(JobEventPayload(body: .status(StatusBody(phase: "credential_rotated", credentialId: id)), ts: ts)))
        logger.info("credential rotated", metadata: ["job": "\(job.id)", "credential": "\(id)"])
        revokeInBackground([prior], jobID: job.id)
        return fresh
    }
}

/// An in-memory `CredentialProvisioner` for tests and examples: bearer values
/// `sk-mem-<random>`, unique across every job it ever served, constraints echoing the
/// lease. It records what it issued and revoked, and can be told to fail revocations.
public final class InMemoryCredentialProvisioner: CredentialProvisioner {
    /// Thrown by `issue` and `revoke` while failures are configured.
    public struct InjectedFailure: Error, Sendable {}

    /// One issued credential value.
    public struct Record: Sendable, Hashable {
        /// The credential as issued (or as rotated).
        public let credential: Credential
        /// The job it was issued for.
        public let jobID: String
    }

    private struct State {
        var issued: [Record] = []
        var jobsByID: [String: String] = [:]
        var everIssued: Set<String> = []
        var revoked: Set<String> = []
        var revokeAttempts = 0
        var failuresLeft = 0
        var failIssue = false
        var waiters: [(id: Int, values: Set<String>, c: CheckedContinuation<Void, Never>)] = []
        var nextWaiter = 0
    }

    private let state = Mutex(State())
    /// Endpoint of the credentials.
    public let endpoint: String
    /// Profile hint of the credentials.
    public let profile: String?
    /// Credentials per job.
    public let perJob: Int

    /// A provisioner issuing `perJob` credentials per job for `endpoint`.
    public init(endpoint: String = "https://gateway.example.invalid/v1", profile: String? = "openai", perJob: Int = 1) {
        self.endpoint = endpoint
        self.profile = profile
        self.perJob = max(0, perJob)
    }

    /// Makes the next `count` revocation attempts fail.
    public func failNextRevocations(_ count: Int) { state.withLock { $0.failuresLeft = max(0, count) } }

    /// Makes `issue` fail (or succeed again).
    public func failIssue(_ fail: Bool) { state.withLock { $0.failIssue = fail } }

    /// Everything issued, rotations included, in order.
    public var issued: [Record] { state.withLock { $0.issued } }
    /// Credential values revoked so far.
    public var revokedValues: Set<String> { state.withLock { $0.revoked } }
    /// Values issued and not revoked.
    public var liveValues: Set<String> { state.withLock { $0.everIssued.subtracting($0.revoked) } }
    /// Revocation attempts so far, failed ones included.
    public var revokeAttempts: Int { state.withLock { $0.revokeAttempts } }

    /// The values issued to job `id` (rotations included).
    public func values(forJob id: String) -> [String] {
        state.withLock { s in s.issued.filter { $0.jobID == id }.map(\.credential.value) }
    }

    /// Waits until every value in `values` has been revoked (or the waiting task is cancelled).
    public func waitUntilRevoked(_ values: [String]) async {
        let wanted = Set(values)
        let id = state.withLock { s -> Int in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let done: Bool = state.withLock { s in
                    if wanted.isSubset(of: s.revoked) || Task.isCancelled { return true }
                    s.waiters.append((id, wanted, c))
                    return false
                }
                if done { c.resume() }
            }
        } onCancel: {
            let c: CheckedContinuation<Void, Never>? = state.withLock { s in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).c
            }
            c?.resume()
        }
    }

    public func issue(
        for job: CredentialJob, lease: ValidatedLease, constraints: ValidatedLeaseConstraints, budget: [String: Decimal]
    ) async throws -> [Credential] {
        let echo = Self.constraintsEcho(lease: lease, constraints: constraints, budget: budget)
        return try state.withLock { s in
            if s.failIssue { throw InjectedFailure() }
            var out: [Credential] = []
            for _ in 0..<perJob {
                let c = Credential(
                    id: ARCPID.credentialID(), scheme: "bearer", value: Self.freshValue(&s), endpoint: endpoint, profile: profile,
                    constraints: echo)
                s.issued.append(Record(credential: c, jobID: job.jobID))
                s.jobsByID[c.id] = job.jobID
                out.append(c)
            }
            return out
        }
    }

    public func revoke(_ credential: Credential) async throws {
        let waiters: [CheckedContinuation<Void, Never>] = try state.withLock { s in
            s.revokeAttempts += 1
            if s.failuresLeft > 0 {
                s.failuresLeft -= 1
                throw InjectedFailure()
            }
            s.revoked.insert(credential.value)
            var ready: [CheckedContinuation<Void, Never>] = []
            s.waiters.removeAll { w in
                guard w.values.isSubset(of: s.revoked) else { return false }
                ready.append(w.c)
                return true
            }
            return ready
        }
        for w in waiters { w.resume() }
    }

    public func rotate(_ credential: Credential) async throws -> Credential {
        state.withLock { s in
            var c = credential
            c.value = Self.freshValue(&s)
            s.issued.append(Record(credential: c, jobID: s.jobsByID[c.id] ?? ""))
            return c
        }
    }

    private static func freshValue(_ s: inout State) -> String {
        var rng = SystemRandomNumberGenerator()
        while true {
            let v = "sk-mem-" + (0..<4).map { _ in String(rng.next() as UInt64, radix: 16) }.joined()
            if s.everIssued.insert(v).inserted { return v }
        }
    }
}
