import ARCP
import Foundation
import Logging
import PostgresNIO

// Placement across nodes (docs/CLUSTER.md, "Placement"): a node runs the jobs it accepts
// while it runs fewer than `maxRunningJobs`; beyond it a job waits in `arcp_queue`, which
// every node with a free slot claims from, oldest first (`FOR UPDATE SKIP LOCKED`: two
// nodes never claim one job, and neither waits for the other). The claiming node runs the
// job; its events reach the submitting session through the forwarding every node already
// does for a session held elsewhere (`ClusterForwarding.swift`).

/// This node's side of the cluster's job queue: enqueueing what it accepts beyond its
/// slots, withdrawing a queued job (`job.cancel`), and claiming queued jobs while it has
/// free slots. One claim loop at a time per node, woken by `queued` notifications (on the
/// broadcast channel), by the end of a job here, and by every heartbeat (a notification is
/// a hint: one lost is made up for at the next heartbeat).
final class ClusterQueue: Sendable {
    private struct State {
        weak var runtime: ARCPRuntime?
        weak var jobs: ClusterJobTable?
        /// `Configuration.maxRunningJobs` (`Int.max`: no limit).
        var maxRunning = Int.max
        var claiming = false
        var again = false
        var stopped = false
    }

    let db: PostgresDatabase
    let nodeID: String
    private let state = RankedMutex(.leaf, State())
    var log: Logger { db.logger }
    /// The advisory lock that makes the queue's bound exact across nodes.
    static let lock: Int64 = 0x6172_6370_7175  // 'arcpqu'
    /// The notification (on `ClusterForwarder.broadcast`) that a job was queued.
    static let notification = "queued"

    init(db: PostgresDatabase, nodeID: String) {
        self.db = db
        self.nodeID = nodeID
    }

    func configure(maxRunning: Int?, jobs: ClusterJobTable) {
        state.withLock {
            $0.maxRunning = maxRunning.map { max(1, $0) } ?? .max
            $0.jobs = jobs
        }
    }

    func start(_ runtime: ARCPRuntime) {
        state.withLock {
            $0.runtime = runtime
            $0.stopped = false
        }
        wake()
    }

    func stop() {
        state.withLock { $0.stopped = true }
    }

    // MARK: Enqueueing

    /// Queues `job` (accepted here, beyond this node's slots) for any node to claim, unless
    /// `limit` jobs already wait in the cluster. Its row in `arcp_job` (`pending`, no node)
    /// and its queue entry are written in one transaction.
    func enqueue(_ job: RuntimeJob, start: JobStart, limit: Int) async -> Admission {
        let queued = QueuedJob(job, start: start)
        // The session's row must be stored before another node can forward events to it
        // (the node holding a session takes forwarded events only once its row names it).
        await ensureSessionStored(queued.sessionID)
        let l = JobListing(job)
        do {
            let inserted = try await db.transaction { conn -> Bool in
                try await conn.query("SELECT pg_advisory_xact_lock(\(Self.lock))", logger: log)
                let waiting = try await conn.query("SELECT count(*)::int8 FROM arcp_queue", logger: log).collect().first?.decode(Int64.self) ?? 0
                guard waiting < Int64(limit) else { return false }
                try await conn.query(
                    """
                    INSERT INTO arcp_job (job_id, session_id, principal, agent, status, created_at, trace_id, parent_job_id, lease_json,
                                          lease_constraints_json, budget_json, last_event_seq, idempotency_key, node_id)
                    VALUES (\(l.id), \(queued.sessionID), \(l.principal), \(l.agent), 'pending', \(l.createdAt.storedValue), \(l.traceID),
                            NULL, \(JSONWriter.string(l.lease.toJSON())), \(l.leaseConstraints.map { $0.jsonText() }),
                            \(queued.accepted.budget.map { JSONWriter.string($0.toJSON()) }), 0, \(queued.idempotencyKey), NULL)
                    """, logger: log)
                try await conn.query(
                    """
                    INSERT INTO arcp_queue (job_id, session_id, trace_id, accepted_by, job_json)
                    VALUES (\(l.id), \(queued.sessionID), \(l.traceID), \(nodeID), \(queued.jsonText()))
                    """, logger: log)
                return true
            }
            guard inserted else { return .refused(.queuedJobs) }
        } catch {
            // Not queued: refused as a full queue is (retryable), never run past the limit.
            log.error("could not queue a job; refusing it", metadata: ["job": "\(job.id)", "error": "\(describe(error))"])
            return .refused(.queuedJobs)
        }
        log.debug("job queued for any node with a free slot", metadata: ["job": "\(job.id)"])
        return .handedOff(announce: { [self] in
            // `job.accepted` is sent: the job may be claimed now (one statement, one round trip).
            do {
                try await db.client.query(
                    """
                    WITH r AS (UPDATE arcp_queue SET ready = true WHERE job_id = \(l.id) RETURNING 1)
                    SELECT pg_notify(\(ClusterForwarder.broadcast), \(Self.notification)) FROM r
                    """, logger: log)
            } catch {
                // It becomes claimable when this node is no longer up, at the latest.
                log.warning("could not announce a queued job", metadata: ["job": "\(l.id)", "error": "\(describe(error))"])
            }
        })
    }

