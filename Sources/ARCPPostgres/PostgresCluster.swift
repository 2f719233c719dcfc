import ARCP
import Foundation
import Logging
import PostgresNIO

/// One node of a runtime cluster on PostgreSQL: several `ARCPRuntime` processes (behind any
/// load balancer) that share one database, so that a client can resume its session on any
/// of them, an idempotency key names one job across all of them, `session.list_jobs` sees
/// every node's jobs, and the jobs of a node that dies are ended (`job.error`,
/// `INTERNAL_ERROR`, retryable, naming the node) for their clients to read on whichever
/// node they resume. See docs/CLUSTER.md for the design, the guarantees and what is not
/// built yet.
///
/// ```swift
/// let node = try await PostgresCluster.join(url: "postgres://arcp@db:5432/arcp",
///                                           configuration: .init(nodeID: "node-a"))
/// var configuration = ARCPRuntime.Configuration()
/// node.configure(&configuration)
/// let runtime = ARCPRuntime(configuration: configuration, verifier: verifier)
/// node.attach(runtime)
/// // … serve …
/// await runtime.shutdown(drainingFor: configuration.drainTimeout)  // a rolling restart's stop
/// await node.leave()
/// ```
///
/// What each node holds:
/// - `store`: a `PostgresRuntimeStore` that writes as this node (a session's events only
///   while this node holds the session; a job's record only while this node runs it).
/// - the runtime's tables: sessions (a resume here claims the session's row: the restore
///   path's `adopt`), jobs (`list_jobs` reads every node's rows), idempotency keys (the
///   primary key of `arcp_idempotency` is the uniqueness constraint).
/// - membership: a row in `arcp_node`, a heartbeat every `heartbeatInterval` (server clock),
///   and, on every node, the detection of nodes silent for longer than `nodeTimeout`.
public final class PostgresCluster: Sendable {
    /// The knobs of one node.
    public struct Configuration: Sendable {
        /// This node's id, unique in the cluster (letters, digits, `.`, `_`, `-`; at most 48).
        /// Default: `node-` and 12 random hex digits (a new id each start).
        public var nodeID: String
        /// How often this node writes its heartbeat and looks for lost nodes.
        public var heartbeatInterval: Duration = .seconds(2)
        /// A node whose heartbeat is older than this is declared lost; its unfinished jobs
        /// are ended. Detection takes at most `nodeTimeout + heartbeatInterval`.
        public var nodeTimeout: Duration = .seconds(10)
        /// Connections in this node's pool.
        public var maxConnections = 8
        /// How long to wait for PostgreSQL at start (and for each new connection).
        public var connectTimeout: Duration = .seconds(10)
        /// How many jobs running on other nodes one session may follow (`job.subscribe`) at
        /// once; beyond it `job.subscribe` answers `session.error` `INTERNAL_ERROR` with
        /// `details.limit` `cluster_subscriptions_per_session`.
        public var maxFollowedJobsPerSession = 256

        /// The defaults, with `nodeID` or, when `nil`, a random `node-` id (check `nodeIDProblem`
        /// before use; `PostgresCluster.join` refuses a bad one).
        public init(nodeID: String? = nil) {
            self.nodeID = nodeID ?? "node-" + String(UInt64.random(in: 0...UInt64.max) & 0xffff_ffff_ffff, radix: 16)
        }

        /// Why `nodeID` cannot be used, if it cannot.
        public var nodeIDProblem: String? {
            let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
            // 48: the node's LISTEN channel (`arcp_node_<id>`) must fit PostgreSQL's 63 bytes.
            if nodeID.isEmpty || nodeID.count > 48 { return "a node id has 1 to 48 characters" }
            if !nodeID.allSatisfy(allowed.contains) { return "a node id has only letters, digits, '.', '_' and '-'" }
            return nil
        }
    }

