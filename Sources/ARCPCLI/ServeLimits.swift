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

    @Option(help: "Seconds between handing memory the retention freed back to the OS (glibc malloc_trim; 0: never).")
    var memoryTrimSec = 5

    @Flag(inversion: .prefixedNo, help: "With --db, also delete freed jobs, expired sessions and old idempotency keys from the database.")
    var purgeStore = true

    @Option(help: "Bytes of events kept per job for job.subscribe history.")
    var maxHistoryBytesPerJob = 8 << 20

    @Option(help: "Sessions one principal may hold at once (attached or resumable).")
    var maxSessionsPerPrincipal = 1000

    @Option(help: "Jobs one session may have running at once.")
    var maxRunningJobsPerSession = 1000

    @Option(help: "Jobs one principal may have running at once (delegated jobs included).")
    var maxRunningJobsPerPrincipal = 10_000

    @Option(help: ArgumentHelp(
        "Submitted jobs this runtime runs at once; beyond it accepted jobs wait (pending) in a queue and start as running jobs end. With --postgres the queue is the cluster's, and any node with a free slot runs them (default: no limit).",
        valueName: "n"))
    var maxRunningJobs: Int?

    @Option(help: ArgumentHelp("Jobs that may wait for a slot (with --max-running-jobs; with --postgres, across the cluster); a submit beyond it gets INTERNAL_ERROR (retryable, details.limit queued_jobs); 0 refuses at once.", valueName: "n"))
    var maxQueuedJobs = ARCPRuntime.Configuration().maxQueuedJobs

    @Option(help: "On SIGTERM/SIGINT, seconds running jobs may take to finish while new connections and job.submit are refused (INTERNAL_ERROR, retryable, details.reason shutting_down); jobs still running then end with a retryable job.error (details.reason drain_timeout). Default 30 with --postgres (the clients resume on other nodes meanwhile), 0 without: running jobs are cancelled at once.")
    var drainTimeoutSec: Int?

    @Option(help: "Seconds without a frame either way after which a connection without heartbeat is closed (0: never).")
    var idleTimeoutSec = 600

    @Option(help: "Seconds a new connection may take to send session.hello (or session.resume) before it is closed.")
    var helloTimeoutSec = 10

    @Option(help: "Seconds a connection whose peer stopped sending may take to write its last frames (a peer that no longer reads them) before it is closed.")
    var closeFlushTimeoutSec = 5

    @Option(help: "Bytes queued for one connection before the job emitting to it waits.")
    var maxPendingBytes = 8 << 20

    @Option(help: "Frames queued for a subscriber before it is detached from the job it observes.")
    var maxSubscriberPendingFrames = 4096

    @Option(help: "Bytes queued for a subscriber before it is detached from the job it observes.")
    var maxSubscriberPendingBytes = 16 << 20

    @Option(help: "Patterns in one lease request (all namespaces).")
    var maxLeasePatterns = ValidatedLease.maxPatterns

    @Option(help: "Bytes of all patterns of one lease request.")
    var maxLeaseBytes = 64 << 10

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
        for (flag, value) in [
            ("--max-sessions-per-principal", maxSessionsPerPrincipal), ("--max-running-jobs-per-session", maxRunningJobsPerSession),
            ("--max-running-jobs-per-principal", maxRunningJobsPerPrincipal), ("--max-pending-bytes", maxPendingBytes),
            ("--max-subscriber-pending-frames", maxSubscriberPendingFrames), ("--max-subscriber-pending-bytes", maxSubscriberPendingBytes),
            ("--max-lease-bytes", maxLeaseBytes),
        ] where value < 1 {
            throw ValidationError("\(flag) must be ≥ 1")
        }
        if let maxRunningJobs, maxRunningJobs < 1 { throw ValidationError("--max-running-jobs must be ≥ 1") }
        guard (0...1_000_000).contains(maxQueuedJobs) else { throw ValidationError("--max-queued-jobs must be 0…1000000") }
        if let drainTimeoutSec, !(0...86_400).contains(drainTimeoutSec) { throw ValidationError("--drain-timeout-sec must be 0…86400") }
        guard (0...Self.maxSeconds).contains(idleTimeoutSec) else { throw ValidationError("--idle-timeout-sec must be 0…\(Self.maxSeconds)") }
        guard (0...3600).contains(memoryTrimSec) else { throw ValidationError("--memory-trim-sec must be 0…3600") }
        guard (1...3600).contains(helloTimeoutSec) else { throw ValidationError("--hello-timeout-sec must be 1…3600") }
        guard (1...3600).contains(closeFlushTimeoutSec) else { throw ValidationError("--close-flush-timeout-sec must be 1…3600") }
        guard (0...ValidatedLease.maxPatterns).contains(maxLeasePatterns) else {
            throw ValidationError("--max-lease-patterns must be 0…\(ValidatedLease.maxPatterns)")
        }
    }

    func apply(to cfg: inout ARCPRuntime.Configuration) {
        cfg.retention.finishedJobs = .seconds(jobRetentionSec)
        cfg.retention.idempotencyWindow = .seconds(idempotencyWindowSec)
        cfg.retention.maxFinishedJobs = maxRetainedJobs
        cfg.retention.maxFinishedJobBytes = maxRetainedJobBytes
        cfg.retention.deleteFromStore = purgeStore
        cfg.retention.trimInterval = memoryTrimSec > 0 ? .seconds(memoryTrimSec) : nil
        cfg.historyBytesPerJob = maxHistoryBytesPerJob
        cfg.limits.maxSessionsPerPrincipal = maxSessionsPerPrincipal
        cfg.limits.maxRunningJobsPerSession = maxRunningJobsPerSession
        cfg.limits.maxRunningJobsPerPrincipal = maxRunningJobsPerPrincipal
        cfg.maxRunningJobs = maxRunningJobs
        cfg.maxQueuedJobs = maxQueuedJobs
        cfg.limits.idleTimeout = idleTimeoutSec > 0 ? .seconds(idleTimeoutSec) : nil
        cfg.helloTimeout = .seconds(helloTimeoutSec)
        cfg.closeFlushTimeout = .seconds(closeFlushTimeoutSec)
        cfg.limits.maxLeasePatterns = maxLeasePatterns
        cfg.limits.maxLeaseBytes = maxLeaseBytes
        cfg.buffering.maxPendingBytes = maxPendingBytes
        cfg.buffering.maxSubscriberPendingFrames = maxSubscriberPendingFrames
        cfg.buffering.maxSubscriberPendingBytes = maxSubscriberPendingBytes
    }
}
