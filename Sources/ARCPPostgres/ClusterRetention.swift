import ARCP
import Foundation
import Logging
import PostgresNIO

/// The retention of the cluster's rows that no single node frees (issue 10's policy,
/// `ARCPRuntime.Configuration.Retention`, applied to what the nodes share).
///
/// What each node frees itself, as a single runtime does: the rows of the finished jobs it
/// ran (`deleteJob` when its job table drops them), their idempotency keys
/// (`ClusterIdempotencyIndex.release`), the sessions it held once their resume window
/// passed (`deleteSession`, fenced: never a session another live node holds), and
/// idempotency records past `idempotencyWindow` (`purgeIdempotency`).
///
/// What this sweep frees, every `storeSweepInterval` on one node at a time (an advisory lock
/// taken with `pg_try_advisory_xact_lock`; the others skip that round), measured on
/// PostgreSQL's clock:
/// - finished jobs' rows (`arcp_job.ended_at`) older than `finishedJobs` (`idempotencyWindow`
///   for a job with an idempotency key) plus one `storeSweepInterval`: the jobs of lost
///   nodes and of a node's previous run, which no node holds in memory. A node's own
///   finished jobs are normally dropped by that node first (the extra interval);
/// - the cluster-wide caps: beyond `maxFinishedJobs` finished rows in the whole cluster, or
///   beyond `maxFinishedJobBytes` of them (their stored size, `pg_column_size`), the rows
///   that ended first (every node's, whichever node ran them), with their idempotency
///   keys — as one process drops its oldest finished jobs and releases their keys. A node
///   still holding such a job in memory keeps listing it until its own retention drops it;
/// - events forwarded to a session that no longer exists (`arcp_forward`);
/// - the rows of nodes that are not up, once `finishedJobs` passed since their last
///   heartbeat and no job row names them any more (so a lost node's row stays while the
///   record of how its jobs ended does).
///
/// Each statement deletes at most `batch` rows; a round repeats it until less is left.
final class ClusterRetention: Sendable {
    struct Policy: Sendable {
        var finishedJobs: Double
        var keyedJobs: Double
        var interval: Duration
        var enabled: Bool
        /// The cluster-wide caps on finished jobs' rows (`maxFinishedJobs`, `maxFinishedJobBytes`).
        var maxFinished: Int
        var maxFinishedBytes: Int

        init(_ r: ARCPRuntime.Configuration.Retention) {
            finishedJobs = r.finishedJobs.postgresSeconds
            keyedJobs = max(r.idempotencyWindow.postgresSeconds, finishedJobs)
            interval = max(r.storeSweepInterval, .milliseconds(10))
            enabled = r.deleteFromStore
            maxFinished = max(0, r.maxFinishedJobs)
            maxFinishedBytes = max(0, r.maxFinishedJobBytes)
        }
    }

    /// What one round deleted.
    struct Swept: Sendable, Equatable {
        var jobs = 0
        /// Finished jobs' rows deleted by the cluster-wide count and byte caps (not in `jobs`).
        var capped = 0
        var forwarded = 0
        var nodes = 0
        /// False when another node held the sweep's lock (nothing was done).
        var ran = true
    }

    static let lock: Int64 = 0x6172_6372
    static let batch = 1000

    let db: PostgresDatabase
    private let policy = RankedMutex<Policy>(.leaf, Policy(ARCPRuntime.Configuration.Retention()))
    private let lastRound = RankedMutex<ContinuousClock.Instant?>(.leaf, nil)
    private let task = RankedMutex<Task<Void, Never>?>(.leaf, nil)
    var log: Logger { db.logger }

    init(db: PostgresDatabase) {
        self.db = db
    }

    func configure(_ retention: ARCPRuntime.Configuration.Retention) {
        policy.withLock { $0 = Policy(retention) }
    }

