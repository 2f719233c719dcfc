import ARCP
import Foundation
import Logging
import PostgresNIO

/// A node's membership: its row in `arcp_node`, its heartbeat, and its share of the
/// failure detection every node runs.
///
/// - A node is `up` from `register` until `leave` (`gone`), or until another node finds its
///   heartbeat older than `nodeTimeout` on PostgreSQL's clock (`lost`). Heartbeats and the
///   comparison both use the server's clock, so node clocks never need to agree.
/// - Every tick, each node marks silent nodes `lost` and ends the unfinished jobs of nodes
///   that are not `up` (lost, gone, or unknown): the job's row becomes `error`, and a
///   `job.error` (`INTERNAL_ERROR`, retryable, naming the lost node) is appended to its
///   submitting session's event log, numbered after the session's last event, for the client
///   to receive when it resumes on any node. Rows are taken `FOR UPDATE SKIP LOCKED`, so two
///   nodes never end one job twice and neither waits for the other.
/// - A node that restarts under the same id ends its own previous life's jobs at `register`.
final class ClusterMembership: Sendable {
    let db: PostgresDatabase
    let settings: PostgresCluster.Configuration
    let incarnation: Int64
    let jobs: ClusterJobTable
    private let heartbeat = RankedMutex<Task<Void, Never>?>(.leaf, nil)
    /// The runtime whose new sessions are paused while the database cannot be reached.
    private let served = RankedMutex<WeakRuntime>(.leaf, WeakRuntime())

    struct WeakRuntime: Sendable {
        weak var runtime: ARCPRuntime?
    }

    /// While the heartbeat fails (PostgreSQL unreachable or too slow to answer within the
    /// node timeout), `runtime` refuses new sessions; its attached sessions go on from memory.
    func watch(_ runtime: ARCPRuntime) {
        served.withLock { $0.runtime = runtime }
    }
    var log: Logger { db.logger }
    var nodeID: String { settings.nodeID }

    init(db: PostgresDatabase, settings: PostgresCluster.Configuration, incarnation: Int64, jobs: ClusterJobTable) {
        self.db = db
        self.settings = settings
        self.incarnation = incarnation
        self.jobs = jobs
    }

    var timeoutSeconds: Double { settings.nodeTimeout.postgresSeconds }

    /// Adds (or revives) this node's row; refuses an id whose node is alive.
    func register() async throws {
        let joined = try await db.client.query(
            """
            INSERT INTO arcp_node (node_id, state, incarnation) VALUES (\(nodeID), 'up', \(incarnation))
            ON CONFLICT (node_id) DO UPDATE SET state = 'up', incarnation = excluded.incarnation,
                started_at = clock_timestamp(), heartbeat_at = clock_timestamp(), running = 0
            WHERE arcp_node.state <> 'up' OR arcp_node.heartbeat_at < clock_timestamp() - make_interval(secs => \(timeoutSeconds))
            RETURNING 1
            """, logger: log
        ).collect()
        guard !joined.isEmpty else {
            throw PostgresClusterError(
                "node id \(nodeID) is already up in the cluster (its heartbeat is recent): give this node another --node-id, or wait \(settings.nodeTimeout) after that node stopped")
        }
        // Jobs this id ran in a previous life did not survive it.
        while try await endOrphans(includingOwn: true) {}
        log.info("joined the cluster", metadata: ["database": "\(db.location)"])
    }

    /// Starts the heartbeat and failure-detection loop.
    func start() {
        let task = Task { [weak self] in
            var failures = 0
            while !Task.isCancelled {
                guard let interval = self?.settings.heartbeatInterval else { return }
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                do {
                    // Bounded: a pool that cannot reach the server retries for as long as a
                    // query waits, and a node whose heartbeat lasts past the node timeout is
                    // declared lost anyway.
                    try await withTimeout(self.settings.nodeTimeout) { [self] in try await self.tick() }
                    if failures > 0 {
                        self.log.notice("cluster heartbeat restored", metadata: ["after_failures": "\(failures)"])
                        self.served.withLock { $0.runtime }?.resumeNewSessions()
                    }
                    failures = 0
                } catch {
                    failures += 1
                    if failures == 1 {
                        self.served.withLock { $0.runtime }?.pauseNewSessions(
                            reason: "PostgreSQL unreachable: \(describe(error))")
                    }
                    // Reported every time at first, then every tenth time while it lasts.
                    if failures <= 3 || failures % 10 == 0 {
                        self.log.warning(
                            "cluster heartbeat failed; retrying", metadata: ["failures": "\(failures)", "error": "\(describe(error))"])
                    }
                }
            }
        }
        heartbeat.withLock { $0 = task }
    }

