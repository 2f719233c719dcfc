import ARCP
import Foundation
import Testing

@Suite("Session and job engine")
struct EngineTests {
    @Test("README quickstart: runtime + client over MemoryTransport")
    func quickstart() async throws {
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo": "me@example.com"]))
        try runtime.register("echo") { input, ctx in
            await ctx.log("info", "echo started")
            return ["echoed": input]
        }
        let (clientEnd, runtimeEnd) = MemoryTransport.pair()
        Task { await runtime.accept(runtimeEnd) }
        let client = ARCPClient(token: "demo")
        try await client.connect(clientEnd)
        let job = try await client.submit(agent: "echo", input: ["hi": 1])
        var kinds: [String] = []
        for try await event in job.events { kinds.append(event.body.kind) }
        let outcome = try await job.result()
        #expect(outcome.result == ["echoed": ["hi": 1]])
        #expect(kinds == ["log"])
        await client.close()
    }

    @Test("a peer that sends no hello gets session.error at the hello timeout, then the close (a transport without its own deadline)")
    func helloTimeout() async throws {
        var config = ARCPRuntime.Configuration()
        config.helloTimeout = .milliseconds(200)
        let runtime = ARCPRuntime(configuration: config, verifier: StaticBearerVerifier(["demo": "me@example.com"]))
        let (peer, runtimeEnd) = MemoryTransport.pair()
        Task { await runtime.accept(runtimeEnd) }
        let refusal = try #require(try await peer.receive())
        #expect(refusal.contains("session.error"))
        #expect(refusal.contains("no session.hello within"))
        #expect(try await peer.receive() == nil)
    }

    @Test("a peer that stops reading: once its reader ends, the connection closes at closeFlushTimeout (and not before)")
    func closeFlushTimeout() async throws {
        var config = ARCPRuntime.Configuration()
        config.heartbeatInterval = nil
        config.closeFlushTimeout = .milliseconds(300)
        let runtime = ARCPRuntime(configuration: config, verifier: StaticBearerVerifier(["demo": "me@example.com"]))
        let hello = FrameCodec.encode(Envelope.make(.sessionHello(SessionHelloPayload(
            client: PeerInfo(name: "stalled", version: "0"), auth: Auth(scheme: "bearer", token: "demo"),
            capabilities: HelloCapabilities(encodings: ["json"], features: [])))))
        let transport = StalledWriteTransport(frames: [hello])
        let served = CleanupFlag()
        let start = ContinuousClock.now
        Task {
            await runtime.accept(transport)
            served.set()
        }
        // The welcome is stuck in a send that never completes; the peer then closes its side.
        #expect(await eventually { transport.sendsStarted > 0 })
        transport.endInbound()
        #expect(await eventually { served.value }, "the writer is never freed without the flush deadline")
        #expect(ContinuousClock.now - start >= .milliseconds(300))
        #expect(transport.wasClosed)
        await runtime.shutdown()
    }

    @Test("welcome: session id, resume token ≥128 bits, window, features intersected in client order, agents with versions")
    func welcome() async throws {
        let h = try Harness()
        let peer = h.raw()
        let w = try #require(try await peer.hello(features: [.progress, .ack, .unknown("x-future"), .listJobs]))
        guard case .sessionWelcome(let p) = w.message else { Issue.record("expected welcome"); return }
        #expect(w.sessionId?.hasPrefix("sess_") == true)
        #expect((p.resumeToken.count - 4) * 5 >= 128)
        #expect(p.resumeWindowSec == 600)
        let v = try #require(p.capabilities?.agents?.compactMap { if case .info(let i) = $0, i.name == "versioned" { return i } else { return nil } }.first)
        #expect(v.versions == ["1.0.0", "2.0.0"])
        #expect(v.default == "1.0.0")
        // Client-side intersection.
        let client = try await h.client(options: { var o = ARCPClient.Options(); o.features = [.progress, .ack, .listJobs]; return o }())
        #expect(client.negotiatedFeatures == [.progress, .ack, .listJobs])
        await client.close()
    }

