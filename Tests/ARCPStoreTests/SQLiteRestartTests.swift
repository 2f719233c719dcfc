import ARCP
import ARCPStore
import Foundation
import Testing

@Suite("SQLiteRuntimeStore durability")
struct SQLiteRestartTests {
    @Test func aRestartedRuntimeReadsEverythingBack() async throws {
        let folder = try TempFolder()
        defer { folder.cleanUp() }
        let path = folder.path("runtime.sqlite")

        let session = sessionRecord("sess_1", limits: BufferLimits(maxEvents: 100, maxBytes: 1 << 20))
        let job = JobRecord(
            jobID: "job_1", sessionID: "sess_1", principal: "alice", agent: "echo@1.0.0", status: .running,
            createdAt: t0, traceID: "4bf92f3577b34da6a3ce929d0e0e4736", leaseJSON: #"{"net.fetch":["*"]}"#,
            lastEventSeq: 7, idempotencyKey: "k1")
        let key = IdempotencyRecord(
            principal: "alice", key: "k1", fingerprint: "fp", jobID: "job_1",
            acceptedPayloadJSON: #"{"job_id":"job_1"}"#, createdAt: t0)
        let written = events("sess_1", 1...7)

        do {
            let store = try SQLiteRuntimeStore(path: path)
            try await store.saveSession(session)
            _ = try await store.append(written)
            _ = try await store.release(session: "sess_1", through: 3)
            try await store.saveJob(job)
            _ = try await store.claimIdempotency(key)
            // WAL mode: the write-ahead log sits beside the database while it is open.
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
            try store.close()
            await #expect(throws: RuntimeStoreError.self) { _ = try await store.session("sess_1") }
        }

        // "Restart": a new store on the same file (the migrator runs again and is a no-op).
        let reopened = try SQLiteRuntimeStore(path: path)
        defer { try? reopened.close() }
        #expect(try await reopened.session("sess_1") == session)
        #expect(try await reopened.events(session: "sess_1", after: 0, limit: 100) == Array(written[3...]))
        #expect(
            try await reopened.bufferStatus(session: "sess_1")
                == BufferStatus(
                    lastSeq: 7, releasedThrough: 3, firstRetainedSeq: 4, eventCount: 4,
                    byteCount: written[3...].reduce(0) { $0 + $1.byteCount }))
        #expect(try await reopened.job("job_1") == job)
        #expect(try await reopened.jobs(JobQuery(principal: "alice", statuses: [.running])) == [job])
        #expect(try await reopened.idempotency(principal: "alice", key: "k1") == key)

        // The session's numbering continues where it stopped; a replay from the old seq works.
        await #expect(throws: RuntimeStoreError.seqNotIncreasing(sessionID: "sess_1", seq: 7, lastSeq: 7)) {
            _ = try await reopened.append([event("sess_1", 7)])
        }
        _ = try await reopened.append(events("sess_1", 8...9))
        #expect(try await reopened.events(session: "sess_1", after: 5, limit: 100).map(\.seq) == [6, 7, 8, 9])
    }

    @Test func twoStoresOnOneFileSeeEachOthersCommits() async throws {
        let folder = try TempFolder()
        defer { folder.cleanUp() }
        let path = folder.path("shared.sqlite")
        let writer = try SQLiteRuntimeStore(path: path)
        defer { try? writer.close() }
        let reader = try SQLiteRuntimeStore(path: path)
        defer { try? reader.close() }
        try await writer.saveSession(sessionRecord("s1"))
        _ = try await writer.append(events("s1", 1...50))
        #expect(try await reader.events(session: "s1", after: 0, limit: 100).count == 50)
        _ = try await reader.release(session: "s1", through: 10)
        #expect(try await writer.bufferStatus(session: "s1")?.releasedThrough == 10)
    }

    @Test func unopenablePathIsAStorageError() async throws {
        let folder = try TempFolder()
        defer { folder.cleanUp() }
        #expect(throws: RuntimeStoreError.self) {
            _ = try SQLiteRuntimeStore(path: folder.path("missing-dir/x.sqlite"))
        }
    }

    @Test func benchmarkRunsAndChecksItsReplay() async throws {
        let folder = try TempFolder()
        defer { folder.cleanUp() }
        let sample = RuntimeStoreBenchmark.frame(
            sessionID: "sess_01M8876FA2A1PZ92A91GXG3KN7", jobID: "job_01M8876FA2A1PZ92A91GXG3KNA", seq: 1, total: 4)
        #expect(abs(sample.utf8.count - RuntimeStoreBenchmark.sampleFrame.utf8.count) <= 4)
        for store in [InMemoryRuntimeStore() as any RuntimeStore, try SQLiteRuntimeStore(path: folder.path("b.sqlite"))] {
            let result = try await RuntimeStoreBenchmark.run(store: store, events: 600, batchSize: 64, pageSize: 100)
            #expect(result.events == 600)
            #expect(result.averageFrameBytes > 280 && result.averageFrameBytes < 330)
            #expect(result.replayPerSecond > 0 && result.appendPerSecond > 0)
        }
    }
}
