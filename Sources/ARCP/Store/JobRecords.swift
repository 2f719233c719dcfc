import Foundation

// What a runtime store keeps of jobs: their records (spec §6.6, §7.6), the queries over them,
// and idempotency keys (§7.2).

/// A job as `session.list_jobs`, `job.subscribe` and a restarted runtime need it.
public struct JobRecord: Sendable, Equatable {
    /// Job lifecycle states (§7.3).
    public enum Status: String, Sendable, CaseIterable {
        /// `pending`: accepted, not started (queued); `running`; then one of the terminal states:
        /// `success`, `error`, `cancelled`.
        case pending, running, success, error, cancelled
        /// Ended by `max_runtime_sec` (terminal).
        case timedOut = "timed_out"

        /// `true` for the states a job never leaves.
        public var isTerminal: Bool {
            switch self {
            case .pending, .running: return false
            case .success, .error, .cancelled, .timedOut: return true
            }
        }
    }

    /// The job id (`job_…`).
    public var jobID: String
    /// The session that submitted the job (the `event_seq` space of its events).
    public var sessionID: String
    /// The submitting principal.
    public var principal: String
    /// The resolved agent, `name@version`.
    public var agent: String
    /// The current status.
    public var status: Status
    /// When the job was accepted.
    public var createdAt: Date
    /// The W3C trace id, if any.
    public var traceID: String?
    /// The delegating parent, if any.
    public var parentJobID: String?
    /// The effective lease as JSON text.
    public var leaseJSON: String
    /// The lease constraints as JSON text, if any.
    public var leaseConstraintsJSON: String?
    /// The current budget counters as JSON text, if the lease has `cost.budget`.
    public var budgetJSON: String?
    /// The `event_seq` of the job's latest event in its session.
    public var lastEventSeq: Int64
    /// The submit's `idempotency_key`, if any.
    public var idempotencyKey: String?

    /// Creates a job record.
    public init(
        jobID: String,
        sessionID: String,
        principal: String,
        agent: String,
        status: Status,
        createdAt: Date,
        traceID: String? = nil,
        parentJobID: String? = nil,
        leaseJSON: String = "{}",
        leaseConstraintsJSON: String? = nil,
        budgetJSON: String? = nil,
        lastEventSeq: Int64 = 0,
        idempotencyKey: String? = nil
    ) {
        self.jobID = jobID
        self.sessionID = sessionID
        self.principal = principal
        self.agent = agent
        self.status = status
        self.createdAt = createdAt
        self.traceID = traceID
        self.parentJobID = parentJobID
        self.leaseJSON = leaseJSON
        self.leaseConstraintsJSON = leaseConstraintsJSON
        self.budgetJSON = budgetJSON
        self.lastEventSeq = lastEventSeq
        self.idempotencyKey = idempotencyKey
    }
}

/// A page request over job records. Results are ordered by `(createdAt, jobID)` ascending.
public struct JobQuery: Sendable, Equatable {
    /// Position just after a returned job, for keyset pagination (the runtime wraps it into
    /// an opaque `cursor`).
    public struct Cursor: Sendable, Equatable {
        /// `createdAt` of the last job of the previous page.
        public var createdAt: Date
        /// `jobID` of the last job of the previous page.
        public var jobID: String

        /// Creates a cursor.
        public init(createdAt: Date, jobID: String) {
            self.createdAt = createdAt
            self.jobID = jobID
        }

        /// The cursor that continues after `job`.
        public init(after job: JobRecord) {
            self.init(createdAt: job.createdAt, jobID: job.jobID)
        }
    }

    /// Only this principal's jobs; `nil` for all principals (policy is the runtime's).
    public var principal: String?
    /// Only these statuses; `nil` for any.
    public var statuses: Set<JobRecord.Status>?
    /// Only this agent: matches `agent` exactly, or its name part when the filter has no `@`.
    public var agent: String?
    /// Only jobs created strictly after this instant.
    public var createdAfter: Date?
    /// Continue after this position.
    public var after: Cursor?
    /// The most records returned (values below 1 return none).
    public var limit: Int

    /// Creates a query.
    public init(
        principal: String? = nil,
        statuses: Set<JobRecord.Status>? = nil,
        agent: String? = nil,
        createdAfter: Date? = nil,
        after: Cursor? = nil,
        limit: Int = 100
    ) {
        self.principal = principal
        self.statuses = statuses
        self.agent = agent
        self.createdAfter = createdAfter
        self.after = after
        self.limit = limit
    }

    /// Whether `job` passes the filters (not the cursor).
    public func matches(_ job: JobRecord) -> Bool {
        if let principal, job.principal != principal { return false }
        if let statuses, !statuses.contains(job.status) { return false }
        if let agent, !Self.agent(job.agent, matches: agent) { return false }
        if let createdAfter, !(job.createdAt > createdAfter) { return false }
        return true
    }

    /// Whether `job` sorts strictly after `cursor`.
    public static func isAfter(_ job: JobRecord, _ cursor: Cursor) -> Bool {
        job.createdAt > cursor.createdAt || (job.createdAt == cursor.createdAt && job.jobID > cursor.jobID)
    }

    /// `name@version` matches `name@version` exactly, or `name` when the filter has no `@`.
    public static func agent(_ agent: String, matches filter: String) -> Bool {
        if agent == filter { return true }
        guard !filter.contains("@") else { return false }
        return agent.hasPrefix(filter) && agent.dropFirst(filter.count).first == "@"
    }
}

/// A remembered `job.submit` idempotency key (§7.2), scoped to a principal.
public struct IdempotencyRecord: Sendable, Equatable {
    /// The submitting principal.
    public var principal: String
    /// The client's `idempotency_key`.
    public var key: String
    /// A digest of the submit's parameters (agent, input, lease request…); a reuse of the key
    /// with another fingerprint is `DUPLICATE_KEY`.
    public var fingerprint: String
    /// The job the key resolved to.
    public var jobID: String
    /// The `job.accepted` payload to return again, as JSON text.
    public var acceptedPayloadJSON: String
    /// When the key was first used; drives the idempotency window.
    public var createdAt: Date

    /// Creates an idempotency record.
    public init(
        principal: String, key: String, fingerprint: String, jobID: String, acceptedPayloadJSON: String,
        createdAt: Date
    ) {
        self.principal = principal
        self.key = key
        self.fingerprint = fingerprint
        self.jobID = jobID
        self.acceptedPayloadJSON = acceptedPayloadJSON
        self.createdAt = createdAt
    }
}
