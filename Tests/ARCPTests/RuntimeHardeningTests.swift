@testable import ARCP
import ARCPTesting
import ARCPTestSupport
import Foundation
import Synchronization
import Testing

// Issue 10 items 1, 6, 7, 9, 10 and 11, in process (the same cases against `arcp serve` over
// WebSocket are in ARCPHostileTests).

// MARK: - Item 7: resume tokens

@Suite("Resume-token rotation: a rotated-out token dies (issue 10 item 7)")
struct ResumeTokenGraceTests {
    typealias Instant = ContinuousClock.Instant

    func attached(_ now: Instant) -> SessionStateMachine {
        var m = SessionStateMachine(resumeToken: "rtk_1", limits: .init(ARCPRuntime.Configuration.Buffering(), acknowledges: false), now: now)
        _ = m.attach(welcome: "W", resumeFrom: nil, newToken: nil)
        return m
    }

    @Test("the retired token is accepted until its deadline, never after")
    func deadline() {
        let t0 = ContinuousClock.now
        var m = attached(t0)
        guard case .attached = m.attach(welcome: "W2", resumeFrom: 0, newToken: "rtk_2", presented: "rtk_1", graceUntil: t0 + .seconds(10)) else {
            Issue.record("not attached")
            return
        }
        #expect(m.accepts(token: "rtk_2", now: t0))
        #expect(m.accepts(token: "rtk_1", now: t0 + .seconds(9)))
        #expect(!m.accepts(token: "rtk_1", now: t0 + .seconds(10)))
        #expect(!m.accepts(token: "rtk_1", now: t0 + .seconds(3600)))
        // Without a clock the deadline cannot be checked: refused.
        #expect(!m.accepts(token: "rtk_1"))
        #expect(m.accepts(token: "rtk_2"))
    }

    @Test("the retired token dies when the client is heard from on the new connection")
    func heard() {
        let t0 = ContinuousClock.now
        var m = attached(t0)
        _ = m.attach(welcome: "W2", resumeFrom: 0, newToken: "rtk_2", presented: "rtk_1", graceUntil: t0 + .seconds(10))
        m.clientHeard()
        #expect(!m.accepts(token: "rtk_1", now: t0))
        #expect(m.accepts(token: "rtk_2", now: t0))
    }

    @Test("a zero grace kills the retired token at the welcome")
    func zeroGrace() {
        let t0 = ContinuousClock.now
        var m = attached(t0)
        _ = m.attach(welcome: "W2", resumeFrom: 0, newToken: "rtk_2", presented: "rtk_1", graceUntil: t0)
        #expect(!m.accepts(token: "rtk_1", now: t0))
    }

    @Test("re-presenting the retired token (a lost welcome) keeps its first deadline; the unseen token is not the retired one")
    func lostWelcomeKeepsTheFirstDeadline() {
        let t0 = ContinuousClock.now
        var m = attached(t0)
        _ = m.attach(welcome: "W2", resumeFrom: 0, newToken: "rtk_2", presented: "rtk_1", graceUntil: t0 + .seconds(10))
        // The welcome with rtk_2 was lost: the client resumes with rtk_1 again, 5 s later.
        _ = m.attach(welcome: "W3", resumeFrom: 0, newToken: "rtk_3", presented: "rtk_1", graceUntil: t0 + .seconds(15))
        #expect(m.previousToken == .init(token: "rtk_1", until: t0 + .seconds(10)))
        #expect(m.accepts(token: "rtk_1", now: t0 + .seconds(9)))
        #expect(!m.accepts(token: "rtk_1", now: t0 + .seconds(11)))
        // rtk_2 never reached the client: it is simply gone.
        #expect(!m.accepts(token: "rtk_2", now: t0))
        #expect(m.accepts(token: "rtk_3", now: t0 + .seconds(3600)))
    }

