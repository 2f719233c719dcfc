import Foundation

/// The background task that applies the retention by time (`Configuration.Retention`): every
/// `sweepInterval` it asks the job table for the finished jobs past their retention and
/// releases what they held; every `storeSweepInterval`, with a store, it deletes sessions
/// past their resume window and idempotency records past their window from the store.
///
/// It holds the runtime weakly, so a runtime that is dropped without `shutdown()` is freed
/// (the task ends at its next tick).
final class RetentionSweeper: Sendable {
    private let task = RankedMutex<Task<Void, Never>?>(.leaf, nil)
    /// When the store was last swept (uptime on the runtime's clock).
    private let lastStoreSweep = RankedMutex<Duration?>(.leaf, nil)

    /// Whether a store sweep is due at `now` (and if so, notes it as done).
    func storeSweepDue(at now: Duration, every interval: Duration) -> Bool {
        lastStoreSweep.withLock { last in
            if let l = last, now - l < interval { return false }
            last = now
            return true
        }
    }

    func start(_ runtime: ARCPRuntime) {
        let interval = max(runtime.configuration.retention.sweepInterval, .milliseconds(10))
        let t = Task { [weak runtime] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled, let runtime else { return }
                await runtime.sweepRetention()
            }
        }
        task.withLock { $0 = t }
    }

    func stop() {
        task.withLock { t in
            t?.cancel()
            t = nil
        }
    }
}

extension ARCPRuntime {
    /// Retention: job `job` ended and its end duties ran. The table may drop finished jobs
    /// by its count and byte caps; their keys and records are released.
    func jobEnded(_ job: RuntimeJob) async {
        // Its agent's working memory is gone (what the job keeps is freed by the retention).
        freedMemory.noteFreed()
        let retired = await tables.jobs.jobEnded(job, at: configuration.leaseClock.uptime())
        // Its slot is free: a job waiting for one starts.
        await startWaitingJobs()
        await release(retired)
    }

    /// Applies the retention by time now: drops the finished jobs whose retention passed
    /// (and, with a store, sweeps it when `storeSweepInterval` passed since the last time).
    /// The sweeper calls it every `sweepInterval`; tests call it after advancing the clock.
    package func sweepRetention() async {
        let now = configuration.leaseClock.uptime()
        await release(await tables.jobs.sweep(at: now))
        let retention = configuration.retention
        freedMemory.trimIfDue(at: now, every: retention.trimInterval)
        guard let store = configuration.store, let storeWriter, retention.deleteFromStore else { return }
        guard retentionSweeper.storeSweepDue(at: now, every: retention.storeSweepInterval) else { return }
        await sweepStore(store, writer: storeWriter)
    }

    /// Deletes from the store what outlived its window: idempotency records older than
    /// `idempotencyWindow`, and sessions not seen for longer than the resume window that
    /// this runtime does not hold (one an earlier process left, or one that expired while
    /// the store was unavailable).
    func sweepStore(_ store: any RuntimeStore, writer: RuntimeStoreWriter) async {
        let wall = configuration.leaseClock.now()
        writer.submit(.purgeIdempotency(olderThan: wall.addingTimeInterval(-Self.seconds(configuration.retention.idempotencyWindow))))
        do {
            let stale = try await store.sessions(lastSeenBefore: wall.addingTimeInterval(-Self.seconds(configuration.resumeWindow)))
            for record in stale where await tables.sessions.session(record.sessionID) == nil {
                writer.submit(.deleteSession(record.sessionID))
            }
        } catch {
            logger.error("event store sweep failed", metadata: ["error": "\(error)"])
        }
    }

    /// Releases what dropped jobs held besides their memory: idempotency keys and, by
    /// policy, their store records.
    func release(_ retired: [RetiredJob]) async {
        guard !retired.isEmpty else { return }
        freedMemory.noteFreed()
        let deleteRecords = configuration.retention.deleteFromStore
        for job in retired {
            if let key = job.idempotencyKey { await tables.idempotency.release(principal: job.principal, key: key) }
            if deleteRecords { storeWriter?.submit(.deleteJob(job.id)) }
        }
        logger.trace("finished jobs dropped", metadata: ["count": "\(retired.count)"])
    }

    /// `d` in seconds, as a `TimeInterval`.
    static func seconds(_ d: Duration) -> TimeInterval {
        let (s, attos) = d.components
        return TimeInterval(s) + TimeInterval(attos) / 1e18
    }

    /// What the runtime holds now: jobs (finished ones kept for retention, and their bytes),
    /// idempotency keys, sessions. For operators and the tests that prove finished work is
    /// freed; the in-memory tables only (other tables report what this process holds).
    package var heldCounts: HeldCounts {
        let jobs = tables.jobs.localCounts
        return HeldCounts(
            jobs: jobs.jobs, finishedJobs: jobs.finished, finishedJobBytes: jobs.finishedBytes,
            idempotencyKeys: (tables.idempotency as? InMemoryIdempotencyIndex)?.count ?? 0,
            sessions: tables.sessions.localSessionIDs.count)
    }
}

/// What a runtime holds (see `ARCPRuntime.heldCounts`).
package struct HeldCounts: Sendable, Equatable {
    package var jobs: Int
    package var finishedJobs: Int
    package var finishedJobBytes: Int
    package var idempotencyKeys: Int
    package var sessions: Int
}
