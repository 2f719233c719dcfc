import ARCP
import Testing

@Suite("JobStateMachine: the job lifecycle without I/O")
struct JobStateMachineTests {
    let boom = ARCPError(.permissionDenied, "nope", retryable: false)

    @Test("pending → running → ending → finished on a normal return")
    func normalReturn() {
        var m = JobStateMachine()
        #expect(m.state == .pending)
        #expect(m.status == .pending)
        #expect(m.taskInstalled() == .run)
        m.agentStarted()
        #expect(m.state == .running)
        #expect(m.status == .running)
        #expect(m.agentFinished(.returned(["ok": true])) == .success(["ok": true], summary: nil))
        #expect(m.state == .ending(.success))
        #expect(m.hasEnded)
        #expect(!m.isSettled)
        m.settled()
        #expect(m.state == .finished(.success))
        #expect(m.isSettled)
    }

    @Test("a typed error keeps its code and final status; a cancellation without a stop is a plain cancel")
    func errors() {
        var m = JobStateMachine()
        m.agentStarted()
        #expect(m.agentFinished(.threw(boom, cancellation: false)) == .failure(boom))
        #expect(m.status == .error)

        var timedOut = JobStateMachine()
        let late = ARCPError(.timeout, "late", retryable: false, finalStatus: .timedOut)
        #expect(timedOut.agentFinished(.threw(late, cancellation: false)) == .failure(late))
        #expect(timedOut.status == .timedOut)

        var cancelled = JobStateMachine()
        cancelled.agentStarted()
        #expect(cancelled.agentFinished(.threw(boom, cancellation: true)) == .stopped(.cancelled(nil)))
        #expect(cancelled.status == .cancelled)
    }

    @Test("stop: first reason wins, the agent's return is then the stop's ending", arguments: [
        StopReason.cancelled("user"), .timedOut, .leaseExpired, .parentCancelled, .shutdown, .budgetExhausted,
    ])
    func stopThenReturn(reason: StopReason) {
        var m = JobStateMachine()
        m.agentStarted()
        #expect(m.stop(reason) == .cancelAndArmGrace)
        #expect(m.stopReason == reason)
        #expect(m.status == .running)
        #expect(m.stop(.shutdown) == .alreadyStopping)
        #expect(m.stopReason == reason)
        // Whatever the agent does next, the job ends the way the stop says.
        #expect(m.agentFinished(.returned("ignored")) == .stopped(reason))
        #expect(m.stopReason == reason)
        #expect(m.stop(.timedOut) == .alreadyEnded)
    }

    @Test("a stop before the task exists cancels it as soon as it is installed")
    func stopBeforeStart() {
        var m = JobStateMachine()
        #expect(m.stop(.shutdown) == .cancelAndArmGrace)
        #expect(m.status == .pending)
        #expect(m.taskInstalled() == .cancel)
        m.agentStarted()
        #expect(m.status == .running)
        #expect(m.agentFinished(.threw(boom, cancellation: true)) == .stopped(.shutdown))
        #expect(m.status == .cancelled)
    }

    @Test("grace expiry ends a stopped job whose agent ignores cancellation; the agent's late return changes nothing")
    func graceExpiry() {
        var m = JobStateMachine()
        m.agentStarted()
        #expect(m.graceExpired() == nil)  // not stopping: nothing to end
        _ = m.stop(.cancelled(nil))
        #expect(m.graceExpired() == .stopped(.cancelled(nil)))
        #expect(m.graceExpired() == nil)
        #expect(m.agentFinished(.returned("late")) == nil)
        m.settled()
        #expect(m.state == .finished(.cancelled))
    }

    @Test("a streamed result ends the job through its stream; a return after it is ignored, a return without it fails the job")
    func streamedResult() {
        var finished = JobStateMachine()
        finished.agentStarted()
        finished.resultStreamStarted()
        #expect(finished.endDirectly(.streamed(resultID: "res_1", size: 3, summary: nil)) == .streamed(resultID: "res_1", size: 3, summary: nil))
        #expect(finished.endDirectly(.success("twice")) == nil)
        #expect(finished.agentFinished(.returned(.null)) == nil)
        #expect(finished.status == .success)

        var abandoned = JobStateMachine()
        abandoned.agentStarted()
        abandoned.resultStreamStarted()
        guard case .failure(let e)? = abandoned.agentFinished(.returned(.null)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(e.code == .internalError)
    }

    @Test("illegal inputs after the end change nothing")
    func illegalAfterEnd() {
        var m = JobStateMachine()
        _ = m.agentFinished(.returned(1))
        m.settled()
        let before = m.state
        m.agentStarted()
        #expect(m.taskInstalled() == .cancel)
        #expect(m.stop(.shutdown) == .alreadyEnded)
        #expect(m.agentFinished(.returned(2)) == nil)
        #expect(m.graceExpired() == nil)
        #expect(m.endDirectly(.success(3)) == nil)
        m.settled()
        #expect(m.state == before)
        #expect(m.stopReason == nil)
    }

    @Test("settled before an ending is ignored")
    func settledTooEarly() {
        var m = JobStateMachine()
        m.settled()
        #expect(m.state == .pending)
    }

    @Test("the final status of every ending")
    func endingStatus() {
        #expect(JobEnding.success(1).status == .success)
        #expect(JobEnding.streamed(resultID: "r", size: 0, summary: nil).status == .success)
        #expect(JobEnding.failure(boom).status == .error)
        #expect(JobEnding.stopped(.cancelled(nil)).status == .cancelled)
        #expect(JobEnding.stopped(.parentCancelled).status == .cancelled)
        #expect(JobEnding.stopped(.shutdown).status == .cancelled)
        #expect(JobEnding.stopped(.timedOut).status == .timedOut)
        #expect(JobEnding.stopped(.leaseExpired).status == .error)
        #expect(JobEnding.stopped(.budgetExhausted).status == .error)
    }
}

@Suite("JobTerminalFrame: how each ending goes on the wire")
struct JobTerminalFrameTests {
    let spec = JobTerminalFrame.Context(compatibility: .spec, leaseExpiresAt: "2030-01-01T00:00:00Z", exhaustedCurrency: "USD")
    let python = JobTerminalFrame.Context(compatibility: .pythonReference)
    let at = "2026-01-01T00:00:00.000Z"