    private func ensureSessionStored(_ id: String) async {
        let stored = (try? await db.client.query("SELECT 1 FROM arcp_session WHERE session_id = \(id)", logger: log).collect().isEmpty == false)
        if stored != true, let runtime = state.withLock({ $0.runtime }) { await runtime.flushStore() }
    }

    // MARK: Restartable jobs

    /// Keeps what running restartable job `queued` again takes, once it runs on a node (a row
    /// already there — the job runs again after a loss — keeps its `restarted` mark).
    static func keepForRestart(_ queued: QueuedJob) -> PostgresQuery {
        """
        INSERT INTO arcp_restart (job_id, job_json) VALUES (\(queued.jobID), \(queued.jsonText()))
        ON CONFLICT (job_id) DO NOTHING
        """
    }

    // MARK: Withdrawing

    /// Takes job `id` of session `sessionID` out of the queue (it has not started anywhere)
    /// and ends its row `cancelled`. Returns its trace id and the credentials provisioned at
    /// its acceptance; nil when it is not queued (claimed meanwhile, another session's, or
    /// unknown).
    func withdraw(_ id: String, sessionID: String) async -> (traceID: String, credentials: [Credential])? {
        do {
            return try await db.transaction { conn -> (traceID: String, credentials: [Credential])? in
                guard
                    let (trace, text) = try await conn.query(
                        "DELETE FROM arcp_queue WHERE job_id = \(id) AND session_id = \(sessionID) RETURNING trace_id, job_json",
                        logger: log
                    ).collect().first?.decode((String, String).self)
                else { return nil }
                try await conn.query(
                    """
                    UPDATE arcp_job SET status = 'cancelled', ended_at = extract(epoch FROM clock_timestamp())
                    WHERE job_id = \(id) AND node_id IS NULL
                    """, logger: log)
                return (trace, QueuedJob(jsonText: text)?.accepted.credentials ?? [])
            }
        } catch {
            log.warning("could not withdraw a queued job", metadata: ["job": "\(id)", "error": "\(describe(error))"])
            return nil
        }
    }

    // MARK: Claiming

    /// A job of this node ended. A node without a bound always has a free slot (it claims on
    /// `queued` and at each heartbeat), so only a bounded node looks at the queue now.
    func slotFreed() {
        if state.withLock({ $0.maxRunning != .max }) { wake() }
    }

    /// Claims queued jobs while this node has free slots (now, or once the claim loop that
    /// is running finishes its pass).
    func wake() {
        let start = state.withLock { s -> Bool in
            guard !s.stopped, s.runtime != nil else { return false }
            if s.claiming {
                s.again = true
                return false
            }
            s.claiming = true
            s.again = false
            return true
        }
        guard start else { return }
        Task {
            while true {
                await claimWhileFree()
                let more = state.withLock { s -> Bool in
                    if s.again && !s.stopped {
                        s.again = false
                        return true
                    }
                    s.claiming = false
                    return false
                }
                if !more { return }
            }
        }
    }

