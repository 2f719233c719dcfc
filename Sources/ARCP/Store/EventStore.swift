import Foundation

// The persistence layer of the runtime: the per-session event log that serves resume (§6.3)
// and ack (§6.5), the session records a restarted runtime needs to accept a resume, the job
// records behind list_jobs (§6.6) and subscribe (§7.6), and idempotency keys (§7.2).
//
// Ownership of the data is split on purpose:
// - Records (`SessionRecord`, `JobRecord`, `IdempotencyRecord`) are written by the runtime
//   and stored as given.
// - The buffer bookkeeping of a session (`BufferStatus`: last seq, release floor, counts) is
//   kept by the store itself, updated atomically by `append` and `release`, so a runtime that
//   saves a stale `SessionRecord` can never move a floor backwards or forget a seq.

/// One buffered, replayable frame: a `job.event`, `job.result` or `job.error` as it was sent.
public struct StoredEvent: Sendable, Equatable {
    /// The session whose `event_seq` space `seq` belongs to.
    public var sessionID: String
    /// The frame's `event_seq`: strictly increasing within a session, starting at 1.
    public var seq: Int64
    /// The job the frame belongs to (used to serve `job.subscribe` history).
    public var jobID: String
    /// The exact envelope text as sent on the wire. Replay resends it unchanged.
    public var frame: String

    /// The frame's size in UTF-8 bytes; the unit of the byte caps in `BufferLimits`.
    public var byteCount: Int { frame.utf8.count }

    /// Creates an event to append.
    public init(sessionID: String, seq: Int64, jobID: String, frame: String) {
        self.sessionID = sessionID
        self.seq = seq
        self.jobID = jobID
        self.frame = frame
    }
}

/// Caps on what one session may keep buffered. Reaching a cap evicts the oldest events and
/// is reported by `EventStore.append` as an `Eviction`; it is never silent.
public struct BufferLimits: Sendable, Equatable {
    /// The most events kept for one session (at least 1).
    public var maxEvents: Int
    /// The most frame bytes (UTF-8) kept for one session. A single frame larger than this
    /// is refused by `append` with `EventStoreError.eventTooLarge`.
    public var maxBytes: Int

    /// Creates limits; values below 1 are raised to 1.
    public init(maxEvents: Int = 65_536, maxBytes: Int = 64 << 20) {
        self.maxEvents = max(1, maxEvents)
        self.maxBytes = max(1, maxBytes)
    }

    /// 65,536 events or 64 MiB, whichever is reached first.
    public static let `default` = BufferLimits()
}

/// A session as the runtime needs it to accept a resume, possibly after a restart.
public struct SessionRecord: Sendable, Equatable {
    /// The session id (`sess_…`).
    public var sessionID: String
    /// The authenticated principal that opened the session.
    public var principal: String
    /// Lowercase hex SHA-256 of the current resume token (see `ResumeTokenHasher`).
    /// The token itself is never stored.
    public var resumeTokenHash: String
    /// When the session was opened.
    public var createdAt: Date
    /// When a transport was last attached or a frame last seen; drives the resume window.
    public var lastSeenAt: Date
    /// `true` once the session was closed (`session.close` / `session.bye`): no more resumes.
    public var closed: Bool
    /// The caps on this session's buffer, applied from the next `append` on.
    public var limits: BufferLimits
    /// Opaque runtime state the store keeps verbatim (e.g. negotiated features, client info,
    /// heartbeat interval) as JSON text, so a restarted runtime can restore the session.
    public var stateJSON: String

    /// Creates a session record.
    public init(
        sessionID: String,
        principal: String,
        resumeTokenHash: String,
        createdAt: Date,
        lastSeenAt: Date,
        closed: Bool = false,
        limits: BufferLimits = .default,
        stateJSON: String = "{}"
    ) {
        self.sessionID = sessionID
        self.principal = principal
        self.resumeTokenHash = resumeTokenHash
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.closed = closed
        self.limits = limits
        self.stateJSON = stateJSON
    }
}

