import DequeModule
import Foundation
import Synchronization

/// What `session.list_jobs` (spec §6.6) shows of a job: a value, so that a table spanning
/// several runtime processes can answer it for jobs that run elsewhere.
package struct JobListing: Sendable {
    package var id: String
    package var principal: String
    package var agent: String
    package var status: JobStatus
    package var lease: Lease
    package var leaseConstraints: LeaseConstraints?
    package var parentJobID: String?
    package var createdAt: Date
    package var traceID: String
    package var lastEventSeq: Int
    /// The current provisioned credentials (shown to the submitting principal only).
    package var credentials: [Credential]

    package init(_ job: RuntimeJob) {
        id = job.id
        principal = job.principal
        agent = job.agent
        status = job.status
        lease = job.lease
        leaseConstraints = job.leaseConstraints
        parentJobID = job.parentJobID
        createdAt = job.createdAt
        traceID = job.traceID
        lastEventSeq = job.lastOwnerSeq
        credentials = job.credentials
    }

    /// A listing from values (a job another runtime process runs; a cluster reads it from
    /// the shared database).
    package init(
        id: String, principal: String, agent: String, status: JobStatus, lease: Lease, leaseConstraints: LeaseConstraints?,
        parentJobID: String?, createdAt: Date, traceID: String, lastEventSeq: Int, credentials: [Credential] = []
    ) {
        (self.id, self.principal, self.agent, self.status, self.lease) = (id, principal, agent, status, lease)
        (self.leaseConstraints, self.parentJobID, self.createdAt, self.traceID) = (leaseConstraints, parentJobID, createdAt, traceID)
        (self.lastEventSeq, self.credentials) = (lastEventSeq, credentials)
    }
}

