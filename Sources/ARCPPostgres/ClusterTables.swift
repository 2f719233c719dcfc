import ARCP
import Foundation
import Logging
import PostgresNIO

// The runtime's tables on a cluster node (the seams of docs/RUNTIME.md, "Seams for issue
// 12"): each keeps what this process holds in the in-memory table and asks PostgreSQL what
// the cluster knows. None holds its lock across a query (the in-memory tables' locks are
// leaves, taken and released inside their calls).

/// The sessions of a cluster node. A session's row names the node holding it (`node_id`);
/// a resume on this node of a session it does not hold goes through the runtime's restore
/// path, whose `adopt` claims the row (`claim` counts the claims and take-backs). From then
/// on the node that held it before writes nothing more into its log
/// (`PostgresRuntimeStore.append` fences it), and its copy is dropped the next time it is
/// looked up there. How the events of jobs still running on the previous node reach the new
/// holder without a gap or a duplicate: docs/CLUSTER.md, "Moving a session".
final class ClusterSessionTable: SessionTable {
    let local = InMemorySessionTable()
    let db: PostgresDatabase
    let nodeID: String
    let listener: ClusterListener
    let routes: ClusterRoutes
    let forwarder: ClusterForwarder
    let drain: ClusterDrain
    /// This node's unfinished jobs (the job table, set once by `PostgresCluster`).
    private let unfinishedJobs = RankedMutex<(@Sendable () -> [RuntimeJob])?>(.leaf, nil)
    /// The `claim` of each session's row as read before asking its holder to flush: the
    /// claim is made only if nobody claimed or took the session back since (`adopt`).
    private let expectedClaims = RankedMutex(.leaf, [String: Int64]())
    /// The copies `adopt` is restoring (by identity): until such a copy holds what the log
    /// gained since the restore read it, only its `adopt` numbers into it, takes it back or
    /// drops it (`isAdopting`). With each, the leave a take-back made meanwhile was decided
    /// in (`takeBack`): the adopt then numbers the session from that leave, not its own.
    private let adopting = RankedMutex(.leaf, [ObjectIdentifier: UInt64?]())
    /// For tests: runs after `adopt` claimed a session's row, before its copy takes the events
    /// it missed (`onClaimed`).
    private let claimedHook = RankedMutex<(@Sendable (String) async -> Void)?>(.leaf, nil)
    var log: Logger { db.logger }
    /// How long a resume waits for the node holding the session to flush its writes, per
    /// request; the request is sent again while that node is up and holds the session, up to
    /// `flushWaitLimit` in all.
    static let flushWait: Duration = .seconds(2)
    static let flushWaitLimit: Duration = .seconds(10)
    /// How long a node that flushed a session for another node forwards its events before
    /// it takes the session back, if the other node has not claimed it by then.
    static let moveTimeout: Duration = .seconds(5)
    /// How many times `adopt` asks again when the row changed since it was read.
    static let claimAttempts = 5

    init(
        db: PostgresDatabase, nodeID: String, listener: ClusterListener, routes: ClusterRoutes, forwarder: ClusterForwarder,
        drain: ClusterDrain
    ) {
        self.db = db
        self.nodeID = nodeID
        self.listener = listener
        self.routes = routes
        self.forwarder = forwarder
        self.drain = drain
    }

    func setJobs(_ unfinished: @escaping @Sendable () -> [RuntimeJob]) {
        unfinishedJobs.withLock { $0 = unfinished }
    }

    private func localJobs(of id: String) -> [RuntimeJob] {
        (unfinishedJobs.withLock { $0 }?() ?? []).filter { $0.ownerSessionID == id }
    }

    func insert(_ session: RuntimeSession) async {
        // The store writer records the row (held by this node) before any of its events.
        await local.insert(session)
    }

    /// The sessions-per-principal limit is this node's (the sessions it holds).
    func insert(_ session: RuntimeSession, maxPerPrincipal: Int) async -> Bool {
        await local.insert(session, maxPerPrincipal: maxPerPrincipal)
    }

    /// Whether `session` is a copy `adopt` is restoring.
    func isAdopting(_ session: RuntimeSession) -> Bool {
        adopting.withLock { $0[ObjectIdentifier(session)] != nil }
    }

