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

/// Durable (or in-memory) storage for the runtime: event buffers, sessions, jobs,
/// idempotency keys and outstanding provisioned credentials.
///
/// Conformers: `InMemoryRuntimeStore` (this module, the default) and `SQLiteRuntimeStore`
/// (the `ARCPStore` module). Both pass the same conformance suite.
///
/// Contract:
/// - `append` is atomic: the whole batch is stored or, on error, none of it. Within a
///   session, seqs must be strictly increasing and above `BufferStatus.lastSeq`; the session
///   must have been saved first. When a cap of the session's `BufferLimits` is exceeded, the
///   oldest events are evicted and returned as one `Eviction` per session.
/// - A store may refuse the events of some sessions of a batch and store the rest (a
///   cluster node's store refuses those of sessions another node holds): it says which in
///   `appendReportingRefusals`, never silently. `InMemoryRuntimeStore` and
///   `SQLiteRuntimeStore` refuse none.
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
public protocol RuntimeStore: Sendable {
    /// Appends a batch of events (of one or more sessions) atomically.
    /// - Returns: the evictions the session caps forced, one per affected session.
    func append(_ events: [StoredEvent]) async throws -> [Eviction]

    /// Appends a batch like `append`, and says which sessions' events the store refused to
    /// store (the rest of the batch is stored). The runtime's store writer calls this one: a
    /// connection that sends only what is stored (`persistEventsBeforeSending`) never sends
    /// a refused event. The default refuses nothing: it calls `append`.
    func appendReportingRefusals(_ events: [StoredEvent]) async throws -> AppendOutcome

    /// Up to `limit` events of `session` with `seq > after`, ascending.
    func events(session: String, after seq: Int64, limit: Int) async throws -> [StoredEvent]

    /// Up to `limit` events of `job` in `session` with `seq > after`, ascending.
    func events(session: String, job: String, after seq: Int64, limit: Int) async throws -> [StoredEvent]

    /// The buffer bookkeeping of `session`, or `nil` if the session is unknown.
    func bufferStatus(session: String) async throws -> BufferStatus?

    /// Frees the events of `session` with `seq ≤ through` (ack or eviction).
    /// - Returns: the buffer status afterwards.
    /// - Throws: `RuntimeStoreError.unknownSession`.
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

/// What an append did (`RuntimeStore.appendReportingRefusals`).
public struct AppendOutcome: Sendable, Equatable {
    /// The evictions the session caps forced, one per affected session.
    public var evictions: [Eviction]
    /// The sessions whose events of the batch were not stored (in a cluster: another node
    /// holds them). Empty for a store that refuses nothing.
    public var refusedSessions: Set<String>

    /// Creates an outcome.
    public init(evictions: [Eviction], refusedSessions: Set<String> = []) {
        self.evictions = evictions
        self.refusedSessions = refusedSessions
    }
}

extension RuntimeStore {
    /// Stores the whole batch (`append`): refuses nothing.
    public func appendReportingRefusals(_ events: [StoredEvent]) async throws -> AppendOutcome {
        AppendOutcome(evictions: try await append(events))
    }

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