/// The jobs a runtime knows, in submission order: the one owner of job lookup, listing and
/// retention. A job's own state is its `RuntimeJob`'s; delivery of its events is its
/// `JobEventFanOut`'s.
///
/// The requirements are `async` so that an implementation may span processes (a cluster
/// lists every node's jobs from a shared database). `job(_:)` returns the jobs this process
/// hosts; a cluster adds its cross-node operations (cancel or subscribe a job running on
/// another node) beside it. The synchronous `local…` views answer the runtime's synchronous
/// introspection with what this process holds.
///
/// Retention is the table's: `jobEnded` is called once per job, after its terminal frame and
/// end duties (and its durable record), and `sweep` periodically; both drop finished jobs by
/// age, count or bytes and return them, so the runtime releases their idempotency keys and
/// store records (`Configuration.Retention`).
///
/// Lock order: an implementation must not call into a job (or anything else) while it holds
/// its own lock (see `LockOrder.swift`).
package protocol JobTable: Sendable {
    /// Adds a job accepted by this runtime (a delegated job: counted, never refused).
    func insert(_ job: RuntimeJob) async

    /// Adds a submitted job unless its session or principal already runs as many jobs as
    /// `limits` allow, and places it (`JobPlacement.swift`): `.run` while this process runs
    /// fewer than `limits.perRuntime` submitted jobs, else `.waiting` in this process's
    /// queue or `.handedOff` to a shared one (at most `limits.queued` waiting), else
    /// `.refused` (nothing added). Atomic: concurrent submits never exceed a limit.
    func admit(_ job: RuntimeJob, limits: RunningJobLimits, start: JobStart) async -> Admission

    /// The waiting jobs that may start now (each takes a running slot), oldest first.
    func jobsToStart(limits: RunningJobLimits) async -> [(RuntimeJob, JobStart)]

    /// Takes job `id`, submitted by session `sessionID`, out of the queue it waits in, if it
    /// has not started: `job.cancel` and shutdown end it without it ever running.
    func withdraw(_ id: String, sessionID: String) async -> WithdrawnJob?

    /// Job `id`, if this runtime hosts it.
    func job(_ id: String) async -> RuntimeJob?

    /// One page of listings in `(createdAt, id)` order: the jobs after `cursor` (from the
    /// first when nil) for which `include` is true, at most `limit`, and whether more follow.
    /// A cursor naming a job dropped meanwhile still continues where it left off.
    func page(after cursor: JobListingKey?, limit: Int, where include: (JobListing) -> Bool) async -> (jobs: [JobListing], more: Bool)

    /// The jobs not yet ended (shutdown, lease expiry).
    func unfinished() async -> [RuntimeJob]

    /// Job `job` ended at `now` (uptime on the runtime's clock): the retention hook. Returns
    /// the finished jobs dropped by the count and byte caps.
    func jobEnded(_ job: RuntimeJob, at now: Duration) async -> [RetiredJob]

    /// Drops the finished jobs whose retention passed by `now`, and returns them.
    func sweep(at now: Duration) async -> [RetiredJob]

    /// The ids of the jobs this process holds, in submission order.
    var localJobIDs: [String] { get }

    /// Job `id`, if this process holds it.
    func localJob(_ id: String) -> RuntimeJob?

    /// The jobs this process holds that have not ended.
    func localUnfinished() -> [RuntimeJob]

    /// What this process holds: jobs, finished jobs kept for retention, and their bytes.
    var localCounts: JobTableCounts { get }

    /// Passes `job.cancel` of job `id`, which another runtime process runs, to that process,
    /// when session `sessionID` submitted it and it has not ended (`.passed` with the job's
    /// trace id: its terminal frame then reaches the session through the job's fan-out);
    /// otherwise says why, with the single process's rules: a job whose principal
    /// `observable` refuses is `.notFound`, as a missing one.
    func cancelElsewhere(_ id: String, sessionID: String, reason: String?, observable: (String) -> Bool) async -> CancelElsewhere

    /// Subscribes `session` (spec §7.6) to job `id`, which another runtime process runs or
    /// ran, when `observable(owner principal)` allows it: sends `job.subscribed` answering
    /// `requestID`, the history after `fromSeq` when `history`, then the live events to the
    /// terminal frame (each within the subscriber's bound). False when there is no such job
    /// this principal may see: the runtime answers `JOB_NOT_FOUND`, as for a missing job.
    func subscribeElsewhere(
        _ id: String, session: RuntimeSession, history: Bool, fromSeq: Int, requestID: String, observable: (String) -> Bool
    ) async -> Bool

    /// Ends session `sessionID`'s subscription to job `id` made by `subscribeElsewhere`.
    /// False when there is none.
    func unsubscribeElsewhere(_ id: String, sessionID: String) async -> Bool

    /// Answers an idempotent resubmit (spec §7.2) whose key `(principal, key)` names job
    /// `id`, which another runtime process accepted: its original `job.accepted` (answering
    /// `requestID`), then for another session of the principal the job's live events, or its
    /// outcome when it ended. False when it cannot (the runtime answers a retryable error).
    func replayAcceptedElsewhere(_ id: String, principal: String, key: String, session: RuntimeSession, requestID: String) async -> Bool
}

extension JobTable {
    /// A single process has no other process to ask.
    package func cancelElsewhere(_ id: String, sessionID: String, reason: String?, observable: (String) -> Bool) async -> CancelElsewhere {
        .notFound
    }

    /// Adds the job without a limit (a table that does not count running jobs).
    package func admit(_ job: RuntimeJob, limits: RunningJobLimits, start: JobStart) async -> Admission {
        await insert(job)
        return .run
    }

    /// A table that never queues has nothing to start or withdraw.
    package func jobsToStart(limits: RunningJobLimits) async -> [(RuntimeJob, JobStart)] { [] }
    package func withdraw(_ id: String, sessionID: String) async -> WithdrawnJob? { nil }
}

/// The outcome of `JobTable.cancelElsewhere`.
package enum CancelElsewhere: Sendable, Equatable {
    /// Passed to the process running the job (its trace id).
    case passed(traceID: String)
    /// Another session of a principal allowed to see it submitted the job.
    case notSubmitter
    /// The job already ended, with this status.
    case ended(JobStatus)
    /// No such job, or one the observe policy hides.
    case notFound
}

/// What a job table holds in this process (introspection, and the tests that prove
/// finished work is freed).
package struct JobTableCounts: Sendable, Equatable {
    package var jobs: Int
    package var finished: Int
    package var finishedBytes: Int
    /// Sessions and principals with a running job (their counters are freed at zero).
    package var runningSessions = 0
    package var runningPrincipals = 0
}

