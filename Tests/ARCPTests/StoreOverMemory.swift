import ARCP
import Foundation

/// A test store that wraps an `InMemoryRuntimeStore`: every requirement forwards to `inner`,
/// so a wrapper (a store that fails, waits or counts somewhere) writes only what it changes.
protocol StoreOverMemory: RuntimeStore {
    var inner: InMemoryRuntimeStore { get }
}

extension StoreOverMemory {
    func append(_ events: [StoredEvent]) async throws -> [Eviction] { try await inner.append(events) }
    func events(session: String, after seq: Int64, limit: Int) async throws -> [StoredEvent] {
        await inner.events(session: session, after: seq, limit: limit)
    }
    func events(session: String, job: String, after seq: Int64, limit: Int) async throws -> [StoredEvent] {
        await inner.events(session: session, job: job, after: seq, limit: limit)
    }
    func bufferStatus(session: String) async throws -> BufferStatus? { await inner.bufferStatus(session: session) }
    func release(session: String, through seq: Int64) async throws -> BufferStatus {
        try await inner.release(session: session, through: seq)
    }
    func saveSession(_ record: SessionRecord) async throws { await inner.saveSession(record) }
    func session(_ id: String) async throws -> SessionRecord? { await inner.session(id) }
    func sessions(lastSeenBefore date: Date?) async throws -> [SessionRecord] { await inner.sessions(lastSeenBefore: date) }
    func deleteSession(_ id: String) async throws { await inner.deleteSession(id) }
    func saveJob(_ record: JobRecord) async throws { await inner.saveJob(record) }
    func job(_ id: String) async throws -> JobRecord? { await inner.job(id) }
    func jobs(_ query: JobQuery) async throws -> [JobRecord] { await inner.jobs(query) }
    func deleteJob(_ id: String) async throws { await inner.deleteJob(id) }
    func claimIdempotency(_ record: IdempotencyRecord) async throws -> IdempotencyRecord {
        await inner.claimIdempotency(record)
    }
    func idempotency(principal: String, key: String) async throws -> IdempotencyRecord? {
        await inner.idempotency(principal: principal, key: key)
    }
    func purgeIdempotency(olderThan date: Date) async throws -> Int { await inner.purgeIdempotency(olderThan: date) }
}
