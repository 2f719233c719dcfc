import ARCP
import ARCPTesting
import ARCPTestSupport
import Foundation
import Synchronization
import Testing

/// An `RuntimeStore` over an `InMemoryRuntimeStore` that may claim to be durable and can be told
/// to fail its outstanding-credential writes. Shared by two runtimes, it stands for a
/// database a restarted process opens again.
final class ScriptedStore: StoreOverMemory {
    let inner = InMemoryRuntimeStore()
    let durable: Bool
    private let failSaves = Mutex(false)
    private let saves = Mutex(0)

    init(durable: Bool) { self.durable = durable }

    /// Makes `saveOutstandingCredential` throw (or succeed again).
    func failCredentialSaves(_ fail: Bool) { failSaves.withLock { $0 = fail } }

    /// Successful outstanding-credential writes so far.
    var credentialSaves: Int { saves.withLock { $0 } }

    var durablyKeepsOutstandingCredentials: Bool { durable }

    func saveOutstandingCredential(_ record: OutstandingCredentialRecord) async throws {
        if failSaves.withLock({ $0 }) { throw RuntimeStoreError.storage("injected failure") }
        try await inner.saveOutstandingCredential(record)
        saves.withLock { $0 += 1 }
    }

    func removeOutstandingCredential(jobID: String, credentialID: String, valueDigest: String) async throws {
        try await inner.removeOutstandingCredential(jobID: jobID, credentialID: credentialID, valueDigest: valueDigest)
    }

    func outstandingCredentials() async throws -> [OutstandingCredentialRecord] { try await inner.outstandingCredentials() }
}

/// A list the permanent-failure callback appends to.
final class Reports: Sendable {
    private let state = Mutex<[[String]]>([])
    func append(_ r: [String]) { state.withLock { $0.append(r) } }
    var all: [[String]] { state.withLock { $0 } }
}

/// One runtime "process" on a shared store and a shared upstream (provisioner).
struct RecoveryRig {
    let h: Harness
    let logs = LogCapture()
    let failures = Reports()

    init(
        store: (any RuntimeStore)?, provisioner: InMemoryCredentialProvisioner, maxAttempts: Int = 1,
        configure: (inout ARCPRuntime.Configuration) -> Void = { _ in }
    ) throws {
        let logs = self.logs
        let failures = self.failures
        h = try Harness {
            $0.store = store
            $0.credentialProvisioner = provisioner
            $0.credentialRevocation.maxAttempts = maxAttempts
            $0.credentialRevocation.initialBackoff = .milliseconds(1)
            $0.credentialRevocation.onPermanentFailure = { job, cred, _ in failures.append([job, cred]) }
            $0.logger = logs.logger
            configure(&$0)
        }
        try h.runtime.register("holder") { _, ctx in
            await ctx.status("holding")
            try await Task.sleep(for: .seconds(3600))
            return nil
        }
        try h.runtime.register("rotator") { _, ctx in
            let id = try #require(ctx.credentials.first?.id)
            _ = try await ctx.rotateCredential(id)
            await ctx.status("rotated")
            try await Task.sleep(for: .seconds(3600))
            return nil
        }
    }

    var runtime: ARCPRuntime { h.runtime }
    var reported: [[String]] { failures.all }

    func client() async throws -> ARCPClient { try await h.client(options: CredentialRig.options) }

    /// Waits until `onPermanentFailure` reported `count` credentials.
    func waitReported(_ count: Int) async throws {
        let failures = self.failures
        _ = try await within(.seconds(5), "\(count) permanent failure report(s)") {
            while failures.all.count < count { try await Task.sleep(for: .milliseconds(2)) }
            return true
        }
    }
}

/// Waits until `store` lists no outstanding credential (or `count` of them).
func waitOutstanding(_ store: any RuntimeStore, count: Int = 0) async throws {
    _ = try await within(.seconds(5), "\(count) outstanding credential record(s)") {
        while try await store.outstandingCredentials().count != count { try await Task.sleep(for: .milliseconds(2)) }
        return true
    }
}

/// A provisioner whose upstream revokes by credential id: it keeps the value off the store.
final class RevokeByIDProvisioner: CredentialProvisioner {
    let inner = InMemoryCredentialProvisioner()
    private let revokedForms = Mutex<[Credential]>([])

    /// What `revoke` was called with.
    var revoked: [Credential] { revokedForms.withLock { $0 } }

    func issue(
        for job: CredentialJob, lease: ValidatedLease, constraints: ValidatedLeaseConstraints, budget: [String: Decimal]
    ) async throws -> [Credential] {
        try await inner.issue(for: job, lease: lease, constraints: constraints, budget: budget)
    }

