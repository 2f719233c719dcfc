import ARCP
import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// A node's LISTEN connection (`arcp_node_<id>`), and what nodes tell each other through it:
///
/// - `claimed:<session>`: another node resumed a session this node held; its jobs here
///   forward their events (`ClusterForwarding.swift`). `fwd:<session>` (on the broadcast
///   channel `arcp_cluster`): forwarded events wait for the node holding the session.
/// - `cancel:<job>:<base64 reason>`: `job.cancel` sent to the node holding the job's session.
/// - `ended:<session>:<job>:<trace>:<lost node>`: a lost node's job ended while this node
///   holds its session; this node delivers the `job.error` in the session's numbering.
/// - `watch:<job>` / `ev:<job>` (broadcast): a node follows the job for a subscriber
///   (`ClusterSubscriptions.swift`); events of the job were stored.
/// - `queued` (on the broadcast channel): a job waits in the cluster's queue
///   (`ClusterQueue.swift`); a node with a free slot claims it.
/// - `flush:<session>:<asker>:<request>` / `flushed:<session>:<request>`: before node B
/// restores a session that node A holds, B asks A to flush its store writes
/// (`flush:<session>:<B>:<request>`), so that B reads the session's whole log; A answers
/// `flushed:<session>:<request>` once its writer is drained. The answer is matched by the
/// request it answers: a late answer to an earlier request (one B gave up on) says nothing of
/// what A numbered since. B waits a bounded time: a lost or slow answer only narrows what B
/// reads (see `PostgresRuntimeStore.append`, where the holder's numbering wins).
///
/// The connection is its own (LISTEN needs one that the pool does not hand to others), and
/// is made again with backoff when it drops.
final class ClusterListener: Sendable {
    private struct State {
        weak var runtime: ARCPRuntime?
        var sessions: ClusterSessionTable?
        var jobs: ClusterJobTable?
        var waiters: [String: [(UInt64, CheckedContinuation<Bool, Never>)]] = [:]
        var nextWaiter: UInt64 = 0
        var task: Task<Void, Never>?
    }

    let db: PostgresDatabase
    let nodeID: String
    let routes: ClusterRoutes
    let drain: ClusterDrain
    let watches: ClusterWatches
    let follows: ClusterFollows
    private let state = RankedMutex(.leaf, State())
    var log: Logger { db.logger }

    init(db: PostgresDatabase, nodeID: String, routes: ClusterRoutes, drain: ClusterDrain, watches: ClusterWatches, follows: ClusterFollows) {
        self.db = db
        self.nodeID = nodeID
        self.routes = routes
        self.drain = drain
        self.watches = watches
        self.follows = follows
    }

    static func channel(_ node: String) -> String { "arcp_node_" + node }

    func start(_ runtime: ARCPRuntime, sessions: ClusterSessionTable, jobs: ClusterJobTable) {
        let task = Task { [weak self] in
            guard let self else { return }
            await self.run()
        }
        let previous = state.withLock { s in
            s.runtime = runtime
            s.sessions = sessions
            s.jobs = jobs
            defer { s.task = task }
            return s.task
        }
        previous?.cancel()
    }

    func stop() {
        let (task, waiters) = state.withLock { s in
            defer {
                s.task = nil
                s.waiters = [:]
                s.sessions = nil
                s.jobs = nil
            }
            return (s.task, s.waiters.values.flatMap { $0 })
        }
        task?.cancel()
        for (_, c) in waiters { c.resume(returning: false) }
    }

