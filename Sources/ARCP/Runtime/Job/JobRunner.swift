import Foundation

extension ARCPRuntime {
    /// What a job needs from the configuration to end itself.
    var jobPolicy: RuntimeJob.Policy {
        RuntimeJob.Policy(
            cancelGracePeriod: configuration.cancelGracePeriod, compatibility: configuration.compatibility, logger: logger,
            instrumented: configuration.instrumentation != nil)
    }

    /// Starts the agent of an accepted job on the cooperative pool (never on a connection's
    /// executor: an unstructured task does not inherit the submitter's executor preference),
    /// with its watchdogs: `max_runtime_sec` and the lease's expiry. (Its retention hook is
    /// installed when it is accepted: `armRetention`.)
    ///
    /// `immediately` (an agent registered `startsImmediately`, started as its `job.submit`
    /// is handled): the task is `Task.immediate`, whose body runs on the calling thread,
    /// the connection's, until its first suspension, and on the pool after it. A quick agent
    /// then answers without a thread hand-off: no pool thread is woken to start it, and its
    /// frames are written by the thread that read the submit, in one write with
    /// `job.accepted`. Never for a job started from another job's end (a waiting job, a
    /// claimed one): run inline there, a chain of quick jobs would nest on one stack.
    @inline(never)
    func start(_ job: RuntimeJob, body: @escaping AgentBody, input: JSONValue, maxRuntime: Duration?, immediately: Bool = false) {
        let ctx = JobContext(job: job, runtime: self, features: job.features)
        var observer: (any JobInstrumentation)? = nil
        if let instrumentation = configuration.instrumentation {
            let parent = job.parentJobID.flatMap { tables.jobs.localJob($0) }?.instrumentation
            observer = instrumentation.startJob(job.instrumented, parent: parent)
            job.instrumentation = observer
        }
        let run: @Sendable () async -> Void = { [observer] in
            defer { job.agentTaskEnded() }
            job.markRunning()
            // An unstructured task inherits no executor preference: this task is on the pool
            // (an immediate one from its first suspension).
            let outcome = await { () async -> JobStateMachine.AgentOutcome in
                do {
                    let output = if let observer { try await observer.run { try await body(input, ctx) } } else { try await body(input, ctx) }
                    // A result the peer could not receive ends the job with a clear error (issue 10 item 11).
                    if let tooLarge = self.oversizedResult(output) { return .threw(tooLarge, cancellation: false) }
                    return .returned(output)
                } catch let e as ARCPError {
                    return .threw(e, cancellation: false)
                } catch {
                    let cancelled = error is CancellationError && Task.isCancelled
                    return .threw(ARCPError(.internalError, "\(error)", retryable: true), cancellation: cancelled)
                }
            }()
            // The job's retirement (retention, a waiting job's start) runs here, not on a
            // task of its own, unless this task was cancelled: a cancel ends the job when
            // its agent returns, in this cancelled task, and what the retirement awaits (a
            // cluster's database) must not see that cancellation.
            guard let retirement = job.agentFinished(outcome) else { return }
            if Task.isCancelled { Task { await retirement() } } else { await retirement() }
        }
        // An immediate task may have ended by now; `setTask` then keeps nothing.
        let task: Task<Void, Never>
        if immediately, #available(macOS 26.0, iOS 26.0, watchOS 26.0, tvOS 26.0, visionOS 26.0, *) {
            task = Task.immediate(operation: run)
        } else {
            // (Before Apple's 26 releases there is no `Task.immediate`: the pool.)
            task = Task(operation: run)
        }
        job.setTask(task)
        if let maxRuntime {
            // Checked by the caller (`PeerNumbers`); clamped again so no sleep can trap.
            let limit = min(max(maxRuntime, .zero), PeerNumbers.maxDuration)
            job.addWatchdog(Task {
                try? await Task.sleep(for: limit)
                guard !Task.isCancelled, !job.isTerminal else { return }
                job.cancelTree(.timedOut)
            })
        }
        armExpiryWatchdog(job)
    }
}
