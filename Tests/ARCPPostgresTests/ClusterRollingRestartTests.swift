import ARCP
@testable import ARCPPostgres
import ARCPTestSupport
import ARCPWebSocket
import Foundation
import PostgresNIO
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A rolling restart of a three-node cluster under continuous load (issue 12; docs/CLUSTER.md
/// "Rolling restart"): each node in turn is stopped with SIGTERM (it drains: refuses new
/// connections and `job.submit`, lets its running jobs finish, says goodbye) and started
/// again under the same `--node-id`, while clients keep submitting jobs that stream events
/// and move to another node whenever theirs refuses them or drops them.
@Suite(
    "Cluster: rolling restart under load", .enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)),
    .timeLimit(.minutes(5)))
struct ClusterRollingRestartTests {
    /// The nodes' current addresses (nil while a node is down), as a load balancer sees them.
    final class Pool: Sendable {
        let urls: Mutex<[String?]>
        /// Set when the clients should stop submitting.
        let stop = Atomic<Bool>(false)
        init(_ urls: [String]) { self.urls = Mutex(urls) }
        func url(_ i: Int) -> String? { urls.withLock { $0[i] } }
        func set(_ i: Int, _ url: String?) { urls.withLock { $0[i] = url } }
        var count: Int { urls.withLock { $0.count } }
    }

    /// What one job looked like from its client.
    struct Track: Sendable {
        var ticks: [Int] = []
        var terminals: [Envelope] = []
    }

    /// What one client saw, checked at the end.
    struct ClientRecord: Sendable {
        var jobs: [String: Track] = [:]
        var order: [String] = []
        /// Breaks of the session's numbering: (expected, got).
        var seqBreaks: [(Int, Int)] = []
        var resumes = 0
        var refusals = 0
        var byes = 0
        var failedResumes: [String] = []
        var strayEvents: [String] = []
        /// Jobs whose end never came (the client gave up after 60 s without a frame).
        var stuck: [String] = []
        var sessionID = ""
        var lastSeq = 0
    }

    enum Received: Sendable {
        case frame(String)
        case closed
        case timedOut
    }

    /// The next frame, the end of the connection, or nothing within `limit`.
    static func receive(_ t: WebSocketTransport, within limit: Duration) async -> Received {
        await withTaskGroup(of: Received.self) { group in
            group.addTask { (try? await t.receive()).flatMap { $0.map(Received.frame) } ?? .closed }
            group.addTask {
                try? await Task.sleep(for: limit)
                return .timedOut
            }
            defer { group.cancelAll() }
            return await group.next() ?? .closed
        }
    }

    /// Jobs finished by all clients so far (the restarter paces itself on it).
    static let finished = Atomic<Int>(0)

    static let job: JSONValue = ["seconds": 1.25, "tick": 0.125]  // exact in binary: ten ticks
    static let ticksPerJob = 10
    static let inFlight = 2

    static func nodeArgs() -> [String] { ["--drain-timeout-sec", "30"] }

