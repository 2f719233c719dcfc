import DequeModule
import Foundation

/// The default `RuntimeStore`: everything in process memory, lost when the process ends.
///
/// Each session's buffer is bounded by its `SessionRecord.limits`; reaching a cap evicts the
/// oldest events and reports it. Job and idempotency records are kept until the runtime
/// deletes or purges them. Outstanding-credential records are kept too, but only for the
/// life of the process (`durablyKeepsOutstandingCredentials` is `false`).
public actor InMemoryRuntimeStore: RuntimeStore {
    private struct Buffer {
        var record: SessionRecord
        var events: Deque<StoredEvent> = []
        var lastSeq: Int64 = 0
        var releasedThrough: Int64 = 0
        var bytes = 0

        var status: BufferStatus {
            BufferStatus(
                lastSeq: lastSeq, releasedThrough: releasedThrough, firstRetainedSeq: events.first?.seq,
                eventCount: events.count, byteCount: bytes)
        }

        /// Index of the first event with `seq > after` (binary search: seqs are ascending).
        func firstIndex(after seq: Int64) -> Int {
            var low = events.startIndex
            var high = events.endIndex
            while low < high {
                let mid = low + (high - low) / 2
                if events[mid].seq <= seq { low = mid + 1 } else { high = mid }
            }
            return low
        }

        /// Frees events with `seq ≤ through` and raises the floor to `through`.
        mutating func free(through: Int64) {
            while let first = events.first, first.seq <= through {
                events.removeFirst()
                bytes -= first.byteCount
            }
            releasedThrough = max(releasedThrough, through)
        }
    }

    private struct IdempotencyKey: Hashable {
        var principal: String
        var key: String
    }

    private var buffers: [String: Buffer] = [:]
    private var jobRecords: [String: JobRecord] = [:]
    private var idempotencyRecords: [IdempotencyKey: IdempotencyRecord] = [:]

    private var credentialRecords: [OutstandingCredentialKey: OutstandingCredentialRecord] = [:]

    /// Creates an empty store.
    public init() {}

    public func append(_ events: [StoredEvent]) throws -> [Eviction] {
        // Validate the whole batch first so that a failure stores nothing.
        var lastSeqs: [String: Int64] = [:]
        for event in events {
            guard let buffer = buffers[event.sessionID] else {
                throw RuntimeStoreError.unknownSession(event.sessionID)
            }
            let last = lastSeqs[event.sessionID] ?? buffer.lastSeq
            guard event.seq > last else {
                throw RuntimeStoreError.seqNotIncreasing(sessionID: event.sessionID, seq: event.seq, lastSeq: last)
            }
            let size = event.byteCount
            guard size <= buffer.record.limits.maxBytes else {
                throw RuntimeStoreError.eventTooLarge(
                    sessionID: event.sessionID, seq: event.seq, bytes: size, limit: buffer.record.limits.maxBytes)
            }
            lastSeqs[event.sessionID] = event.seq
        }
        // Group by session, keeping the batch order within each session.
        var order: [String] = []
        var grouped: [String: [StoredEvent]] = [:]
        for event in events {
            if grouped[event.sessionID] == nil { order.append(event.sessionID) }
            grouped[event.sessionID, default: []].append(event)
        }
        var evictions: [Eviction] = []
        for id in order {
            // Validated above: the buffer exists. Taking it out avoids copying its storage.
            guard var buffer = buffers.removeValue(forKey: id), let batch = grouped[id] else { continue }
            for event in batch {
                buffer.events.append(event)
                buffer.bytes += event.byteCount
                buffer.lastSeq = event.seq
            }
            let limits = buffer.record.limits
            let overEvents = buffer.events.count > limits.maxEvents
            let overBytes = buffer.bytes > limits.maxBytes
            if overEvents || overBytes {
                var count = 0
                var freedBytes = 0
                while buffer.events.count > limits.maxEvents || buffer.bytes > limits.maxBytes,
                    let first = buffer.events.popFirst()
                {
                    count += 1
                    freedBytes += first.byteCount
                    buffer.bytes -= first.byteCount
                    buffer.releasedThrough = max(buffer.releasedThrough, first.seq)
                }
                evictions.append(
                    Eviction(
                        sessionID: id, releasedThrough: buffer.releasedThrough, events: count, bytes: freedBytes,
                        overEventLimit: overEvents, overByteLimit: overBytes))
            }
            buffers[id] = buffer
        }
        return evictions
    }

    public func events(session: String, after seq: Int64, limit: Int) -> [StoredEvent] {
        guard limit > 0, let buffer = buffers[session] else { return [] }
        let start = buffer.firstIndex(after: seq)
        let end = min(buffer.events.endIndex, start + min(limit, buffer.events.count))
        return Array(buffer.events[start..<end])
    }

    public func events(session: String, job: String, after seq: Int64, limit: Int) -> [StoredEvent] {
        guard limit > 0, let buffer = buffers[session] else { return [] }
        var result: [StoredEvent] = []
        var index = buffer.firstIndex(after: seq)
        while index < buffer.events.endIndex, result.count < limit {
            let event = buffer.events[index]
            if event.jobID == job { result.append(event) }
            index += 1
        }
        return result
    }

    public func bufferStatus(session: String) -> BufferStatus? {
        buffers[session]?.status
    }

    public func release(session: String, through seq: Int64) throws -> BufferStatus {
        // Read the bookkeeping without holding a second reference to the event storage, so
        // the in-place `free` below does not copy it.
        guard let (lastSeq, releasedThrough) = buffers[session].map({ ($0.lastSeq, $0.releasedThrough) }) else {
            throw RuntimeStoreError.unknownSession(session)
        }
        let through = min(seq, lastSeq)
        if through > releasedThrough {
            buffers[session]?.free(through: through)
        }
        guard let status = buffers[session]?.status else { throw RuntimeStoreError.unknownSession(session) }
        return status
    }

    public func saveSession(_ record: SessionRecord) {
        if buffers[record.sessionID] != nil {
            buffers[record.sessionID]?.record = record
        } else {
            buffers[record.sessionID] = Buffer(record: record)
        }
    }

    public func session(_ id: String) -> SessionRecord? {
        buffers[id]?.record
    }

    public func sessions(lastSeenBefore date: Date?) -> [SessionRecord] {
        buffers.values.lazy.map(\.record)
            .filter { record in date.map { record.lastSeenAt < $0 } ?? true }
            .sorted { $0.sessionID < $1.sessionID }
    }

    public func deleteSession(_ id: String) {
        buffers[id] = nil
    }

    public func saveJob(_ record: JobRecord) {
        jobRecords[record.jobID] = record
    }

    public func job(_ id: String) -> JobRecord? {
        jobRecords[id]
    }

    public func jobs(_ query: JobQuery) -> [JobRecord] {
        guard query.limit > 0 else { return [] }
        let matching = jobRecords.values.filter { job in
            query.matches(job) && (query.after.map { JobQuery.isAfter(job, $0) } ?? true)
        }
        let sorted = matching.sorted { a, b in
            a.createdAt != b.createdAt ? a.createdAt < b.createdAt : a.jobID < b.jobID
        }
        return Array(sorted.prefix(query.limit))
    }

    public func deleteJob(_ id: String) {
        jobRecords[id] = nil
    }

    public func claimIdempotency(_ record: IdempotencyRecord) -> IdempotencyRecord {
        let key = IdempotencyKey(principal: record.principal, key: record.key)
        if let existing = idempotencyRecords[key] { return existing }
        idempotencyRecords[key] = record
        return record
    }

    public func idempotency(principal: String, key: String) -> IdempotencyRecord? {
        idempotencyRecords[IdempotencyKey(principal: principal, key: key)]
    }

    public func purgeIdempotency(olderThan date: Date) -> Int {
        let before = idempotencyRecords.count
        idempotencyRecords = idempotencyRecords.filter { $0.value.createdAt >= date }
        return before - idempotencyRecords.count
    }

    // MARK: - Outstanding credentials

    /// `false`: the records are lost with the process.
    public nonisolated var durablyKeepsOutstandingCredentials: Bool { false }

    // These three are `async throws` like the requirements: with a narrower signature, a
    // direct call on the concrete type would pick the `RuntimeStore` extension's no-op default.

    public func saveOutstandingCredential(_ record: OutstandingCredentialRecord) async throws {
        let key = OutstandingCredentialKey(record)
        credentialRecords[key] = record
    }

    public func removeOutstandingCredential(jobID: String, credentialID: String, valueDigest: String) async throws {
        credentialRecords[OutstandingCredentialKey(jobID: jobID, credentialID: credentialID, valueDigest: valueDigest)] = nil
    }

    public func outstandingCredentials() async throws -> [OutstandingCredentialRecord] {
        credentialRecords.values.sorted {
            ($0.issuedAt, $0.jobID, $0.credentialID, $0.valueDigest) < ($1.issuedAt, $1.jobID, $1.credentialID, $1.valueDigest)
        }
    }
}