    func revoke(_ credential: Credential) async throws { revokedForms.withLock { $0.append(credential) } }

    func rotate(_ credential: Credential) async throws -> Credential { try await inner.rotate(credential) }

    func revocationForm(of credential: Credential) -> Credential {
        var c = credential
        c.value = "by-id"
        return c
    }
}

@Suite("Credential revocation reliability (§14)")
struct CredentialRecoveryTests {
    private func offers(_ h: Harness) async throws -> Bool {
        let w = try #require(try await h.raw().hello())
        guard case .sessionWelcome(let p) = w.message else {
            Issue.record("expected a welcome")
            return false
        }
        return p.capabilities?.features?.contains(.provisionedCredentials) == true
    }

    @Test("provisioned_credentials is not advertised unless revocation is durable or the operator accepts it is not")
    func notOfferedWithoutDurableRevocation() async throws {
        let p = InMemoryCredentialProvisioner()
        let bare = try RecoveryRig(store: nil, provisioner: p)
        #expect(try await offers(bare.h) == false)
        #expect(!bare.runtime.revokesCredentialsDurably)
        #expect(bare.logs.all.contains { $0.hasPrefix("warning") && $0.contains("provisioned_credentials not offered") })
        // A client asking for the feature gets none, and nothing is issued.
        let client = try await bare.client()
        let job = try await client.submit(agent: "echo")
        #expect(job.accepted?.credentials == nil)
        _ = try await job.result()
        #expect(p.issued.isEmpty)
        await client.close()

        let memory = try RecoveryRig(store: InMemoryRuntimeStore(), provisioner: p)
        #expect(try await offers(memory.h) == false)
        #expect(!memory.runtime.revokesCredentialsDurably)

        let durable = try RecoveryRig(store: ScriptedStore(durable: true), provisioner: p)
        #expect(try await offers(durable.h))
        #expect(durable.runtime.revokesCredentialsDurably)
        #expect(!durable.logs.all.contains { $0.contains("provisioned_credentials") })

        let accepted = try RecoveryRig(store: nil, provisioner: p) { $0.allowsNonDurableCredentialRevocation = true }
        #expect(try await offers(accepted.h))
        #expect(!accepted.runtime.revokesCredentialsDurably)
        #expect(accepted.logs.all.contains { $0.hasPrefix("warning") && $0.contains("without a durable event store") })
    }

    @Test("a credential is recorded before job.accepted shows it, and its record is deleted once revoked")
    func recordedBeforeAcceptedDeletedWhenRevoked() async throws {
        let store = ScriptedStore(durable: true)
        let p = InMemoryCredentialProvisioner()
        let rig = try RecoveryRig(store: store, provisioner: p)
        let client = try await rig.client()
        let job = try await client.submit(agent: "holder")
        let cred = try #require(job.accepted?.credentials?.first)
        // Already there when the client sees job.accepted: the write is awaited first.
        let records = try await store.outstandingCredentials()
        #expect(records.count == 1)
        let r = try #require(records.first)
        #expect(r.jobID == job.jobID)
        #expect(r.credentialID == cred.id)
        #expect(r.valueDigest == OutstandingCredentialRecord.digest(ofValue: cred.value))
        // The default revocation form keeps the value off the store: its digest only (issue 10 item 10).
        var atRest = cred
        atRest.value = p.revocationDigest(of: cred.value)
        #expect(try Credential(json: JSONParser.parse(r.revocationJSON)) == atRest)
        #expect(!r.revocationJSON.contains(cred.value))
        #expect(r.attempts == 0 && r.lastError == nil && r.lastAttemptAt == nil)
        #expect(!r.description.contains(cred.value))
        try await job.cancel()
        _ = await failure(of: job)
        try await within(.seconds(5), "the revocation") { await p.waitUntilRevoked([cred.value]) }
        try await waitOutstanding(store)
        #expect(rig.runtime.unrevokedCredentials().isEmpty)

        // A store that cannot record the credential: the job is refused, the credential revoked.
        store.failCredentialSaves(true)
        let issuedBefore = p.issued.count
        do {
            _ = try await client.submit(agent: "echo")
            Issue.record("expected the submission to fail")
        } catch let e as ARCPError {
            #expect(e.code == .internalError)
            #expect(e.retryable)
        }
        let refused = try #require(p.issued.dropFirst(issuedBefore).first)
        try await within(.seconds(5), "the revocation of the unrecorded credential") {
            await p.waitUntilRevoked([refused.credential.value])
        }
        #expect(try await client.listJobs().jobs.map(\.jobId) == [job.jobID])
        #expect(rig.logs.all.contains { $0.hasPrefix("error") && $0.contains("could not record issued credentials") })
        await client.close()
    }

