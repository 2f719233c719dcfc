import ARCP
import Foundation
import Testing

/// Issue 10 item 3 (the runtime's limits; the WebSocket ones are in the transport's tests):
/// each limit has a default, a knob, a typed error when hit (spec v1.0 §14: INTERNAL_ERROR,
/// not retryable, `details.limit` naming it), and frees its counters.
@Suite("Runtime limits: sessions, running jobs, idle connections, outbound bytes, lease size")
struct RuntimeLimitsTests {
    static func isLimit(_ e: ErrorPayload?, _ name: String) -> Bool {
        e?.code == .internalError && e?.retryable == false && e?.details?["limit"] == .string(name)
    }

    @Test("sessions per principal: the one over the limit is refused; other principals are served; a freed slot is reusable")
    func sessionsPerPrincipal() async throws {
        let h = try Harness { c in
            c.limits.maxSessionsPerPrincipal = 2
            c.resumeWindow = .milliseconds(50)
        }
        let a = h.raw()
        let b = h.raw()
        #expect(try await a.hello()?.sessionId != nil)
        #expect(try await b.hello()?.sessionId != nil)
        let third = h.raw()
        let refused = try await third.hello()
        #expect(Self.isLimit(refused?.error, "sessions_per_principal"), "\(String(describing: refused))")
        #expect(try await third.next() == nil, "the refused connection is closed")
        // Another principal is not affected.
        let other = h.raw()
        #expect(try await other.hello(token: "tok2")?.sessionId != nil)
        // One of the two ends and expires: its slot is free again.
        a.transport.drop()
        let table = try #require(h.runtime.tables.sessions as? InMemorySessionTable)
        #expect(await eventually { h.runtime.sessionIDs.count == 2 })
        let again = h.raw()
        #expect(try await again.hello()?.sessionId != nil)
        b.transport.drop()
        other.transport.drop()
        again.transport.drop()
        #expect(await eventually { h.runtime.sessionIDs.isEmpty && table.principalCount == 0 })
    }

