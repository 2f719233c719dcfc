import Foundation
import Logging

extension ARCPRuntime {
    /// Whether jobs of a session that negotiated `features` get provisioned credentials.
    @inline(never)
    func provisions(for features: Set<String>) -> Bool {
        offersProvisionedCredentials && features.contains(Feature.provisionedCredentials.rawValue)
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
            // The provisioner is user code that may block: never on a connection's executor.
            creds = try await offConnectionExecutor {
                try await provisioner.issue(for: job, lease: lease, constraints: constraints, budget: budget)
            }
        } catch {
            logger.error("credential issue failed", metadata: ["job": "\(job.jobID)", "error": "\(type(of: error))"])
            throw ARCPError(.internalError, "could not provision credentials for the job", retryable: true)
        }
        do {
            try await offConnectionExecutor { try await credentialLedger.record(creds, jobID: job.jobID) }
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
    @inline(never)
    func revokeInBackground(_ credentials: [Credential], jobID: String) {
        credentialLedger.revokeInBackground(credentials, jobID: jobID)
    }

    /// Installs the end-of-job duties of `job`: cancel children still running (a child
    /// never outlives its parent's authority, §9.8.2) and revoke its credentials.
    @inline(never)
    func installTerminalDuties(_ job: RuntimeJob) {
        job.onTerminal { [weak self] in
            for child in job.children where !child.isTerminal { child.cancelTree(.parentCancelled) }
            self?.revokeInBackground(job.credentials, jobID: job.id)
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