    private func claimWhileFree() async {
        let (runtime, jobs, limit) = state.withLock { s in (s.runtime, s.jobs, s.maxRunning) }
        guard let runtime, let jobs else { return }
        // A slot is reserved only when a job waits: a reservation makes this node look full to
        // its own submits, which would then queue behind nothing (an idle node sending its
        // client's job through the database, and another submit overtaking it).
        while state.withLock({ !$0.stopped }), !runtime.refusesNewWork, await claimableJobWaits(),
            jobs.local.reserveSlot(limit: limit)
        {
            let claimed: QueuedJob?
            do {
                claimed = try await claimOne()
            } catch {
                jobs.local.releaseSlot()
                log.warning("could not claim from the job queue", metadata: ["error": "\(describe(error))"])
                return
            }
            guard let claimed else {
                jobs.local.releaseSlot()
                return
            }
            log.debug("claimed a queued job", metadata: ["job": "\(claimed.jobID)"])
            let job = await runtime.runQueued(claimed) { jobs.local.insertClaimed($0) }
            if job == nil {
                jobs.local.releaseSlot()
                _ = try? await db.client.query(
                    """
                    UPDATE arcp_job SET status = 'error', ended_at = extract(epoch FROM clock_timestamp())
                    WHERE job_id = \(claimed.jobID) AND node_id = \(nodeID)
                    """, logger: log)
            }
        }
    }

    /// Whether a queued job is claimable now (see `claimOne`). True when the database cannot
    /// be asked, so that `claimOne` reports the failure.
    private func claimableJobWaits() async -> Bool {
        do {
            return try await db.client.query(
                """
                SELECT EXISTS (SELECT 1 FROM arcp_queue q
                               WHERE q.ready OR NOT EXISTS (SELECT 1 FROM arcp_node n WHERE n.node_id = q.accepted_by AND n.state = 'up'))
                """, logger: log
            ).collect().first?.decode(Bool.self) ?? false
        } catch {
            return true
        }
    }

    /// Takes the oldest queued job no other node is claiming whose `job.accepted` was sent
    /// (or whose accepting node is no longer up), and makes this node its node.
    /// Nil when none waits (or this node is not up: a node declared lost claims nothing).
    private func claimOne() async throws -> QueuedJob? {
        while true {
            let row = try await db.transaction { conn -> (String, String)? in
                let up = try await conn.query("SELECT 1 FROM arcp_node WHERE node_id = \(nodeID) AND state = 'up'", logger: log).collect()
                guard !up.isEmpty else { return nil }
                guard
                    let (id, text) = try await conn.query(
                        """
                        DELETE FROM arcp_queue WHERE seq = (
                            SELECT q.seq FROM arcp_queue q
                            WHERE q.ready OR NOT EXISTS (SELECT 1 FROM arcp_node n WHERE n.node_id = q.accepted_by AND n.state = 'up')
                            ORDER BY q.seq FOR UPDATE OF q SKIP LOCKED LIMIT 1)
                        RETURNING job_id, job_json
                        """, logger: log
                    ).collect().first?.decode((String, String).self)
                else { return nil }
                try await conn.query("UPDATE arcp_job SET node_id = \(nodeID) WHERE job_id = \(id)", logger: log)
                if let queued = QueuedJob(jsonText: text), queued.restartable {
                    try await conn.query(Self.keepForRestart(queued), logger: log)
                }
                return (id, text)
            }
            guard let (id, text) = row else { return nil }
            if let queued = QueuedJob(jsonText: text) { return queued }
            log.error("a queued job's record could not be read; ending it", metadata: ["job": "\(id)"])
            try await db.client.query(
                "UPDATE arcp_job SET status = 'error', ended_at = extract(epoch FROM clock_timestamp()) WHERE job_id = \(id)",
                logger: log)
        }
    }
}