    @Test("over a runtime: with resumeTokenGrace 0 the rotated-out token is UNAUTHENTICATED at once")
    func runtimeZeroGrace() async throws {
        let h = try Harness { $0.resumeTokenGrace = .zero }
        let (sid, t1) = try await openAndDrop(h)
        let w2 = try #require(try await h.raw().hello(resume: ResumeBlock(sessionId: sid, resumeToken: t1, lastEventSeq: 0)))
        guard case .sessionWelcome(let welcome2) = w2.message else {
            Issue.record("the first resume failed: \(w2.message.type)")
            return
        }
        #expect(welcome2.resumeToken != t1)
        let again = try #require(try await h.raw().hello(resume: ResumeBlock(sessionId: sid, resumeToken: t1, lastEventSeq: 0)))
        #expect(again.error?.code == .unauthenticated)
    }

    @Test("over a runtime: the rotated-out token works within the grace (a lost welcome), and dies once the client speaks")
    func runtimeGrace() async throws {
        // The default grace (10 s): how it ends in time is proven by the state machine's tests
        // above and HostileRuntimeTests.rotatedOutTokenDiesAfterTheGrace, not by sleeping here.
        let h = try Harness()
        let (sid, t1) = try await openAndDrop(h)
        let first = h.raw()
        guard case .sessionWelcome = try #require(try await first.hello(resume: ResumeBlock(sessionId: sid, resumeToken: t1, lastEventSeq: 0))).message else {
            Issue.record("the first resume failed")
            return
        }
        first.transport.drop()  // as if the welcome were lost
        let second = h.raw()
        guard case .sessionWelcome = try #require(try await second.hello(resume: ResumeBlock(sessionId: sid, resumeToken: t1, lastEventSeq: 0))).message else {
            Issue.record("the token was refused within its grace")
            return
        }
        // The client speaks on the new connection: it has the new token, the old one is dead.
        _ = try await second.send(.sessionPing(SessionPingPayload(nonce: "n")), sessionID: sid)
        #expect(try await second.next { if case .sessionPong = $0.message { true } else { false } } != nil)
        let late = try #require(try await h.raw().hello(resume: ResumeBlock(sessionId: sid, resumeToken: t1, lastEventSeq: 0)))
        #expect(late.error?.code == .unauthenticated, "\(late.message.type)")
    }

    /// Opens a session, drops its transport; its id and resume token.
    func openAndDrop(_ h: Harness) async throws -> (String, String) {
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        guard case .sessionWelcome(let welcome) = w.message, let sid = w.sessionId else { throw CancellationError() }
        peer.transport.drop()
        try await waitDetached(h, sid)
        return (sid, welcome.resumeToken)
    }
}

func waitDetached(_ h: Harness, _ sid: String) async throws {
    let rt = h.runtime
    _ = try await within(.seconds(5), "the session detaches") {
        while rt.tables.sessions.localSession(sid)?.isAttached == true { try await Task.sleep(for: .milliseconds(2)) }
        return true
    }
}

extension RawPeer {
    /// `session.hello` with a resume block (principal `tok`'s unless `token` says otherwise).
    func hello(token: String = "tok", resume: ResumeBlock) async throws -> Envelope? {
        _ = try await send(.sessionHello(SessionHelloPayload(
            client: PeerInfo(name: "raw", version: "0"), auth: Auth(scheme: "bearer", token: token),
            capabilities: HelloCapabilities(encodings: ["json"], features: Feature.allKnown), resume: resume)))
        return try await next()
    }
}

// MARK: - Item 6: no cross-principal signal

@Suite("No cross-principal signal (issue 10 item 6)")
struct CrossPrincipalTests {
    /// The answer to `message` from `peer`, with the job id replaced by `<id>`.
    func answer(_ peer: RawPeer, _ message: Message, sid: String, id: String) async throws -> (ErrorCode?, String?) {
        // job.cancel names its job in the envelope (the schema requires it there).
        let envelopeJob: String? = if case .jobCancel = message { id } else { nil }
        let rid = try await peer.send(message, sessionID: sid, jobID: envelopeJob)
        let e = try #require(try await peer.next { $0.error?.requestId == rid || $0.error != nil })
        return (e.error?.code, e.error?.message.replacingOccurrences(of: id, with: "<id>"))
    }