    @Test("first frame not hello → INVALID_REQUEST and close")
    func firstFrameNotHello() async throws {
        let h = try Harness()
        let peer = h.raw()
        let id = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "echo")))
        let e = try #require(try await peer.next())
        #expect(e.error?.code == .invalidRequest)
        #expect(e.error?.requestId == id)
        #expect(try await peer.next() == nil)
    }

    @Test("bad token → UNAUTHENTICATED and close")
    func badToken() async throws {
        let h = try Harness()
        let peer = h.raw()
        let e = try #require(try await peer.hello(token: "nope"))
        #expect(e.error?.code == .unauthenticated)
        #expect(try await peer.next() == nil)
        await #expect(throws: ARCPError.self) { _ = try await h.client(token: "nope") }
    }

    @Test("malformed and out-of-state frames get errors with the request id; the session survives")
    func badInputSurvives() async throws {
        let h = try Harness()
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        let sid = w.sessionId
        try await peer.send("this is not json")
        #expect(try await peer.next()?.error?.code == .invalidRequest)
        try await peer.send(#"{"arcp":"1.1","id":"not-a-ulid","type":"session.ping","payload":{"nonce":"x"}}"#)
        let bad = try #require(try await peer.next())
        #expect(bad.error?.code == .invalidRequest)
        #expect(bad.error?.requestId == "not-a-ulid")
        var id = try await peer.send(.unknown(type: "job.frobnicate", raw: [:]), sessionID: sid)
        var e = try #require(try await peer.next())
        #expect(e.error?.code == .invalidRequest)
        #expect(e.error?.requestId == id)
        id = try await peer.send(.jobCancel(JobCancelPayload(reason: "x")), sessionID: sid, jobID: "job_01ARZ3NDEKTSV4RRFFQ69G5FAV")
        e = try #require(try await peer.next())
        #expect(e.error?.code == .jobNotFound)
        #expect(e.error?.requestId == id)
        _ = try await peer.send(.sessionHello(SessionHelloPayload(auth: Auth(token: "tok"))))
        #expect(try await peer.next()?.error?.code == .invalidRequest)
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "no-such-agent")), sessionID: sid)
        #expect(try await peer.next()?.error?.code == .agentNotAvailable)
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "versioned@9.9.9")), sessionID: sid)
        #expect(try await peer.next()?.error?.code == .agentVersionNotAvailable)
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "echo", leaseRequest: ["bogus.cap": ["*"]])), sessionID: sid)
        #expect(try await peer.next()?.error?.code == .invalidRequest)
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "echo", leaseConstraints: LeaseConstraints(expiresAt: "2000-01-01T00:00:00Z"))), sessionID: sid)
        #expect(try await peer.next()?.error?.code == .invalidRequest)
        _ = try await peer.send(.sessionWelcome(SessionWelcomePayload(resumeToken: "x")), sessionID: sid)
        #expect(try await peer.next()?.error?.code == .invalidRequest)
        // Still alive.
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "echo", input: ["still": "alive"])), sessionID: sid)
        let accepted = try #require(try await peer.next())
        guard case .jobAccepted = accepted.message else { Issue.record("expected job.accepted, got \(accepted.message.type)"); return }
    }

    @Test("unnegotiated features are refused")
    func featureGating() async throws {
        let h = try Harness()
        let peer = h.raw()
        let w = try #require(try await peer.hello(features: []))
        _ = try await peer.send(.sessionListJobs(SessionListJobsPayload()), sessionID: w.sessionId)
        #expect(try await peer.next()?.error?.message.contains("list_jobs") == true)
        _ = try await peer.send(.jobSubscribe(JobSubscribePayload(jobId: "job_x")), sessionID: w.sessionId)
        #expect(try await peer.next()?.error?.message.contains("subscribe") == true)
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "versioned@2.0.0")), sessionID: w.sessionId)
        #expect(try await peer.next()?.error?.message.contains("agent_versions") == true)
    }

    @Test("job.accepted carries job id, resolved agent, lease, accepted_at, request_id, generated trace id")
    func accepted() async throws {
        let h = try Harness()
        let client = try await h.client()
        let job = try await client.submit(agent: "versioned")
        let a = try #require(job.accepted)
        #expect(a.jobId.hasPrefix("job_"))
        #expect(a.agent == "versioned@1.0.0")
        #expect(a.lease == [:])
        #expect(a.acceptedAt.map { ARCPFormat.isTimestamp($0, requireZ: true) } == true)
        #expect(a.requestId != nil)
        #expect(a.traceId.map(ARCPFormat.isTraceID) == true)
        #expect(try await job.result().result == ["version": "1.0.0"])
        let v2 = try await client.submit(agent: "versioned@2.0.0")
        #expect(v2.accepted?.agent == "versioned@2.0.0")
        #expect(try await v2.result().result == ["version": "2.0.0"])
        let traced = try await client.submit(agent: "echo", traceID: "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(traced.accepted?.traceId == "4bf92f3577b34da6a3ce929d0e0e4736")
        await client.close()
    }

    @Test("agent errors: untyped → INTERNAL_ERROR retryable; typed ARCPError keeps its code")
    func agentErrors() async throws {
        let h = try Harness()
        let client = try await h.client()
        let j1 = try await client.submit(agent: "fails", input: ["message": "boom"])
        do {
            _ = try await j1.result()
            Issue.record("expected failure")
        } catch let e as ARCPError {
            #expect(e.code == .internalError)
            #expect(e.retryable)
            #expect(e.finalStatus == .error)
        }
        let j2 = try await client.submit(agent: "fails", input: ["code": "PERMISSION_DENIED", "message": "nope"])
        await #expect(throws: ARCPError(.permissionDenied, "nope", retryable: false, finalStatus: .error)) { _ = try await j2.result() }
        await client.close()
    }

    @Test("cancel: job.cancelled ack, Swift task cancellation in the agent, cleanup runs, job.error CANCELLED cancelled")
    func cancel() async throws {
        let cleaned = CleanupFlag()
        let h = try Harness()
        try h.runtime.register("cleanup") { _, ctx in
            await ctx.status("running")
            do {
                try await Task.sleep(for: .seconds(60))
            } catch {
                cleaned.set()
                throw error
            }
            return nil
        }
        let client = try await h.client()
        let job = try await client.submit(agent: "cleanup")
        var it = job.events.makeAsyncIterator()
        _ = try await it.next()
        try await job.cancel(reason: "user")
        do {
            _ = try await job.result()
            Issue.record("expected cancellation")
        } catch let e as ARCPError {
            #expect(e.code == .cancelled)
            #expect(e.finalStatus == .cancelled)
        }
        #expect(cleaned.value)
        await client.close()
    }

    @Test("only the submitting session may cancel")
    func cancelAuthority() async throws {
        let h = try Harness()
        let a = try await h.client()
        let b = try await h.client()
        let job = try await a.submit(agent: "slow", input: ["ticks": 500])
        await #expect(throws: ARCPError.self) { try await b.cancel(jobID: job.jobID) }
        let other = try await h.client(token: "tok2")
        do {
            try await other.cancel(jobID: job.jobID)
        } catch let e as ARCPError {
            #expect(e.code == .jobNotFound)
        }
        try await job.cancel()
        await a.close(); await b.close(); await other.close()
    }

    @Test("max_runtime_sec → TIMEOUT with final_status timed_out")
    func timeout() async throws {
        let h = try Harness()
        let client = try await h.client()
        let job = try await client.submit(agent: "slow", input: ["ticks": 100_000], maxRuntime: .seconds(1))
        do {
            _ = try await job.result()
            Issue.record("expected timeout")
        } catch let e as ARCPError {
            #expect(e.code == .timeout)
            #expect(e.finalStatus == .timedOut)
        }
        await client.close()
    }

    @Test("idempotency: same key+params → same job.accepted (running or finished, terminal replayed); conflict → DUPLICATE_KEY")
    func idempotency() async throws {
        let h = try Harness()
        let client = try await h.client()
        let j1 = try await client.submit(agent: "echo", input: ["n": 1], idempotencyKey: "key-1")
        _ = try await j1.result()
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "echo", input: ["n": 1], idempotencyKey: "key-1")), sessionID: w.sessionId)
        let acc = try #require(try await peer.next())
        guard case .jobAccepted(let a) = acc.message else { Issue.record("expected accepted"); return }
        #expect(a.jobId == j1.jobID)
        #expect(a.acceptedAt == j1.accepted?.acceptedAt)
        let replay = try #require(try await peer.next())
        guard case .jobResult(let r) = replay.message else { Issue.record("expected replayed job.result"); return }
        #expect(r.result == ["echoed": ["n": 1]])
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "echo", input: ["n": 2], idempotencyKey: "key-1")), sessionID: w.sessionId)
        #expect(try await peer.next()?.error?.code == .duplicateKey)
        // Running job.
        let s1 = try await client.submit(agent: "slow", input: ["ticks": 300], idempotencyKey: "key-2")
        let s2 = try await client.submit(agent: "slow", input: ["ticks": 300], idempotencyKey: "key-2")
        #expect(s1.jobID == s2.jobID)
        // The running job resubmitted from another session of the same principal: one
        // job.accepted there, then its live events.
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "slow", input: ["ticks": 300], idempotencyKey: "key-2")), sessionID: w.sessionId)
        var accepted = 0
        var events = 0
        while events < 3, let e = try await peer.next() {
            if case .jobAccepted(let a) = e.message {
                #expect(a.jobId == s1.jobID)
                #expect(events == 0, "job.accepted after an event")
                accepted += 1
            }
            if case .jobEvent = e.message, e.jobId == s1.jobID { events += 1 }
        }
        #expect(accepted == 1)
        try await s1.cancel()
        await client.close()
    }

    @Test("100 concurrent jobs on one session: event_seq gap-free, each job's order preserved")
    func concurrentJobs() async throws {
        let h = try Harness()
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        for i in 0..<100 {
            _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "flood", input: ["n": .int(Int64(10 + i % 7))])), sessionID: w.sessionId)
        }
        var seqs: [Int] = []
        var perJob: [String: [String]] = [:]
        var finished = 0
        while finished < 100, let e = try await peer.next() {
            switch e.message {
            case .jobEvent(let p):
                seqs.append(e.eventSeq ?? -1)
                if case .log(let l) = p.body { perJob[e.jobId ?? "", default: []].append(l.message) }
            case .jobResult:
                seqs.append(e.eventSeq ?? -1)
                finished += 1
            default: break
            }
        }
        #expect(seqs == Array(1...seqs.count))
        #expect(perJob.count == 100)
        for (_, messages) in perJob {
            #expect(messages == (0..<messages.count).map { "event \($0)" })
        }
    }

    @Test("session.bye and session.close (→ session.closed); running jobs keep running")
    func closeForms() async throws {
        let h = try Harness()
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "slow", input: ["ticks": 20])), sessionID: w.sessionId)
        let acc = try #require(try await peer.next(where: { if case .jobAccepted = $0.message { true } else { false } }))
        _ = try await peer.send(.sessionClose(SessionClosePayload(reason: "done")), sessionID: w.sessionId)
        #expect(try await peer.next(where: { if case .sessionClosed = $0.message { true } else { false } }) != nil)
        let jobID = try #require(acc.jobId)
        #expect(h.runtime.jobStatus(jobID) == .running)
        await h.runtime.waitForJob(jobID)
        #expect(h.runtime.jobStatus(jobID) == .success)

        let peer2 = h.raw()
        let w2 = try #require(try await peer2.hello())
        _ = try await peer2.send(.sessionBye(SessionByePayload(reason: "bye")), sessionID: w2.sessionId)
        #expect(try await peer2.next() == nil)
    }

    @Test("ping → pong with the nonce")
    func ping() async throws {
        let h = try Harness()
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        _ = try await peer.send(.sessionPing(SessionPingPayload(nonce: "n1", sentAt: ARCPTimestamp.string())), sessionID: w.sessionId)
        let pong = try #require(try await peer.next())
        guard case .sessionPong(let p) = pong.message else { Issue.record("expected pong"); return }
        #expect(p.pingNonce == "n1")
        let client = try await h.client()
        _ = try await client.ping()
        await client.close()
    }

    @Test("result streaming: chunks in order, job.result with result_id/result_size, assembled by the client")
    func streaming() async throws {
        let h = try Harness { $0.chunkSizeCap = 8 }
        let client = try await h.client()
        let text = String(repeating: "héllo wörld ", count: 20)
        let job = try await client.submit(agent: "chunked", input: ["text": .string(text)])
        var chunkSeqs: [Int] = []
        for try await e in job.events {
            if case .resultChunk(let c) = e.body { chunkSeqs.append(c.chunkSeq) }
        }
        let outcome = try await job.result()
        #expect(outcome.result == .string(text))
        #expect(outcome.resultSize == text.utf8.count)
        #expect(outcome.resultID?.hasPrefix("res_") == true)
        #expect(chunkSeqs == Array(0..<chunkSeqs.count))
        #expect(chunkSeqs.count > 10)
        await client.close()
    }

    @Test("progress events are gated by negotiation")
    func progressGated() async throws {
        let h = try Harness()
        var o = ARCPClient.Options()
        o.features = []
        let client = try await h.client(options: o)
        let job = try await client.submit(agent: "progress")
        var kinds: [String] = []
        for try await e in job.events { kinds.append(e.body.kind) }
        #expect(!kinds.contains("progress"))
        let c2 = try await h.client()
        let j2 = try await c2.submit(agent: "progress")
        var n = 0
        for try await e in j2.events { if case .progress = e.body { n += 1 } }
        #expect(n == 4)
        await client.close(); await c2.close()
    }
}

final class CleanupFlag: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var value: Bool { flag.withLock { $0 } }
}
import Synchronization
