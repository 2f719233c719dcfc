extension ARCPRuntime.Configuration {
    /// Per-principal and per-session resource limits (issue 10 item 3). Each has a default,
    /// an `arcp serve` flag and a row in docs/SECURITY.md. A limit hit is answered, as spec
    /// v1.0 §14 requires, with `INTERNAL_ERROR` and `retryable: false` ("not silent
    /// truncation"), with `details.limit` naming the limit and `details.max` its value;
    /// a lease too large is `INVALID_REQUEST`.
    public struct Limits: Sendable {
        /// Sessions one principal may hold at once, attached or detached within their
        /// resume window. Beyond it `session.hello` is refused
        /// (`details.limit` `sessions_per_principal`).
        public var maxSessionsPerPrincipal = 1000
        /// Jobs running (not yet ended) at once for one session's submits. Beyond it
        /// `job.submit` is refused (`details.limit` `running_jobs_per_session`).
        public var maxRunningJobsPerSession = 1000
        /// Jobs running at once for one principal, delegated jobs included. Beyond it
        /// `job.submit` is refused (`details.limit` `running_jobs_per_principal`).
        public var maxRunningJobsPerPrincipal = 10_000
        /// A connection whose session did not negotiate `heartbeat` (or on which the runtime
        /// does not ping) and on which no frame went either way for this long is closed
        /// with `session.error HEARTBEAT_LOST` (`details.limit` `idle_timeout`); the session
        /// stays resumable. Nil: never.
        public var idleTimeout: Duration? = .seconds(600)
        /// Patterns in one lease request, all namespaces together (at most
        /// `ValidatedLease.maxPatterns`).
        public var maxLeasePatterns = ValidatedLease.maxPatterns
        /// Bytes of all patterns of one lease request together: bounds the cost of
        /// canonicalizing and compiling them (linear in their bytes).
        public var maxLeaseBytes = 64 << 10
        /// The defaults above.
        public init() {}
    }
}

/// A limit of `Configuration.Limits` (or another resource bound) that a request hit.
package enum RuntimeLimit: String, Sendable {
    case sessionsPerPrincipal = "sessions_per_principal"
    case runningJobsPerSession = "running_jobs_per_session"
    case runningJobsPerPrincipal = "running_jobs_per_principal"
    /// `Configuration.maxConnectionsPerPrincipal`, checked at `session.hello`.
    case connectionsPerPrincipal = "connections_per_principal"
    /// `Configuration.maxRunningJobs` with no queue (`maxQueuedJobs` 0).
    case runningJobs = "running_jobs"
    /// `Configuration.maxQueuedJobs`: the queue of jobs waiting for a free slot is full.
    case queuedJobs = "queued_jobs"

    /// The wire error: `INTERNAL_ERROR`, not retryable (spec v1.0 §14), naming the limit.
    package func error(max: Int, _ message: String) -> ARCPError {
        ARCPError(.internalError, message, retryable: false, details: ["limit": .string(rawValue), "max": .int(Int64(max))])
    }
}

/// The running-job limits a job table applies when admitting a job, and its placement:
/// at most `perRuntime` submitted jobs run at once in this process; beyond it a job waits
/// in a queue of at most `queued` jobs (in a cluster, the cluster's shared queue).
package struct RunningJobLimits: Sendable {
    package var perSession: Int
    package var perPrincipal: Int
    /// Submitted jobs started and not yet ended in this process (`Configuration.maxRunningJobs`).
    package var perRuntime: Int
    /// Jobs waiting for a slot (`Configuration.maxQueuedJobs`).
    package var queued: Int

    package init(perSession: Int, perPrincipal: Int, perRuntime: Int = .max, queued: Int = 0) {
        self.perSession = perSession
        self.perPrincipal = perPrincipal
        self.perRuntime = perRuntime
        self.queued = queued
    }

    /// No limit (delegated jobs: counted, never refused here).
    package static let none = RunningJobLimits(perSession: .max, perPrincipal: .max)
}

extension ARCPRuntime {
    /// The running-job limits for a submit.
    var runningJobLimits: RunningJobLimits {
        RunningJobLimits(
            perSession: configuration.limits.maxRunningJobsPerSession, perPrincipal: configuration.limits.maxRunningJobsPerPrincipal,
            perRuntime: configuration.maxRunningJobs.map { max(1, $0) } ?? .max, queued: max(0, configuration.maxQueuedJobs))
    }

    /// The error of a submit refused by a running-job limit.
    @inline(never)
    func runningJobsRefusal(_ limit: RuntimeLimit) -> ARCPError {
        let l = configuration.limits
        switch limit {
        case .runningJobsPerPrincipal:
            return limit.error(max: l.maxRunningJobsPerPrincipal, "this principal already runs \(l.maxRunningJobsPerPrincipal) jobs (the limit); submit when one ends")
        case .runningJobs:
            let n = configuration.maxRunningJobs ?? 0
            return limit.error(max: n, "the runtime already runs \(n) jobs (the limit) and queues none; submit when one ends")
        case .queuedJobs:
            // Transient (the queue drains as jobs end): retryable, unlike the per-client limits.
            let n = configuration.maxQueuedJobs
            return ARCPError(
                .internalError, "the runtime runs as many jobs as it may and \(n) more wait (the queue's limit); retry later",
                retryable: true, details: ["limit": .string(limit.rawValue), "max": .int(Int64(n))])
        default:
            return limit.error(max: l.maxRunningJobsPerSession, "this session already runs \(l.maxRunningJobsPerSession) jobs (the limit); submit when one ends")
        }
    }

    /// Refuses a lease request larger than the configured limits before it is validated
    /// and compiled (`INVALID_REQUEST`).
    func checkLeaseSize(_ wire: Lease?) throws {
        guard let wire else { return }
        var patterns = 0
        var bytes = 0
        for (_, list) in wire {
            patterns += list.count
            for p in list { bytes += p.utf8.count }
        }
        let limits = configuration.limits
        if patterns > limits.maxLeasePatterns {
            throw ARCPError(
                .invalidRequest, "lease_request has \(patterns) patterns; at most \(limits.maxLeasePatterns) are accepted",
                details: ["limit": "lease_patterns", "max": .int(Int64(limits.maxLeasePatterns))])
        }
        if bytes > limits.maxLeaseBytes {
            throw ARCPError(
                .invalidRequest, "lease_request patterns total \(bytes) bytes; at most \(limits.maxLeaseBytes) are accepted",
                details: ["limit": "lease_bytes", "max": .int(Int64(limits.maxLeaseBytes))])
        }
    }
}