    @Test("subscribe, unsubscribe and cancel answer another principal's job exactly as a missing one")
    func jobs() async throws {
        let h = try Harness()
        let owner = try await h.client()
        let job = try await owner.submit(agent: "slow", input: ["ticks": 3000])
        let other = h.raw()
        let w = try #require(try await other.hello(token: "tok2"))
        let sid = try #require(w.sessionId)
        let missing = ARCPID.jobID()
        for make in [
            { (id: String) in Message.jobSubscribe(JobSubscribePayload(jobId: id)) },
            { (id: String) in Message.jobUnsubscribe(JobUnsubscribePayload(jobId: id)) },
            { (id: String) in Message.jobCancel(JobCancelPayload(jobId: id)) },
        ] {
            let theirs = try await answer(other, make(job.jobID), sid: sid, id: job.jobID)
            let absent = try await answer(other, make(missing), sid: sid, id: missing)
            #expect(theirs.0 == .jobNotFound, "\(make(missing).type): \(theirs)")
            #expect(theirs.0 == absent.0 && theirs.1 == absent.1, "\(theirs) vs \(absent)")
        }
        #expect(h.runtime.jobStatus(job.jobID)?.isTerminal == false)
        try await job.cancel()
        await owner.close()
    }

    @Test("a list_jobs cursor is bound to its principal: another principal's cursor is answered as a forged one")
    func cursors() async throws {
        let h = try Harness()
        let owner = try await h.client()
        for _ in 0..<3 { _ = try await owner.submit(agent: "echo").result() }
        let page = try await owner.listJobs(limit: 1)
        let cursor = try #require(page.nextCursor)
        #expect(!cursor.contains("job_"))
        #expect(try await owner.listJobs(limit: 5, cursor: cursor).jobs.count == 2)
        let other = try await h.client(token: "tok2")
        var answers: [String] = []
        let forged = Data("\(page.jobs[0].jobId).\(String(repeating: "A", count: 16))".utf8).base64EncodedString()
        for c in [cursor, forged, Data(page.jobs[0].jobId.utf8).base64EncodedString(), "bogus!"] {
            do {
                _ = try await other.listJobs(cursor: c)
                Issue.record("cursor \(c) was accepted")
            } catch let e as ARCPError {
                #expect(e.code == .invalidRequest)
                answers.append(e.message)
            }
        }
        #expect(Set(answers).count == 1, "\(answers)")
        await owner.close()
        await other.close()
    }

    @Test("runtimes sharing Configuration.listCursorKey honour each other's cursors; another key's cursor is refused")
    func sharedCursorKey() async throws {
        let key = [UInt8](repeating: 7, count: 32)
        let a = try Harness { $0.listCursorKey = key }
        let b = try Harness { $0.listCursorKey = key }
        let c = try Harness { $0.listCursorKey = [UInt8](repeating: 9, count: 32) }
        let onA = try await a.client()
        for _ in 0..<3 { _ = try await onA.submit(agent: "echo").result() }
        let cursor = try #require(try await onA.listJobs(limit: 1).nextCursor)
        let onB = try await b.client()
        _ = try await onB.listJobs(limit: 5, cursor: cursor)  // a page (of B's jobs after that position), not an error
        let onC = try await c.client()
        await #expect(throws: ARCPError.self) { _ = try await onC.listJobs(limit: 5, cursor: cursor) }
        // A key too short to bind anything is not used: the process key is.
        let short = try Harness { $0.listCursorKey = [1, 2, 3] }
        let onShort = try await short.client()
        await #expect(throws: ARCPError.self) { _ = try await onShort.listJobs(limit: 5, cursor: cursor) }
        for client in [onA, onB, onC, onShort] { await client.close() }
    }

