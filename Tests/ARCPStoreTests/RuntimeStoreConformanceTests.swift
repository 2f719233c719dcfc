import ARCP
import ARCPStore
import Foundation
import Testing

/// One suite, run against every `RuntimeStore` implementation.
@Suite("RuntimeStore conformance")
struct RuntimeStoreConformanceTests {
    // MARK: Events

    @Test(arguments: StoreKind.allCases)
    func appendThenReplayInOrder(kind: StoreKind) async throws {
        try await withStore(kind) { (store: any RuntimeStore) async throws in
            try await store.saveSession(sessionRecord("s1"))
            #expect(try await store.append(events("s1", 1...3)).isEmpty)
            #expect(try await store.append(events("s1", 4...4)).isEmpty)
            #expect(try await store.append(events("s1", 5...10)).isEmpty)
            #expect(try await store.append([]).isEmpty)

            let all = try await store.events(session: "s1", after: 0, limit: 100)
            #expect(all == events("s1", 1...10))
            #expect(all.first?.frame.contains(#""event_seq":1,"#) == true)
            #expect(try await store.events(session: "s1", after: 5, limit: 3).map(\.seq) == [6, 7, 8])
            #expect(try await store.events(session: "s1", after: 10, limit: 3).isEmpty)
            #expect(try await store.events(session: "s1", after: 3, limit: 0).isEmpty)
            #expect(try await store.events(session: "nope", after: 0, limit: 10).isEmpty)

            let status = try #require(try await store.bufferStatus(session: "s1"))
            #expect(status.lastSeq == 10)
            #expect(status.releasedThrough == 0)
            #expect(status.firstRetainedSeq == 1)
            #expect(status.eventCount == 10)
            #expect(status.byteCount == all.reduce(0) { $0 + $1.byteCount })
            #expect(status.canReplay(after: 0))
            #expect(status.canReplay(after: 10))
            #expect(!status.canReplay(after: 11))
            #expect(try await store.firstRetainedSeq(session: "s1") == 1)
            #expect(try await store.bufferStatus(session: "nope") == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func seqsMayHaveGapsButNeverGoBack(kind: StoreKind) async throws {
        try await withStore(kind) { (store: any RuntimeStore) async throws in
            try await store.saveSession(sessionRecord("s1"))
            _ = try await store.append([event("s1", 2), event("s1", 5)])
            #expect(try await store.events(session: "s1", after: 2, limit: 10).map(\.seq) == [5])
            #expect(try await store.events(session: "s1", after: 3, limit: 10).map(\.seq) == [5])
            await #expect(throws: RuntimeStoreError.seqNotIncreasing(sessionID: "s1", seq: 5, lastSeq: 5)) {
                _ = try await store.append([event("s1", 5)])
            }
            await #expect(throws: RuntimeStoreError.seqNotIncreasing(sessionID: "s1", seq: 4, lastSeq: 5)) {
                _ = try await store.append([event("s1", 4)])
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aFailedBatchStoresNothing(kind: StoreKind) async throws {
        try await withStore(kind) { (store: any RuntimeStore) async throws in
            try await store.saveSession(sessionRecord("s1"))
            try await store.saveSession(sessionRecord("s2"))
            _ = try await store.append(events("s1", 1...2))
            // Valid events for s2 and s1, then a repeated seq: nothing of the batch is kept.
            await #expect(throws: RuntimeStoreError.seqNotIncreasing(sessionID: "s1", seq: 4, lastSeq: 4)) {
                _ = try await store.append([event("s2", 1), event("s1", 3), event("s1", 4), event("s1", 4)])
            }
            await #expect(throws: RuntimeStoreError.unknownSession("ghost")) {
                _ = try await store.append([event("s1", 3), event("ghost", 1)])
            }
            await #expect(throws: RuntimeStoreError.seqNotIncreasing(sessionID: "s2", seq: 0, lastSeq: 0)) {
                _ = try await store.append([event("s2", 0)])
            }
            #expect(try await store.events(session: "s1", after: 0, limit: 10).map(\.seq) == [1, 2])
            #expect(try await store.events(session: "s2", after: 0, limit: 10).isEmpty)
            #expect(try await store.bufferStatus(session: "s1")?.lastSeq == 2)
            #expect(try await store.bufferStatus(session: "s2")?.lastSeq == 0)
            #expect(try await store.bufferStatus(session: "ghost") == nil)
            // The session goes on normally afterwards.
            _ = try await store.append(events("s1", 3...4))
            #expect(try await store.events(session: "s1", after: 0, limit: 10).map(\.seq) == [1, 2, 3, 4])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func sessionsAreIsolatedInOneBatch(kind: StoreKind) async throws {
        try await withStore(kind) { (store: any RuntimeStore) async throws in
            try await store.saveSession(sessionRecord("a"))
            try await store.saveSession(sessionRecord("b", principal: "bob"))
            var batch: [StoredEvent] = []
            for seq in Int64(1)...20 {
                batch.append(event("a", seq, job: seq.isMultiple(of: 2) ? "job_even" : "job_odd"))
                if seq <= 7 { batch.append(event("b", seq, job: "job_b")) }
            }
            #expect(try await store.append(batch).isEmpty)
            #expect(try await store.events(session: "a", after: 0, limit: 100).map(\.seq) == Array(1...20))
            #expect(try await store.events(session: "b", after: 0, limit: 100) == events("b", 1...7, job: "job_b"))

            // Job-filtered reads (subscribe history).
            let even = try await store.events(session: "a", job: "job_even", after: 0, limit: 100)
            #expect(even.map(\.seq) == Array(stride(from: 2, through: 20, by: 2)))
            #expect(even.allSatisfy { $0.jobID == "job_even" && $0.sessionID == "a" })
            #expect(
                try await store.events(session: "a", job: "job_odd", after: 10, limit: 3).map(\.seq) == [11, 13, 15])
            #expect(try await store.events(session: "a", job: "job_b", after: 0, limit: 10).isEmpty)
            #expect(try await store.events(session: "a", job: "job_odd", after: 0, limit: 0).isEmpty)
        }
    }

    // MARK: Release (ack) floors and caps

    @Test(arguments: StoreKind.allCases)
    func releaseFreesUpToTheAckAndNeverMovesBack(kind: StoreKind) async throws {
        try await withStore(kind) { (store: any RuntimeStore) async throws in
            try await store.saveSession(sessionRecord("s1"))
            _ = try await store.append(events("s1", 1...10))

            var status = try await store.release(session: "s1", through: 4)
            #expect(status.releasedThrough == 4)
            #expect(status.firstRetainedSeq == 5)
            #expect(status.eventCount == 6)
            #expect(status.byteCount == events("s1", 5...10).reduce(0) { $0 + $1.byteCount })
            #expect(try await store.events(session: "s1", after: 0, limit: 100).map(\.seq) == Array(5...10))
            #expect(status.canReplay(after: 4))
            #expect(!status.canReplay(after: 3))

            // A stale ack changes nothing.
            #expect(try await store.release(session: "s1", through: 2) == status)

            // An ack beyond the last seq is clamped: later events are not pre-freed.
            status = try await store.release(session: "s1", through: 1000)
            #expect(status.releasedThrough == 10)
            #expect(status.firstRetainedSeq == nil)
            #expect(status.eventCount == 0)
            #expect(status.byteCount == 0)
            _ = try await store.append(events("s1", 11...12))
            #expect(try await store.events(session: "s1", after: 0, limit: 100).map(\.seq) == [11, 12])
            status = try #require(try await store.bufferStatus(session: "s1"))
            #expect(
                status
                    == BufferStatus(
                        lastSeq: 12, releasedThrough: 10, firstRetainedSeq: 11, eventCount: 2,
                        byteCount: events("s1", 11...12).reduce(0) { $0 + $1.byteCount }))

            await #expect(throws: RuntimeStoreError.unknownSession("nope")) {
                _ = try await store.release(session: "nope", through: 1)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func eventCapEvictsOldestAndReportsIt(kind: StoreKind) async throws {
        try await withStore(kind) { (store: any RuntimeStore) async throws in
            try await store.saveSession(sessionRecord("s1", limits: BufferLimits(maxEvents: 5, maxBytes: 1 << 20)))
            try await store.saveSession(sessionRecord("s2"))
            #expect(try await store.append(events("s1", 1...4)).isEmpty)
            let evicted = events("s1", 5...8)
            let evictions = try await store.append(evicted + events("s2", 1...3))
            let expectedBytes = events("s1", 1...3).reduce(0) { $0 + $1.byteCount }
            #expect(
                evictions == [
                    Eviction(
                        sessionID: "s1", releasedThrough: 3, events: 3, bytes: expectedBytes, overEventLimit: true,
                        overByteLimit: false)
                ])
            #expect(try await store.events(session: "s1", after: 0, limit: 100).map(\.seq) == [4, 5, 6, 7, 8])
            let status = try #require(try await store.bufferStatus(session: "s1"))
            #expect(status.releasedThrough == 3 && status.eventCount == 5 && status.firstRetainedSeq == 4)
            #expect(!status.canReplay(after: 2))
            #expect(status.canReplay(after: 3))
            #expect(try await store.events(session: "s2", after: 0, limit: 100).count == 3)

            // A batch larger than the cap keeps only its newest events.
            let big = try await store.append(events("s1", 9...20))
            #expect(big.first?.releasedThrough == 15)
            #expect(big.first?.events == 12)
            #expect(try await store.events(session: "s1", after: 0, limit: 100).map(\.seq) == Array(16...20))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func byteCapEvictsOldestAndOversizedEventsAreRefused(kind: StoreKind) async throws {
        try await withStore(kind) { (store: any RuntimeStore) async throws in
            let size = event("s1", 1, padding: 100).byteCount
            let limits = BufferLimits(maxEvents: 1000, maxBytes: size * 3 + size / 2)
            try await store.saveSession(sessionRecord("s1", limits: limits))
            #expect(try await store.append((1...3).map { event("s1", $0, padding: 100) }).isEmpty)
            let evictions = try await store.append([event("s1", 4, padding: 100), event("s1", 5, padding: 100)])
            #expect(evictions.count == 1)
            #expect(evictions.first?.overByteLimit == true)
            #expect(evictions.first?.overEventLimit == false)
            #expect(evictions.first?.events == 2)
            #expect(evictions.first?.bytes == 2 * size)
            #expect(try await store.events(session: "s1", after: 0, limit: 100).map(\.seq) == [3, 4, 5])
            #expect(try await store.bufferStatus(session: "s1")?.byteCount == 3 * size)

            let huge = event("s1", 6, padding: limits.maxBytes)
            await #expect(
                throws: RuntimeStoreError.eventTooLarge(
                    sessionID: "s1", seq: 6, bytes: huge.byteCount, limit: limits.maxBytes)
            ) {
                _ = try await store.append([huge])
            }
            #expect(try await store.bufferStatus(session: "s1")?.lastSeq == 5)

            // Limits saved later apply from the next append on.
            var record = sessionRecord("s1", limits: BufferLimits(maxEvents: 2, maxBytes: 1 << 20))
            record.lastSeenAt = t0.addingTimeInterval(1)
            try await store.saveSession(record)
            let shrink = try await store.append([event("s1", 6)])
            #expect(shrink.first?.releasedThrough == 4)
            #expect(try await store.events(session: "s1", after: 0, limit: 100).map(\.seq) == [5, 6])
        }
    }

    // MARK: Sessions

    @Test(arguments: StoreKind.allCases)
    func sessionRecordsRoundTripAndKeepTheirBuffer(kind: StoreKind) async throws {
        try await withStore(kind) { (store: any RuntimeStore) async throws in
            let original = sessionRecord("s1", lastSeenAt: t0.addingTimeInterval(10))
            try await store.saveSession(original)
            #expect(try await store.session("s1") == original)
            #expect(try await store.session("nope") == nil)
            _ = try await store.append(events("s1", 1...5))
            _ = try await store.release(session: "s1", through: 2)

            // Token rotation and a new lastSeenAt: the buffer and its floor survive.
            var rotated = original
            rotated.resumeTokenHash = ResumeTokenHasher.hash("rtk_new")
            rotated.lastSeenAt = t0.addingTimeInterval(20)
            rotated.stateJSON = #"{"features":[]}"#
            try await store.saveSession(rotated)
            #expect(try await store.session("s1") == rotated)
            let status = try #require(try await store.bufferStatus(session: "s1"))
            #expect(status.lastSeq == 5 && status.releasedThrough == 2 && status.eventCount == 3)

            try await store.saveSession(sessionRecord("s2", principal: "bob", lastSeenAt: t0.addingTimeInterval(100)))
            #expect(try await store.sessions(lastSeenBefore: nil).map(\.sessionID) == ["s1", "s2"])
            #expect(try await store.sessions(lastSeenBefore: t0.addingTimeInterval(50)) == [rotated])
            #expect(try await store.sessions(lastSeenBefore: t0.addingTimeInterval(20)).isEmpty)

            try await store.deleteSession("s1")
            #expect(try await store.session("s1") == nil)
            #expect(try await store.bufferStatus(session: "s1") == nil)
            #expect(try await store.events(session: "s1", after: 0, limit: 10).isEmpty)
            await #expect(throws: RuntimeStoreError.unknownSession("s1")) {
                _ = try await store.append(events("s1", 6...6))
            }
            // A new session under the same id starts from scratch.
            try await store.saveSession(original)
            #expect(try await store.bufferStatus(session: "s1")?.lastSeq == 0)
            _ = try await store.append(events("s1", 1...1))
            #expect(try await store.events(session: "s1", after: 0, limit: 10).map(\.seq) == [1])
            try await store.deleteSession("never-existed")
        }
    }

    // MARK: Jobs

    private func job(
        _ id: String, principal: String = "alice", agent: String = "echo@1.0.0",
        status: JobRecord.Status = .running, at offset: TimeInterval
    ) -> JobRecord {
        JobRecord(
            jobID: id, sessionID: "s1", principal: principal, agent: agent, status: status,
            createdAt: t0.addingTimeInterval(offset), traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
            parentJobID: nil, leaseJSON: #"{"fs.read":["/tmp/**"]}"#,
            leaseConstraintsJSON: #"{"expires_at":"2026-05-13T23:42:00Z"}"#, budgetJSON: #"{"USD":5.0}"#,
            lastEventSeq: 0, idempotencyKey: nil)
    }

    @Test(arguments: StoreKind.allCases)
    func jobRecordsRoundTrip(kind: StoreKind) async throws {
        try await withStore(kind) { (store: any RuntimeStore) async throws in
            var record = job("job_1", at: 0)
            record.parentJobID = "job_0"
            record.idempotencyKey = "key-1"
            try await store.saveJob(record)
            #expect(try await store.job("job_1") == record)
            record.status = .success
            record.lastEventSeq = 42
            record.budgetJSON = nil
            try await store.saveJob(record)
            #expect(try await store.job("job_1") == record)
            let minimal = JobRecord(
                jobID: "job_2", sessionID: "s2", principal: "bob", agent: "a@1", status: .pending, createdAt: t0)
            try await store.saveJob(minimal)
            #expect(try await store.job("job_2") == minimal)
            #expect(try await store.job("nope") == nil)
            #expect(try await store.jobs(principal: nil).count == 2)
            #expect(try await store.jobs(principal: "bob") == [minimal])
            try await store.deleteJob("job_2")
            #expect(try await store.job("job_2") == nil)
            #expect(try await store.jobs(principal: "bob").isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func jobQueriesFilterAndPage(kind: StoreKind) async throws {
        try await withStore(kind) { (store: any RuntimeStore) async throws in
            // Three jobs share one createdAt to exercise the (createdAt, jobID) cursor.
            let all = [
                job("job_a", at: 1),
                job("job_b", agent: "echo@2.0.0", status: .success, at: 2),
                job("job_c", agent: "echoes@1.0.0", at: 2),
                job("job_d", status: .timedOut, at: 2),
                job("job_e", principal: "bob", at: 3),
                job("job_f", agent: "slow@1.0.0", status: .pending, at: 4),
            ]
            for record in all.reversed() { try await store.saveJob(record) }

            let alice = all.filter { $0.principal == "alice" }
            #expect(try await store.jobs(JobQuery(principal: "alice")) == alice)
            #expect(try await store.jobs(JobQuery()) == all)
            #expect(try await store.jobs(JobQuery(principal: "carol")).isEmpty)
            #expect(
                try await store.jobs(JobQuery(principal: "alice", statuses: [.running, .pending])).map(\.jobID)
                    == ["job_a", "job_c", "job_f"])
            #expect(try await store.jobs(JobQuery(statuses: [])).isEmpty)
            #expect(try await store.jobs(JobQuery(statuses: [.timedOut])).map(\.jobID) == ["job_d"])
            // Agent by name matches every version; by name@version, only that one.
            #expect(
                try await store.jobs(JobQuery(agent: "echo")).map(\.jobID) == ["job_a", "job_b", "job_d", "job_e"])
            #expect(try await store.jobs(JobQuery(agent: "echo@2.0.0")).map(\.jobID) == ["job_b"])
            #expect(try await store.jobs(JobQuery(agent: "ech")).isEmpty)
            #expect(
                try await store.jobs(JobQuery(createdAfter: t0.addingTimeInterval(2))).map(\.jobID)
                    == ["job_e", "job_f"])
            #expect(try await store.jobs(JobQuery(limit: 0)).isEmpty)

            // Page through alice's jobs two at a time.
            var pages: [[String]] = []
            var cursor: JobQuery.Cursor?
            while true {
                let page = try await store.jobs(JobQuery(principal: "alice", after: cursor, limit: 2))
                guard let last = page.last else { break }
                pages.append(page.map(\.jobID))
                cursor = JobQuery.Cursor(after: last)
            }
            #expect(pages == [["job_a", "job_b"], ["job_c", "job_d"], ["job_f"]])

            // Non-ASCII agent names match by name too.
            let accented = job("job_u", principal: "zed", agent: "résumé@1.0.0", at: 9)
            try await store.saveJob(accented)
            #expect(try await store.jobs(JobQuery(principal: "zed", agent: "résumé")) == [accented])
            #expect(try await store.jobs(JobQuery(principal: "zed", agent: "résum")).isEmpty)
        }
    }

    // MARK: Idempotency

    @Test(arguments: StoreKind.allCases)
    func idempotencyKeysRoundTripAndTheFirstClaimWins(kind: StoreKind) async throws {
        try await withStore(kind) { (store: any RuntimeStore) async throws in
            let first = IdempotencyRecord(
                principal: "alice", key: "refactor-auth-2026-W19", fingerprint: "fp1", jobID: "job_1",
                acceptedPayloadJSON: #"{"job_id":"job_1","lease":{}}"#, createdAt: t0)
            #expect(try await store.claimIdempotency(first) == first)
            #expect(try await store.idempotency(principal: "alice", key: "refactor-auth-2026-W19") == first)

            // A second claim (same or different parameters) gets the first record back.
            var conflicting = first
            conflicting.fingerprint = "fp2"
            conflicting.jobID = "job_2"
            #expect(try await store.claimIdempotency(conflicting) == first)

            // Keys are scoped by principal.
            var bobs = conflicting
            bobs.principal = "bob"
            bobs.createdAt = t0.addingTimeInterval(100)
            #expect(try await store.claimIdempotency(bobs) == bobs)
            #expect(try await store.idempotency(principal: "bob", key: first.key) == bobs)
            #expect(try await store.idempotency(principal: "carol", key: first.key) == nil)

            #expect(try await store.purgeIdempotency(olderThan: t0) == 0)
            #expect(try await store.purgeIdempotency(olderThan: t0.addingTimeInterval(50)) == 1)
            #expect(try await store.idempotency(principal: "alice", key: first.key) == nil)
            #expect(try await store.idempotency(principal: "bob", key: first.key) == bobs)
            // After the purge the key is free again.
            #expect(try await store.claimIdempotency(conflicting) == conflicting)
        }
    }

    // MARK: Concurrency

    @Test(arguments: StoreKind.allCases)
    func readersSeeAConsistentPrefixWhileAWriterAppends(kind: StoreKind) async throws {
        try await withStore(kind) { (store: any RuntimeStore) async throws in
            try await store.saveSession(sessionRecord("s1"))
            let batches = 40
            let perBatch: Int64 = 25
            let total = Int64(batches) * perBatch
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for batch in 0..<Int64(batches) {
                        _ = try await store.append(events("s1", (batch * perBatch + 1)...((batch + 1) * perBatch)))
                    }
                }
                for _ in 0..<3 {
                    group.addTask {
                        // Each read returns a contiguous ascending prefix made of whole batches.
                        while true {
                            let page = try await store.events(session: "s1", after: 0, limit: Int(total))
                            #expect(page.map(\.seq) == Array(0..<Int64(page.count)).map { $0 + 1 })
                            #expect(Int64(page.count) % perBatch == 0)
                            if Int64(page.count) == total { return }
                            await Task.yield()
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}
