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
    /// with its watchdogs: `max_runtime_sec` and the lease's expiry.
    func start(_ job: RuntimeJob, body: @escaping AgentBody, input: JSONValue, maxRuntime: Int?) {
        let ctx = JobContext(job: job, runtime: self, features: job.features)
        var observer: (any JobInstrumentation)? = nil
        if let instrumentation = configuration.instrumentation {
            let parent = job.parentJobID.flatMap { tables.jobs.localJob($0) }?.instrumentation
            observer = instrumentation.startJob(job.instrumented, parent: parent)
            job.instrumentation = observer
        }
        let jobs = tables.jobs
        let task = Task { [observer] in
            job.markRunning()
            // Task-locals are inherited, executor preferences are not: this task is on the pool.
            let outcome = await ConnectionExecutor.$isPreferred.withValue(false) { () async -> JobStateMachine.AgentOutcome in
                do {
                    let output = if let observer { try await observer.run { try await body(input, ctx) } } else { try await body(input, ctx) }
                    return .returned(output)
                } catch let e as ARCPError {
                    return .threw(e, cancellation: false)
                } catch {
                    let cancelled = error is CancellationError && Task.isCancelled
                    return .threw(ARCPError(.internalError, "\(error)", retryable: true), cancellation: cancelled)
                }
            }
            job.agentFinished(outcome)
            // The retention hook, once the end duties ran (whoever ended the job).
            await job.waitUntilSettled(cancellable: false)
            await jobs.jobEnded(job)
        }
        job.setTask(task)
        if let maxRuntime {
            let limit = Duration.seconds(maxRuntime)
            job.addWatchdog(Task {
                try? await Task.sleep(for: limit)
                guard !Task.isCancelled, !job.isTerminal else { return }
                job.cancelTree(.timedOut)
            })
        }
        armExpiryWatchdog(job)
    }
}
