import Foundation
import Logging

// Revocation as a durability concern (spec §14): every provisioned credential is recorded
// in the runtime store before it is surfaced, its revocation attempts are recorded, and the
// record is deleted only once the upstream confirmed the revocation. A runtime restarted on
// the same store revokes what an earlier process left, and surfaces what it cannot revoke.

/// The runtime's book of provisioned credentials not yet revoked.
///
/// Writes go straight to the runtime store and are awaited, not through the write-behind
/// `RuntimeStoreWriter`: a credential must be durable *before* `job.accepted` (or the
/// `credential_rotated` event) shows it, and a failed write must stop the credential from
/// being surfaced at all. The storeWriter only reports failures after the fact (and its
/// `flush` would also wait for unrelated event traffic).
final class CredentialLedger: Sendable {
    typealias Key = OutstandingCredentialKey

    /// A stored record that does not decode into a `Credential`.
    struct UnreadableRecord: Error {}

    private struct State {
        /// Credentials this runtime is handling now: issued and not yet through their
        /// revocation, or claimed by a recovery pass. A recovery pass skips them.
        var active: [Key: OutstandingCredentialRecord] = [:]
        /// Credentials whose last revocation pass gave up.
        var unrevoked: [Key: UnrevokedCredential] = [:]
        /// The recovery pass running now, if any.
        var recovery: Task<Void, Never>? = nil
        /// Whether the automatic (first `accept`) recovery pass was started.
        var recoveryStarted = false
    }

    let store: (any RuntimeStore)?
    let provisioner: (any CredentialProvisioner)?
    let policy: CredentialRevocationPolicy
    let logger: Logger
    /// Revocations in flight, awaited (bounded) by `ARCPRuntime.shutdown()`.
    let tracker: RevocationTracker
    private let state = RankedMutex(.leaf, State())

    init(
        store: (any RuntimeStore)?, provisioner: (any CredentialProvisioner)?, policy: CredentialRevocationPolicy,
        logger: Logger, tracker: RevocationTracker
    ) {
        self.store = store
        self.provisioner = provisioner
        self.policy = policy
        self.logger = logger
        self.tracker = tracker
    }

    /// Whether the records outlive the process.
    var isDurable: Bool { store?.durablyKeepsOutstandingCredentials ?? false }

    /// What `unrevoked` lists, oldest first.
    var unrevoked: [UnrevokedCredential] {
        state.withLock { Array($0.unrevoked.values) }.sorted {
            ($0.issuedAt, $0.jobID, $0.credentialID, $0.valueDigest) < ($1.issuedAt, $1.jobID, $1.credentialID, $1.valueDigest)
        }
    }

    // MARK: - Recording

    private func makeRecord(_ c: Credential, jobID: String, provisioner: any CredentialProvisioner) -> OutstandingCredentialRecord {
        OutstandingCredentialRecord(
            jobID: jobID, credentialID: c.id, valueDigest: OutstandingCredentialRecord.digest(ofValue: c.value),
            revocationJSON: JSONWriter.string(provisioner.revocationForm(of: c).toJSON()), issuedAt: Date())
    }

    /// Records `credentials` of `jobID` as outstanding; returns once the runtime store holds
    /// them. Throws the store's error: the caller must then not surface the credentials.
    func record(_ credentials: [Credential], jobID: String) async throws {
        guard let provisioner, !credentials.isEmpty else { return }
        let records = credentials.map { makeRecord($0, jobID: jobID, provisioner: provisioner) }
        // Active first, so that a concurrent recovery pass never claims a new record.
        state.withLock { s in
            for r in records { s.active[Key(r)] = r }
        }
        guard let store else { return }
        for r in records { try await store.saveOutstandingCredential(r) }
    }

    // MARK: - Revocation

    /// Revokes `credentials` of `jobID` one after the other, with retries, in a task that
    /// outlives the caller (and the runtime).
    func revokeInBackground(_ credentials: [Credential], jobID: String) {
        guard provisioner != nil, !credentials.isEmpty else { return }
        tracker.begin()
        Task {
            for c in credentials { await self.revoke(c, key: Key(c, jobID: jobID)) }
            self.tracker.end()
        }
    }

