import ARCP
import ARCPTesting
import ARCPTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// A runtime with an in-memory provisioner and a few agents that use credentials. It has
/// no durable event store, so it opts in to non-durable revocation (§14): these tests are
/// about the in-process behaviour; `CredentialRecoveryTests` covers durability.
struct CredentialRig {
    let h: Harness
    let provisioner: InMemoryCredentialProvisioner
    let gates = [TestGate(), TestGate()]
    let logs = LogCapture()

    init(perJob: Int = 1, configure: (inout ARCPRuntime.Configuration) -> Void = { _ in }) throws {
        let provisioner = InMemoryCredentialProvisioner(perJob: perJob)
        self.provisioner = provisioner
        let logs = self.logs
        h = try Harness {
            $0.credentialProvisioner = provisioner
            $0.allowsNonDurableCredentialRevocation = true
            $0.credentialRevocation.initialBackoff = .milliseconds(1)
            $0.observePolicy = .custom { _, _ in true }
            $0.logger = logs.logger
            configure(&$0)
        }
        let gates = self.gates
        try h.runtime.register("creds") { _, ctx in
            .array(ctx.credentials.map { .string($0.id) })
        }
        try h.runtime.register("rotator") { _, ctx in
            await ctx.status("ready")
            await gates[0].wait()
            let id = try #require(ctx.credentials.first?.id)
            let fresh = try await ctx.rotateCredential(id)
            #expect(ctx.credentials.first?.value == fresh.value)
            await gates[1].wait()
            return nil
        }
        try h.runtime.register("holder") { _, ctx in
            await ctx.status("holding")
            try await Task.sleep(for: .seconds(60))
            return nil
        }
    }

    static var options: ARCPClient.Options {
        var o = ARCPClient.Options()
        o.features.append(.provisionedCredentials)
        return o
    }

    func client(_ token: String = "tok") async throws -> ARCPClient {
        try await h.client(token: token, options: Self.options)
    }

    /// Waits until every value issued to `jobID` (rotations included) is revoked.
    func waitRevoked(_ jobID: String) async throws {
        let values = provisioner.values(forJob: jobID)
        #expect(!values.isEmpty)
        let p = provisioner
        try await within(.seconds(5), "revocation of \(jobID)'s credentials") { await p.waitUntilRevoked(values) }
    }
}

@Suite("Provisioned credentials (§9.8, §14)")
struct CredentialTests {
    @Test("provisioned_credentials is advertised only when a provisioner is configured")
    func advertised() async throws {
        let plain = try Harness { $0.features.append(.provisionedCredentials) }
        let w1 = try #require(try await plain.raw().hello())
        guard case .sessionWelcome(let p1) = w1.message else { Issue.record("expected welcome"); return }
        #expect(p1.capabilities?.features?.contains(.provisionedCredentials) == false)
        let rig = try CredentialRig()
        let w2 = try #require(try await rig.h.raw().hello())
        guard case .sessionWelcome(let p2) = w2.message else { Issue.record("expected welcome"); return }
        #expect(p2.capabilities?.features?.contains(.provisionedCredentials) == true)
    }

    @Test("issued by job.accepted, constrained to the lease, visible to the agent, unique per job; none without the feature")
    func issued() async throws {
        let rig = try CredentialRig()
        let client = try await rig.client()
        let expiry = LeaseTimestamp(Date().addingTimeInterval(3600)).text
        let lease: Lease = ["cost.budget": ["USD:5.00"], "model.use": ["tier-fast/*"]]
        let job = try await client.submit(agent: "creds", leaseRequest: lease, leaseConstraints: LeaseConstraints(expiresAt: expiry))
        let creds = try #require(job.accepted?.credentials)
        #expect(creds.count == 1)
        let c = try #require(creds.first)
        #expect(c.id.hasPrefix("cred_"))
        #expect(c.scheme == "bearer")
        #expect(c.endpoint == rig.provisioner.endpoint)
        #expect(c.constraints == ["cost.budget": ["USD:5"], "model.use": ["tier-fast/*"], "expires_at": .string(expiry)])
        #expect(try await job.result().result == [.string(c.id)])
        let other = try await client.submit(agent: "creds")
        let c2 = try #require(other.accepted?.credentials?.first)
        #expect(c2.value != c.value)
        _ = try await other.result()
        await client.close()

        var o = ARCPClient.Options()
        o.features = [.costBudget]
        let plain = try await rig.h.client(options: o)
        let j = try await plain.submit(agent: "creds")
        #expect(j.accepted?.credentials == nil)
        #expect(try await j.result().result == [])
        #expect(rig.provisioner.values(forJob: j.jobID).isEmpty)
        await plain.close()
    }