    @Test("HMAC-SHA-256 (the list cursor's MAC, the credential tokens' signature) matches RFC 4231 test cases 2 and 6")
    func hmac() {
        let mac = ResumeTokenHasher.SHA256.hmac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(ResumeTokenHasher.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        let long = ResumeTokenHasher.SHA256.hmac(
            key: [UInt8](repeating: 0xaa, count: 131), message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
        #expect(ResumeTokenHasher.hex(long) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test("resuming another principal's session, or with a wrong token unauthenticated, is answered as an unknown session")
    func sessions() async throws {
        let h = try Harness()
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        guard case .sessionWelcome(let welcome) = w.message, let sid = w.sessionId else { return }
        peer.transport.drop()
        try await waitDetached(h, sid)
        func resume(_ id: String, token: String, auth: String?) async throws -> ErrorPayload? {
            let p = h.raw()
            _ = try await p.send(.sessionResume(SessionResumePayload(
                sessionId: id, resumeToken: token, lastEventSeq: 0, auth: auth.map { Auth(scheme: "bearer", token: $0) })))
            return try await p.next()?.error
        }
        let unknownID = ARCPID.sessionID()
        let unknown = try #require(try await resume(unknownID, token: "rtk_x", auth: "tok2"))
        let theirs = try #require(try await resume(sid, token: welcome.resumeToken, auth: "tok2"))
        let guessed = try #require(try await resume(sid, token: "rtk_guess", auth: nil))
        for e in [theirs, guessed] {
            #expect(e.code == unknown.code)
            #expect(e.message.replacingOccurrences(of: sid, with: "<id>") == unknown.message.replacingOccurrences(of: unknownID, with: "<id>"))
        }
        #expect(unknown.code == .resumeWindowExpired)
        // The owner, with a wrong token, is told so; the session stays resumable.
        #expect(try await resume(sid, token: "rtk_guess", auth: "tok")?.code == .unauthenticated)
        let back = h.raw()
        guard case .sessionWelcome = try #require(try await back.hello(resume: ResumeBlock(sessionId: sid, resumeToken: welcome.resumeToken, lastEventSeq: 0))).message else {
            Issue.record("the owner could not resume")
            return
        }
    }
}

// MARK: - Item 1: peer numbers

@Suite("Peer numbers in the runtime (issue 10 item 1)")
struct RuntimePeerNumberTests {
    @Test("max_runtime_sec above the configured ceiling is INVALID_REQUEST naming the field; the session lives on")
    func maxRuntimeCeiling() async throws {
        let h = try Harness { $0.maxJobRuntime = .seconds(60) }
        let client = try await h.client()
        await #expect(throws: ARCPError.self) { _ = try await client.submit(agent: "echo", maxRuntime: .seconds(61)) }
        do {
            _ = try await client.submit(agent: "echo", maxRuntime: .seconds(61))
        } catch let e as ARCPError {
            #expect(e.code == .invalidRequest)
            #expect(e.message.contains("max_runtime_sec"))
        }
        #expect(try await client.submit(agent: "echo", maxRuntime: .seconds(60)).result().finalStatus == .success)
        #expect(h.runtime.jobIDs.count == 1)
        await client.close()
    }
}

@Suite("Configured durations cannot trap (issue 10 item 1)")
struct ConfiguredDurationTests {
    @Test("durations of Int64.max seconds are clamped to 2^53 s at init; sleeping for them does not trap")
    func clamped() async throws {
        let h = try Harness {
            $0.resumeWindow = .seconds(Int64.max)
            $0.helloTimeout = .seconds(Int64.max)
            $0.cancelGracePeriod = .seconds(Int64.max)
            $0.closeFlushTimeout = .seconds(Int64.max)
            $0.heartbeatInterval = .seconds(Int64.max)
            $0.resumeTokenGrace = .seconds(Int64.max)
            $0.maxJobRuntime = .seconds(-5)
        }
        let c = h.runtime.configuration
        #expect(c.resumeWindow == PeerNumbers.maxDuration)
        #expect(c.helloTimeout == PeerNumbers.maxDuration)
        #expect(c.heartbeatInterval == PeerNumbers.maxDuration)
        #expect(c.resumeTokenGrace == .seconds(10))
        #expect(c.maxJobRuntime == .zero)
        // A session that detaches sleeps for the resume window; a hello waits for the hello timeout.
        let peer = h.raw()
        guard case .sessionWelcome = try #require(try await peer.hello()).message else { return }
        peer.transport.drop()
        let client = try await h.client()
        _ = try await client.ping()
        await client.close()
    }
}

// MARK: - Item 11: oversized outbound frames

@Suite("Oversized outbound frames (issue 10 item 11)")
struct OversizedFrameTests {
    func harness() throws -> Harness {
        let h = try Harness { $0.maxOutboundFrameBytes = 8192 }
        try h.runtime.register("shout") { input, ctx in
            await ctx.log("info", String(repeating: "x", count: Int(input["bytes"]?.int64Value ?? 0)))
            try await Task.sleep(for: .seconds(30))
            return "unreachable"
        }
        return h
    }

    @Test("a result bigger than the frame limit ends the job with INTERNAL_ERROR naming the frame; the session and a resume keep working")
    func result() async throws {
        let h = try harness()
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        guard case .sessionWelcome(let welcome) = w.message, let sid = w.sessionId else { return }
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "echo", input: ["blob": .string(String(repeating: "y", count: 7500))])), sessionID: sid)
        let end = try #require(try await peer.next { if case .jobError = $0.message { true } else if case .jobResult = $0.message { true } else { false } })
        guard case .jobError(let e) = end.message else {
            Issue.record("expected job.error, got \(end.message.type)")
            return
        }
        #expect(e.code == .internalError)
        #expect(e.message.contains("frame"), "\(e.message)")
        #expect(h.runtime.jobStatus(h.runtime.jobIDs[0]) == .error)
        // The session lives on, and a resume replays everything (nothing oversized was buffered).
        _ = try await peer.send(.sessionPing(SessionPingPayload(nonce: "n")), sessionID: sid)
        #expect(try await peer.next { if case .sessionPong = $0.message { true } else { false } } != nil)
        peer.transport.drop()
        try await waitDetached(h, sid)
        let again = h.raw()
        guard case .sessionWelcome = try #require(try await again.hello(resume: ResumeBlock(sessionId: sid, resumeToken: welcome.resumeToken, lastEventSeq: 0))).message else {
            Issue.record("the resume failed")
            return
        }
        let replayed = try #require(try await again.next { if case .jobError = $0.message { true } else { false } })
        #expect(replayed.eventSeq == end.eventSeq)
    }

    @Test("an event bigger than the frame limit is replaced by an error log event, then the job ends with INTERNAL_ERROR")
    func event() async throws {
        let h = try harness()
        let client = try await h.client()
        let job = try await client.submit(agent: "shout", input: ["bytes": 9000])
        var logs: [String] = []
        do {
            for try await event in job.events { if case .log(let l) = event.body { logs.append(l.level + ": " + l.message) } }
            _ = try await job.result()
            Issue.record("expected a failure")
        } catch let e as ARCPError {
            #expect(e.code == .internalError)
            #expect(e.message.contains("frame limit"), "\(e.message)")
        }
        #expect(logs.contains { $0.hasPrefix("error: ") && $0.contains("frame limit") }, "\(logs)")
        #expect(!logs.contains { $0.contains("xxxxxxxx") })
        // The agent was cancelled, not left sleeping.
        await h.runtime.waitForJob(job.jobID)
        #expect(h.runtime.jobStatus(job.jobID) == .error)
        #expect(try await client.submit(agent: "echo").result().finalStatus == .success)
        await client.close()
    }

    @Test("the size bound never underestimates")
    func bound() {
        let values: [JSONValue] = [
            .null, true, 0, .int(.min), .double(-1.2345678901234567e-300), "", "\u{0}\u{1f}\"\\", "é😀",
            ["a": [1, 2, ["b": "c\n"]], "": .null], .array(Array(repeating: "\u{7}", count: 100)),
        ]
        for v in values {
            #expect(JSONSizeBound.upperBound(v, cap: .max) >= JSONWriter.data(v).count, "\(v)")
        }
    }
}