    @Test("a provisioner's revocationForm keeps the value off the store; a restarted runtime revokes with that form")
    func revocationFormKeepsTheSecretOffTheStore() async throws {
        let store = ScriptedStore(durable: true)
        let p = RevokeByIDProvisioner()
        var config = ARCPRuntime.Configuration()
        config.heartbeatInterval = nil
        config.store = store
        config.credentialProvisioner = p
        let first = ARCPRuntime(configuration: config, verifier: StaticBearerVerifier(["tok": "me@example.com"]))
        try first.register("holder") { _, _ in
            try await Task.sleep(for: .seconds(3600))
            return nil
        }
        let (c, r) = MemoryTransport.pair()
        Task { await first.accept(r) }
        let client = ARCPClient(token: "tok", options: CredentialRig.options)
        try await client.connect(c)
        let job = try await client.submit(agent: "holder")
        let cred = try #require(job.accepted?.credentials?.first)
        let record = try #require(try await store.outstandingCredentials().first)
        #expect(!record.revocationJSON.contains(cred.value))
        #expect(record.valueDigest == OutstandingCredentialRecord.digest(ofValue: cred.value))

        let second = ARCPRuntime(configuration: config, verifier: StaticBearerVerifier([:]))
        #expect(await second.recoverCredentials().isEmpty)
        #expect(p.revoked.map(\.id) == [cred.id])
        #expect(p.revoked.map(\.value) == ["by-id"])
        #expect(try await store.outstandingCredentials().isEmpty)
        await client.close()
        await first.shutdown()
    }

    @Test("rotation records the new value before the credential_rotated event, and the old value's record goes once it is revoked")
    func rotationReplacesTheRecord() async throws {
        let store = ScriptedStore(durable: true)
        let p = InMemoryCredentialProvisioner()
        let rig = try RecoveryRig(store: store, provisioner: p)
        let client = try await rig.client()
        let job = try await client.submit(agent: "rotator")
        let old = try #require(job.accepted?.credentials?.first)
        var it = job.events.makeAsyncIterator()
        let rotated = try #require(try await it.next()?.body.statusBody)
        #expect(rotated.phase == "credential_rotated")
        let fresh = try #require(rotated.value)
        let freshDigest = OutstandingCredentialRecord.digest(ofValue: fresh)
        #expect(try await store.outstandingCredentials().contains { $0.valueDigest == freshDigest })
        try await within(.seconds(5), "the revocation of the prior value") { await p.waitUntilRevoked([old.value]) }
        try await waitOutstanding(store, count: 1)
        let records = try await store.outstandingCredentials()
        #expect(records.map(\.credentialID) == [old.id])
        #expect(records.map(\.valueDigest) == [freshDigest])
        #expect(try Credential(json: JSONParser.parse(try #require(records.first).revocationJSON)).value == p.revocationDigest(of: fresh))
        try await job.cancel()
        _ = await failure(of: job)
        try await within(.seconds(5), "the revocation of the new value") { await p.waitUntilRevoked([fresh]) }
        try await waitOutstanding(store)
        await client.close()
    }

    @Test("failed attempts are recorded; a credential that cannot be revoked is surfaced (API, callback, error log) and retried later")
    func failedAttemptsAreRecordedAndSurfaced() async throws {
        let store = ScriptedStore(durable: true)
        let p = InMemoryCredentialProvisioner()
        let rig = try RecoveryRig(store: store, provisioner: p, maxAttempts: 2)
        let client = try await rig.client()
        p.failNextRevocations(100)
        let job = try await client.submit(agent: "echo")
        let cred = try #require(job.accepted?.credentials?.first)
        _ = try await job.result()
        try await rig.waitReported(1)
        #expect(rig.reported == [[job.jobID, cred.id]])
        let unrevoked = rig.runtime.unrevokedCredentials()
        #expect(unrevoked.map(\.jobID) == [job.jobID])
        #expect(unrevoked.map(\.credentialID) == [cred.id])
        #expect(unrevoked.map(\.attempts) == [2])
        #expect(unrevoked.map(\.lastError) == ["InjectedFailure"])
        let record = try #require(try await store.outstandingCredentials().first)
        #expect(record.attempts == 2)
        #expect(record.lastError == "InjectedFailure")
        #expect(record.lastAttemptAt != nil)
        #expect(p.liveValues.contains(cred.value))
        #expect(rig.logs.all.contains { $0.hasPrefix("error") && $0.contains("revocation failed permanently") && $0.contains(cred.id) })
        #expect(!rig.logs.all.contains { $0.contains(cred.value) })

        // The upstream is back: a recovery pass revokes it and clears every trace.
        p.failNextRevocations(0)
        #expect(await rig.runtime.recoverCredentials().isEmpty)
        #expect(!p.liveValues.contains(cred.value))
        #expect(try await store.outstandingCredentials().isEmpty)
        #expect(rig.runtime.unrevokedCredentials().isEmpty)
        await client.close()
    }

