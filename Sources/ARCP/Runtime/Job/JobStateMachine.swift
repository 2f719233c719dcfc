/// Why a job's task was cancelled, which decides its terminal frame.
package enum StopReason: Sendable, Equatable {
    /// `job.cancel` (with the client's reason), or `DelegatedJob.cancel`.
    case cancelled(String?)
    /// `max_runtime_sec` passed.
    case timedOut
    /// The lease's `expires_at` passed (§9.5).
    case leaseExpired
    /// The parent of a delegated job was cancelled or ended (§10).
    case parentCancelled
    /// The runtime is shutting down.
    case shutdown
    /// The runtime shut down and its drain bound (`Configuration.drainTimeout`, whole
    /// seconds) passed before the job finished; `node` is the runtime's `nodeID`.
    case drainExpired(node: String?, seconds: Int64)
    /// A `cost.budget` counter ran out and `budgetExhaustionIsFatal` is set.
    case budgetExhausted
}

/// How a job ends, before it is put on the wire (see `JobTerminalFrame`).
package enum JobEnding: Sendable, Equatable {
    /// The agent returned `output` (inline; `summary` from a result stream assembled inline).
    case success(JSONValue, summary: String? = nil)
    /// A streamed result (§8.4) was finished: `job.result` names it instead of carrying it.
    case streamed(resultID: String, size: Int, summary: String?)
    /// The agent threw `error` (an untyped error is already `INTERNAL_ERROR` here).
    case failure(ARCPError)
    /// The job was stopped for `reason` and its agent unwound (or ignored it past the grace).
    case stopped(StopReason)
}