/// The store-maintained state of one session's event buffer.
public struct BufferStatus: Sendable, Equatable {
    /// The highest `event_seq` ever appended (0 if none). A restarted runtime continues the
    /// session's numbering after it.
    public var lastSeq: Int64
    /// Every event with `seq ≤ releasedThrough` has been freed (acked or evicted); 0 if none.
    /// It never moves backwards and never exceeds `lastSeq`.
    public var releasedThrough: Int64
    /// The lowest retained seq, or `nil` when nothing is buffered.
    public var firstRetainedSeq: Int64?
    /// Events currently buffered.
    public var eventCount: Int
    /// Frame bytes (UTF-8) currently buffered.
    public var byteCount: Int

    /// Creates a status value.
    public init(
        lastSeq: Int64, releasedThrough: Int64, firstRetainedSeq: Int64?, eventCount: Int, byteCount: Int
    ) {
        self.lastSeq = lastSeq
        self.releasedThrough = releasedThrough
        self.firstRetainedSeq = firstRetainedSeq
        self.eventCount = eventCount
        self.byteCount = byteCount
    }

    /// Whether a resume with `last_event_seq = lastEventSeq` can be served: every event after
    /// it is still buffered (nothing above it was freed) and it is not ahead of the session.
    /// `false` means `RESUME_WINDOW_EXPIRED`.
    public func canReplay(after lastEventSeq: Int64) -> Bool {
        lastEventSeq >= releasedThrough && lastEventSeq <= lastSeq
    }
}

/// A report that a session's buffer cap forced unacknowledged events out (§6.5).
public struct Eviction: Sendable, Equatable {
    /// The session that lost events.
    public var sessionID: String
    /// The new release floor: every event with `seq ≤ releasedThrough` is gone.
    public var releasedThrough: Int64
    /// How many events were evicted.
    public var events: Int
    /// How many frame bytes were evicted.
    public var bytes: Int
    /// `true` if the event-count cap was exceeded.
    public var overEventLimit: Bool
    /// `true` if the byte cap was exceeded.
    public var overByteLimit: Bool

    /// Creates an eviction report.
    public init(
        sessionID: String, releasedThrough: Int64, events: Int, bytes: Int, overEventLimit: Bool,
        overByteLimit: Bool
    ) {
        self.sessionID = sessionID
        self.releasedThrough = releasedThrough
        self.events = events
        self.bytes = bytes
        self.overEventLimit = overEventLimit
        self.overByteLimit = overByteLimit
    }
}

/// A job as `session.list_jobs`, `job.subscribe` and a restarted runtime need it.
public struct JobRecord: Sendable, Equatable {
    /// Job lifecycle states (§7.3).
    public enum Status: String, Sendable, CaseIterable {
        case pending, running, success, error, cancelled
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

/// A provisioned credential (§9.8) the runtime issued and has not yet revoked at the
/// upstream (§14, "credential revocation reliability"). The runtime writes it before the
/// credential is surfaced in `job.accepted` (or a `credential_rotated` event), updates it
/// after each failed revocation attempt and deletes it once revocation succeeds, so a
/// runtime restarted on the same store can revoke whatever an earlier process left behind.
///
/// One credential `id` may have two records while it is rotated: the new value is recorded
/// before the prior one is revoked. `valueDigest` tells them apart.
///
/// - Important: `revocationJSON` is by default the whole `Credential`, **value included**
///   (`CredentialProvisioner.revocationForm(of:)` decides): a secret kept at rest until
///   the credential is revoked. Protect the store accordingly. `description` leaves it out.
/// An outstanding credential record's identity: one value of one credential of one job.
struct OutstandingCredentialKey: Hashable, Sendable {
    let jobID: String
    let credentialID: String
    let valueDigest: String

    init(jobID: String, credentialID: String, valueDigest: String) {
        self.jobID = jobID
        self.credentialID = credentialID
        self.valueDigest = valueDigest
    }

    init(_ record: OutstandingCredentialRecord) {
        self.init(jobID: record.jobID, credentialID: record.credentialID, valueDigest: record.valueDigest)
    }

    init(_ credential: Credential, jobID: String) {
        self.init(
            jobID: jobID, credentialID: credential.id,
            valueDigest: OutstandingCredentialRecord.digest(ofValue: credential.value))
    }
}

public struct OutstandingCredentialRecord: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The job the credential was issued for.
    public var jobID: String
    /// The credential's `id` (unique within the job).
    public var credentialID: String
    /// Lowercase hex SHA-256 of the credential's value (see `digest(ofValue:)`).
    public var valueDigest: String
    /// What `CredentialProvisioner.revoke` needs after a restart, as the JSON text of a
    /// `Credential`. Secret: never log it.
    public var revocationJSON: String
    /// When the runtime recorded the credential (its issue or rotation).
    public var issuedAt: Date
    /// Failed revocation attempts so far, over every runtime process.
    public var attempts: Int
    /// The last revocation failure (the error's type name only: its text could echo the
    /// secret), or `nil` before the first failure.
    public var lastError: String?
    /// When revocation last failed, or `nil` before the first failure.
    public var lastAttemptAt: Date?