    /// This node's id.
    public let nodeID: String
    /// The store this node's runtime writes through (`configure` installs it).
    public let store: PostgresRuntimeStore
    let settings: Configuration
    let db: PostgresDatabase
    let incarnation: Int64
    /// The `list_jobs` cursor key every node of the cluster uses (`arcp_secret`).
    let listCursorKey: [UInt8]
    let sessions: ClusterSessionTable
    let jobs: ClusterJobTable
    let idempotency: ClusterIdempotencyIndex
    let membership: ClusterMembership
    let listener: ClusterListener
    let routes: ClusterRoutes
    let watches = ClusterWatches()
    let follows: ClusterFollows
    let forwarder: ClusterForwarder
    let drain: ClusterDrain
    let retention: ClusterRetention
    private let forwarding = RankedMutex<Task<Void, Never>?>(.leaf, nil)

    /// Connects, migrates the schema, and joins the cluster as `configuration.nodeID`.
    /// - Throws: `PostgresLocationError` (bad URL), `PostgresUnavailableError` (PostgreSQL
    ///   unreachable or refusing), `PostgresSchemaError` (a newer schema),
    ///   `PostgresClusterError` (a bad node id, or a node with this id is alive).
    public static func join(
        url: String, configuration: Configuration = Configuration(), logger: Logger = Logger(label: "arcp.cluster")
    ) async throws -> PostgresCluster {
        if let problem = configuration.nodeIDProblem { throw PostgresClusterError("--node-id \(configuration.nodeID): \(problem)") }
        var logger = logger
        logger[metadataKey: "node"] = "\(configuration.nodeID)"
        let db = try await PostgresDatabase.connect(
            try PostgresLocation(url: url), maxConnections: configuration.maxConnections, connectTimeout: configuration.connectTimeout,
            logger: logger)
        let listCursorKey: [UInt8]
        do {
            listCursorKey = try await sharedKey("list_cursor_key", db: db, logger: logger)
        } catch {
            db.close()
            throw PostgresUnavailableError("cannot read the cluster's keys at \(db.location): \(describe(error))")
        }
        let cluster = PostgresCluster(db: db, settings: configuration, listCursorKey: listCursorKey)
        do {
            try await cluster.membership.register()
        } catch let e as PostgresClusterError {
            db.close()
            throw e
        } catch {
            db.close()
            throw PostgresUnavailableError("cannot join the cluster at \(db.location): \(describe(error))")
        }
        cluster.membership.start()
        return cluster
    }