    private func run() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let connection = try await db.location.connect(logger: log)
                if failures > 0 { log.notice("cluster notifications reconnected") }
                failures = 0
                do {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for channel in [Self.channel(nodeID), ClusterForwarder.broadcast] {
                            group.addTask {
                                try await connection.listen(on: channel) { notifications in
                                    for try await n in notifications { self.handle(n.payload) }
                                }
                            }
                        }
                        // Notifications sent while this connection was down are lost: look
                        // for forwarded events of the sessions held here.
                        group.addTask {
                            try await Task.sleep(for: .milliseconds(100))
                            if let sessions = self.state.withLock({ $0.sessions }) {
                                for id in sessions.localSessionIDs { self.drain.request(id, sessions: sessions) }
                            }
                            self.follows.wakeAll()
                        }
                        try await group.next()
                        try await group.next()
                        group.cancelAll()
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                failures += 1
                let delay = Duration.milliseconds(min(5000, 100 << min(failures, 6)))
                log.warning("cluster notifications lost; reconnecting", metadata: ["retry_in": "\(delay)", "error": "\(describe(error))"])
                try? await Task.sleep(for: delay)
            }
        }
    }

    /// Acts on one notification (the LISTEN loop's; tests hand it payloads directly).
    func handle(_ payload: String) {
        let parts = payload.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "flush" where parts.count == 4:
            // Node `from` restores this session: from now on this node's jobs forward its
            // events (the routing waits for numberings in flight), then everything this node
            // numbered is stored before the answer. If `from` does not claim the session, this
            // node takes it back after a while (`ClusterSessionTable.takeBackLater`).
            let (session, from, request) = (parts[1], parts[2], parts[3])
            let (runtime, sessions) = state.withLock { ($0.runtime, $0.sessions) }
            Task {
                let generation = await routes.leave(session)
                await runtime?.flushStore()
                do {
                    try await db.client.query(
                        "SELECT pg_notify(\(Self.channel(from)), \(Self.flushed(session, request: request)))", logger: log)
                } catch {
                    log.warning("could not answer a flush request", metadata: ["session": "\(session)", "error": "\(describe(error))"])
                }
                await sessions?.takeBackLater(session, generation: generation)
            }
        case "ended" where parts.count == 5:
            // A lost node's job whose session this node holds: deliver its job.error here
            // (numbered in the session, stored, sent live when attached; forwarded if the
            // session is moving on).
            let (session, job, trace, lost) = (parts[1], parts[2], parts[3], parts[4])
            guard let sessions = state.withLock({ $0.sessions }), let s = sessions.localSession(session) else {
                log.warning("a lost node's job ended for a session this node no longer holds", metadata: ["job": "\(job)", "session": "\(session)"])
                return
            }
            sessions.deliver(
                ClusterMembership.lostJobError(node: lost), session: session, job: job, trace: trace, principal: s.principal, terminal: true)
        case "claimed" where parts.count == 2:
            // Another node resumed this session: its jobs here forward their events from now on.
            if let sessions = state.withLock({ $0.sessions }) {
                Task { await sessions.claimedElsewhere(parts[1]) }
            }
        case "cancel" where parts.count == 3:
            // job.cancel from the node holding the job's session: its terminal frame goes back
            // through the job's fan-out (forwarded).
            let reason = Data(base64Encoded: parts[2]).map { String(decoding: $0, as: UTF8.self) }
            guard let job = state.withLock({ $0.jobs })?.localJob(parts[1]) else { return }
            job.cancelTree(.cancelled(reason?.isEmpty == false ? reason : nil))
        case ClusterQueue.notification where parts.count == 1:
            // A job was queued: claim it if this node has a free slot.
            state.withLock({ $0.jobs })?.queue.wake()
        case "fwd" where parts.count == 2:
            if let sessions = state.withLock({ $0.sessions }), sessions.localSession(parts[1]) != nil {
                drain.request(parts[1], sessions: sessions)
            }
        case "watch" where parts.count == 2:
            // A node follows this job for a subscriber: hint it when its events are stored here.
            watches.note(parts[1])
        case "ev" where parts.count == 2:
            follows.wake(job: parts[1])
        case "flushed" where parts.count == 3:
            // The answer to request `parts[2]` only (`requestFlush`).
            guard let request = UInt64(parts[2]) else { return }
            take(request, session: parts[1])?.resume(returning: true)
        default:
            log.debug("unknown cluster notification", metadata: ["payload": "\(payload)"])
        }
    }

    /// The answer to flush request `request` of `session`.
    static func flushed(_ session: String, request: String) -> String { "flushed:\(session):\(request)" }

    /// The flush requests of `session` waiting for their answer.
    func flushRequestsWaiting(_ session: String) -> Int { state.withLock { $0.waiters[session]?.count ?? 0 } }

    /// Asks node `holder` to flush its writes and waits (at most `limit`) for its answer to
    /// this request. True when it answered.
    func requestFlush(session: String, holder: String, limit: Duration) async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let id = state.withLock { s in
                s.nextWaiter += 1
                s.waiters[session, default: []].append((s.nextWaiter, c))
                return s.nextWaiter
            }
            Task {
                do {
                    try await db.client.query(
                        "SELECT pg_notify(\(Self.channel(holder)), \("flush:\(session):\(nodeID):\(id)"))", logger: log)
                } catch {
                    log.warning("could not ask a node to flush", metadata: ["node_asked": "\(holder)", "error": "\(describe(error))"])
                    self.give(up: id, session: session)
                    return
                }
                try? await Task.sleep(for: limit)
                self.give(up: id, session: session)
            }
        }
    }

    private func give(up id: UInt64, session: String) {
        take(id, session: session)?.resume(returning: false)
    }

    /// Removes flush request `id` of `session` from the waiting ones; nil when it is not
    /// waiting (answered, or given up).
    private func take(_ id: UInt64, session: String) -> CheckedContinuation<Bool, Never>? {
        state.withLock { s in
            guard var list = s.waiters[session], let i = list.firstIndex(where: { $0.0 == id }) else { return nil }
            let c = list.remove(at: i).1
            s.waiters[session] = list.isEmpty ? nil : list
            return c
        }
    }
}

extension PostgresLocation {
    /// A connection of its own (for LISTEN), outside the pool.
    func connect(logger: Logger) async throws -> PostgresConnection {
        let tlsMode: PostgresConnection.Configuration.TLS =
            switch tls {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        let configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tlsMode)
        return try await PostgresConnection.connect(
            on: PostgresConnection.defaultEventLoopGroup.next(), configuration: configuration, id: Int.random(in: 1...Int.max), logger: logger
        ).get()
    }
}
