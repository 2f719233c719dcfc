import ARCP
import Foundation
import Synchronization
import Testing

/// Waits (polling with short yields) until `condition` holds, or fails after `timeout`.
func eventually(_ timeout: Duration = .seconds(10), _ condition: @Sendable () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return await condition()
}

final class Counter: Sendable {
    private let v = Mutex(0)
    func increment() { v.withLock { $0 += 1 } }
    var value: Int { v.withLock { $0 } }
}

final class Gate: Sendable {
    private let open = Mutex(false)
    func release() { open.withLock { $0 = true } }
    var isOpen: Bool { open.withLock { $0 } }
    func wait() async { while !isOpen { try? await Task.sleep(for: .milliseconds(2)) } }
}

extension RawPeer {
    func hello(resume: ResumeBlock, token: String = "tok", features: [Feature] = Feature.allKnown) async throws -> Envelope? {
        _ = try await send(.sessionHello(SessionHelloPayload(
            client: PeerInfo(name: "raw", version: "0"), auth: Auth(scheme: "bearer", token: token),
            capabilities: HelloCapabilities(encodings: ["json"], features: features), resume: resume)))
        return try await next()
    }
}

@Suite("Durability: resume, ack, back-pressure, list_jobs, subscribe, heartbeats")
struct DurabilityTests {
    /// Runs a `gated` agent: emits `before` logs, waits for the gate, emits `after` logs.
    static func gatedHarness(_ gate: Gate, configure: (inout ARCPRuntime.Configuration) -> Void = { _ in }) throws -> Harness {
        let h = try Harness(configure: configure)
        try h.runtime.register("gated") { input, ctx in
            let before = input["before"]?.int64Value ?? 5
            let after = input["after"]?.int64Value ?? 5
            for i in 0..<before { await ctx.log("info", "b\(i)") }
            await gate.wait()
            for i in 0..<after { await ctx.log("info", "a\(i)") }
            return ["done": true]
        }
        return h
    }