    @Test("a runtime restarted on the same store revokes what the crashed one left: a failed revocation and a job that never ended")
    func restartRevokesWhatAnEarlierProcessLeft() async throws {
        let store = ScriptedStore(durable: true)
        let p = InMemoryCredentialProvisioner()
        let first = try RecoveryRig(store: store, provisioner: p)
        let client = try await first.client()
        p.failNextRevocations(1)
        let done = try await client.submit(agent: "echo")
        _ = try await done.result()
        try await first.waitReported(1)
        let running = try await client.submit(agent: "holder")
        let values = p.values(forJob: done.jobID) + p.values(forJob: running.jobID)
        #expect(values.count == 2)
        #expect(p.liveValues == Set(values))
        #expect(try await store.outstandingCredentials().count == 2)
        // "Crash": the first runtime is never shut down nor used again.

        let second = try RecoveryRig(store: store, provisioner: p)
        #expect(second.runtime.unrevokedCredentials().isEmpty)
        #expect(await second.runtime.recoverCredentials().isEmpty)
        #expect(p.liveValues.isEmpty)
        #expect(try await store.outstandingCredentials().isEmpty)
        #expect(second.logs.all.contains { $0.contains("revoking outstanding credentials") && $0.contains("credentials=2") })
        #expect(second.reported.isEmpty)

        // Clean-up of the first "process".
        await client.close()
        await first.runtime.shutdown()
    }

    @Test("the first connection to a restarted runtime starts the recovery by itself")
    func firstAcceptStartsRecovery() async throws {
        let store = ScriptedStore(durable: true)
        let p = InMemoryCredentialProvisioner()
        let first = try RecoveryRig(store: store, provisioner: p)
        let client = try await first.client()
        let running = try await client.submit(agent: "holder")
        let value = try #require(running.accepted?.credentials?.first?.value)

        let second = try RecoveryRig(store: store, provisioner: p)
        #expect(p.liveValues == [value])
        let other = try await second.client()
        try await within(.seconds(5), "the recovery started by accept") { await p.waitUntilRevoked([value]) }
        try await waitOutstanding(store)
        await other.close()
        await client.close()
        await first.runtime.shutdown()
    }

    @Test("a credential an earlier process left that cannot be revoked is surfaced, kept, and revoked by a later restart")
    func unrevocableAfterRestartIsSurfaced() async throws {
        let store = ScriptedStore(durable: true)
        let p = InMemoryCredentialProvisioner()
        let first = try RecoveryRig(store: store, provisioner: p)
        let client = try await first.client()
        let running = try await client.submit(agent: "holder")
        let cred = try #require(running.accepted?.credentials?.first)

        p.failNextRevocations(1000)
        let second = try RecoveryRig(store: store, provisioner: p, maxAttempts: 3)
        let left = await second.runtime.recoverCredentials()
        #expect(left.map(\.jobID) == [running.jobID])
        #expect(left.map(\.credentialID) == [cred.id])
        #expect(left.map(\.attempts) == [3])
        #expect(left.map(\.lastError) == ["InjectedFailure"])
        #expect(second.runtime.unrevokedCredentials() == left)
        #expect(second.reported == [[running.jobID, cred.id]])
        #expect(second.logs.all.contains { $0.hasPrefix("error") && $0.contains("revocation failed permanently") && $0.contains(cred.id) })
        #expect(second.logs.all.contains { $0.hasPrefix("error") && $0.contains("could not be revoked") })
        #expect(!second.logs.all.contains { $0.contains(cred.value) })
        #expect(p.liveValues.contains(cred.value))
        #expect(try await store.outstandingCredentials().map(\.attempts) == [3])

        // Another restart, the upstream healthy again: revoked, attempts carried over until then.
        p.failNextRevocations(0)
        let third = try RecoveryRig(store: store, provisioner: p)
        #expect(await third.runtime.recoverCredentials().isEmpty)
        #expect(p.liveValues.isEmpty)
        #expect(try await store.outstandingCredentials().isEmpty)
        await client.close()
        await first.runtime.shutdown()
    }
}