    /// For tests: `hook` runs after each `adopt` claimed its session's row.
    func onClaimed(_ hook: @escaping @Sendable (String) async -> Void) {
        claimedHook.withLock { $0 = hook }
    }

    func adopt(_ session: RuntimeSession) async -> RuntimeSession {
        adopting.withLock { $0[ObjectIdentifier(session)] = .some(nil) }
        let winner = await local.adopt(session)
        guard winner === session else {
            adopting.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(session)) }
            return winner
        }
        // Nothing numbers into the copy until it holds every event the log gained after the
        // restore read it (below): from its claim on, a drain (`fwd:`) or a lost node's
        // `job.error` would otherwise number into it after the read's last seq, and the append
        // storing that would replace the events it had not added yet (the holder's numbering
        // wins). Away from here on, those are forwarded; `numberHere` numbers them after.
        // (Only the adopt that won leaves: a losing restore must not stop the winner's return.)
        let generation = await routes.leave(session.id)
        var expected = expectedClaims.withLock { $0.removeValue(forKey: session.id) }
        do {
            // The claim is made only if the row did not change since the restore path read
            // it, after its holder flushed (`prepareRestore`).
            if expected == nil { expected = try await row(session.id)?.1 }
            var claimed: (String?, Int64)? = nil
            for attempt in 1...Self.claimAttempts {
                // The last attempt claims whatever the row says (as one process would: the
                // later claim holds the session).
                let condition = attempt == Self.claimAttempts ? nil : expected
                claimed = try await db.client.query(
                    """
                    UPDATE arcp_session s SET node_id = \(nodeID), claim = s.claim + 1
                    FROM (SELECT session_id, node_id, claim FROM arcp_session WHERE session_id = \(session.id) FOR UPDATE) p
                    WHERE s.session_id = p.session_id AND (\(condition)::int8 IS NULL OR p.claim = \(condition))
                    RETURNING p.node_id, s.last_seq
                    """, logger: log
                ).collect().first?.decode((String?, Int64).self)
                if claimed != nil { break }
                // Another node claimed the session, or its holder took it back, since this
                // node read it: ask the holder now to flush (its events then reach this
                // node's copy below), and claim again.
                guard let (holder, claim, up) = try await row(session.id) else { break }
                log.info(
                    "the session changed hands while it was restored; asking again",
                    metadata: ["session": "\(session.id)", "held_by": "\(holder ?? "-")", "attempt": "\(attempt)"])
                expected = claim
                if let holder, holder != nodeID, up { await flush(session.id, holder: holder) }
            }
            if claimed != nil, let hook = claimedHook.withLock({ $0 }) { await hook(session.id) }
            let previous = claimed?.0
            // Events appended to the log after the restore read it and before this claim (the
            // previous holder's last writes; a lost node's job ended by the
            // membership, which appends while the row names the lost node): the session takes
            // them, numbered as stored, before numbering its own.
            if let stored = claimed?.1, stored > Int64(session.lastSeq) {
                let missed = try await PostgresRuntimeStore.decodeEvents(
                    session.id,
                    db.client.query(
                        """
                        SELECT seq, job_id, frame FROM arcp_event WHERE session_id = \(session.id) AND seq > \(Int64(session.lastSeq))
                        ORDER BY seq
                        """, logger: log))
                session.restoreAppended(missed)
                log.info(
                    "events stored while the session was being restored were added",
                    metadata: ["session": "\(session.id)", "events": "\(missed.count)"])
            }
            if let previous, previous != nodeID {
                log.info("session claimed from another node", metadata: ["session": "\(session.id)", "from_node": "\(previous)"])
                // Its jobs there forward their events from now on.
                try await db.client.query(
                    "SELECT pg_notify(\(ClusterListener.channel(previous)), \("claimed:" + session.id))", logger: log)
            }
        } catch {
            log.error("could not claim the session's row", metadata: ["session": "\(session.id)", "error": "\(describe(error))"])
        }
        // A take-back made meanwhile (another node asked for the session during this adopt,
        // then did not claim it) was decided after that node's leave: numbered from there.
        let takenBack = adopting.withLock { $0.removeValue(forKey: ObjectIdentifier(session)) ?? nil }
        await numberHere(session, since: takenBack ?? generation)
        return session
    }

    /// This node holds `session` (claimed, or taken back, while it was away since the leave
    /// of `generation`): its jobs here number into this object; what was forwarded to the
    /// session meanwhile (this node's own jobs' included) is numbered first, then what this
    /// node's jobs emitted during the switch, then the jobs number directly again. Not if the
    /// session left again since (another node asked for it, and was answered that this node
    /// numbers nothing more: `SessionRouting.beginReturn`).
    func numberHere(_ session: RuntimeSession, since generation: UInt64) async {
        for job in localJobs(of: session.id) { (job.fanOut as? ClusterJobEventFanOut)?.rebind(owner: session) }
        guard routes.beginReturn(session.id, since: generation) else {
            await drain.drain(session.id, sessions: self)
            return
        }
        await forwarder.flush()
        await drain.drain(session.id, sessions: self)
        while let held = routes.takeHeld(session.id), !held.isEmpty {
            defer { routes.numbered(session.id) }
            for entry in held {
                guard case .success(let envelope) = FrameCodec.decode(entry.frame, validate: false) else { continue }
                session.sendForwardedEvent(envelope.message, jobID: entry.job, traceID: entry.trace)
            }
        }
    }

    /// The session's row: its holder, its claim counter, and whether the holder is up.
    private func row(_ id: String) async throws -> (String?, Int64, Bool)? {
        try await db.client.query(
            """
            SELECT s.node_id, s.claim, COALESCE(n.state = 'up', false) FROM arcp_session s LEFT JOIN arcp_node n ON n.node_id = s.node_id
            WHERE s.session_id = \(id)
            """, logger: log
        ).collect().first?.decode((String?, Int64, Bool).self)
    }

    /// The session, if this node holds it: a copy whose row another node claimed since is
    /// dropped (the runtime then restores the session from the store). A copy this node was
    /// moving to another node, which has not claimed it, is taken back. When the database
    /// cannot be asked, what this node holds is served.
    func session(_ id: String) async -> RuntimeSession? {
        guard let session = local.localSession(id) else { return nil }
        // A copy being restored is its `adopt`'s to claim, number and keep.
        if isAdopting(session) { return session }
        let holder: String?
        do {
            holder = try await self.holder(id)
        } catch {
            log.warning("could not check who holds a session; serving this node's copy", metadata: ["session": "\(id)", "error": "\(describe(error))"])
            return session
        }
        guard let holder else { return session }
        if holder == nodeID {
            // Flushed for another node that has not claimed it (the client came back here):
            // taken back, unless that node claims it first.
            guard let generation = routes.awaySince(id) else { return session }
            if await takeBack(id, since: generation) { return local.localSession(id) }
        }
        guard await drop(session, id) else { return local.localSession(id) }
        log.info("session moved to another node; this node's copy is dropped", metadata: ["session": "\(id)", "held_by": "\(holder)"])
        return nil
    }

    /// Drops `copy`, this node's copy of session `id` when the row was read naming another
    /// node: this node's jobs forward the session's events from now on. False when the table
    /// holds another copy now (restored since the read: a new hold's, kept).
    private func drop(_ copy: RuntimeSession?, _ id: String) async -> Bool {
        guard local.localSession(id) === copy else { return false }
        await routes.leave(id)
        if let copy { _ = await local.remove(copy) }
        return true
    }

    /// Takes back session `id`, which this node flushed for another node that did not claim
    /// it: the claim counter moves on (a claim based on the row as read before is refused and
    /// asks again), and the copy in this node's table once the row is kept is numbered here
    /// again (`numberHere`) — not one looked up before that wait: it may have been dropped and
    /// the session restored meanwhile, and the old copy would get the jobs' events (rebound
    /// to it) and what was held. A copy being restored is its `adopt`'s to number. The
    /// session is taken back from the leave of `generation`: if it left again meanwhile
    /// (another node asked for it), it stays away (`numberHere`). False when another node
    /// claimed the session.
    func takeBack(_ id: String, since generation: UInt64) async -> Bool {
        do {
            let kept = try await db.client.query(
                "UPDATE arcp_session SET claim = claim + 1 WHERE session_id = \(id) AND node_id = \(nodeID) RETURNING claim",
                logger: log
            ).collect()
            guard !kept.isEmpty else { return false }
        } catch {
            log.warning("could not take a session back", metadata: ["session": "\(id)", "error": "\(describe(error))"])
            return false
        }
        log.info("session taken back: the node it was moving to did not claim it", metadata: ["session": "\(id)"])
        // A copy being restored is its adopt's to number: it numbers from this take-back's
        // leave once it holds what it missed (else it would find the session left again since
        // its own claim, and nobody would number it: its forwarded events stuck).
        if let session = local.localSession(id) {
            let adopted = adopting.withLock { a -> Bool in
                guard a[ObjectIdentifier(session)] != nil else { return false }
                a[ObjectIdentifier(session)] = .some(generation)
                return true
            }
            if !adopted { await numberHere(session, since: generation) }
        }
        return true
    }

    /// After a flush for another node (`leave` generation `generation`): if that node has not
    /// claimed session `id` within `moveTimeout`, this node takes it back; a session no longer
    /// held here whose jobs here all ended is forgotten.
    func takeBackLater(_ id: String, generation: UInt64) async {
        try? await Task.sleep(for: Self.moveTimeout)
        guard routes.isAway(id, generation: generation) else { return }
        if local.localSession(id) != nil, await takeBack(id, since: generation) { return }
        // Another node holds it. The copy is dropped only if the session is still away since
        // that leave: one it came back to meanwhile (restored, after a leave of its own) is
        // the copy of the new hold (a drain numbers into whichever copy is here).
        if let session = local.localSession(id), routes.isAway(id, generation: generation) {
            _ = await local.remove(session)
        }
        if localJobs(of: id).isEmpty { routes.forget(id) }
    }

    /// The node session `id`'s row names.
    private func holder(_ id: String) async throws -> String? {
        try await db.client.query("SELECT node_id FROM arcp_session WHERE session_id = \(id)", logger: log)
            .collect().first?.decode(String?.self)
    }

    /// Another node claimed session `id` (its `claimed:` notification): this node's jobs
    /// forward its events, its copy is dropped. Not when the notification is late: the row
    /// names this node again (it claimed or took the session back since: A→B→A, B's
    /// `claimed:` arriving after A's claim), or the copy is being restored (its `adopt`
    /// claims by the row it reads), or was restored while the row was read (a new hold's).
    func claimedElsewhere(_ id: String) async {
        let copy = local.localSession(id)
        if let copy, isAdopting(copy) { return }
        do {
            if try await holder(id) == nodeID { return }
        } catch {
            log.warning("could not check who holds a session; this node's copy is dropped", metadata: ["session": "\(id)", "error": "\(describe(error))"])
        }
        _ = await drop(copy, id)
    }

    /// An event for session `id` that does not come from one of this node's job fan-outs
    /// (a lost node's job's `job.error`): numbered here, forwarded or held as the routing says.
    func deliver(_ message: Message, session id: String, job: String, trace: String, principal: String, terminal: Bool) {
        let entry = ClusterForwarder.Entry(
            session: id, job: job, trace: trace, principal: principal,
            frame: FrameCodec.encode(Envelope.make(message, jobID: job, traceID: trace)), terminal: terminal)
        if routes.begin(id) || routes.commit(entry) {
            defer { routes.numbered(id) }
            guard let s = local.localSession(id) else {
                log.warning("an event for a session this node no longer holds", metadata: ["job": "\(job)", "session": "\(id)"])
                return
            }
            s.sendForwardedEvent(message, jobID: job, traceID: trace)
        }
    }

    /// The restore path is about to read session `id` from the store (its resume token was
    /// accepted: `PostgresRuntimeStore.bufferStatus` calls this first): if a live node holds
    /// it, that node stops numbering it and flushes its writes (bounded wait), so the read
    /// holds everything it numbered. The row's claim counter is kept for `adopt`.
    func prepareRestore(_ id: String) async {
        do {
            guard let (holder, claim, up) = try await row(id) else { return }
            expectedClaims.withLock { e in
                if e.count >= 10_000 { e.removeAll() }
                e[id] = claim
            }
            guard let holder, holder != nodeID, up else { return }
            await flush(id, holder: holder)
        } catch {
            log.warning("could not ask who holds a session", metadata: ["session": "\(id)", "error": "\(describe(error))"])
        }
    }

    /// Asks `holder` to flush session `id` and waits for its answer: again every `flushWait`
    /// while it is up and holds the session, at most `flushWaitLimit`.
    private func flush(_ id: String, holder: String) async {
        let deadline = ContinuousClock.now + Self.flushWaitLimit
        while true {
            if await listener.requestFlush(session: id, holder: holder, limit: Self.flushWait) { return }
            let still = try? await row(id)
            guard let still, still.0 == holder, still.2, ContinuousClock.now < deadline else { break }
        }
        log.warning(
            "the node holding a session did not confirm its writes in time; restoring from what is stored",
            metadata: ["session": "\(id)", "held_by": "\(holder)"])
    }

    func remove(_ session: RuntimeSession) async -> Bool { await local.remove(session) }
    func sessions() async -> [RuntimeSession] { await local.sessions() }
    var localSessionIDs: [String] { local.localSessionIDs }
    func localSession(_ id: String) -> RuntimeSession? { local.localSession(id) }
}