    /// One heartbeat: this node's, the detection of lost nodes, the end of their jobs.
    func tick() async throws {
        let alive = try await db.client.query(
            """
            UPDATE arcp_node SET heartbeat_at = clock_timestamp(), running = \(jobs.localUnfinished().count)
            WHERE node_id = \(nodeID) AND incarnation = \(incarnation) AND state = 'up'
            RETURNING 1
            """, logger: log
        ).collect()
        if alive.isEmpty {
            // Declared lost (a pause longer than nodeTimeout, or the database was out of reach):
            // the cluster has ended this node's jobs. Join again so new work is served.
            log.error("this node was declared lost by the cluster (its heartbeat was late); joining again")
            try await db.client.query(
                """
                UPDATE arcp_node SET state = 'up', heartbeat_at = clock_timestamp(), started_at = clock_timestamp()
                WHERE node_id = \(nodeID) AND incarnation = \(incarnation)
                """, logger: log)
        }
        // The jobs running here: their status and last seq for the other nodes' listings
        // (the store writer records a job when it is accepted and when it ends).
        let live = jobs.localUnfinished().map { ($0.id, $0.status.rawValue, Int64($0.lastOwnerSeq)) }
        if !live.isEmpty {
            try await db.client.query(
                """
                UPDATE arcp_job j SET status = v.status, last_event_seq = GREATEST(j.last_event_seq, v.seq)
                FROM unnest(\(live.map(\.0))::text[], \(live.map(\.1))::text[], \(live.map(\.2))::int8[]) AS v(id, status, seq)
                WHERE j.job_id = v.id AND j.node_id = \(nodeID) AND j.status IN ('pending', 'running')
                  AND v.status IN ('pending', 'running')
                """, logger: log)
        }
        for try await (node, silent) in try await db.client.query(
            """
            UPDATE arcp_node SET state = 'lost'
            WHERE state = 'up' AND heartbeat_at < clock_timestamp() - make_interval(secs => \(timeoutSeconds))
            RETURNING node_id, extract(epoch FROM clock_timestamp() - heartbeat_at)::float8
            """, logger: log
        ).decode((String, Double).self) {
            log.error(
                "cluster node lost: no heartbeat; ending its unfinished jobs",
                metadata: ["lost_node": "\(node)", "silent_for_s": "\(String(format: "%.1f", silent))"])
        }
        while try await endOrphans(includingOwn: false) {}
        // A `queued` notification missed (the LISTEN connection was down) is made up for here.
        jobs.queue.wake()
    }

    /// Ends up to 100 unfinished jobs of nodes that are not up (and, at `register`, of this
    /// node's previous life). Returns whether there may be more.
    func endOrphans(includingOwn: Bool) async throws -> Bool {
        let me = nodeID
        let (ended, appended, restarted) = try await db.transaction { conn -> (Int, Int, Int) in
            var orphans: [(job: String, session: String, trace: String?, node: String)] = []
            for try await row in try await conn.query(
                """
                SELECT job_id, session_id, trace_id, node_id FROM arcp_job j
                WHERE status IN ('pending', 'running') AND node_id IS NOT NULL
                  AND ((\(includingOwn) AND node_id = \(me))
                       OR NOT EXISTS (SELECT 1 FROM arcp_node n WHERE n.node_id = j.node_id AND n.state = 'up'))
                ORDER BY job_id LIMIT 100 FOR UPDATE SKIP LOCKED
                """, logger: log
            ).decode((String, String, String?, String).self) {
                orphans.append((row.0, row.1, row.2, row.3))
            }
            var notified = 0
            var restarted = 0
            for o in orphans {
                if try await Self.restartIfRestartable(o.job, session: o.session, lostNode: o.node, on: conn, logger: log) {
                    restarted += 1
                    continue
                }
                let message = Self.lostJobError(node: o.node, previousRunOfThisNode: o.node == me)
                let seq = try await Self.appendEvent(
                    message, session: o.session, job: o.job, trace: o.trace, unlessHeldBesides: o.node, on: conn, logger: log)
                if seq != nil { notified += 1 }
                try await conn.query(
                    """
                    UPDATE arcp_job SET status = 'error', last_event_seq = GREATEST(last_event_seq, \(seq ?? 0)),
                        ended_at = extract(epoch FROM clock_timestamp())
                    WHERE job_id = \(o.job)
                    """, logger: log)
            }
            return (orphans.count, notified, restarted)
        }
        if ended > 0 {
            log.warning(
                "unfinished jobs of lost nodes ended or queued to run again",
                metadata: ["jobs": "\(ended)", "job_error_appended": "\(appended)", "run_again": "\(restarted)"])
        }
        return ended == 100
    }