// MARK: - Item 10: credentials

/// A `MemoryTransport` that says it is not confidential (plain `ws://`, as far as the runtime knows).
final class PlainTransport: Transport {
    let base: MemoryTransport
    init(_ base: MemoryTransport) { self.base = base }
    func receive() async throws -> String? { try await base.receive() }
    func send(_ frame: String) async throws { try await base.send(frame) }
    func close() async { await base.close() }
    var isConfidential: Bool { false }
}

@Suite("Credentials: safe defaults (issue 10 item 10)")
struct CredentialSafetyTests {
    func welcomeOffers(_ h: Harness, plain: Bool) async throws -> Bool {
        let (c, r) = MemoryTransport.pair()
        let rt = h.runtime
        if plain { Task { await rt.accept(PlainTransport(r)) } } else { Task { await rt.accept(r) } }
        let peer = RawPeer(transport: c)
        guard case .sessionWelcome(let w) = try #require(try await peer.hello()).message else { return false }
        return w.capabilities?.features?.contains(.provisionedCredentials) == true
    }

    @Test("provisioned_credentials is offered on confidential transports only, unless the operator opts in")
    func offeredOnlyWhenConfidential() async throws {
        let rig = try CredentialRig()
        #expect(try await welcomeOffers(rig.h, plain: false))
        #expect(try await welcomeOffers(rig.h, plain: true) == false)
        // A session over the plain transport cannot negotiate it either: jobs get no credentials.
        let (c, r) = MemoryTransport.pair()
        let rt = rig.h.runtime
        Task { await rt.accept(PlainTransport(r)) }
        let client = ARCPClient(token: "tok", options: CredentialRig.options)
        try await client.connect(c)
        let job = try await client.submit(agent: "creds")
        #expect(job.accepted?.credentials == nil)
        await client.close()
        let optedIn = try CredentialRig { $0.allowsCredentialsWithoutConfidentialTransport = true }
        #expect(try await welcomeOffers(optedIn.h, plain: true))
    }