    /// The key `name` every node shares (`arcp_secret`): 32 random bytes drawn by the first
    /// node that asks, read by the others.
    private static func sharedKey(_ name: String, db: PostgresDatabase, logger: Logger) async throws -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        let drawn = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        let hex = drawn.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        let rows = try await db.client.query(
            """
            WITH drawn AS (
                INSERT INTO arcp_secret (name, value_hex) VALUES (\(name), \(hex)) ON CONFLICT (name) DO NOTHING RETURNING value_hex
            )
            SELECT value_hex FROM drawn UNION ALL SELECT value_hex FROM arcp_secret WHERE name = \(name)
            """, logger: logger
        ).collect()
        guard let stored = try rows.first?.decode(String.self), let key = Self.bytes(hex: stored), key.count >= 16 else {
            throw PostgresClusterError("arcp_secret \(name) is missing or not hex")
        }
        return key
    }

    private static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count.isMultiple(of: 2) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let byte = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
            i += 2
        }
        return out
    }

    private init(db: PostgresDatabase, settings: Configuration, listCursorKey: [UInt8]) {
        self.db = db
        self.settings = settings
        self.listCursorKey = listCursorKey
        nodeID = settings.nodeID
        incarnation = Int64.random(in: 1...Int64.max)
        store = PostgresRuntimeStore(db: db, nodeID: settings.nodeID, ownsDatabase: false, watches: watches)
        forwarder = ClusterForwarder(db: db)
        routes = ClusterRoutes(forwarder: forwarder)
        drain = ClusterDrain(db: db, nodeID: settings.nodeID, routes: routes, store: store)
        follows = ClusterFollows(db: db, watches: watches)
        listener = ClusterListener(db: db, nodeID: settings.nodeID, routes: routes, drain: drain, watches: watches, follows: follows)
        sessions = ClusterSessionTable(
            db: db, nodeID: settings.nodeID, listener: listener, routes: routes, forwarder: forwarder, drain: drain)
        jobs = ClusterJobTable(db: db, nodeID: settings.nodeID, follows: follows)
        let (jobs, routes, sessions) = (self.jobs, self.routes, self.sessions)
        sessions.setJobs { [weak jobs] in jobs?.localUnfinished() ?? [] }
        store.setBeforeRestoreRead { [weak sessions] id in await sessions?.prepareRestore(id) }
        // A session that moved away is forgotten by the routing once its last job here ended.
        jobs.onJobEnded { [weak jobs, weak sessions] session, ended in
            guard routes.isAway(session), sessions?.localSession(session) == nil else { return }
            guard let jobs, !jobs.localUnfinished().contains(where: { $0.ownerSessionID == session && $0.id != ended }) else { return }
            routes.forget(session)
        }
        idempotency = ClusterIdempotencyIndex(db: db)
        membership = ClusterMembership(db: db, settings: settings, incarnation: incarnation, jobs: jobs)
        retention = ClusterRetention(db: db)
    }

    /// Makes `configuration` a runtime of this node: its store and its tables.
    /// Call it once, after the rest of `configuration` is set (the retention and history
    /// limits are read from it).
    public func configure(_ configuration: inout ARCPRuntime.Configuration) {
        configuration.store = store
        configuration.nodeID = nodeID
        // A cursor given by one node is honoured by every node (a client may resume elsewhere).
        configuration.listCursorKey = listCursorKey
        jobs.setRetention(JobRetentionPolicy(configuration.retention))
        jobs.queue.configure(maxRunning: configuration.maxRunningJobs, jobs: jobs)
        retention.configure(configuration.retention)
        follows.configure(
            historyLimit: configuration.historyLimitPerJob, historyBytes: configuration.historyBytesPerJob,
            maxPerSession: settings.maxFollowedJobsPerSession)
        configuration.tables = RuntimeTables(
            sessions: sessions, jobs: jobs, idempotency: idempotency,
            fanOut: ClusterSubscriptionFanOut(
                inner: InMemorySubscriptionFanOut(
                    historyLimit: configuration.historyLimitPerJob, historyByteLimit: configuration.historyBytesPerJob),
                routes: routes, forwarder: forwarder, sessions: { [sessions] in sessions.localSession($0) }))
    }

    /// Starts serving `runtime` (made with a configuration `configure` prepared): this node
    /// listens for the other nodes (flush requests, moved sessions, forwarded events) and
    /// starts its forwarder.
    public func attach(_ runtime: ARCPRuntime) {
        drain.setFlush { [weak runtime] in await runtime?.flushStore() }
        listener.start(runtime, sessions: sessions, jobs: jobs)
        membership.watch(runtime)
        jobs.queue.start(runtime)
        retention.start()
        let forwarder = self.forwarder
        let task = Task { await forwarder.run() }
        forwarding.withLock { $0 = task }
    }

    /// Leaves the cluster (after the runtime shut down, ideally draining:
    /// `ARCPRuntime.shutdown(drainingFor:)` lets the running jobs finish while their clients
    /// resume on other nodes): flushes the forwarder, stops the heartbeats, marks the node
    /// `gone` (the other nodes end any job it left unfinished), closes the connections.
    public func leave() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.forwarder.flush() }
            group.addTask { try? await Task.sleep(for: .seconds(5)) }
            await group.next()
            group.cancelAll()
        }
        forwarding.withLock { $0 }?.cancel()
        follows.close()
        jobs.queue.stop()
        retention.stop()
        listener.stop()
        await membership.leave()
        db.close()
    }

    /// The nodes the database knows, and their state (`up`, `gone`, `lost`).
    public func nodes() async throws -> [(id: String, state: String)] {
        var out: [(id: String, state: String)] = []
        for try await (id, state) in try await db.client.query("SELECT node_id, state FROM arcp_node ORDER BY node_id", logger: db.logger)
            .decode((String, String).self)
        {
            out.append((id, state))
        }
        return out
    }
}

/// A node cannot join the cluster.
public struct PostgresClusterError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension String {
    /// Self preceded by zeros up to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