/// The jobs of a cluster node: the `RuntimeJob`s of the jobs it runs, in memory, and every
/// node's jobs as rows of `arcp_job`. A job's row is written when it is accepted (before its
/// `job.accepted` is sent, so `list_jobs` on any node sees it at once), then kept up to date
/// by the node's store writer.
final class ClusterJobTable: JobTable {
    /// The jobs this node runs, and the finished ones it keeps for retention. Replaced once,
    /// by `PostgresCluster.configure`, with a table under the runtime's retention policy
    /// (before the runtime exists, so before any job).
    private let localTable = RankedMutex(.leaf, InMemoryJobTable())
    var local: InMemoryJobTable { localTable.withLock { $0 } }
    let db: PostgresDatabase
    let nodeID: String
    /// This node's sessions' subscriptions to jobs other nodes run.
    let follows: ClusterFollows
    /// The cluster's job queue (placement: `ClusterQueue.swift`).
    let queue: ClusterQueue
    private let endedHook = RankedMutex<(@Sendable (String, String) -> Void)?>(.leaf, nil)
    var log: Logger { db.logger }

    init(db: PostgresDatabase, nodeID: String, follows: ClusterFollows) {
        self.db = db
        self.nodeID = nodeID
        self.follows = follows
        queue = ClusterQueue(db: db, nodeID: nodeID)
    }