    @Test("a rotated credential's value never reaches the runtime store's event log")
    func rotatedValueNotStored() async throws {
        let store = InMemoryRuntimeStore()
        let rig = try CredentialRig { $0.store = store }
        var options = noAck
        options.features.append(.provisionedCredentials)
        let client = try await rig.h.client(options: options)
        let job = try await client.submit(agent: "rotator")
        let original = try #require(job.accepted?.credentials?.first?.value)
        rig.gates[0].open()
        var rotated: String?
        for try await event in job.events {
            if case .status(let s) = event.body, s.phase == "credential_rotated" {
                rotated = s.value
                break
            }
        }
        let fresh = try #require(rotated)
        rig.gates[1].open()
        _ = try await job.result()
        await rig.h.runtime.flushStore()
        let sid = try #require(client.sessionID)
        let frames = await store.events(session: sid, after: 0, limit: 10_000).map(\.frame)
        #expect(frames.contains { $0.contains("credential_rotated") })
        #expect(!frames.contains { $0.contains(fresh) || $0.contains(original) })
        await client.close()
    }
}

// MARK: - Item 9: durability

/// Client options without auto-ack: acknowledged events are released from the store, and these
/// tests read the store.
var noAck: ARCPClient.Options {
    var o = ARCPClient.Options()
    o.autoAckEvery = nil
    o.autoAckInterval = nil
    return o
}