    /// Starts the rounds (a task of their own: a slow round never delays a heartbeat).
    func start() {
        let t = Task { [weak self] in
            while !Task.isCancelled {
                guard let interval = self?.policy.withLock({ $0.interval }) else { return }
                try? await Task.sleep(for: min(interval, .seconds(1)))
                guard let self, !Task.isCancelled else { return }
                await self.sweepIfDue()
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

    /// Runs a round when `storeSweepInterval` passed since the last one.
    func sweepIfDue() async {
        let p = policy.withLock { $0 }
        guard p.enabled else { return }
        let now = ContinuousClock.now
        let due = lastRound.withLock { last -> Bool in
            if let l = last, now - l < p.interval { return false }
            last = now
            return true
        }
        guard due else { return }
        do {
            let swept = try await sweep(p)
            if swept.jobs + swept.capped + swept.forwarded + swept.nodes > 0 {
                log.debug(
                    "cluster rows past their retention deleted",
                    metadata: [
                        "jobs": "\(swept.jobs)", "jobs_over_caps": "\(swept.capped)", "forwarded": "\(swept.forwarded)",
                        "nodes": "\(swept.nodes)",
                    ])
            }
        } catch {
            log.warning("cluster retention sweep failed; retried next round", metadata: ["error": "\(describe(error))"])
        }
    }

    /// One round under `policy` (tests call it directly).
    func sweep(_ policy: Policy) async throws -> Swept {
        let margin = policy.interval.postgresSeconds
        let (finished, keyed) = (policy.finishedJobs + margin, policy.keyedJobs + margin)
        let batch = Self.batch
        return try await db.transaction { conn -> Swept in
            let locked = try await conn.query("SELECT pg_try_advisory_xact_lock(\(Self.lock))", logger: log)
                .collect().first?.decode(Bool.self) ?? false
            guard locked else { return Swept(ran: false) }
            var swept = Swept()
            while true {
                let n = try await conn.query(
                    """
                    DELETE FROM arcp_job WHERE job_id IN (
                        SELECT job_id FROM arcp_job
                        WHERE ended_at IS NOT NULL
                          AND ended_at < extract(epoch FROM clock_timestamp())
                                         - CASE WHEN idempotency_key IS NULL THEN \(finished) ELSE \(keyed) END
                        LIMIT \(batch))
                    RETURNING 1
                    """, logger: log
                ).collect().count
                swept.jobs += n
                if n < batch { break }
            }
            // The caps, over every node's finished rows: the newest are kept while they fit
            // both; the rest go, oldest first, with their idempotency keys.
            let (maxCount, maxBytes) = (Int64(policy.maxFinished), Int64(min(policy.maxFinishedBytes, Int(Int64.max))))
            while true {
                var dropped: [(String, String, String?)] = []
                for try await row in try await conn.query(
                    """
                    WITH ranked AS (
                        SELECT job_id, row_number() OVER w AS n, sum(pg_column_size(j.*)) OVER w AS bytes
                        FROM arcp_job j WHERE ended_at IS NOT NULL
                        WINDOW w AS (ORDER BY ended_at DESC, job_id DESC))
                    DELETE FROM arcp_job WHERE job_id IN (
                        SELECT job_id FROM ranked WHERE n > \(maxCount) OR bytes > \(maxBytes) LIMIT \(batch))
                    RETURNING job_id, principal, idempotency_key
                    """, logger: log
                ).decode((String, String, String?).self) {
                    dropped.append(row)
                }
                let keyed = dropped.filter { $0.2 != nil }
                if !keyed.isEmpty {
                    try await conn.query(
                        """
                        DELETE FROM arcp_idempotency i
                        USING unnest(\(keyed.map(\.1))::text[], \(keyed.map { $0.2 ?? "" })::text[], \(keyed.map(\.0))::text[]) AS d(principal, key, job_id)
                        WHERE i.principal = d.principal AND i.key = d.key AND i.job_id = d.job_id
                        """, logger: log)
                }
                swept.capped += dropped.count
                if dropped.count < batch { break }
            }
            while true {
                let n = try await conn.query(
                    """
                    DELETE FROM arcp_forward WHERE id IN (
                        SELECT f.id FROM arcp_forward f
                        WHERE NOT EXISTS (SELECT 1 FROM arcp_session s WHERE s.session_id = f.session_id)
                        LIMIT \(batch))
                    RETURNING 1
                    """, logger: log
                ).collect().count
                swept.forwarded += n
                if n < batch { break }
            }
            // The restart records of restartable jobs that ended (or whose row is gone). A
            // record is written after its job's row, so an unfinished job keeps its record.
            try await conn.query(
                """
                DELETE FROM arcp_restart r
                WHERE NOT EXISTS (SELECT 1 FROM arcp_job j WHERE j.job_id = r.job_id AND j.status IN ('pending', 'running'))
                """, logger: log)
            swept.nodes = try await conn.query(
                """
                DELETE FROM arcp_node n
                WHERE n.state <> 'up' AND n.heartbeat_at < clock_timestamp() - make_interval(secs => \(policy.finishedJobs))
                  AND NOT EXISTS (SELECT 1 FROM arcp_job j WHERE j.node_id = n.node_id)
                RETURNING 1
                """, logger: log
            ).collect().count
            return swept
        }
    }
}

extension Duration {
    /// In seconds, as PostgreSQL's `double precision` and `make_interval(secs =>)` take it.
    var postgresSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