    /// Keeps this node's finished jobs as `policy` says (`Configuration.Retention`).
    func setRetention(_ policy: JobRetentionPolicy) {
        localTable.withLock { $0 = InMemoryJobTable(retention: policy) }
    }

    func insert(_ job: RuntimeJob) async {
        await local.insert(job)
        await record(job, restartable: nil)
    }

    func admit(_ job: RuntimeJob, limits: RunningJobLimits, start: JobStart) async -> Admission {
        // The running-job limits are this node's (per session and principal on this node, and
        // `maxRunningJobs`); beyond this node's slots the job waits in the cluster's queue.
        var here = limits
        here.queued = 0
        switch await local.admit(job, limits: here, start: start) {
        case .run:
            await record(job, restartable: start.restartable ? QueuedJob(job, start: start) : nil)
            return .run
        case .refused(.runningJobs) where limits.queued > 0:
            return await queue.enqueue(job, start: start, limit: limits.queued)
        case let other:
            return other
        }
    }

    /// Nothing waits in this node's memory: a slot freed here claims from the cluster's queue.
    func jobsToStart(limits: RunningJobLimits) async -> [(RuntimeJob, JobStart)] {
        queue.slotFreed()
        return []
    }

    func withdraw(_ id: String, sessionID: String) async -> WithdrawnJob? {
        // A job this node holds has started here; otherwise it may wait in the cluster's queue.
        guard local.localJob(id) == nil else { return nil }
        return await queue.withdraw(id, sessionID: sessionID).map { .shared(traceID: $0.traceID, credentials: $0.credentials) }
    }