    /// One revocation pass over one credential value: up to `maxAttempts` attempts with
    /// backoff. Success deletes the record; each failure is recorded; giving up surfaces it.
    /// - Returns: whether the credential was revoked.
    @discardableResult
    func revoke(_ credential: Credential, key: Key) async -> Bool {
        guard let provisioner else { return false }
        var delay = policy.initialBackoff
        let attempts = max(1, policy.maxAttempts)
        for attempt in 1...attempts {
            do {
                try await provisioner.revoke(credential)
            } catch {
                let record = noteFailure(key, credential: credential, error: error, provisioner: provisioner)
                if let store {
                    do {
                        try await store.saveOutstandingCredential(record)
                    } catch {
                        logger.warning(
                            "could not record a failed credential revocation",
                            metadata: ["job": "\(key.jobID)", "credential": "\(key.credentialID)", "error": "\(error)"])
                    }
                }
                if attempt == attempts {
                    giveUp(key, record: record, attemptsThisPass: attempts, error: error)
                    return false
                }
                // Only the error's type is logged: its text could echo the secret.
                logger.warning(
                    "credential revocation failed; retrying",
                    metadata: [
                        "job": "\(key.jobID)", "credential": "\(key.credentialID)", "attempt": "\(attempt)",
                        "error": "\(type(of: error))",
                    ])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, policy.maxBackoff)
                continue
            }
            if let store {
                do {
                    try await store.removeOutstandingCredential(
                        jobID: key.jobID, credentialID: key.credentialID, valueDigest: key.valueDigest)
                } catch {
                    // Harmless: `revoke` is idempotent; a later recovery pass revokes it again.
                    logger.warning(
                        "could not delete the record of a revoked credential; it will be revoked again after a restart",
                        metadata: ["job": "\(key.jobID)", "credential": "\(key.credentialID)", "error": "\(error)"])
                }
            }
            state.withLock { s in
                s.active[key] = nil
                s.unrevoked[key] = nil
            }
            logger.debug("credential revoked", metadata: ["job": "\(key.jobID)", "credential": "\(key.credentialID)"])
            return true
        }
        return false
    }

    /// Counts a failed attempt on the credential's record (created if it was never recorded).
    private func noteFailure(
        _ key: Key, credential: Credential, error: any Error, provisioner: any CredentialProvisioner
    ) -> OutstandingCredentialRecord {
        // One revocation pass per key at a time (the `active` claim), so read-modify-write is safe.
        var r = state.withLock { $0.active[key] } ?? makeRecord(credential, jobID: key.jobID, provisioner: provisioner)
        r.attempts += 1
        r.lastError = String(describing: type(of: error))
        r.lastAttemptAt = Date()
        state.withLock { $0.active[key] = r }
        return r
    }

    /// Surfaces a credential whose revocation pass failed: listed, logged at error level,
    /// reported to `onPermanentFailure`. Its record stays in the store for a later pass.
    private func giveUp(_ key: Key, record: OutstandingCredentialRecord, attemptsThisPass: Int, error: any Error) {
        let entry = UnrevokedCredential(
            jobID: key.jobID, credentialID: key.credentialID, valueDigest: key.valueDigest, issuedAt: record.issuedAt,
            attempts: record.attempts, lastError: record.lastError ?? String(describing: type(of: error)),
            lastAttemptAt: record.lastAttemptAt ?? Date())
        state.withLock { s in
            s.active[key] = nil
            s.unrevoked[key] = entry
        }
        logger.error(
            "credential revocation failed permanently",
            metadata: [
                "job": "\(key.jobID)", "credential": "\(key.credentialID)", "attempts": "\(attemptsThisPass)",
                "total_attempts": "\(record.attempts)", "error": "\(type(of: error))",
                "retried_after_restart": "\(isDurable)",
            ])
        policy.onPermanentFailure?(key.jobID, key.credentialID, error)
    }

    // MARK: - Recovery

    /// Starts one recovery pass the first time it is called (from `accept`). That pass
    /// leaves alone the credentials this runtime itself gave up on.
    func startRecoveryOnce() {
        guard store != nil, provisioner != nil else { return }
        let first = state.withLock { s -> Bool in
            if s.recoveryStarted { return false }
            s.recoveryStarted = true
            return true
        }
        if first { Task { await self.recover(retryingGivenUp: false) } }
    }

    /// Runs a recovery pass, after the one running (if any) has finished.
    func recover(retryingGivenUp: Bool) async {
        guard store != nil, provisioner != nil else { return }
        while true {
            let (task, mine): (Task<Void, Never>, Bool) = state.withLock { s in
                s.recoveryStarted = true
                if let running = s.recovery { return (running, false) }
                // The task clears `recovery` under the lock, which is held until it is set.
                let t = Task {
                    await self.recoveryPass(retryingGivenUp: retryingGivenUp)
                    self.state.withLock { $0.recovery = nil }
                }
                s.recovery = t
                return (t, true)
            }
            await task.value
            if mine { return }
        }
    }

    /// Revokes every stored record this runtime is not handling (nor gave up on, unless
    /// `retryingGivenUp`), a few at a time.
    private func recoveryPass(retryingGivenUp: Bool) async {
        guard let store else { return }
        let records: [OutstandingCredentialRecord]
        do {
            records = try await store.outstandingCredentials()
        } catch {
            logger.error(
                "could not read outstanding credentials from the event store; they stay unrevoked",
                metadata: ["error": "\(error)"])
            return
        }
        let claimed: [OutstandingCredentialRecord] = state.withLock { s in
            records.filter { r in
                let key = Key(r)
                guard s.active[key] == nil, retryingGivenUp || s.unrevoked[key] == nil else { return false }
                s.active[key] = r
                return true
            }
        }
        guard !claimed.isEmpty else { return }
        logger.notice("revoking outstanding credentials left unrevoked", metadata: ["credentials": "\(claimed.count)"])
        tracker.begin()
        defer { tracker.end() }
        let width = max(1, policy.maxConcurrentRecoveries)
        await withTaskGroup(of: Void.self) { group in
            var pending = claimed[...]
            for _ in 0..<min(width, pending.count) {
                if let r = pending.popFirst() { group.addTask { await self.recover(r) } }
            }
            while await group.next() != nil {
                if let r = pending.popFirst() { group.addTask { await self.recover(r) } }
            }
        }
        let left = state.withLock { s in claimed.filter { s.unrevoked[Key($0)] != nil }.count }
        if left > 0 {
            logger.error(
                "outstanding credentials could not be revoked; see ARCPRuntime.unrevokedCredentials()",
                metadata: ["credentials": "\(left)", "revoked": "\(claimed.count - left)"])
        } else {
            logger.notice("outstanding credentials revoked", metadata: ["credentials": "\(claimed.count)"])
        }
    }

    private func recover(_ record: OutstandingCredentialRecord) async {
        let key = Key(record)
        guard let json = try? JSONParser.parse(record.revocationJSON), let credential = try? Credential(json: json) else {
            var r = record
            r.lastError = String(describing: UnreadableRecord.self)
            giveUp(key, record: r, attemptsThisPass: 0, error: UnreadableRecord())
            return
        }
        await revoke(credential, key: key)
    }
}