/// The in-process `JobTable`, under its own lock (rank `leaf`), with the retention of
/// `JobRetentionPolicy`.
package final class InMemoryJobTable: JobTable {
    /// A finished job kept for retention.
    private struct Finished {
        var id: String
        var endedAt: Duration
        var bytes: Int
        /// `RuntimeJob.endOrder`: the lists are kept in this order, the order the jobs ended.
        var order: UInt64
    }

    private struct Jobs {
        var byID: [String: RuntimeJob] = [:]
        /// Listing order, `(createdAt, id)` ascending; keys of dropped jobs are skipped and
        /// compacted away once they are half of it.
        var order: Deque<JobListingKey> = []
        /// Finished jobs without and with an idempotency key, each in the order they ended
        /// (the two have different retentions).
        var finished: Deque<Finished> = []
        var finishedKeyed: Deque<Finished> = []
        var finishedBytes = 0
        /// Jobs not yet ended, per submitting session and per principal.
        var runningBySession: [String: Int] = [:]
        var runningByPrincipal: [String: Int] = [:]
        /// Placement: the submitted jobs started and not yet ended (and slots reserved for
        /// jobs being claimed from a shared queue), and the jobs waiting for a slot.
        var started: Set<String> = []
        var reserved = 0
        var waiting: Deque<(job: RuntimeJob, start: JobStart)> = []
        var occupied: Int { started.count + reserved }
        /// Jobs just dropped by the retention, released by the caller once the lock is given
        /// up (`takeDropped`): the last release of a job frees its history, its lease's
        /// authority and its payloads, a few microseconds that the event loops submitting on
        /// other connections would otherwise wait out for this lock.
        var dropped: [RuntimeJob] = []

        /// The jobs dropped since the last call, for release outside the lock.
        mutating func takeDropped() -> [RuntimeJob] {
            guard !dropped.isEmpty else { return [] }
            defer { dropped = [] }
            return dropped
        }

        mutating func countRunning(_ job: RuntimeJob, _ delta: Int) {
            func bump(_ d: inout [String: Int], _ k: String) {
                let n = d[k, default: 0] + delta
                d[k] = n > 0 ? n : nil
            }
            bump(&runningBySession, job.ownerSessionID)
            bump(&runningByPrincipal, job.principal)
        }

        mutating func insert(_ key: JobListingKey) {
            // Jobs arrive nearly in creation order: find the place from the back.
            var i = order.endIndex
            while i > order.startIndex, key < order[order.index(before: i)] { i = order.index(before: i) }
            order.insert(key, at: i)
        }

        mutating func drop(_ f: Finished, into retired: inout [RetiredJob]) {
            finishedBytes -= f.bytes
            guard let job = byID.removeValue(forKey: f.id) else { return }
            retired.append(RetiredJob(id: job.id, principal: job.principal, idempotencyKey: job.idempotencyKey))
            dropped.append(job)
            // Jobs end roughly in the order they were created, so dropped keys gather at the
            // front: trimmed there as they come, the listing rarely needs the full compaction
            // below (which copies the whole order under the lock: a long hold, and the
            // allocation of a large buffer, once per `order.count / 2` drops).
            while let first = order.first, byID[first.id] == nil { order.removeFirst() }
            if order.count > 64 && order.count > 2 * byID.count {
                order = Deque(order.filter { byID[$0.id] != nil })
            }
        }

        /// Drops the oldest-ended finished job; false when none is held.
        mutating func dropOldest(into retired: inout [RetiredJob]) -> Bool {
            let f: Finished
            switch (finished.first, finishedKeyed.first) {
            case (let a?, let b?): f = a.order <= b.order ? finished.removeFirst() : finishedKeyed.removeFirst()
            case (_?, nil): f = finished.removeFirst()
            case (nil, _?): f = finishedKeyed.removeFirst()
            case (nil, nil): return false
            }
            drop(f, into: &retired)
            return true
        }

        /// Inserts `f` by end order: at the back, unless its end was reported after a later
        /// one's (then a few places before it).
        static func insertInEndOrder(_ f: Finished, into list: inout Deque<Finished>) {
            var i = list.endIndex
            while i > list.startIndex, list[i - 1].order > f.order { i -= 1 }
            list.insert(f, at: i)
        }

        mutating func applyCaps(_ policy: JobRetentionPolicy, into retired: inout [RetiredJob]) {
            while finished.count + finishedKeyed.count > policy.maxFinishedJobs || finishedBytes > policy.maxFinishedBytes {
                guard dropOldest(into: &retired) else { return }
            }
        }

        mutating func expire(_ policy: JobRetentionPolicy, now: Duration, into retired: inout [RetiredJob]) {
            while let f = finished.first, now - f.endedAt >= policy.finishedJobs { drop(finished.removeFirst(), into: &retired) }
            while let f = finishedKeyed.first, now - f.endedAt >= policy.keyedJobs { drop(finishedKeyed.removeFirst(), into: &retired) }
        }
    }

    private let jobs = ParkingMutex(.leaf, Jobs())
    /// `Jobs.waiting.count`, written under the lock whenever it changes: every job's end asks
    /// for the jobs to start, and almost always none waits, so the answer is read here
    /// without taking the table's lock (which the connections' event loops take for every
    /// submit and the pool for every job's end; docs/BENCHMARKS.md, "Contention on the job
    /// table"). A job that starts waiting does so under the lock before any later end takes
    /// it, so an end that finds zero here has no waiting job it could have started.
    private let waitingCount = Atomic<Int>(0)
    package let policy: JobRetentionPolicy

    package init(retention policy: JobRetentionPolicy = .keepEverything) {
        self.policy = policy
    }

    /// Adds a job that is not placed (a delegated job: its parent waits for it, so it never
    /// queues and does not take a slot).
    package func insert(_ job: RuntimeJob) async {
        let key = JobListingKey(createdAt: job.createdAt, id: job.id)
        jobs.withLock { j in
            guard j.byID[job.id] == nil else { return }
            j.byID[job.id] = job
            j.insert(key)
            j.countRunning(job, 1)
        }
    }

    package func admit(_ job: RuntimeJob, limits: RunningJobLimits, start: JobStart) async -> Admission {
        let key = JobListingKey(createdAt: job.createdAt, id: job.id)
        let session = job.ownerSessionID
        return jobs.withLock { j -> Admission in
            guard j.byID[job.id] == nil else { return .run }
            if j.runningBySession[session, default: 0] >= limits.perSession { return .refused(.runningJobsPerSession) }
            if j.runningByPrincipal[job.principal, default: 0] >= limits.perPrincipal { return .refused(.runningJobsPerPrincipal) }
            let runs = j.occupied < limits.perRuntime
            if !runs && j.waiting.count >= limits.queued { return .refused(limits.queued == 0 ? .runningJobs : .queuedJobs) }
            j.byID[job.id] = job
            j.insert(key)
            j.countRunning(job, 1)
            if runs {
                // Without a bound nothing waits, and slots need no counting.
                if limits.perRuntime != .max { j.started.insert(job.id) }
                return .run
            }
            j.waiting.append((job, start))
            waitingCount.store(j.waiting.count, ordering: .relaxed)
            return .waiting
        }
    }

    package func jobsToStart(limits: RunningJobLimits) async -> [(RuntimeJob, JobStart)] {
        guard waitingCount.load(ordering: .relaxed) > 0 else { return [] }
        return jobs.withLock { j in
            var out: [(RuntimeJob, JobStart)] = []
            while j.occupied < limits.perRuntime, let next = j.waiting.popFirst() {
                j.started.insert(next.job.id)
                out.append((next.job, next.start))
            }
            waitingCount.store(j.waiting.count, ordering: .relaxed)
            return out
        }
    }

    package func withdraw(_ id: String, sessionID: String) async -> WithdrawnJob? {
        jobs.withLock { j in
            guard let i = j.waiting.firstIndex(where: { $0.job.id == id && $0.job.ownerSessionID == sessionID }) else { return nil }
            defer { waitingCount.store(j.waiting.count, ordering: .relaxed) }
            return .local(j.waiting.remove(at: i).job)
        }
    }

    /// Reserves a running slot for a job about to be claimed from a shared queue, when fewer
    /// than `limit` are taken; `insertClaimed` uses it, `releaseSlot` gives it back.
    package func reserveSlot(limit: Int) -> Bool {
        jobs.withLock { j in
            guard j.occupied < limit else { return false }
            j.reserved += 1
            return true
        }
    }

    package func releaseSlot() {
        jobs.withLock { j in j.reserved = max(0, j.reserved - 1) }
    }

    /// Adds a job claimed from a shared queue into the slot `reserveSlot` reserved.
    package func insertClaimed(_ job: RuntimeJob) {
        let key = JobListingKey(createdAt: job.createdAt, id: job.id)
        jobs.withLock { j in
            j.reserved = max(0, j.reserved - 1)
            guard j.byID[job.id] == nil else { return }
            j.byID[job.id] = job
            j.insert(key)
            j.countRunning(job, 1)
            j.started.insert(job.id)
        }
    }

    /// Submitted jobs running in this process, and jobs waiting in its queue.
    package var placementCounts: (running: Int, waiting: Int) { jobs.withLock { ($0.occupied, $0.waiting.count) } }

    package func job(_ id: String) async -> RuntimeJob? {
        localJob(id)
    }

    package func page(after cursor: JobListingKey?, limit: Int, where include: (JobListing) -> Bool) async -> (jobs: [JobListing], more: Bool) {
        // Take the jobs after the cursor under the lock, then read each outside it (a job's
        // own lock is a leaf too, and leaves never nest).
        let candidates: [RuntimeJob] = jobs.withLock { j in
            var lo = j.order.startIndex
            if let cursor {
                // The first key after the cursor (binary search: the order is sorted).
                var hi = j.order.endIndex
                while lo < hi {
                    let mid = lo + (hi - lo) / 2
                    if j.order[mid] <= cursor { lo = mid + 1 } else { hi = mid }
                }
            }
            return j.order[lo...].compactMap { j.byID[$0.id] }
        }
        var page: [JobListing] = []
        for job in candidates {
            let listing = JobListing(job)
            guard include(listing) else { continue }
            if page.count == limit { return (page, true) }
            page.append(listing)
        }
        return (page, false)
    }

    package func unfinished() async -> [RuntimeJob] {
        localUnfinished()
    }

    package func jobEnded(_ job: RuntimeJob, at now: Duration) async -> [RetiredJob] {
        let bytes = job.retainedBytes
        let keyed = job.idempotencyKey != nil
        let policy = self.policy
        let (retired, dropped) = jobs.withLock { j -> ([RetiredJob], [RuntimeJob]) in
            guard j.byID[job.id] === job else { return ([], []) }
            j.countRunning(job, -1)
            j.started.remove(job.id)
            let f = Finished(id: job.id, endedAt: now, bytes: bytes, order: job.endOrder)
            if keyed { Jobs.insertInEndOrder(f, into: &j.finishedKeyed) } else { Jobs.insertInEndOrder(f, into: &j.finished) }
            j.finishedBytes += bytes
            var retired: [RetiredJob] = []
            j.applyCaps(policy, into: &retired)
            j.expire(policy, now: now, into: &retired)
            return (retired, j.takeDropped())
        }
        Self.release(dropped)
        return retired
    }

    /// Where the jobs the retention dropped are released: here, after the lock.
    @inline(never)
    private static func release(_ dropped: consuming [RuntimeJob]) {
        _ = consume dropped
    }

    package func sweep(at now: Duration) async -> [RetiredJob] {
        let policy = self.policy
        let (retired, dropped) = jobs.withLock { j -> ([RetiredJob], [RuntimeJob]) in
            var retired: [RetiredJob] = []
            j.expire(policy, now: now, into: &retired)
            return (retired, j.takeDropped())
        }
        Self.release(dropped)
        return retired
    }

    /// Keys in the listing order, those of dropped jobs not yet trimmed included (for tests).
    package var listingOrderCount: Int { jobs.withLock { $0.order.count } }

    package var localJobIDs: [String] { jobs.withLock { j in j.order.compactMap { j.byID[$0.id] == nil ? nil : $0.id } } }

    package func localJob(_ id: String) -> RuntimeJob? {
        jobs.withLock { $0.byID[id] }
    }

    package func localUnfinished() -> [RuntimeJob] {
        jobs.withLock { Array($0.byID.values) }.filter { !$0.isTerminal }
    }

    package var localCounts: JobTableCounts {
        jobs.withLock { j in
            JobTableCounts(
                jobs: j.byID.count, finished: j.finished.count + j.finishedKeyed.count, finishedBytes: j.finishedBytes,
                runningSessions: j.runningBySession.count, runningPrincipals: j.runningByPrincipal.count)
        }
    }
}