    /// Writes the row of a job this node accepted, before its `job.accepted` is sent (and,
    /// for a restartable job, what running it again takes: `arcp_restart`).
    private func record(_ job: RuntimeJob, restartable: QueuedJob?) async {
        let l = JobListing(job)
        do {
            try await db.client.query(
                """
                INSERT INTO arcp_job (job_id, session_id, principal, agent, status, created_at, trace_id, parent_job_id, lease_json,
                                      lease_constraints_json, last_event_seq, node_id)
                VALUES (\(l.id), \(job.ownerSessionID), \(l.principal), \(l.agent), \(l.status.rawValue), \(l.createdAt.storedValue),
                        \(l.traceID), \(l.parentJobID), \(JSONWriter.string(l.lease.toJSON())), \(l.leaseConstraints.map { $0.jsonText() }),
                        \(Int64(l.lastEventSeq)), \(nodeID))
                ON CONFLICT (job_id) DO NOTHING
                """, logger: log)
            if let restartable { try await db.client.query(ClusterQueue.keepForRestart(restartable), logger: log) }
        } catch {
            // The store writer records it shortly; only other nodes' listings lag meanwhile.
            // (A restartable job whose record could not be kept ends as any job of a lost node.)
            log.warning("could not record an accepted job", metadata: ["job": "\(job.id)", "error": "\(describe(error))"])
        }
    }