/// The lifecycle of one job (spec §7.3) as a value: each input returns what the runtime must
/// do, and nothing here performs I/O, takes a lock or reads a clock. `RuntimeJob` keeps one
/// under its lock and carries out the actions after releasing it.
///
/// ```
///            agentStarted / eventEmitted
///   pending ───────────────────────────▶ running ──agentFinished──▶ ending ──settled──▶ finished
///      │                                    │                         ▲
///      │ stop(reason)                       │ stop(reason)            │ agentFinished /
///      ▼                                    ▼                         │ graceExpired
///   stopping(reason) ◀──────────────────────┘ ────────────────────────┘
/// ```
///
/// `ending` is the instant between the decision (one `JobEnding`, at most once) and the end
/// duties having run (terminal frame queued, hooks, instrumentation): `waitUntilFinished`
/// returns in `finished` only. Illegal inputs (a second ending, a stop after the end, a start
/// after the end) are answered with an action that does nothing, never a trap: they are the
/// ordinary races of a job cancelled while it returns.
package struct JobStateMachine: Sendable {
    package enum State: Sendable, Equatable {
        /// Accepted; the agent's task has not started.
        case pending
        /// The agent is running.
        case running
        /// A stop was requested (first reason wins); the agent has been cancelled and is unwinding.
        case stopping(StopReason, started: Bool)
        /// The terminal decision is taken; the end duties are being carried out.
        case ending(JobStatus)
        /// The terminal frame is queued and the end duties ran.
        case finished(JobStatus)
    }

    package private(set) var state: State = .pending
    /// Set once the agent started a streamed result (§8.4): returning from the agent then
    /// sends nothing more (the stream's `finish` sent the terminal frame).
    package private(set) var resultStreamed = false

    package init() {}

    // MARK: Views

    /// The status as `list_jobs`, `job.subscribed` and introspection report it.
    package var status: JobStatus {
        switch state {
        case .pending: return .pending
        case .running: return .running
        case .stopping(_, let started): return started ? .running : .pending
        case .ending(let s), .finished(let s): return s
        }
    }

    /// The stop requested, if any (kept until the end).
    package var stopReason: StopReason? {
        if case .stopping(let r, _) = state { return r }
        return stopReasonAtEnd
    }
    private var stopReasonAtEnd: StopReason? = nil

    /// Whether the terminal decision was taken (no event may follow).
    package var hasEnded: Bool {
        switch state {
        case .ending, .finished: return true
        default: return false
        }
    }

    /// Whether the end duties ran (`waitUntilFinished` may return).
    package var isSettled: Bool {
        if case .finished = state { return true }
        return false
    }

    // MARK: Inputs

    /// The agent's task began running, or the job emitted an event.
    package mutating func agentStarted() {
        switch state {
        case .pending: state = .running
        case .stopping(let r, false): state = .stopping(r, started: true)
        case .running, .stopping, .ending, .finished: break
        }
    }

    /// What to do with the agent's task once it is installed.
    package enum TaskInstalledAction: Sendable, Equatable {
        /// Let it run.
        case run
        /// The job was stopped before it had a task (shutdown or a parent's cancellation
        /// racing `start`): cancel it at once.
        case cancel
    }

    package func taskInstalled() -> TaskInstalledAction {
        switch state {
        case .pending, .running: return .run
        case .stopping, .ending, .finished: return .cancel
        }
    }

    /// What `stop` asks the runtime to do.
    package enum StopAction: Sendable, Equatable {
        /// First stop: cancel the agent's task and arm the grace period.
        case cancelAndArmGrace
        /// Already stopping (the first reason stands): cancel again (harmless) and arm
        /// another grace timer, as a repeated `job.cancel` does.
        case alreadyStopping
        /// The job already ended: nothing to stop.
        case alreadyEnded
    }

    /// A stop is requested: `job.cancel`, `max_runtime_sec`, lease expiry, a fatal budget
    /// exhaustion, the parent's end, or shutdown.
    package mutating func stop(_ reason: StopReason) -> StopAction {
        switch state {
        case .pending: state = .stopping(reason, started: false); return .cancelAndArmGrace
        case .running: state = .stopping(reason, started: true); return .cancelAndArmGrace
        case .stopping: return .alreadyStopping
        case .ending, .finished: return .alreadyEnded
        }
    }

    /// The agent started a streamed result: from now on its return value is not a result.
    package mutating func resultStreamStarted() {
        resultStreamed = true
    }

    /// How the agent's body ended.
    package enum AgentOutcome: Sendable, Equatable {
        case returned(JSONValue)
        /// `cancellation` is true for a `CancellationError` thrown while the task was cancelled.
        case threw(ARCPError, cancellation: Bool)
    }

    /// The agent's body returned or threw. Returns the job's ending, or nil when the job
    /// already ended (its streamed result was finished, or a grace timer fired first).
    package mutating func agentFinished(_ outcome: AgentOutcome) -> JobEnding? {
        let ending: JobEnding
        switch (state, outcome) {
        case (.ending, _), (.finished, _):
            return nil
        case (.stopping(let reason, _), _):
            ending = .stopped(reason)
        case (_, .returned) where resultStreamed:
            // A streamed result ends with its stream's `finish` (which ends the job first);
            // returning without it would leave the job running forever.
            ending = .failure(ARCPError(.internalError, "the agent returned without finishing its streamed result", retryable: false))
        case (_, .returned(let output)):
            ending = .success(output, summary: nil)
        case (_, .threw(_, cancellation: true)):
            // Cancelled without a recorded reason: counts as a plain cancel.
            ending = .stopped(.cancelled(nil))
        case (_, .threw(let error, cancellation: false)):
            ending = .failure(error)
        }
        return end(ending)
    }

    /// The grace period after a stop passed and the agent has not unwound: end the job
    /// anyway. Nil when it ended meanwhile.
    package mutating func graceExpired() -> JobEnding? {
        guard case .stopping(let reason, _) = state else { return nil }
        return end(.stopped(reason))
    }

    /// Ends the job from outside the agent's return path (a streamed result's `finish`).
    /// Nil when it already ended.
    package mutating func endDirectly(_ ending: JobEnding) -> JobEnding? {
        if hasEnded { return nil }
        return end(ending)
    }

    /// The terminal frame is queued and the end duties ran.
    package mutating func settled() {
        if case .ending(let s) = state { state = .finished(s) }
    }

    private mutating func end(_ ending: JobEnding) -> JobEnding {
        if case .stopping(let r, _) = state { stopReasonAtEnd = r }
        state = .ending(ending.status)
        return ending
    }
}

extension JobEnding {
    /// Whether the job was stopped because a budget ran out.
    package var isBudgetExhaustion: Bool {
        if case .stopped(.budgetExhausted) = self { return true }
        return false
    }

    /// The final status this ending gives the job.
    package var status: JobStatus {
        switch self {
        case .success, .streamed: return .success
        case .failure(let e): return JobStatus(rawValue: (e.finalStatus ?? .error).rawValue)
        case .stopped(let reason):
            switch reason {
            case .cancelled, .parentCancelled, .shutdown: return .cancelled
            case .timedOut: return .timedOut
            case .leaseExpired, .budgetExhausted, .drainExpired: return .error
            }
        }
    }
}
