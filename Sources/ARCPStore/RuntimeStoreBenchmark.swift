import ARCP
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Throughput and memory measurements of an `RuntimeStore` with realistic `job.event` frames.
///
/// Not a test: nothing here asserts a time. Run it from a release build, e.g.
///
/// ```swift
/// let result = try await RuntimeStoreBenchmark.run(store: InMemoryRuntimeStore(), events: 100_000)
/// print(result.appendPerSecond, result.replayPerSecond)
/// ```
package enum RuntimeStoreBenchmark {
    /// One run: append `events` frames in batches into a fresh session, then replay them all.
    package struct Result: Sendable {
        /// Events appended and replayed.
        package var events: Int
        /// Average frame size in UTF-8 bytes.
        package var averageFrameBytes: Double
        /// Seconds spent appending (frame generation excluded).
        package var appendSeconds: Double
        /// Seconds spent replaying every event from seq 0 in pages.
        package var replaySeconds: Double

        /// Events appended per second.
        package var appendPerSecond: Double { Double(events) / max(appendSeconds, 1e-9) }
        /// Events replayed per second.
        package var replayPerSecond: Double { Double(events) / max(replaySeconds, 1e-9) }
    }

    /// A `job.event` progress frame as the Python reference runtime sent it (transcript
    /// `06_progress_events.jsonl`): 303 bytes.
    package static let sampleFrame =
        #"{"arcp":"1.1","id":"01M8876FA37T04XS2T8DPA1E4T","type":"job.event","session_id":"sess_01M8876FA2A1PZ92A91GXG3KN7","job_id":"job_01M8876FA2A1PZ92A91GXG3KNA","event_seq":1,"payload":{"kind":"progress","ts":"2026-11-25T02:05:17.507030Z","body":{"current":0,"total":4,"units":"steps","message":"step 0/4"}}}"#

    /// A frame shaped like `sampleFrame`, unique per `seq` (its own id, seq, timestamp and
    /// progress counters), about 300 bytes.
    package static func frame(sessionID: String, jobID: String, seq: Int64, total: Int) -> String {
        let micros = 507_030 + Int(seq % 400_000)
        let second = 17 + Int(seq / 400_000) % 40
        return #"{"arcp":"1.1","id":""# + ulid(seq) + #"","type":"job.event","session_id":""# + sessionID
            + #"","job_id":""# + jobID + #"","event_seq":"# + String(seq)
            + #","payload":{"kind":"progress","ts":"2026-11-25T02:05:"# + String(second) + "."
            + String(micros) + #"Z","body":{"current":"# + String(seq - 1) + #","total":"# + String(total)
            + #","units":"steps","message":"step "# + String(seq - 1) + "/" + String(total) + #""}}}"#
    }

    /// A 26-character Crockford base-32 id derived from `n` (ULID-shaped).
    static func ulid(_ n: Int64) -> String {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
        var chars = Array("01M8876FA37T04XS2T8D000000".utf8)
        var value = UInt64(bitPattern: n)
        var index = chars.count - 1
        while value > 0, index >= 20 {
            chars[index] = alphabet[Int(value & 31)]
            value >>= 5
            index -= 1
        }
        return String(decoding: chars, as: UTF8.self)
    }

    /// Creates a session sized to hold `events` without eviction and appends `events` frames
    /// in batches of `batchSize`. Returns (seconds spent in `append`, total frame bytes).
    static func fill(
        store: any RuntimeStore, sessionID: String, events: Int, batchSize: Int
    ) async throws -> (Double, Int) {
        let now = Date()
        try await store.saveSession(
            SessionRecord(
                sessionID: sessionID, principal: "bench", resumeTokenHash: ResumeTokenHasher.hash("bench"),
                createdAt: now, lastSeenAt: now,
                limits: BufferLimits(maxEvents: max(events, 1), maxBytes: Int.max / 2)))
        let jobID = "job_01M8876FA2A1PZ92A91GXG3KNA"
        let clock = ContinuousClock()
        var elapsed = Duration.zero
        var bytes = 0
        var seq: Int64 = 0
        while seq < Int64(events) {
            let count = min(batchSize, events - Int(seq))
            var batch: [StoredEvent] = []
            batch.reserveCapacity(count)
            for _ in 0..<count {
                seq += 1
                let text = frame(sessionID: sessionID, jobID: jobID, seq: seq, total: events)
                bytes += text.utf8.count
                batch.append(StoredEvent(sessionID: sessionID, seq: seq, jobID: jobID, frame: text))
            }
            let start = clock.now
            let evictions = try await store.append(batch)
            elapsed += clock.now - start
            guard evictions.isEmpty else {
                throw RuntimeStoreError.storage("benchmark session evicted events: \(evictions)")
            }
        }
        return (seconds(elapsed), bytes)
    }

    /// Appends `events` frames into a fresh session of `store`, then replays them all in
    /// pages of `pageSize`, checking order and count.
    package static func run(
        store: any RuntimeStore, events: Int, batchSize: Int = 256, pageSize: Int = 1000,
        sessionID: String = "sess_01M8876FA2A1PZ92A91GXG3KN7"
    ) async throws -> Result {
        let (appendSeconds, bytes) = try await fill(
            store: store, sessionID: sessionID, events: events, batchSize: max(1, batchSize))
        let clock = ContinuousClock()
        let start = clock.now
        var after: Int64 = 0
        var replayed = 0
        while true {
            let page = try await store.events(session: sessionID, after: after, limit: max(1, pageSize))
            guard let last = page.last else { break }
            guard page.first?.seq == after + 1, last.seq == after + Int64(page.count) else {
                throw RuntimeStoreError.storage("benchmark replay out of order after \(after)")
            }
            replayed += page.count
            after = last.seq
        }
        let replaySeconds = seconds(clock.now - start)
        guard replayed == events else {
            throw RuntimeStoreError.storage("benchmark replayed \(replayed) of \(events) events")
        }
        return Result(
            events: events, averageFrameBytes: Double(bytes) / Double(max(events, 1)), appendSeconds: appendSeconds,
            replaySeconds: replaySeconds)
    }

    /// Events per second replayed from `store` after appending `events` frames (see `run`).
    package static func replayEventsPerSecond(store: any RuntimeStore, events: Int) async throws -> Double {
        try await run(store: store, events: events).replayPerSecond
    }

    /// The process memory held per buffered event: resident-memory growth while `store`
    /// receives `events` frames (about 300 bytes each), divided by `events`.
    ///
    /// It measures the whole process, so run it first in a fresh process and keep `store`
    /// alive afterwards; for a disk store it shows the cache, not the file (see
    /// `SQLiteRuntimeStore.databaseSize()`). Returns `nil` where resident memory cannot be read
    /// (only Linux `/proc/self/statm` is supported).
    package static func bytesPerBufferedEvent(store: any RuntimeStore, events: Int) async throws -> Double? {
        guard let before = residentBytes() else { return nil }
        _ = try await fill(store: store, sessionID: "sess_bench_memory", events: events, batchSize: 256)
        guard let after = residentBytes() else { return nil }
        return Double(after - before) / Double(max(events, 1))
    }

    /// The resident set size of this process, from `/proc/self/statm` (Linux only).
    package static func residentBytes() -> Int? {
        #if os(Linux)
            guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
            let fields = text.split(separator: " ")
            guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
            return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
            return nil
        #endif
    }

    private static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