    @Test("running jobs per session and per principal: the submit over a limit is refused, its idempotency key released; an ended job frees its slot")
    func runningJobs() async throws {
        let h = try Harness { c in
            c.limits.maxRunningJobsPerSession = 2
            c.limits.maxRunningJobsPerPrincipal = 3
        }
        let peer = h.raw()
        let sid = try #require(try await peer.hello()?.sessionId)
        var running: [String] = []
        for _ in 0..<2 {
            _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "slow", input: ["ticks": 100_000])), sessionID: sid)
            let acc = try #require(try await peer.next { if case .jobAccepted = $0.message { true } else { false } })
            running.append(try #require(acc.jobId))
        }
        let refusedID = try await peer.send(
            .jobSubmit(JobSubmitPayload(agent: "echo", idempotencyKey: "k-1")), sessionID: sid)
        let refused = try #require(try await peer.next { $0.error != nil })
        #expect(Self.isLimit(refused.error, "running_jobs_per_session"))
        #expect(refused.error?.requestId == refusedID)
        #expect(refused.error?.details?["max"] == 2)

        // The principal's limit spans sessions: one more from another session, then refused.
        let second = h.raw()
        let sid2 = try #require(try await second.hello()?.sessionId)
        _ = try await second.send(.jobSubmit(JobSubmitPayload(agent: "slow", input: ["ticks": 100_000])), sessionID: sid2)
        let acc3 = try #require(try await second.next { if case .jobAccepted = $0.message { true } else { false } })
        running.append(try #require(acc3.jobId))
        _ = try await second.send(.jobSubmit(JobSubmitPayload(agent: "echo")), sessionID: sid2)
        #expect(Self.isLimit(try await second.next { $0.error != nil }?.error, "running_jobs_per_principal"))
        // Another principal is not affected.
        let other = try await h.client(token: "tok2")
        _ = try await other.submit(agent: "echo").result()

        // A job ends: the session may submit again, and the refused key was released (a new job).
        _ = try await peer.send(.jobCancel(JobCancelPayload(jobId: running[0])), sessionID: sid, jobID: running[0])
        #expect(await eventually { h.runtime.tables.jobs.localCounts.finished == 2 })
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "echo", idempotencyKey: "k-1")), sessionID: sid)
        let accepted = try #require(try await peer.next { if case .jobAccepted = $0.message { true } else { $0.error != nil } })
        guard case .jobAccepted = accepted.message else {
            Issue.record("expected job.accepted, got \(accepted.message.type) \(String(describing: accepted.error))")
            return
        }
        await h.runtime.shutdown()
        // Every running-job counter is freed once the jobs ended.
        #expect(await eventually { h.runtime.tables.jobs.localCounts.runningPrincipals == 0 })
        #expect(h.runtime.tables.jobs.localCounts.runningSessions == 0)
    }

    @Test("idle timeout: a connection without heartbeat and silent both ways is closed with HEARTBEAT_LOST; the session stays resumable")
    func idleTimeout() async throws {
        let h = try Harness { $0.limits.idleTimeout = .milliseconds(200) }
        let peer = h.raw()
        let w = try #require(try await peer.hello(features: [.ack]))
        let sid = try #require(w.sessionId)
        guard case .sessionWelcome(let welcome) = w.message else { return }
        let e = try await within(.seconds(10), "the idle close") { try await peer.next() }
        #expect(e?.error?.code == .heartbeatLost)
        #expect(e?.error?.details?["limit"] == "idle_timeout")
        #expect(try await within(.seconds(10), "the transport closes") { try await peer.next() } == nil)
        let again = h.raw()
        let resumed = try await again.hello(resume: ResumeBlock(sessionId: sid, resumeToken: welcome.resumeToken, lastEventSeq: 0))
        if case .sessionWelcome = resumed?.message {} else { Issue.record("expected a welcome, got \(String(describing: resumed))") }
    }

    @Test("a frame either way moves the idle deadline (a connection that keeps talking is never idle)")
    func activityMovesTheIdleDeadline() async throws {
        let idle = ConnectionHeartbeat(idleTimeout: .seconds(3600))
        let d0 = try #require(idle.idleDeadline)
        // The monotonic clock moves on; then a frame out, then a frame in.
        while ContinuousClock.now <= d0 - .seconds(3600) { await Task.yield() }
        idle.frameSent()
        let d1 = try #require(idle.idleDeadline)
        #expect(d1 > d0)
        while ContinuousClock.now <= d1 - .seconds(3600) { await Task.yield() }
        idle.frameReceived()
        let d2 = try #require(idle.idleDeadline)
        #expect(d2 > d1)
        idle.stop()
        #expect(idle.idleDeadline == nil)
    }

    @Test("the outbound queue is bounded in bytes: an agent emitting large events to a reader that stopped waits")
    func outboundBoundedInBytes() async throws {
        let cap = 256 << 10
        let h = try Harness { c in
            c.buffering.maxPendingBytes = cap
            c.buffering.maxPendingFrames = 100_000
        }
        let emitted = Counter()
        try h.runtime.register("big") { _, ctx in
            let blob = String(repeating: "z", count: 16 << 10)
            for _ in 0..<1000 {
                await ctx.log("info", blob)
                emitted.increment()
            }
            return .null
        }
        let (c, r) = MemoryTransport.pair(capacity: 4)
        Task { await h.runtime.accept(r) }
        let peer = RawPeer(transport: c)
        let sid = try #require(try await peer.hello(features: [])?.sessionId)
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "big")), sessionID: sid)
        // The peer stops reading: the agent is held at the byte bound, far below its 16 MiB.
        let session = try #require(h.runtime.tables.sessions.localSession(sid))
        #expect(await eventually { session.pendingCounts.bytes >= cap - (17 << 10) })
        let queued = session.pendingCounts
        #expect(queued.bytes <= cap + (17 << 10), "\(queued)")
        #expect(emitted.value < 100, "\(emitted.value) events emitted")
    }

    @Test("lease size: too many patterns or bytes is INVALID_REQUEST before anything is compiled")
    func leaseSize() async throws {
        let h = try Harness { c in
            c.limits.maxLeasePatterns = 3
            c.limits.maxLeaseBytes = 100
        }
        let peer = h.raw()
        let sid = try #require(try await peer.hello()?.sessionId)
        _ = try await peer.send(
            .jobSubmit(JobSubmitPayload(agent: "echo", leaseRequest: ["fs.read": ["/a/**", "/b/**", "/c/**", "/d/**"]])), sessionID: sid)
        let many = try #require(try await peer.next { $0.error != nil })
        #expect(many.error?.code == .invalidRequest && many.error?.details?["limit"] == "lease_patterns")
        _ = try await peer.send(
            .jobSubmit(JobSubmitPayload(agent: "echo", leaseRequest: ["fs.read": ["/" + String(repeating: "a", count: 200)]])), sessionID: sid)
        let big = try #require(try await peer.next { $0.error != nil })
        #expect(big.error?.code == .invalidRequest && big.error?.details?["limit"] == "lease_bytes")
        // Within the limits: accepted.
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "echo", leaseRequest: ["fs.read": ["/a/**"]])), sessionID: sid)
        let ok = try #require(try await peer.next())
        if case .jobAccepted = ok.message {} else { Issue.record("expected job.accepted, got \(ok.message.type)") }
    }
}
