import Foundation

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
/// end duties, and is where a table drops finished jobs (and their history) by age, count
/// or bytes. The in-memory table keeps every job (issue 10 adds the policy).
///
/// Lock order: an implementation must not call into a job (or anything else) while it holds
/// its own lock (see `LockOrder.swift`).
package protocol JobTable: Sendable {
    /// Adds a job accepted by this runtime.
    func insert(_ job: RuntimeJob) async

    /// Job `id`, if this runtime hosts it.
    func job(_ id: String) async -> RuntimeJob?

    /// One page of listings in submission order: the jobs after job `cursor` (from the first
    /// when nil) for which `include` is true, at most `limit`, and whether more follow.
    func page(after cursor: String?, limit: Int, where include: (JobListing) -> Bool) async -> (jobs: [JobListing], more: Bool)

    /// The jobs not yet ended (shutdown, lease expiry).
    func unfinished() async -> [RuntimeJob]

    /// Job `job` ended: the retention hook.
    func jobEnded(_ job: RuntimeJob) async

    /// The ids of the jobs this process holds, in submission order.
    var localJobIDs: [String] { get }

    /// Job `id`, if this process holds it.
    func localJob(_ id: String) -> RuntimeJob?

    /// The jobs this process holds that have not ended.
    func localUnfinished() -> [RuntimeJob]
}

/// The in-process `JobTable`, under its own lock (rank `leaf`). It keeps every job.
package final class InMemoryJobTable: JobTable {
    private struct Jobs {
        var byID: [String: RuntimeJob] = [:]
        var order: [String] = []
    }

    private let jobs = RankedMutex(.leaf, Jobs())

    package init() {}

    package func insert(_ job: RuntimeJob) async {
        jobs.withLock { j in
            if j.byID.updateValue(job, forKey: job.id) == nil { j.order.append(job.id) }
        }
    }

    package func job(_ id: String) async -> RuntimeJob? {
        localJob(id)
    }

    package func page(after cursor: String?, limit: Int, where include: (JobListing) -> Bool) async -> (jobs: [JobListing], more: Bool) {
        // Take the order under the lock, then read each job outside it (a job's own lock is a
        // leaf too, and leaves never nest).
        let all: [RuntimeJob] = jobs.withLock { j in j.order.compactMap { j.byID[$0] } }
        var started = cursor == nil
        var page: [JobListing] = []
        for job in all {
            if !started {
                if job.id == cursor { started = true }
                continue
            }
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

    package func jobEnded(_ job: RuntimeJob) async {}

    package var localJobIDs: [String] { jobs.withLock { $0.order } }

    package func localJob(_ id: String) -> RuntimeJob? {
        jobs.withLock { $0.byID[id] }
    }

    package func localUnfinished() -> [RuntimeJob] {
        jobs.withLock { Array($0.byID.values) }.filter { !$0.isTerminal }
    }
}
