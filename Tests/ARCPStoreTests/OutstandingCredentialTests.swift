import ARCP
import ARCPTesting
import Foundation
import Synchronization
import Testing

@testable import ARCPStore

func outstanding(
    _ job: String, _ cred: String, value: String, issuedAt: Date = t0, attempts: Int = 0, lastError: String? = nil,
    lastAttemptAt: Date? = nil
) -> OutstandingCredentialRecord {
    let c = Credential(id: cred, scheme: "bearer", value: value, endpoint: "https://gateway.example.invalid/v1")
    return OutstandingCredentialRecord(
        jobID: job, credentialID: cred, valueDigest: OutstandingCredentialRecord.digest(ofValue: value),
        revocationJSON: JSONWriter.string(c.toJSON()), issuedAt: issuedAt, attempts: attempts, lastError: lastError,
        lastAttemptAt: lastAttemptAt)
}

@Suite("Outstanding credential records (§14)")
struct OutstandingCredentialStoreTests {
    @Test(arguments: StoreKind.allCases)
    func recordsRoundTripReplaceAndDelete(kind: StoreKind) async throws {
        try await withStore(kind) { (store: any RuntimeStore) async throws in
            #expect(store.durablyKeepsOutstandingCredentials == (kind == .sqlite))
            #expect(try await store.outstandingCredentials().isEmpty)
            let a1 = outstanding("job_a", "cred_1", value: "sk-one", issuedAt: t0)
            // The same credential id, rotated: a second value, a second record.
            let a1r = outstanding("job_a", "cred_1", value: "sk-one-rotated", issuedAt: t0.addingTimeInterval(1))
            let b2 = outstanding("job_b", "cred_2", value: "sk-two", issuedAt: t0.addingTimeInterval(0.5))
            try await store.saveOutstandingCredential(a1r)
            try await store.saveOutstandingCredential(b2)
            try await store.saveOutstandingCredential(a1)
            #expect(try await store.outstandingCredentials() == [a1, b2, a1r])

            // Saving the same key replaces the record (a failed attempt noted).
            var failed = a1
            failed.attempts = 2
            failed.lastError = "InjectedFailure"
            failed.lastAttemptAt = t0.addingTimeInterval(3.25)
            try await store.saveOutstandingCredential(failed)
            #expect(try await store.outstandingCredentials() == [failed, b2, a1r])

            // Deleting one value of a rotated credential keeps the other.
            try await store.removeOutstandingCredential(jobID: "job_a", credentialID: "cred_1", valueDigest: a1.valueDigest)
            #expect(try await store.outstandingCredentials() == [b2, a1r])
            try await store.removeOutstandingCredential(jobID: "job_a", credentialID: "cred_1", valueDigest: a1.valueDigest)
            try await store.removeOutstandingCredential(jobID: "job_x", credentialID: "cred_1", valueDigest: a1r.valueDigest)
            #expect(try await store.outstandingCredentials() == [b2, a1r])
            try await store.removeOutstandingCredential(jobID: "job_b", credentialID: "cred_2", valueDigest: b2.valueDigest)
            try await store.removeOutstandingCredential(jobID: "job_a", credentialID: "cred_1", valueDigest: a1r.valueDigest)
            #expect(try await store.outstandingCredentials().isEmpty)
        }
    }

    @Test("calls on the concrete InMemoryRuntimeStore reach its own methods, not the RuntimeStore extension's no-op defaults")
    func inMemoryConcreteCalls() async throws {
        let store = InMemoryRuntimeStore()
        let r = outstanding("job_a", "cred_1", value: "sk-one")
        try await store.saveOutstandingCredential(r)
        #expect(try await store.outstandingCredentials() == [r])
        try await store.removeOutstandingCredential(jobID: r.jobID, credentialID: r.credentialID, valueDigest: r.valueDigest)
        #expect(try await store.outstandingCredentials().isEmpty)
        #expect(!store.durablyKeepsOutstandingCredentials)
    }

    @Test func recordDescriptionsLeaveTheSecretOut() {
        let r = outstanding("job_a", "cred_1", value: "sk-very-secret")
        #expect(r.revocationJSON.contains("sk-very-secret"))
        #expect(!r.description.contains("sk-very-secret"))
        #expect(!String(reflecting: r).contains("sk-very-secret"))
        #expect(r.description.contains("cred_1"))
        #expect(r.valueDigest.count == 64)
    }

    @Test func sqliteRecordsSurviveReopening() async throws {
        let folder = try TempFolder()
        defer { folder.cleanUp() }
        let path = folder.path("events.sqlite")
        let r = outstanding("job_a", "cred_1", value: "sk-one", attempts: 1, lastError: "Timeout", lastAttemptAt: t0)
        do {
            let store = try SQLiteRuntimeStore(path: path)
            try await store.saveOutstandingCredential(r)
            try store.close()
        }
        let again = try SQLiteRuntimeStore(path: path)
        defer { try? again.close() }
        #expect(try await again.outstandingCredentials() == [r])
    }