    @Test("resume in session.hello: events emitted while away are replayed; nothing lost, nothing duplicated; token rotates")
    func resumeInHello() async throws {
        let gate = Gate()
        let h = try Self.gatedHarness(gate)
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        guard case .sessionWelcome(let welcome) = w.message, let sid = w.sessionId else { Issue.record("no welcome"); return }
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "gated", input: ["before": 5, "after": 50])), sessionID: sid)
        var seen: [Int] = []
        while seen.count < 3, let e = try await peer.next() { if let s = e.eventSeq { seen.append(s) } }
        peer.transport.drop()
        gate.release()
        // The job finishes while the client is away.
        await #expect(eventually { h.runtime.jobStatus(h.runtime.jobIDs.first ?? "") == .success })
        let peer2 = h.raw()
        let w2 = try #require(try await peer2.hello(resume: ResumeBlock(sessionId: sid, resumeToken: welcome.resumeToken, lastEventSeq: seen.last ?? 0)))
        guard case .sessionWelcome(let welcome2) = w2.message else { Issue.record("expected welcome, got \(w2.message.type) \(String(describing: w2.error))"); return }
        #expect(w2.sessionId == sid)
        #expect(welcome2.resumeToken != welcome.resumeToken)
        var terminal = false
        while !terminal, let e = try await peer2.next() {
            if let s = e.eventSeq { seen.append(s) }
            if case .jobResult = e.message { terminal = true }
        }
        #expect(seen == Array(1...56))
        // Once the client has spoken on the new connection, the old token no longer works.
        _ = try await peer2.send(.sessionPing(SessionPingPayload(nonce: "n")), sessionID: sid)
        _ = try await peer2.next()
        let peer3 = h.raw()
        let bad = try #require(try await peer3.hello(resume: ResumeBlock(sessionId: sid, resumeToken: welcome.resumeToken, lastEventSeq: 0)))
        #expect(bad.error?.code == .unauthenticated)
    }

    @Test("session.resume form; a wrong token → UNAUTHENTICATED and the session stays resumable")
    func resumeMessage() async throws {
        let h = try Harness()
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        guard case .sessionWelcome(let welcome) = w.message, let sid = w.sessionId else { return }
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "flood", input: ["n": 10])), sessionID: sid)
        _ = try await peer.next(where: { if case .jobResult = $0.message { true } else { false } })
        peer.transport.drop()
        let wrong = h.raw()
        _ = try await wrong.send(.sessionResume(SessionResumePayload(sessionId: sid, resumeToken: "rtk_WRONG", lastEventSeq: 0, auth: Auth(token: "tok"))))
        #expect(try await wrong.next()?.error?.code == .unauthenticated)
        let right = h.raw()
        _ = try await right.send(.sessionResume(SessionResumePayload(sessionId: sid, resumeToken: welcome.resumeToken, lastEventSeq: 4, auth: Auth(token: "tok"))))
        let w2 = try #require(try await right.next())
        guard case .sessionWelcome = w2.message else { Issue.record("expected welcome"); return }
        var seqs: [Int] = []
        while seqs.last != 11, let e = try await right.next() { if let s = e.eventSeq { seqs.append(s) } }
        #expect(seqs == Array(5...11))
    }

    @Test("a buffer that no longer covers last_event_seq → RESUME_WINDOW_EXPIRED")
    func windowExpired() async throws {
        let h = try Harness { $0.buffering.maxBufferedEvents = 10 }
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        guard case .sessionWelcome(let welcome) = w.message, let sid = w.sessionId else { return }
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "flood", input: ["n": 50])), sessionID: sid)
        _ = try await peer.next(where: { if case .jobResult = $0.message { true } else { false } })
        peer.transport.drop()
        let again = h.raw()
        let e = try #require(try await again.hello(resume: ResumeBlock(sessionId: sid, resumeToken: welcome.resumeToken, lastEventSeq: 3)))
        #expect(e.error?.code == .resumeWindowExpired)
        #expect(h.runtime.bufferStats(session: sid)?.evicted == 41)
    }

    @Test("session.ack frees buffered events; resuming before the acked seq is expired")
    func ackFrees() async throws {
        let h = try Harness()
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        guard case .sessionWelcome(let welcome) = w.message, let sid = w.sessionId else { return }
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "flood", input: ["n": 20])), sessionID: sid)
        _ = try await peer.next(where: { if case .jobResult = $0.message { true } else { false } })
        #expect(h.runtime.bufferStats(session: sid)?.events == 21)
        _ = try await peer.send(.sessionAck(SessionAckPayload(lastProcessedSeq: 15)), sessionID: sid)
        #expect(await eventually { h.runtime.bufferStats(session: sid)?.events == 6 })
        peer.transport.drop()
        let again = h.raw()
        let e = try #require(try await again.hello(resume: ResumeBlock(sessionId: sid, resumeToken: welcome.resumeToken, lastEventSeq: 10)))
        #expect(e.error?.code == .resumeWindowExpired)
    }

    @Test("a consumer that never reads back-pressures the agent: memory stays bounded")
    func neverReads() async throws {
        let emitted = Counter()
        let h = try Harness { $0.buffering.maxPendingFrames = 16; $0.buffering.maxBufferedEvents = 200 }
        try h.runtime.register("firehose") { _, ctx in
            for i in 0..<1_000_000 {
                await ctx.log("info", "e\(i)")
                emitted.increment()
            }
            return nil
        }
        let (c, r) = MemoryTransport.pair(capacity: 32)
        let rt = h.runtime
        Task { await rt.accept(r) }
        let peer = RawPeer(transport: c)
        let w = try #require(try await peer.hello())
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "firehose")), sessionID: w.sessionId)
        // Never read again. The emitter must stall within transport + pending bounds.
        #expect(await eventually { emitted.value > 40 })
        try await Task.sleep(for: .milliseconds(300))  // give a runaway emitter the chance to show itself
        let bound = 32 + 2 * 16 + 4
        #expect(emitted.value <= bound, "emitted \(emitted.value) events to a consumer that never reads")
        let stats = try #require(h.runtime.bufferStats(session: w.sessionId ?? ""))
        #expect(stats.events <= 200)
    }

    @Test("slow consumer with ack: back_pressure status, and emitters wait for acks")
    func slowConsumerAck() async throws {
        let h = try Harness { $0.buffering.backPressureThreshold = 20; $0.buffering.maxUnackedEvents = 40 }
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        let sid = w.sessionId
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "flood", input: ["n": 100])), sessionID: sid)
        var sawBackPressure = false
        var lastSeq = 0
        var done = false
        while !done, let e = try await peer.next() {
            if case .jobEvent(let p) = e.message, case .status(let s) = p.body, s.phase == "back_pressure" { sawBackPressure = true }
            if case .jobResult = e.message { done = true }
            if let s = e.eventSeq {
                lastSeq = s
                if s % 30 == 0 { _ = try await peer.send(.sessionAck(SessionAckPayload(lastProcessedSeq: s)), sessionID: sid) }
            }
        }
        #expect(sawBackPressure)
        #expect(done)
        #expect(lastSeq >= 101)
    }

    @Test("list_jobs: filters, limit and cursor paging, principal isolation")
    func listJobs() async throws {
        let h = try Harness()
        let client = try await h.client()
        for i in 0..<5 { _ = try await client.submit(agent: "echo", input: ["i": .int(Int64(i))]).result() }
        let v = try await client.submit(agent: "versioned@2.0.0")
        _ = try await v.result()
        let all = try await client.listJobs()
        #expect(all.jobs.count == 6)
        #expect(all.jobs.allSatisfy { $0.traceId != nil && $0.createdAt != nil && $0.lease != nil && $0.lastEventSeq != nil })
        let versioned = try await client.listJobs(filter: ListJobsFilter(agent: "versioned"))
        #expect(versioned.jobs.map(\.agent) == ["versioned@2.0.0"])
        let running = try await client.listJobs(filter: ListJobsFilter(status: [.running]))
        #expect(running.jobs.isEmpty)
        let page1 = try await client.listJobs(limit: 4)
        #expect(page1.jobs.count == 4)
        let cursor = try #require(page1.nextCursor)
        let page2 = try await client.listJobs(limit: 4, cursor: cursor)
        #expect(page2.jobs.count == 2)
        #expect(page2.nextCursor == nil)
        #expect(Set(page1.jobs.map(\.jobId)).isDisjoint(with: page2.jobs.map(\.jobId)))
        let future = try await client.listJobs(filter: ListJobsFilter(createdAfter: ARCPTimestamp.string(Date().addingTimeInterval(60))))
        #expect(future.jobs.isEmpty)
        await #expect(throws: ARCPError.self) { _ = try await client.listJobs(cursor: "bogus!") }
        let other = try await h.client(token: "tok2")
        #expect(try await other.listJobs().jobs.isEmpty)
        await client.close(); await other.close()
    }

    @Test("subscribe: job.subscribed first, history renumbered in the subscriber's own seq space, then live; no cancel authority")
    func subscribe() async throws {
        let gate = Gate()
        let h = try Self.gatedHarness(gate)
        let owner = try await h.client()
        let job = try await owner.submit(agent: "gated", input: ["before": 5, "after": 5])
        #expect(await eventually { h.runtime.lastOwnerSeq(job.jobID) == 5 })
        // The subscriber session first gets some events of its own, so its seq space differs.
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        let sid = w.sessionId
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "flood", input: ["n": 3])), sessionID: sid)
        _ = try await peer.next(where: { if case .jobResult = $0.message { true } else { false } })
        _ = try await peer.send(.jobSubscribe(JobSubscribePayload(jobId: job.jobID, fromEventSeq: 2, history: true)), sessionID: sid)
        let sub = try #require(try await peer.next())
        guard case .jobSubscribed(let s) = sub.message else { Issue.record("expected job.subscribed first, got \(sub.message.type)"); return }
        #expect(s.replayed == .bool(true))
        #expect(s.lease == [:])
        #expect(s.traceId == job.accepted?.traceId)
        var seqs: [Int] = []
        var messages: [String] = []
        gate.release()
        var done = false
        while !done, let e = try await peer.next() {
            if let q = e.eventSeq { seqs.append(q) }
            if case .jobEvent(let p) = e.message, case .log(let l) = p.body { messages.append(l.message) }
            if case .jobResult = e.message { done = true }
        }
        #expect(messages == ["b2", "b3", "b4", "a0", "a1", "a2", "a3", "a4"])
        #expect(seqs == Array(5...13))  // after the subscriber's own 4 frames
        // A subscriber cannot cancel.
        _ = try await peer.send(.jobCancel(JobCancelPayload()), sessionID: sid, jobID: job.jobID)
        let denied = try #require(try await peer.next())
        #expect(denied.error?.code == .permissionDenied || denied.error?.code == .invalidRequest)
        await owner.close()
    }

    @Test("subscribe from a second principal: hidden by default (answered as a missing job, issue 10 item 6), allowed by policy")
    func subscribeOtherPrincipal() async throws {
        let h = try Harness()
        let owner = try await h.client()
        let job = try await owner.submit(agent: "echo")
        _ = try await job.result()
        let other = try await h.client(token: "tok2")
        do {
            _ = try await other.subscribe(jobID: job.jobID)
            Issue.record("expected JOB_NOT_FOUND")
        } catch let e as ARCPError {
            #expect(e.code == .jobNotFound)
        }
        let h2 = try Harness { $0.observePolicy = .custom { observer, _ in observer == "other@example.com" } }
        let owner2 = try await h2.client()
        let job2 = try await owner2.submit(agent: "echo")
        _ = try await job2.result()
        let other2 = try await h2.client(token: "tok2")
        let handle = try await other2.subscribe(jobID: job2.jobID)
        // A finished job: the subscriber still gets the outcome, so tail-like tools terminate.
        #expect(try await handle.result().result == ["echoed": [:]])
        await owner.close(); await other.close(); await owner2.close(); await other2.close()
    }

    @Test("unsubscribe stops delivery")
    func unsubscribe() async throws {
        let gate = Gate()
        let h = try Self.gatedHarness(gate)
        let owner = try await h.client()
        let job = try await owner.submit(agent: "gated", input: ["before": 1, "after": 3])
        let watcher = try await h.client()
        let handle = try await watcher.subscribe(jobID: job.jobID)
        try await watcher.unsubscribe(jobID: job.jobID)
        gate.release()
        _ = try await job.result()
        await #expect(throws: ARCPClientError.self) { _ = try await handle.result() }
        await owner.close(); await watcher.close()
    }

    @Test("heartbeats: the runtime pings an idle client and reports HEARTBEAT_LOST after two silent intervals; jobs survive")
    func heartbeatLoss() async throws {
        let gate = Gate()
        let h = try Self.gatedHarness(gate) { $0.heartbeatInterval = .milliseconds(200) }
        let peer = h.raw()
        let w = try #require(try await peer.hello(features: [.heartbeat]))
        guard case .sessionWelcome(let welcome) = w.message else { return }
        #expect(welcome.heartbeatIntervalSec == 1)
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "gated", input: ["before": 1, "after": 1])), sessionID: w.sessionId)
        var sawPing = false
        var lost = false
        while let e = try await peer.next() {
            if case .sessionPing = e.message { sawPing = true }
            if e.error?.code == .heartbeatLost { lost = true }
        }
        #expect(sawPing)
        #expect(lost)
        let jobID = try #require(h.runtime.jobIDs.first)
        #expect(h.runtime.jobStatus(jobID) == .running)
        gate.release()
        await h.runtime.waitForJob(jobID)
        #expect(h.runtime.jobStatus(jobID) == .success)
    }
}

@Suite("Client auto-ack")
struct AutoAckTests {
    @Test("auto-ack every N events frees the runtime's buffer")
    func everyN() async throws {
        let h = try Harness()
        var o = ARCPClient.Options()
        o.autoAckEvery = 10
        o.autoAckInterval = nil
        let client = try await h.client(options: o)
        let job = try await client.submit(agent: "flood", input: ["n": 99])
        _ = try await job.result()
        let sid = try #require(client.sessionID)
        // 100 events; acks at 10, 20, … 100 leave nothing buffered.
        #expect(await eventually { h.runtime.bufferStats(session: sid)?.events == 0 })
        await client.close()
    }

    @Test("auto-ack by time")
    func byTime() async throws {
        let h = try Harness()
        var o = ARCPClient.Options()
        o.autoAckEvery = nil
        o.autoAckInterval = .zero
        let client = try await h.client(options: o)
        _ = try await client.submit(agent: "flood", input: ["n": 5]).result()
        let sid = try #require(client.sessionID)
        #expect(await eventually { h.runtime.bufferStats(session: sid)?.events == 0 })
        await client.close()
    }
}
