/// The idempotency keys of `job.submit` (spec §7.2): one owner for "which job does this
/// principal's key name". Keys are scoped to the principal, so two principals never collide
/// (nor learn about each other's keys).
///
/// `claim` is the atomic step: of concurrent submits with one key, exactly one claims it; the
/// others are told which job holds it and with which parameters (`fingerprint`), to replay it
/// or answer `DUPLICATE_KEY`. A cluster implements it with a uniqueness constraint.
///
/// Retention: `release` forgets a key; the runtime calls it when the job table's retention
/// drops the finished job the key names (`Configuration.Retention.idempotencyWindow`).
package protocol IdempotencyIndex: Sendable {
    /// Claims `(principal, key)` for `jobID`, unless another job holds it.
    func claim(principal: String, key: String, fingerprint: String, jobID: String) async -> IdempotencyClaim

    /// The job holding `(principal, key)`, if any.
    func holder(principal: String, key: String) async -> IdempotencyClaim.Holder?

    /// Forgets `(principal, key)`.
    func release(principal: String, key: String) async
}

/// The outcome of `IdempotencyIndex.claim`.
package enum IdempotencyClaim: Sendable, Equatable {
    /// Who holds a key.
    package struct Holder: Sendable, Equatable {
        package var jobID: String
        /// The submit parameters the key was first used with.
        package var fingerprint: String
    }

    /// The key is now this job's.
    case claimed
    /// Another job holds the key.
    case held(by: Holder)
}

/// The in-process `IdempotencyIndex`, under its own lock (rank `leaf`).
package final class InMemoryIdempotencyIndex: IdempotencyIndex {
    private struct Key: Hashable {
        var principal: String
        var key: String
    }

    private let holders = RankedMutex<[Key: IdempotencyClaim.Holder]>(.leaf, [:])

    package init() {}

    package func claim(principal: String, key: String, fingerprint: String, jobID: String) async -> IdempotencyClaim {
        holders.withLock { h in
            let k = Key(principal: principal, key: key)
            if let existing = h[k] { return .held(by: existing) }
            h[k] = IdempotencyClaim.Holder(jobID: jobID, fingerprint: fingerprint)
            return .claimed
        }
    }

    package func holder(principal: String, key: String) async -> IdempotencyClaim.Holder? {
        holders.withLock { $0[Key(principal: principal, key: key)] }
    }

    package func release(principal: String, key: String) async {
        holders.withLock { $0[Key(principal: principal, key: key)] = nil }
    }

    /// How many keys are held (introspection: retention releases them).
    package var count: Int { holders.withLock { $0.count } }
}