    /// One client: keeps `inFlight` jobs running, moving to the next node in the pool when
    /// its node refuses a submit while shutting down, says goodbye, or drops the connection;
    /// resumes there after the last seq it saw. Stops submitting once `stop` is set and
    /// returns when its jobs ended.
    static func client(_ index: Int, pool: Pool) async throws -> ClientRecord {
        var record = ClientRecord()
        var node = index % pool.count
        let firstURL = try #require(pool.url(node))
        var transport = try await WebSocketTransport.connect(to: firstURL)
        try await transport.send(Frames.hello())
        guard let first = try await transport.receive().flatMap(Frames.decode), case .sessionWelcome(let w) = first.message,
            let sessionID = first.sessionId
        else {
            Issue.record("client \(index): no session.welcome")
            throw CancellationError()
        }
        var token = w.resumeToken
        var lastSeq = 0
        var outstanding: Set<String> = []
        var awaitingAccept = 0

        /// Resumes the session on the next node that takes it.
        func move() async throws {
            await transport.close()
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline {
                for step in 1...pool.count {
                    let candidate = (node + step) % pool.count
                    guard let url = pool.url(candidate), let t = try? await WebSocketTransport.connect(to: url) else { continue }
                    let hello = FrameCodec.encode(
                        Envelope.make(
                            .sessionHello(
                                SessionHelloPayload(
                                    auth: Auth(scheme: "bearer", token: "tok"),
                                    capabilities: HelloCapabilities(encodings: ["json"], features: [.listJobs, .subscribe, .progress]),
                                    resume: ResumeBlock(sessionId: sessionID, resumeToken: token, lastEventSeq: lastSeq)))))
                    guard (try? await t.send(hello)) != nil,
                        let reply = try? await within(.seconds(60), "client \(index): the resume's answer", { try await t.receive() })
                    else {
                        await t.close()
                        continue
                    }
                    guard let env = Frames.decode(reply) else {
                        await t.close()  // refused while starting or stopping: the next node
                        continue
                    }
                    guard case .sessionWelcome(let w) = env.message else {
                        record.failedResumes.append("\(env.message.type) on node \(candidate): \(reply)")
                        await t.close()
                        continue
                    }
                    token = w.resumeToken
                    transport = t
                    node = candidate
                    record.resumes += 1
                    return
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("client \(index): no node took the resume within 90 s: \(record.failedResumes)")
            throw CancellationError()
        }

        while true {
            if !pool.stop.load(ordering: .relaxed) {
                while outstanding.count + awaitingAccept < inFlight {
                    guard (try? await transport.send(Frames.submit("slow", job, session: sessionID))) != nil else { break }
                    awaitingAccept += 1
                }
            } else if outstanding.isEmpty && awaitingAccept == 0 {
                await transport.close()
                return record
            }
            let current = transport
            let text: String?
            switch await Self.receive(current, within: .seconds(60)) {
            case .frame(let t): text = t
            case .closed: text = nil
            case .timedOut:
                // A job that never ends for its client: reported with what the database says.
                record.stuck = outstanding.sorted()
                record.sessionID = sessionID
                record.lastSeq = lastSeq
                await transport.close()
                return record
            }
            guard let text else {
                // Dropped: what was not answered was not accepted (a node answers every submit
                // it reads until it says goodbye, refusing them once it drains).
                awaitingAccept = 0
                try await move()
                continue
            }
            guard let env = Frames.decode(text) else { continue }
            if let seq = env.eventSeq {
                if seq != lastSeq + 1 { record.seqBreaks.append((lastSeq + 1, seq)) }
                lastSeq = max(lastSeq, seq)
            }
            switch env.message {
            case .jobAccepted(let a):
                awaitingAccept = max(0, awaitingAccept - 1)
                outstanding.insert(a.jobId)
                record.jobs[a.jobId] = Track()
                record.order.append(a.jobId)
            case .sessionError(let e) where e.details?["reason"]?.stringValue == "shutting_down":
                // The node drains: submit on another one.
                #expect(e.retryable == true && e.code == .internalError)
                // Frames are answered in order: the submits after this one were refused too.
                record.refusals += 1
                awaitingAccept = 0
                try await move()
            case .sessionError:
                record.strayEvents.append(text)
            case .sessionBye:
                record.byes += 1
                awaitingAccept = 0
                try await move()
            case .jobEvent(let p):
                guard let id = env.jobId, record.jobs[id] != nil else {
                    record.strayEvents.append(text)
                    continue
                }
                if case .log(let l) = p.body, l.message.hasPrefix("tick "), let n = Int(l.message.dropFirst(5)) {
                    record.jobs[id]?.ticks.append(n)
                }
            case .jobResult, .jobError:
                guard let id = env.jobId, record.jobs[id] != nil else {
                    record.strayEvents.append(text)
                    continue
                }
                record.jobs[id]?.terminals.append(env)
                if outstanding.remove(id) != nil { _ = finished.add(1, ordering: .relaxed) }
            default:
                break
            }
        }
    }

    static func waitFinished(beyond n: Int, within limit: Duration, _ what: String) async throws {
        let deadline = ContinuousClock.now + limit
        while finished.load(ordering: .relaxed) < n {
            guard ContinuousClock.now < deadline else {
                Issue.record("\(what): only \(finished.load(ordering: .relaxed)) jobs finished, waiting for \(n)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test func aRollingRestartOfEveryNodeUnderLoadLosesNoSessionAndNoEvent() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "rolling")
        let ids = ["a", "b", "c"]
        var nodes: [ClusterTests.Node] = []
        for id in ids { nodes.append(try await ClusterTests.startNode(db, id, extra: Self.nodeArgs())) }
        let pool = Pool(nodes.map(\.url))
        let clients = 4
        let tasks = (0..<clients).map { i in Task { try await Self.client(i, pool: pool) } }

        // Load first, then each node in turn: SIGTERM, its exit (it drained), a new process
        // under the same id, and more jobs finished before the next.
        try await Self.waitFinished(beyond: clients * 2, within: .seconds(90), "warm-up")
        var exits: [String: Int32] = [:]
        for (i, id) in ids.enumerated() {
            nodes[i].process.signal(SIGTERM)
            exits[id] = await nodes[i].process.wait(timeout: .seconds(60))
            pool.set(i, nil)
            nodes[i] = try await ClusterTests.startNode(db, id, extra: Self.nodeArgs())
            pool.set(i, nodes[i].url)
            try await Self.waitFinished(
                beyond: Self.finished.load(ordering: .relaxed) + clients, within: .seconds(90), "after restarting \(id)")
        }
        pool.stop.store(true, ordering: .relaxed)
        var records: [ClientRecord] = []
        for t in tasks { records.append(try await t.value) }

        #expect(exits == ["a": 0, "b": 0, "c": 0], "every node stopped cleanly after draining")
        var jobs: [String] = []
        for (i, r) in records.enumerated() {
            // No session lost: every resume was welcomed (a refusal only ever sent the client on).
            #expect(r.failedResumes.isEmpty, "client \(i): \(r.failedResumes)")
            // No event lost: the session's numbering has no gap and no repeat across its moves.
            #expect(r.seqBreaks.isEmpty, "client \(i): seq breaks (expected, got) \(r.seqBreaks)")
            for id in r.stuck {
                Issue.record(
                    "client \(i) job \(id) never ended for its client (ticks seen \(r.jobs[id]?.ticks ?? []), last seq \(r.lastSeq)); database: \(try await Self.diagnose(id, session: r.sessionID, db: db))")
            }
            #expect(r.strayEvents.isEmpty, "client \(i): events of jobs it never saw accepted: \(r.strayEvents.prefix(3))")
            for id in r.order {
                let t = r.jobs[id] ?? Track()
                // Each job: its ticks 1…10 in order, once each, then exactly one terminal frame,
                // its result.
                #expect(t.ticks == Array(1...Self.ticksPerJob), "client \(i) job \(id): ticks \(t.ticks)")
                #expect(t.terminals.count == 1, "client \(i) job \(id): \(t.terminals.count) terminal frames")
                if case .jobResult(let res)? = t.terminals.first?.message {
                    #expect(res.result == ["slept": 1.25], "client \(i) job \(id)")
                } else {
                    Issue.record("client \(i) job \(id) did not end with its job.result: \(t.terminals.map(\.message))")
                }
                jobs.append(id)
            }
        }
        // Every node's stop moved clients: some were refused or said goodbye, and resumed.
        #expect(records.map(\.resumes).reduce(0, +) >= ids.count, "\(records.map(\.resumes))")
        // The database agrees: every job succeeded, every node is up again.
        let store = try await PostgresRuntimeStore.connect(url: db, connectTimeout: .seconds(60))
        var statuses: [String: Int] = [:]
        for try await (status, n) in try await store.db.client.query(
            "SELECT status, count(*)::int8 FROM arcp_job WHERE job_id = ANY(\(jobs)) GROUP BY status", logger: store.logger
        ).decode((String, Int64).self) {
            statuses[status] = Int(n)
        }
        store.close()
        #expect(statuses == ["success": jobs.count], "\(statuses)")
        let states = try await Self.nodeStates(db)
        #expect(states == ["a": "up", "b": "up", "c": "up"], "\(states)")
        for n in nodes { #expect(await n.stop() == 0, "node \(n.id): \(n.process.stderr.suffix(2000))") }
    }

    @Test func aDrainingNodeRefusesNewJobsLetsRunningOnesFinishAndEndsWhatOutlastsItsBound() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "drain")
        let a = try await ClusterTests.startNode(db, "a", extra: ["--drain-timeout-sec", "4"])
        let s = try await ClusterTests.open(a)
        try await s.transport.send(Frames.submit("slow", ["seconds": 2, "tick": 0.25], session: s.id))
        try await s.transport.send(Frames.submit("slow", ["seconds": 120, "tick": 0.25], session: s.id))
        var frames: [Envelope] = []
        while ClusterTests.acceptedIDs(frames).count < 2 {
            frames += try await ClusterTests.read(s.transport) { if case .jobAccepted = $0.message { true } else { false } }
        }
        let (short, long) = (ClusterTests.acceptedIDs(frames)[0], ClusterTests.acceptedIDs(frames)[1])
        frames += try await ClusterTests.read(s.transport) { $0.jobId == long && ClusterTests.ticks([$0]) == [1] }
        a.process.signal(SIGTERM)
        // Draining: a new submit is refused (retryable, naming the node); new connections are not taken.
        try await Task.sleep(for: .milliseconds(300))
        try await s.transport.send(Frames.submit("echo", 1, session: s.id))
        let refused = try await ClusterTests.read(s.transport) { if case .sessionError = $0.message { true } else { false } }
        guard case .sessionError(let e)? = refused.last?.message else { throw CancellationError() }
        #expect(e.code == .internalError && e.retryable == true, "\(e)")
        #expect(e.details?["reason"]?.stringValue == "shutting_down" && e.details?["node"]?.stringValue == "a", "\(e)")
        await #expect(throws: (any Error).self) { _ = try await WebSocketTransport.connect(to: a.url) }
        // The running jobs go on: the short one finishes, the long one outlasts the 4 s bound and
        // ends with the retryable job.error naming the node; then the goodbye.
        let rest = try await ClusterTests.read(s.transport, limit: .seconds(60)) { $0.message.type == "session.bye" }
        let all = frames + refused + rest
        guard case .jobResult? = all.last(where: { $0.jobId == short && ClusterTests.isTerminal($0) })?.message else {
            Issue.record("the short job did not finish: \(all.filter { $0.jobId == short }.map(\.message.type))")
            throw CancellationError()
        }
        #expect(ClusterTests.ticks(all.filter { $0.jobId == short }) == Array(1...8))
        guard case .jobError(let end)? = all.last(where: { $0.jobId == long && ClusterTests.isTerminal($0) })?.message else {
            Issue.record("the long job did not end with job.error: \(all.filter { $0.jobId == long }.map(\.message.type))")
            throw CancellationError()
        }
        #expect(end.code == .internalError && end.retryable == true, "\(end)")
        #expect(end.details?["reason"]?.stringValue == "drain_timeout" && end.details?["node"]?.stringValue == "a", "\(end)")
        #expect(end.message.contains("node a"), "\(end.message)")
        #expect(await a.process.wait(timeout: .seconds(30)) == 0, "\(a.process.stderr.suffix(2000))")
        await s.transport.close()
        #expect(try await Self.nodeStates(db) == ["a": "gone"])
    }

    /// What the database holds of job `id`: its row and its events in its session's log.
    static func diagnose(_ id: String, session: String, db: String) async throws -> String {
        let store = try await PostgresRuntimeStore.connect(url: db, connectTimeout: .seconds(60))
        defer { store.close() }
        var out = ""
        for try await (status, node, last) in try await store.db.client.query(
            "SELECT status, COALESCE(node_id, '-'), last_event_seq FROM arcp_job WHERE job_id = \(id)", logger: store.logger
        ).decode((String, String, Int64).self) {
            out += "row \(status) on \(node), last_event_seq \(last); "
        }
        var seqs: [Int64] = []
        for try await seq in try await store.db.client.query(
            "SELECT seq FROM arcp_event WHERE session_id = \(session) AND job_id = \(id) ORDER BY seq", logger: store.logger
        ).decode(Int64.self) {
            seqs.append(seq)
        }
        let sessionRow = try await store.db.client.query(
            "SELECT COALESCE(node_id, '-') || ' last_seq ' || last_seq::text FROM arcp_session WHERE session_id = \(session)", logger: store.logger
        ).collect().first?.decode(String.self) ?? "none"
        let forwards = try await store.db.client.query(
            "SELECT count(*)::int8 FROM arcp_forward WHERE session_id = \(session)", logger: store.logger
        ).collect().first?.decode(Int64.self) ?? -1
        return out + "its events in the log: seqs \(seqs); session held by \(sessionRow); forwards waiting \(forwards)"
    }

    static func nodeStates(_ db: String) async throws -> [String: String] {
        let store = try await PostgresRuntimeStore.connect(url: db, connectTimeout: .seconds(60))
        defer { store.close() }
        var out: [String: String] = [:]
        for try await (id, state) in try await store.db.client.query("SELECT node_id, state FROM arcp_node", logger: store.logger)
            .decode((String, String).self)
        {
            out[id] = state
        }
        return out
    }
}