    @Test("a database created by the v1 schema (before outstanding credentials) migrates, keeping its data")
    func migratesAVersion1Database() async throws {
        #expect(SQLiteSchema.versions == ["v1", "v2"])
        let folder = try TempFolder()
        defer { folder.cleanUp() }
        let path = folder.path("events.sqlite")
        let job = JobRecord(jobID: "job_old", sessionID: "s1", principal: "alice", agent: "echo", status: .running, createdAt: t0)
        do {
            let old = try SQLiteRuntimeStore(path: path, durability: .normal, busyTimeout: 5, migratingUpTo: "v1")
            try await old.saveSession(sessionRecord("s1"))
            _ = try await old.append(events("s1", 1...3))
            try await old.saveJob(job)
            // The v1 schema has no outstanding-credential table.
            await #expect(throws: RuntimeStoreError.self) { try await old.outstandingCredentials() }
            try old.close()
        }
        let store = try SQLiteRuntimeStore(path: path)
        defer { try? store.close() }
        #expect(try await store.session("s1") == sessionRecord("s1"))
        #expect(try await store.events(session: "s1", after: 0, limit: 10) == events("s1", 1...3))
        #expect(try await store.job("job_old") == job)
        #expect(try await store.outstandingCredentials().isEmpty)
        let r = outstanding("job_new", "cred_1", value: "sk-one")
        try await store.saveOutstandingCredential(r)
        #expect(try await store.outstandingCredentials() == [r])
    }
}

/// Collects the permanent-failure reports of a runtime.
final class FailureReports: Sendable {
    private let state = Mutex<[[String]]>([])
    func append(_ r: [String]) { state.withLock { $0.append(r) } }
    var all: [[String]] { state.withLock { $0 } }
}

@Suite("Credential revocation across restarts on SQLite (§14)")
struct SQLiteCredentialRestartTests {
    static func runtime(
        _ path: String, _ provisioner: InMemoryCredentialProvisioner, maxAttempts: Int, reports: FailureReports
    ) throws -> ARCPRuntime {
        var config = ARCPRuntime.Configuration()
        config.heartbeatInterval = nil
        config.store = try SQLiteRuntimeStore(path: path)
        config.credentialProvisioner = provisioner
        config.credentialRevocation.maxAttempts = maxAttempts
        config.credentialRevocation.initialBackoff = .milliseconds(1)
        config.credentialRevocation.onPermanentFailure = { job, cred, _ in reports.append([job, cred]) }
        let rt = ARCPRuntime(configuration: config, verifier: StaticBearerVerifier(["tok": "me@example.com"]))
        try rt.register("quick") { _, _ in "done" }
        try rt.register("stuck") { _, ctx in
            await ctx.status("holding")
            try await Task.sleep(for: .seconds(3600))
            return nil
        }
        return rt
    }

    static func client(_ rt: ARCPRuntime) async throws -> ARCPClient {
        let (c, r) = MemoryTransport.pair()
        Task { await rt.accept(r) }
        var options = ARCPClient.Options()
        options.features.append(.provisionedCredentials)
        let client = ARCPClient(token: "tok", options: options)
        try await client.connect(c)
        return client
    }

    @Test("credentials a crashed runtime left are revoked by the next one; those that cannot be are surfaced and kept for the one after")
    func restartRevokesAndSurfaces() async throws {
        let folder = try TempFolder()
        defer { folder.cleanUp() }
        let path = folder.path("events.sqlite")
        let p = InMemoryCredentialProvisioner()

        // First process: one job whose revocation fails, one that never ends.
        let firstReports = FailureReports()
        let first = try Self.runtime(path, p, maxAttempts: 1, reports: firstReports)
        #expect(first.revokesCredentialsDurably)
        let client = try await Self.client(first)
        p.failNextRevocations(1)
        let done = try await client.submit(agent: "quick")
        let doneCred = try #require(done.accepted?.credentials?.first)  // offered: the store is durable
        _ = try await done.result()
        let reported = try await waitFor { firstReports.all.count == 1 }
        #expect(reported)
        let stuck = try await client.submit(agent: "stuck")
        let stuckCred = try #require(stuck.accepted?.credentials?.first)
        #expect(p.liveValues == [doneCred.value, stuckCred.value])
        // "Crash": never shut down, never used again.

        // Second process: the upstream still refuses.
        p.failNextRevocations(1000)
        let secondReports = FailureReports()
        let second = try Self.runtime(path, p, maxAttempts: 2, reports: secondReports)
        let left = await second.recoverCredentials()
        #expect(Set(left.map(\.jobID)) == [done.jobID, stuck.jobID])
        #expect(Set(left.map(\.credentialID)) == [doneCred.id, stuckCred.id])
        // Attempts add up over processes: 1 + 2 for the first, 2 for the second.
        #expect(left.first { $0.jobID == done.jobID }?.attempts == 3)
        #expect(left.first { $0.jobID == stuck.jobID }?.attempts == 2)
        #expect(Set(secondReports.all) == [[done.jobID, doneCred.id], [stuck.jobID, stuckCred.id]])
        #expect(second.unrevokedCredentials() == left)
        #expect(p.liveValues == [doneCred.value, stuckCred.value])

        // Third process: the upstream is back; nothing is left anywhere.
        p.failNextRevocations(0)
        let third = try Self.runtime(path, p, maxAttempts: 1, reports: FailureReports())
        #expect(await third.recoverCredentials().isEmpty)
        #expect(p.liveValues.isEmpty)
        let check = try SQLiteRuntimeStore(path: path)
        #expect(try await check.outstandingCredentials().isEmpty)
        try check.close()

        await client.close()
        await first.shutdown()
    }

    /// Polls `condition` every few milliseconds for up to five seconds.
    private func waitFor(_ condition: @escaping @Sendable () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            try await Task.sleep(for: .milliseconds(2))
        }
        return true
    }
}