    func job(_ id: String) async -> RuntimeJob? { local.localJob(id) }

    /// A page of every node's jobs, in (created_at, job_id) order; the jobs this node runs
    /// are shown from memory (their live status), the others from their rows. When the
    /// database cannot be asked, this node's jobs are listed.
    func page(after cursor: JobListingKey?, limit: Int, where include: (JobListing) -> Bool) async -> (jobs: [JobListing], more: Bool) {
        do {
            return try await clusterPage(after: cursor, limit: limit, where: include)
        } catch {
            log.warning("could not list the cluster's jobs; listing this node's", metadata: ["error": "\(describe(error))"])
            return await local.page(after: cursor, limit: limit, where: include)
        }
    }

    private func clusterPage(after cursor: JobListingKey?, limit: Int, where include: (JobListing) -> Bool) async throws -> (
        jobs: [JobListing], more: Bool
    ) {
        // Keyset pagination: the cursor is the listing order's key, valid when its job is gone.
        var position: (Double, String)? = cursor.map { ($0.createdAt.storedValue, $0.id) }
        var page: [JobListing] = []
        let chunk = min(max(limit * 2, 100), 1000)
        while true {
            let rows: PostgresRowSequence
            if let (created, id) = position {
                rows = try await db.client.query(
                    """
                    SELECT \(unescaped: Self.columns) FROM arcp_job
                    WHERE created_at > \(created) OR (created_at = \(created) AND job_id > \(id))
                    ORDER BY created_at, job_id LIMIT \(chunk)
                    """, logger: log)
            } else {
                rows = try await db.client.query(
                    "SELECT \(unescaped: Self.columns) FROM arcp_job ORDER BY created_at, job_id LIMIT \(chunk)", logger: log)
            }
            var read = 0
            for try await row in rows.decode(Row.self) {
                read += 1
                position = (row.8, row.0)
                let listing = local.localJob(row.0).map(JobListing.init) ?? Self.listing(row)
                guard include(listing) else { continue }
                if page.count == limit { return (page, true) }
                page.append(listing)
            }
            if read < chunk { return (page, false) }
        }
    }

    typealias Row = (String, String, String, String, String, String?, String?, String?, Double, String?, Int64)
    static let columns =
        "job_id, principal, agent, status, lease_json, lease_constraints_json, parent_job_id, trace_id, created_at, node_id, last_event_seq"

    /// A listing from a row (a status this build does not know is kept as the wire's unknown value).
    static func listing(_ row: Row) -> JobListing {
        let (id, principal, agent, statusText, leaseText, constraintsText, parent, trace, created, _, lastSeq) = row
        let status = JobStatus(rawValue: statusText)
        var lease: Lease = [:]
        if case .object(let o)? = try? JSONParser.parse(leaseText) {
            for m in o { if case .array(let a) = m.value { lease[m.key] = a.compactMap(\.stringValue) } }
        }
        let constraints = constraintsText.flatMap { try? LeaseConstraints(jsonText: $0) }
        return JobListing(
            id: id, principal: principal, agent: agent, status: status, lease: lease, leaseConstraints: constraints,
            parentJobID: parent, createdAt: Date(stored: created), traceID: trace ?? "", lastEventSeq: Int(clamping: lastSeq))
    }