    /// Creates a record.
    public init(
        jobID: String, credentialID: String, valueDigest: String, revocationJSON: String, issuedAt: Date,
        attempts: Int = 0, lastError: String? = nil, lastAttemptAt: Date? = nil
    ) {
        self.jobID = jobID
        self.credentialID = credentialID
        self.valueDigest = valueDigest
        self.revocationJSON = revocationJSON
        self.issuedAt = issuedAt
        self.attempts = attempts
        self.lastError = lastError
        self.lastAttemptAt = lastAttemptAt
    }

    /// The `valueDigest` of a credential value: lowercase hex SHA-256 of its UTF-8 bytes.
    public static func digest(ofValue value: String) -> String {
        ResumeTokenHasher.hash(value)
    }

    /// The record without its secret part.
    public var description: String {
        "OutstandingCredentialRecord(job: \(jobID), credential: \(credentialID), value sha256: \(valueDigest.prefix(12))…, "
            + "attempts: \(attempts), last error: \(lastError ?? "none"))"
    }

    public var debugDescription: String { description }
}

/// Failures an `EventStore` reports.
public enum EventStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Events were appended to, or released from, a session that was never saved.
    case unknownSession(String)
    /// An appended seq was not above the session's last seq (or was below 1).
    case seqNotIncreasing(sessionID: String, seq: Int64, lastSeq: Int64)
    /// One frame is larger than the session's byte cap and can never be buffered.
    case eventTooLarge(sessionID: String, seq: Int64, bytes: Int, limit: Int)
    /// The underlying storage failed or holds data this version cannot read.
    case storage(String)

    public var description: String {
        switch self {
        case .unknownSession(let id): return "unknown session \(id)"
        case .seqNotIncreasing(let id, let seq, let last):
            return "event_seq \(seq) of session \(id) is not above its last seq \(last)"
        case .eventTooLarge(let id, let seq, let bytes, let limit):
            return "event \(seq) of session \(id) has \(bytes) bytes, above the session cap of \(limit)"
        case .storage(let why): return "event store: \(why)"
        }
    }
}

/// Durable (or in-memory) storage for the runtime: event buffers, sessions, jobs,
/// idempotency keys and outstanding provisioned credentials.
///
/// Conformers: `InMemoryEventStore` (this module, the default) and `SQLiteEventStore`
/// (the `ARCPStore` module). Both pass the same conformance suite.
///
/// Contract:
/// - `append` is atomic: the whole batch is stored or, on error, none of it. Within a
///   session, seqs must be strictly increasing and above `BufferStatus.lastSeq`; the session
///   must have been saved first. When a cap of the session's `BufferLimits` is exceeded, the
///   oldest events are evicted and returned as one `Eviction` per session.
/// - `events` returns ascending seqs `> after`, at most `limit` of them.
/// - `release` frees events `≤ seq` (ack, §6.5). The floor never moves backwards and is
///   clamped to the session's `lastSeq`.
/// - Nothing unreleased is freed except by a cap (reported) or `deleteSession`.
/// - Job and idempotency retention is the runtime's policy (`deleteJob`, `purgeIdempotency`).
/// - Outstanding-credential records (§14) are keyed by `(jobID, credentialID, valueDigest)`;
///   a store that keeps them across processes says so with `durablyKeepsOutstandingCredentials`.
///   The default implementations keep nothing and say `false`, so a store written before
///   these requirements still compiles, and a runtime on it does not advertise
///   `provisioned_credentials` unless its operator explicitly accepts non-durable revocation.
public protocol EventStore: Sendable {
    /// Appends a batch of events (of one or more sessions) atomically.
    /// - Returns: the evictions the session caps forced, one per affected session.
    func append(_ events: [StoredEvent]) async throws -> [Eviction]

    /// Up to `limit` events of `session` with `seq > after`, ascending.
    func events(session: String, after seq: Int64, limit: Int) async throws -> [StoredEvent]