    /// Job `job` of lost node `lostNode`, taken under its row lock: when its agent is
    /// restartable and it has not run again yet, puts it back in the cluster's queue (marked
    /// run again, in this transaction) for any node to run under the same job id, and queues
    /// a `status` event `restarted` for its session before any event of the new run. A job
    /// that already ran again loses its record and ends as any other. Returns whether it was
    /// queued again.
    static func restartIfRestartable(
        _ job: String, session: String, lostNode: String, on conn: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        guard
            let (text, restarted) = try await conn.query(
                "SELECT job_json, restarted FROM arcp_restart WHERE job_id = \(job) FOR UPDATE", logger: logger
            ).collect().first?.decode((String, Bool).self)
        else { return false }
        guard !restarted, let queued = QueuedJob(jsonText: text) else {
            try await conn.query("DELETE FROM arcp_restart WHERE job_id = \(job)", logger: logger)
            return false
        }
        try await conn.query("UPDATE arcp_restart SET restarted = true WHERE job_id = \(job)", logger: logger)
        try await conn.query(
            """
            INSERT INTO arcp_queue (job_id, session_id, trace_id, accepted_by, ready, job_json)
            VALUES (\(job), \(session), \(queued.traceID), \(lostNode), true, \(text))
            ON CONFLICT (job_id) DO NOTHING
            """, logger: logger)
        try await conn.query("UPDATE arcp_job SET status = 'pending', node_id = NULL WHERE job_id = \(job)", logger: logger)
        // The notice reaches the session as the new run's events do (arcp_forward, numbered
        // by the node holding the session, or by the next node that does), and before them:
        // the job is claimable only once this transaction commits.
        let notice = FrameCodec.encode(Envelope.make(restartNotice(node: lostNode), jobID: job, traceID: queued.traceID))
        try await conn.query(
            """
            INSERT INTO arcp_forward (session_id, job_id, trace_id, principal, frame, terminal)
            VALUES (\(session), \(job), \(queued.traceID), \(queued.principal), \(notice), false)
            """, logger: logger)
        try await conn.query("SELECT pg_notify(\(ClusterForwarder.broadcast), \("fwd:" + session))", logger: logger)
        try await conn.query("SELECT pg_notify(\(ClusterForwarder.broadcast), \(ClusterQueue.notification))", logger: logger)
        return true
    }

    /// The `status` event a restartable job's session receives when its node was lost and
    /// the job runs again.
    static func restartNotice(node: String) -> Message {
        var details = JSONObject()
        details.append("lost_node", .string(node))
        return .jobEvent(
            JobEventPayload(
                body: .status(
                    StatusBody(
                        phase: "restarted",
                        message: "node \(node) was lost while the job was running; the job runs again from its start, on the next node with a free slot",
                        additionalFields: details)),
                ts: ARCPTimestamp.string()))
    }

    /// The `job.error` of a job whose node was lost.
    static func lostJobError(node: String, previousRunOfThisNode: Bool = false) -> Message {
        let lost = previousRunOfThisNode ? "\(node) (a previous run)" : node
        return .jobError(
            JobErrorPayload(
                code: .internalError, message: "node \(lost) was lost while the job was running; the job did not finish",
                retryable: true, details: .object(["lost_node": .string(node)]), finalStatus: .error,
                completedAt: ARCPTimestamp.string()))
    }

    /// Appends `message` as the next event of session `session`'s log, unless the session is
    /// held by a node that is up other than `node`: that node numbers the session's events
    /// itself, and is told (NOTIFY `ended:…`, sent at commit) to deliver it. Returns the
    /// event's seq, or nil when it was not appended here.
    static func appendEvent(
        _ message: Message, session: String, job: String, trace: String?, unlessHeldBesides node: String,
        on conn: PostgresConnection, logger: Logger
    ) async throws -> Int64? {
        guard var s = try await PostgresRuntimeStore.lockSessions([session], on: conn, logger: logger)[session] else { return nil }
        if let holder = s.nodeID, holder != node {
            let up = try await conn.query(
                "SELECT 1 FROM arcp_node WHERE node_id = \(holder) AND state = 'up'", logger: logger
            ).collect()
            if !up.isEmpty {
                let payload = ["ended", session, job, trace ?? "", node].joined(separator: ":")
                try await conn.query("SELECT pg_notify(\(ClusterListener.channel(holder)), \(payload))", logger: logger)
                return nil
            }
        }
        let seq = s.lastSeq + 1
        let frame = FrameCodec.encode(Envelope.make(message, sessionID: session, jobID: job, eventSeq: Int(seq), traceID: trace))
        let event = StoredEvent(sessionID: session, seq: seq, jobID: job, frame: frame)
        guard event.byteCount <= s.limits.maxBytes else { return nil }
        try await PostgresRuntimeStore.insertEvents([event], on: conn, logger: logger)
        s.lastSeq = seq
        s.count += 1
        s.bytes += Int64(event.byteCount)
        _ = try await PostgresRuntimeStore.evictOverCaps(session, &s, on: conn, logger: logger)
        try await PostgresRuntimeStore.saveBookkeeping([(session, s)], on: conn, logger: logger)
        return seq
    }

    /// Stops the heartbeats and marks this node `gone`.
    func leave() async {
        heartbeat.withLock { $0 }?.cancel()
        do {
            // Bounded: a node leaving while PostgreSQL is unreachable must still end.
            let (db, nodeID, incarnation, log) = (self.db, self.nodeID, self.incarnation, self.log)
            try await withTimeout(.seconds(5)) {
                try await db.client.query(
                    "UPDATE arcp_node SET state = 'gone' WHERE node_id = \(nodeID) AND incarnation = \(incarnation)", logger: log)
            }
            log.info("left the cluster")
        } catch {
            log.warning("could not mark this node gone; the others will find it lost", metadata: ["error": "\(describe(error))"])
        }
    }
}