    @Test("revoked at every terminal state: success, error, cancelled, timed_out, lease expiry, shutdown")
    func revokedOnEveryPath() async throws {
        let clock = ManualLeaseClock(wall: Date(timeIntervalSince1970: 1_800_000_000))
        let rig = try CredentialRig { $0.leaseClock = clock }
        let client = try await rig.client()

        let ok = try await client.submit(agent: "echo")
        _ = try await ok.result()
        try await rig.waitRevoked(ok.jobID)

        let failed = try await client.submit(agent: "fails", input: ["code": "INVALID_REQUEST"])
        #expect(await failure(of: failed)?.code == .invalidRequest)
        try await rig.waitRevoked(failed.jobID)

        let cancelled = try await client.submit(agent: "holder")
        var it = cancelled.events.makeAsyncIterator()
        _ = try await it.next()
        #expect(rig.provisioner.liveValues.isSuperset(of: rig.provisioner.values(forJob: cancelled.jobID)))
        try await cancelled.cancel()
        #expect(await failure(of: cancelled)?.finalStatus == .cancelled)
        try await rig.waitRevoked(cancelled.jobID)

        let timedOut = try await client.submit(agent: "holder", maxRuntime: .seconds(1))
        #expect(await failure(of: timedOut)?.finalStatus == .timedOut)
        try await rig.waitRevoked(timedOut.jobID)

        let expiring = try await client.submit(
            agent: "holder", leaseConstraints: LeaseConstraints(expiresAt: LeaseTimestamp(clock.now().addingTimeInterval(10)).text))
        clock.advance(by: .seconds(12))
        #expect(rig.h.runtime.enforceLeaseExpiry() == [expiring.jobID])
        #expect(await failure(of: expiring)?.code == .leaseExpired)
        try await rig.waitRevoked(expiring.jobID)

        let running = try await client.submit(agent: "holder")
        await rig.h.runtime.shutdown()
        #expect(rig.provisioner.liveValues.isEmpty)
        try await rig.waitRevoked(running.jobID)
        await client.close()
    }

    @Test("revocation is retried with backoff; a permanent failure is reported (job id, credential id, never the value)")
    func revocationRetries() async throws {
        let failures = TestBox<[String]>()
        let rig = try CredentialRig {
            $0.credentialRevocation.maxAttempts = 3
            $0.credentialRevocation.onPermanentFailure = { job, cred, _ in failures.set([job, cred]) }
        }
        let client = try await rig.client()
        rig.provisioner.failNextRevocations(2)
        let job = try await client.submit(agent: "echo")
        _ = try await job.result()
        try await rig.waitRevoked(job.jobID)
        #expect(rig.provisioner.revokeAttempts == 3)
        #expect(failures.value == nil)

        rig.provisioner.failNextRevocations(100)
        let doomed = try await client.submit(agent: "echo")
        let cred = try #require(doomed.accepted?.credentials?.first)
        _ = try await doomed.result()
        _ = try await within(.seconds(5), "the permanent failure report") {
            while failures.value == nil { try await Task.sleep(for: .milliseconds(2)) }
            return true
        }
        #expect(failures.value == [doomed.jobID, cred.id])
        #expect(rig.provisioner.liveValues.contains(cred.value))
        #expect(rig.logs.all.contains { $0.contains("revocation failed permanently") && $0.contains(cred.id) })
        #expect(!rig.logs.all.contains { $0.contains(cred.value) })
        await client.close()
    }

    @Test("rotation: status credential_rotated with id and new value to the submitter, the old value revoked, the new one revoked at the end")
    func rotation() async throws {
        let rig = try CredentialRig()
        let client = try await rig.client()
        let job = try await client.submit(agent: "rotator")
        let old = try #require(job.accepted?.credentials?.first)
        var it = job.events.makeAsyncIterator()
        #expect(try await it.next()?.body.statusBody?.phase == "ready")
        rig.gates[0].open()
        let rotated = try #require(try await it.next()?.body.statusBody)
        #expect(rotated.phase == "credential_rotated")
        #expect(rotated.credentialId == old.id)
        let fresh = try #require(rotated.value)
        #expect(fresh != old.value)
        try await within(.seconds(5), "revocation of the prior value") { await rig.provisioner.waitUntilRevoked([old.value]) }
        #expect(rig.provisioner.liveValues.contains(fresh))
        rig.gates[1].open()
        _ = try await job.result()
        try await rig.waitRevoked(job.jobID)
        await client.close()
    }