    func cancelElsewhere(_ id: String, sessionID: String, reason: String?, observable: (String) -> Bool) async -> CancelElsewhere {
        do {
            guard
                let (node, trace, submitter, principal, statusText, nodeUp) = try await db.client.query(
                    """
                    SELECT j.node_id, j.trace_id, j.session_id, j.principal, j.status, n.state = 'up'
                    FROM arcp_job j LEFT JOIN arcp_node n ON n.node_id = j.node_id
                    WHERE j.job_id = \(id) AND j.node_id <> \(nodeID)
                    """, logger: log
                ).collect().first?.decode((String, String?, String, String, String, Bool?).self)
            else { return .notFound }
            // The single process's rules, in its order: a hidden job looks missing; only the
            // submitting session cancels (it is held here now); a job that ended says so.
            guard observable(principal) else { return .notFound }
            guard submitter == sessionID else { return .notSubmitter }
            let status = JobStatus(rawValue: statusText)
            if status.isTerminal { return .ended(status) }
            // A job whose node is not up is being ended by the membership (job.error naming
            // the node); there is nobody to cancel it.
            guard nodeUp == true else { return .notFound }
            let why = Data(String((reason ?? "").prefix(1000)).utf8).base64EncodedString()
            try await db.client.query("SELECT pg_notify(\(ClusterListener.channel(node)), \("cancel:\(id):\(why)"))", logger: log)
            return .passed(traceID: trace ?? "")
        } catch {
            log.warning("could not pass a cancel on", metadata: ["job": "\(id)", "error": "\(describe(error))"])
            return .notFound
        }
    }

    /// A job another node runs (or ran) is followed from its submitting session's log
    /// (`ClusterFollows`).
    func subscribeElsewhere(
        _ id: String, session: RuntimeSession, history: Bool, fromSeq: Int, requestID: String, observable: (String) -> Bool
    ) async -> Bool {
        await follows.subscribe(id, session: session, history: history, fromSeq: fromSeq, requestID: requestID, observable: observable)
    }

    func unsubscribeElsewhere(_ id: String, sessionID: String) async -> Bool { follows.unsubscribe(id, sessionID: sessionID) }

    /// How long an idempotent resubmit waits for the row of the job another node is
    /// accepting (its claim is committed a moment before its row).
    static let acceptWait: Duration = .seconds(5)