    func error(_ m: Message) -> JobErrorPayload? { if case .jobError(let e) = m { e } else { nil } }
    func result(_ m: Message) -> JobResultPayload? { if case .jobResult(let r) = m { r } else { nil } }

    @Test("success inline and streamed")
    func success() throws {
        let inline = try #require(result(JobTerminalFrame.message(for: .success(["a": 1], summary: "s"), context: spec, completedAt: at)))
        #expect(inline.finalStatus == .success)
        #expect(inline.result == ["a": 1])
        #expect(inline.summary == "s")
        #expect(inline.completedAt == at)
        let streamed = try #require(result(JobTerminalFrame.message(for: .streamed(resultID: "res_1", size: 9, summary: nil), context: spec, completedAt: at)))
        #expect(streamed.resultId == "res_1")
        #expect(streamed.resultSize == 9)
        #expect(streamed.result == nil)
    }

    @Test("stops in the spec's form")
    func stopsSpec() throws {
        let cancelled = try #require(error(JobTerminalFrame.message(for: .stopped(.cancelled("user")), context: spec, completedAt: at)))
        #expect(cancelled.code == .cancelled)
        #expect(cancelled.message == "cancelled: user")
        #expect(cancelled.finalStatus == .cancelled)
        #expect(cancelled.retryable == false)
        let timedOut = try #require(error(JobTerminalFrame.message(for: .stopped(.timedOut), context: spec, completedAt: at)))
        #expect(timedOut.code == .timeout)
        #expect(timedOut.finalStatus == .timedOut)
        let expired = try #require(error(JobTerminalFrame.message(for: .stopped(.leaseExpired), context: spec, completedAt: at)))
        #expect(expired.code == .leaseExpired)
        #expect(expired.message == "the lease expired at 2030-01-01T00:00:00Z")
        #expect(expired.finalStatus == .error)
        let budget = try #require(error(JobTerminalFrame.message(for: .stopped(.budgetExhausted), context: spec, completedAt: at)))
        #expect(budget.code == .budgetExhausted)
        #expect(budget.message == "cost.budget for USD is exhausted")
        let shutdown = try #require(error(JobTerminalFrame.message(for: .stopped(.shutdown), context: spec, completedAt: at)))
        #expect(shutdown.code == .cancelled)
        #expect(shutdown.retryable == true)
        let parent = try #require(error(JobTerminalFrame.message(for: .stopped(.parentCancelled), context: spec, completedAt: at)))
        #expect(parent.code == .cancelled)
        #expect(parent.finalStatus == .cancelled)
    }

    @Test("for the Python reference: cancel as job.error CANCELLED with final_status error, timeout as job.result; other stops unchanged")
    func stopsPython() throws {
        let cancelled = try #require(error(JobTerminalFrame.message(for: .stopped(.cancelled(nil)), context: python, completedAt: at)))
        #expect(cancelled.code == .cancelled)
        #expect(cancelled.finalStatus == .error)
        #expect(cancelled.retryable == false)
        let timedOut = try #require(result(JobTerminalFrame.message(for: .stopped(.timedOut), context: python, completedAt: at)))
        #expect(timedOut.finalStatus == .timedOut)
        let parent = try #require(error(JobTerminalFrame.message(for: .stopped(.parentCancelled), context: python, completedAt: at)))
        #expect(parent.code == .cancelled)
        let expired = try #require(error(JobTerminalFrame.message(for: .stopped(.leaseExpired), context: python, completedAt: at)))
        #expect(expired.message == "the lease expired")
    }

    @Test("a failure keeps code, message, retryability, details and final status")
    func failure() throws {
        let e = ARCPError(.permissionDenied, "nope", retryable: false, details: ["k": "v"], finalStatus: .error)
        let m = JobTerminalFrame.message(for: .failure(e), context: spec, completedAt: at)
        let p = try #require(error(m))
        #expect(p.code == .permissionDenied)
        #expect(p.message == "nope")
        #expect(p.details == ["k": "v"])
        #expect(JobTerminalFrame.status(of: m) == .error)
    }
}