    @Test("redaction on every surface: job.subscribed, live and replayed events, session.jobs, idempotent replay; the submitter sees current values")
    func redaction() async throws {
        let rig = try CredentialRig()
        let owner = try await rig.client()
        let job = try await owner.submit(agent: "rotator", idempotencyKey: "rot-1")
        let original = try #require(job.accepted?.credentials?.first)
        var it = job.events.makeAsyncIterator()
        _ = try await it.next()

        // Another principal, allowed to observe by policy: live subscriber.
        let stranger = try await rig.client("tok2")
        let live = try await stranger.subscribe(jobID: job.jobID)
        #expect(live.subscribed?.credentials == nil)
        // The same principal on another session.
        let sibling = try await rig.client()
        let siblingSub = try await sibling.subscribe(jobID: job.jobID)
        #expect(siblingSub.subscribed?.credentials?.map(\.value) == [original.value])

        rig.gates[0].open()
        let fresh = try #require(try await it.next()?.body.statusBody?.value)

        var strangerIt = live.events.makeAsyncIterator()
        let seen = try #require(try await strangerIt.next()?.body.statusBody)
        #expect(seen.phase == "credential_rotated")
        #expect(seen.credentialId == original.id)
        #expect(seen.value == nil)
        var siblingIt = siblingSub.events.makeAsyncIterator()
        #expect(try await siblingIt.next()?.body.statusBody?.value == fresh)

        // History replay to another principal: still redacted.
        let late = try await rig.client("tok2")
        let replay = try await late.subscribe(jobID: job.jobID, history: true)
        #expect(replay.subscribed?.credentials == nil)
        var replayIt = replay.events.makeAsyncIterator()
        var replayed: [StatusBody] = []
        while replayed.count < 2, let e = try await replayIt.next() { if let s = e.body.statusBody { replayed.append(s) } }
        #expect(replayed.map(\.phase) == ["ready", "credential_rotated"])
        #expect(replayed.allSatisfy { $0.value == nil })

        // Listings.
        let strangerList = try await stranger.listJobs()
        #expect(strangerList.jobs.first { $0.jobId == job.jobID }?.credentials == nil)
        #expect(strangerList.jobs.contains { $0.jobId == job.jobID })
        let ownerList = try await owner.listJobs()
        #expect(ownerList.jobs.first { $0.jobId == job.jobID }?.credentials?.map(\.value) == [fresh])

        // Idempotent resubmit from another session of the submitter: current credentials.
        let third = try await rig.client()
        let again = try await third.submit(agent: "rotator", idempotencyKey: "rot-1")
        #expect(again.jobID == job.jobID)
        #expect(again.accepted?.credentials?.map(\.value) == [fresh])

        rig.gates[1].open()
        _ = try await job.result()
        try await rig.waitRevoked(job.jobID)
        // Never logged.
        let values = rig.provisioner.values(forJob: job.jobID)
        #expect(values.count == 2)
        #expect(!rig.logs.all.isEmpty)
        for v in values { #expect(!rig.logs.all.contains { $0.contains(v) }) }
        await owner.close(); await stranger.close(); await sibling.close(); await late.close(); await third.close()
    }

    @Test("a failing provisioner rejects the submission with INTERNAL_ERROR (retryable); no job is created")
    func issueFailure() async throws {
        let rig = try CredentialRig()
        rig.provisioner.failIssue(true)
        let client = try await rig.client()
        do {
            _ = try await client.submit(agent: "echo")
            Issue.record("expected a failure")
        } catch let e as ARCPError {
            #expect(e.code == .internalError)
            #expect(e.retryable)
        }
        #expect(try await client.listJobs().jobs.isEmpty)
        await client.close()
    }

    @Test("rotateCredential: unknown id and missing provisioner are INVALID_REQUEST")
    func rotationErrors() async throws {
        let rig = try CredentialRig()
        try rig.h.runtime.register("bad-rotate") { _, ctx in
            do {
                _ = try await ctx.rotateCredential("cred_nope")
                return "rotated"
            } catch let e as ARCPError {
                return .string(e.code.rawValue)
            }
        }
        let client = try await rig.client()
        #expect(try await client.submit(agent: "bad-rotate").result().result == "INVALID_REQUEST")
        await client.close()
        let plain = try Harness()
        try plain.runtime.register("bad-rotate") { _, ctx in
            do {
                _ = try await ctx.rotateCredential("cred_x")
                return "rotated"
            } catch let e as ARCPError {
                return .string(e.code.rawValue)
            }
        }
        let c2 = try await plain.client()
        #expect(try await c2.submit(agent: "bad-rotate").result().result == "INVALID_REQUEST")
        await c2.close()
    }

    @Test("a delegated child gets its own credentials; cancelling the parent revokes the child's too")
    func childCredentials() async throws {
        let rig = try CredentialRig()
        try rig.h.runtime.register("parent-holder") { _, ctx in
            let child = try await ctx.delegate(agent: "holder")
            return try await child.result()
        }
        let client = try await rig.client()
        let parent = try await client.submit(agent: "parent-holder", leaseRequest: ["agent.delegate": ["holder"]])
        let child = try #require(try await within(.seconds(5), "the child job") {
            var it = parent.children.makeAsyncIterator()
            return try await it.next()
        })
        let childCred = try #require(child.accepted?.credentials?.first)
        let parentCred = try #require(parent.accepted?.credentials?.first)
        #expect(childCred.value != parentCred.value)
        var ci = child.events.makeAsyncIterator()
        #expect(try await ci.next()?.body.statusBody?.phase == "holding")
        try await parent.cancel()
        #expect(await failure(of: child)?.code == .cancelled)
        #expect(await failure(of: parent)?.code == .cancelled)
        try await rig.waitRevoked(child.jobID)
        try await rig.waitRevoked(parent.jobID)
        await client.close()
    }
}