    /// The original `job.accepted` of the job another node accepted under `(principal, key)`
    /// (recorded with the key by that node's store), then, for another session, the job's
    /// live events (a finished job: its outcome), as `replayAccepted` does for a local job.
    func replayAcceptedElsewhere(_ id: String, principal: String, key: String, session: RuntimeSession, requestID: String) async -> Bool {
        let deadline = ContinuousClock.now + Self.acceptWait
        var stored = ""
        while true {
            do {
                let row = try await db.client.query(
                    """
                    SELECT i.accepted_payload_json, j.job_id IS NOT NULL FROM arcp_idempotency i LEFT JOIN arcp_job j ON j.job_id = i.job_id
                    WHERE i.principal = \(principal) AND i.key = \(key) AND i.job_id = \(id)
                    """, logger: log
                ).collect().first?.decode((String, Bool).self)
                // The key no longer names this job (released meanwhile): not replayable here.
                guard let row else { return false }
                stored = row.0
                if row.1 && !stored.isEmpty { break }
                if row.1 && ContinuousClock.now >= deadline { break }
            } catch {
                log.warning("could not read another node's job.accepted", metadata: ["job": "\(id)", "error": "\(describe(error))"])
            }
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        let original = (try? JSONParser.parse(stored)).flatMap { try? JobAcceptedPayload(json: $0) }
        return await follows.subscribe(id, session: session, history: false, fromSeq: 0, requestID: requestID, observable: { _ in true }) {
            subscribed, createdAt in
            // Credentials are not replayed across nodes: their values are never stored.
            var accepted =
                original
                ?? JobAcceptedPayload(
                    jobId: id, agent: subscribed.agent, lease: subscribed.lease, leaseConstraints: subscribed.leaseConstraints,
                    budget: subscribed.budget, acceptedAt: ARCPTimestamp.string(createdAt), traceId: subscribed.traceId)
            accepted.requestId = requestID
            accepted.credentials = nil
            return .jobAccepted(accepted)
        }
    }

    func unfinished() async -> [RuntimeJob] { local.localUnfinished() }
    /// Retention of this node's jobs is the in-memory table's; the runtime deletes the rows
    /// of the jobs it drops (`deleteJob`). Rows no node holds in memory (jobs of lost nodes,
    /// of a node's previous run) are deleted by `ClusterRetention`.
    func jobEnded(_ job: RuntimeJob, at now: Duration) async -> [RetiredJob] {
        let retired = await local.jobEnded(job, at: now)
        endedHook.withLock { $0 }?(job.ownerSessionID, job.id)
        return retired
    }

    /// Called with the session and id of each job of this node that ended (the routing
    /// forgets a session that moved away once its last job here ended).
    func onJobEnded(_ hook: @escaping @Sendable (_ session: String, _ job: String) -> Void) {
        endedHook.withLock { $0 = hook }
    }
    func sweep(at now: Duration) async -> [RetiredJob] { await local.sweep(at: now) }
    var localJobIDs: [String] { local.localJobIDs }
    func localJob(_ id: String) -> RuntimeJob? { local.localJob(id) }
    func localUnfinished() -> [RuntimeJob] { local.localUnfinished() }
    var localCounts: JobTableCounts { local.localCounts }
}

/// The idempotency keys of a cluster: the primary key `(principal, key)` of
/// `arcp_idempotency` is the uniqueness constraint, so of concurrent submits with one key on
/// any nodes exactly one inserts its claim.
final class ClusterIdempotencyIndex: IdempotencyIndex {
    let db: PostgresDatabase
    var log: Logger { db.logger }

    init(db: PostgresDatabase) {
        self.db = db
    }

    func claim(principal: String, key: String, fingerprint: String, jobID: String) async -> IdempotencyClaim {
        // A few tries while the database does not answer; then the submit goes ahead (the
        // key is not enforced across nodes for it, which the log says).
        for attempt in 1...5 {
            do {
                let inserted = try await db.client.query(
                    """
                    INSERT INTO arcp_idempotency (principal, key, fingerprint, job_id, accepted_payload_json, created_at)
                    VALUES (\(principal), \(key), \(fingerprint), \(jobID), '', \(Date().storedValue))
                    ON CONFLICT (principal, key) DO NOTHING RETURNING 1
                    """, logger: log
                ).collect()
                if !inserted.isEmpty { return .claimed }
                // The winner's row is committed (the conflict saw it); read it.
                if let holder = try await holderRow(principal: principal, key: key) { return .held(by: holder) }
            } catch {
                log.warning("idempotency claim failed", metadata: ["attempt": "\(attempt)", "error": "\(describe(error))"])
                try? await Task.sleep(for: .milliseconds(100 * attempt))
            }
        }
        log.error("idempotency key not enforced across nodes: the database did not answer", metadata: ["job": "\(jobID)"])
        return .claimed
    }

    func holder(principal: String, key: String) async -> IdempotencyClaim.Holder? {
        do {
            return try await holderRow(principal: principal, key: key)
        } catch {
            log.warning("idempotency lookup failed", metadata: ["error": "\(describe(error))"])
            return nil
        }
    }

    private func holderRow(principal: String, key: String) async throws -> IdempotencyClaim.Holder? {
        for try await (job, fingerprint) in try await db.client.query(
            "SELECT job_id, fingerprint FROM arcp_idempotency WHERE principal = \(principal) AND key = \(key)", logger: log
        ).decode((String, String).self) {
            return IdempotencyClaim.Holder(jobID: job, fingerprint: fingerprint)
        }
        return nil
    }

    func release(principal: String, key: String) async {
        do {
            try await db.client.query("DELETE FROM arcp_idempotency WHERE principal = \(principal) AND key = \(key)", logger: log)
        } catch {
            log.warning("idempotency release failed", metadata: ["error": "\(describe(error))"])
        }
    }
}
