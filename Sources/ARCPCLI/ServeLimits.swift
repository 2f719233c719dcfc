import ARCP
import ArgumentParser

/// `arcp serve`'s retention and resource-limit flags (issue 10), each setting one
/// `ARCPRuntime.Configuration` knob; docs/SECURITY.md lists them with their defaults.
struct ServeLimitOptions: ParsableArguments {
    @Option(help: "Seconds a finished job (its listing, history and outcome) is kept before it is freed.")
    var jobRetentionSec = 600

    @Option(help: "Seconds a finished job submitted with an idempotency_key is kept (a resubmit gets the same job).")
    var idempotencyWindowSec = 86_400

    @Option(help: "Most finished jobs kept at once (the oldest are freed first).")
    var maxRetainedJobs = 10_000

    @Option(help: "Most bytes of history and results the finished jobs may hold at once.")
    var maxRetainedJobBytes = 256 << 20

    @Flag(inversion: .prefixedNo, help: "With --db, also delete freed jobs, expired sessions and old idempotency keys from the database.")
    var purgeStore = true

    @Option(help: "Bytes of events kept per job for job.subscribe history.")
    var maxHistoryBytesPerJob = 8 << 20

    /// The longest duration a flag takes, in seconds (a year: far below any overflow).
    static let maxSeconds = 366 * 86_400

    func validate() throws {
        guard (1...Self.maxSeconds).contains(jobRetentionSec) else { throw ValidationError("--job-retention-sec must be 1…\(Self.maxSeconds)") }
        guard (1...Self.maxSeconds).contains(idempotencyWindowSec) else {
            throw ValidationError("--idempotency-window-sec must be 1…\(Self.maxSeconds)")
        }
        guard maxRetainedJobs >= 0 else { throw ValidationError("--max-retained-jobs must be ≥ 0") }
        guard maxRetainedJobBytes >= 0 else { throw ValidationError("--max-retained-job-bytes must be ≥ 0") }
        guard maxHistoryBytesPerJob >= 0 else { throw ValidationError("--max-history-bytes-per-job must be ≥ 0") }
    }

    func apply(to cfg: inout ARCPRuntime.Configuration) {
        cfg.retention.finishedJobs = .seconds(jobRetentionSec)
        cfg.retention.idempotencyWindow = .seconds(idempotencyWindowSec)
        cfg.retention.maxFinishedJobs = maxRetainedJobs
        cfg.retention.maxFinishedJobBytes = maxRetainedJobBytes
        cfg.retention.deleteFromStore = purgeStore
        cfg.historyBytesPerJob = maxHistoryBytesPerJob
    }
}
