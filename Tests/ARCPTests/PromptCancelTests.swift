import ARCP
import Foundation
import Testing

/// Issue 10 item 5: `job.cancel` reaches the agent and the terminal frame promptly even when
/// the agent is blocked on back-pressure, and a stopped agent that keeps emitting is bounded.
@Suite("Prompt cancel")
struct PromptCancelTests {
    @Test("cancel wakes an agent blocked on back-pressure (a client that does not ack): job.error CANCELLED long before the grace period")
    func cancelWhileBlockedOnBackPressure() async throws {
        let h = try Harness { c in
            c.buffering.maxUnackedEvents = 100
            c.buffering.backPressureThreshold = 50
            // Without the fix the job would end only when this grace period passes.
            c.cancelGracePeriod = .seconds(120)
        }
        let peer = h.raw()
        let w = try #require(try await peer.hello(features: [.ack]))
        let sid = try #require(w.sessionId)
        // flood ignores cancellation: it only ever awaits its emitters.
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "flood", input: ["n": 1_000_000])), sessionID: sid)
        let accepted = try #require(try await peer.next { if case .jobAccepted = $0.message { true } else { false } })
        let jobID = try #require(accepted.jobId)
        // Read (never ack) until the agent is blocked on the ack lag.
        var seen = 0
        while seen < 100, let e = try await peer.next() { if e.eventSeq != nil { seen += 1 } }
        let start = ContinuousClock.now
        _ = try await peer.send(.jobCancel(JobCancelPayload(reason: "stop", jobId: jobID)), sessionID: sid, jobID: jobID)
        let terminal = try await within(.seconds(20), "the terminal frame after job.cancel") {
            try await peer.next { if case .jobError = $0.message { true } else if case .jobResult = $0.message { true } else { false } }
        }
        guard case .jobError(let e)? = terminal?.message else {
            Issue.record("expected job.error, got \(terminal?.message.type ?? "nothing")")
            return
        }
        #expect(e.code == .cancelled && e.finalStatus == .cancelled)
        // Reported, not asserted tightly (machines under load vary): far below the grace period.
        #expect(ContinuousClock.now - start < .seconds(20))
        // The agent stopped waiting and its further events were bounded.
        let delivered = try #require(h.runtime.lastOwnerSeq(jobID))
        #expect(delivered < 100 + 2 * 1024, "\(delivered) events")
    }

    @Test("shutdown stops a job blocked on back-pressure promptly")
    func shutdownWhileBlocked() async throws {
        let h = try Harness { c in
            c.buffering.maxUnackedEvents = 50
            c.cancelGracePeriod = .seconds(120)
        }
        let peer = h.raw()
        let w = try #require(try await peer.hello(features: [.ack]))
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "flood", input: ["n": 1_000_000])), sessionID: w.sessionId)
        let accepted = try #require(try await peer.next { if case .jobAccepted = $0.message { true } else { false } })
        let jobID = try #require(accepted.jobId)
        var seen = 0
        while seen < 50, let e = try await peer.next() { if e.eventSeq != nil { seen += 1 } }
        try await within(.seconds(20), "shutdown") { await h.runtime.shutdown() }
        #expect(h.runtime.jobStatus(jobID) == .cancelled)
    }
}