    /// Up to `limit` events of `job` in `session` with `seq > after`, ascending.
    func events(session: String, job: String, after seq: Int64, limit: Int) async throws -> [StoredEvent]

    /// The buffer bookkeeping of `session`, or `nil` if the session is unknown.
    func bufferStatus(session: String) async throws -> BufferStatus?

    /// Frees the events of `session` with `seq ≤ through` (ack or eviction).
    /// - Returns: the buffer status afterwards.
    /// - Throws: `EventStoreError.unknownSession`.
    func release(session: String, through seq: Int64) async throws -> BufferStatus

    /// Inserts or replaces a session record. The buffer and its bookkeeping are kept.
    func saveSession(_ record: SessionRecord) async throws

    /// The record of session `id`, if stored.
    func session(_ id: String) async throws -> SessionRecord?

    /// Sessions last seen strictly before `date` (all sessions when `nil`), e.g. to expire
    /// them after the resume window.
    func sessions(lastSeenBefore date: Date?) async throws -> [SessionRecord]

    /// Deletes a session record with its whole buffer. Jobs are kept.
    func deleteSession(_ id: String) async throws

    /// Inserts or replaces a job record.
    func saveJob(_ record: JobRecord) async throws

    /// The record of job `id`, if stored.
    func job(_ id: String) async throws -> JobRecord?

    /// One page of job records matching `query`, ordered by `(createdAt, jobID)`.
    func jobs(_ query: JobQuery) async throws -> [JobRecord]

    /// Deletes a job record.
    func deleteJob(_ id: String) async throws

    /// Stores `record` unless `(principal, key)` is already present, atomically.
    /// - Returns: the record now stored: `record` itself, or the earlier one (compare its
    ///   `fingerprint` and `jobID` to detect a replay or a `DUPLICATE_KEY`).
    func claimIdempotency(_ record: IdempotencyRecord) async throws -> IdempotencyRecord

    /// The record of `(principal, key)`, if stored (whatever its age).
    func idempotency(principal: String, key: String) async throws -> IdempotencyRecord?

    /// Deletes idempotency records created strictly before `date`.
    /// - Returns: how many were deleted.
    func purgeIdempotency(olderThan date: Date) async throws -> Int

    // MARK: Outstanding credentials (§14)

    /// Whether outstanding-credential records survive the process, so that a runtime
    /// restarted on the same storage sees them (and can guarantee revocation, §14).
    var durablyKeepsOutstandingCredentials: Bool { get }

    /// Inserts or replaces the record of `(jobID, credentialID, valueDigest)`. When it
    /// returns, the record must be as durable as the store's other commits.
    func saveOutstandingCredential(_ record: OutstandingCredentialRecord) async throws

    /// Deletes the record of `(jobID, credentialID, valueDigest)`; no error if absent.
    func removeOutstandingCredential(jobID: String, credentialID: String, valueDigest: String) async throws

    /// Every outstanding-credential record, ordered by `(issuedAt, jobID, credentialID, valueDigest)`.
    func outstandingCredentials() async throws -> [OutstandingCredentialRecord]
}

extension EventStore {
    /// The lowest buffered seq of `session`, or `nil` if nothing is buffered or the session
    /// is unknown.
    public func firstRetainedSeq(session: String) async throws -> Int64? {
        try await bufferStatus(session: session)?.firstRetainedSeq
    }

    /// `false`: a store that does not implement the outstanding-credential requirements
    /// keeps no such records.
    public var durablyKeepsOutstandingCredentials: Bool { false }

    /// Keeps nothing (see `durablyKeepsOutstandingCredentials`).
    public func saveOutstandingCredential(_ record: OutstandingCredentialRecord) async throws {}

    /// Nothing to delete (see `durablyKeepsOutstandingCredentials`).
    public func removeOutstandingCredential(jobID: String, credentialID: String, valueDigest: String) async throws {}

    /// None (see `durablyKeepsOutstandingCredentials`).
    public func outstandingCredentials() async throws -> [OutstandingCredentialRecord] { [] }

    /// All jobs of `principal` (or of everyone when `nil`), at most `limit`.
    public func jobs(principal: String?, limit: Int = 1000) async throws -> [JobRecord] {
        try await jobs(JobQuery(principal: principal, limit: limit))
    }
}