@Suite("Durability with a runtime store (issue 10 item 9)")
struct HardeningDurabilityTests {
    @Test("the rotated resume token's hash is in the store when the welcome arrives")
    func tokenHashBeforeWelcome() async throws {
        let store = ScriptedStore(durable: true)
        let h = try Harness { $0.store = store }
        let peer = h.raw()
        guard case .sessionWelcome(let w1) = try #require(try await peer.hello()).message, let sid = w1.sessionId else { return }
        #expect(try await store.session(sid)?.resumeTokenHash == ResumeTokenHasher.hash(w1.resumeToken))
        peer.transport.drop()
        try await waitDetached(h, sid)
        guard case .sessionWelcome(let w2) = try #require(try await h.raw().hello(resume: ResumeBlock(sessionId: sid, resumeToken: w1.resumeToken, lastEventSeq: 0))).message else {
            Issue.record("resume failed")
            return
        }
        // No flush: the write was awaited before the welcome was queued.
        #expect(try await store.session(sid)?.resumeTokenHash == ResumeTokenHasher.hash(w2.resumeToken))
    }

    @Test("an idempotency key survives a restart: a resubmit gets the same job, its outcome or 'lost'")
    func idempotencyAfterRestart() async throws {
        let store = ScriptedStore(durable: true)
        let first = try Harness { $0.store = store }
        let c1 = try await first.client(options: noAck)
        let done = try await c1.submit(agent: "echo", input: ["x": 1], idempotencyKey: "k-done")
        _ = try await done.result()
        let running = try await c1.submit(agent: "slow", input: ["ticks": 100_000], idempotencyKey: "k-running")
        #expect(try await store.idempotency(principal: "me@example.com", key: "k-running")?.jobID == running.jobID)
        await first.runtime.flushStore()
        // "Restart": a new runtime on the same store (the first one's jobs are gone from its memory).
        let second = try Harness { $0.store = store }
        let c2 = try await second.client()
        let again = try await c2.submit(agent: "echo", input: ["x": 1], idempotencyKey: "k-done")
        #expect(again.jobID == done.jobID)
        #expect(try await again.result().result == ["echoed": ["x": 1]])
        let lost = try await c2.submit(agent: "slow", input: ["ticks": 100_000], idempotencyKey: "k-running")
        #expect(lost.jobID == running.jobID)
        do {
            _ = try await lost.result()
            Issue.record("expected the lost job's error")
        } catch let e as ARCPError {
            #expect(e.code == .internalError && e.retryable == true)
        }
        // Other parameters under the same key are still DUPLICATE_KEY.
        do {
            _ = try await c2.submit(agent: "echo", input: ["x": 2], idempotencyKey: "k-done")
            Issue.record("expected DUPLICATE_KEY")
        } catch let e as ARCPError {
            #expect(e.code == .duplicateKey)
        }
        #expect(second.runtime.jobIDs.isEmpty, "no second run")
        try await running.cancel()
        _ = try? await running.result()
        // A finished job whose outcome was acknowledged (so released from the store) before the
        // restart: its status is still known, its result is not.
        let acked = try await c1.submit(agent: "echo", input: ["x": 3], idempotencyKey: "k-acked")
        _ = try await acked.result()
        try await c1.ack(through: c1.lastEventSeq)
        let sid1 = try #require(c1.sessionID)
        let rt1 = first.runtime
        #expect(await eventually { rt1.bufferStats(session: sid1)?.events == 0 })
        await first.runtime.flushStore()
        let third = try Harness { $0.store = store }
        let c3 = try await third.client()
        let replay = try await c3.submit(agent: "echo", input: ["x": 3], idempotencyKey: "k-acked")
        #expect(replay.jobID == acked.jobID)
        do {
            _ = try await replay.result()
            Issue.record("expected the released outcome's error")
        } catch let e as ARCPError {
            #expect(e.code == .internalError && e.retryable == false && e.message.contains("success"), "\(e)")
        }
        #expect(third.runtime.jobIDs.isEmpty, "no second run")
        await c3.close()
        await c1.close()
        await c2.close()
    }

    @Test("one event the store refuses does not cost the rest of its batch")
    func badEventDoesNotRollBackTheBatch() async throws {
        let store = PoisonStore()
        let h = try Harness { $0.store = store }
        try h.runtime.register("noisy") { _, ctx in
            for i in 0..<200 { await ctx.log("info", i == 100 ? "poison" : "line \(i)") }
            return nil
        }
        let client = try await h.client(options: noAck)
        let job = try await client.submit(agent: "noisy")
        _ = try await job.result()
        await h.runtime.flushStore()
        let sid = try #require(client.sessionID)
        let frames = await store.inner.events(session: sid, after: 0, limit: 10_000).map(\.frame)
        #expect(!frames.contains { $0.contains("poison") })
        for i in [0, 99, 101, 199] { #expect(frames.contains { $0.contains("\"line \(i)\"") }, "line \(i)") }
        #expect(h.runtime.storeFailures == 1)
        await client.close()
    }
}

/// A store whose `append` fails, as one transaction, for any batch holding a "poison" event.
final class PoisonStore: StoreOverMemory {
    let inner = InMemoryRuntimeStore()

    func append(_ events: [StoredEvent]) async throws -> [Eviction] {
        if events.contains(where: { $0.frame.contains("poison") }) { throw RuntimeStoreError.storage("poisoned batch") }
        return try await inner.append(events)
    }
}
