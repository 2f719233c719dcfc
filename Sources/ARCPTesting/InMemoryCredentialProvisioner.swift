import ARCP
import Foundation
import Synchronization

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

    /// Issues `perJob` fresh credentials for `job`, for `endpoint` and `profile`, and records them.
    /// - Throws: `InjectedFailure` after `failIssue(true)`.
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

    /// Revokes `credential`'s value and wakes the `waitUntilRevoked` callers it satisfies.
    /// - Throws: `InjectedFailure` while `failNextRevocations(_:)` has failures left.
    public func revoke(_ credential: Credential) async throws {
        let waiters: [CheckedContinuation<Void, Never>] = try state.withLock { s in
            s.revokeAttempts += 1
            if s.failuresLeft > 0 {
                s.failuresLeft -= 1
                throw InjectedFailure()
            }
            // After a restart the runtime revokes with the default revocation form (the
            // value's digest): revoke the issued value it names.
            let value = s.issued.first { revocationDigest(of: $0.credential.value) == credential.value }?.credential.value ?? credential.value
            s.revoked.insert(value)
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

    /// `credential` with a fresh value, recorded for the same job (the old value stays live
    /// until revoked).
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
