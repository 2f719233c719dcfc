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
    }

    /// Jobs finished by all clients so far (the restarter paces itself on it).
    static let finished = Atomic<Int>(0)

    static let job: JSONValue = ["seconds": 1, "tick": 0.1]
    static let ticksPerJob = 10
    static let inFlight = 2

    static func nodeArgs() -> [String] { ["--drain-timeout-sec", "30"] }

    /// One client: keeps `inFlight` jobs running, moving to the next node in the pool when
    /// its node refuses a submit while shutting down, says goodbye, or drops the connection;
    /// resumes there after the last seq it saw. Stops submitting once `stop` is set and
    /// returns when its jobs ended.
    static func client(_ index: Int, pool: Pool, stop: Atomic<Bool>) async throws -> ClientRecord {
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
                    guard let env = reply.flatMap(Frames.decode) else {
                        await t.close()  // refused while starting or stopping: the next node
                        continue
                    }
                    guard case .sessionWelcome(let w) = env.message else {
                        record.failedResumes.append("\(env.message.type) on node \(candidate): \(reply ?? "")")
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
            if !stop.load(ordering: .relaxed) {
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
            do {
                text = try await within(.seconds(60), "client \(index): the next frame (outstanding \(outstanding))") {
                    try await current.receive()
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                text = nil
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
        let stop = Atomic<Bool>(false)
        let clients = 4
        let tasks = (0..<clients).map { i in Task { try await Self.client(i, pool: pool, stop: stop) } }

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
        stop.store(true, ordering: .relaxed)
        var records: [ClientRecord] = []
        for t in tasks { records.append(try await t.value) }

        #expect(exits == ["a": 0, "b": 0, "c": 0], "every node stopped cleanly after draining")
        var jobs: [String] = []
        for (i, r) in records.enumerated() {
            // No session lost: every resume was welcomed (a refusal only ever sent the client on).
            #expect(r.failedResumes.isEmpty, "client \(i): \(r.failedResumes)")
            // No event lost: the session's numbering has no gap and no repeat across its moves.
            #expect(r.seqBreaks.isEmpty, "client \(i): seq breaks (expected, got) \(r.seqBreaks)")
            #expect(r.strayEvents.isEmpty, "client \(i): events of jobs it never saw accepted: \(r.strayEvents.prefix(3))")
            for id in r.order {
                let t = r.jobs[id] ?? Track()
                // Each job: its ticks 1…10 in order, once each, then exactly one terminal frame,
                // its result.
                #expect(t.ticks == Array(1...Self.ticksPerJob), "client \(i) job \(id): ticks \(t.ticks)")
                #expect(t.terminals.count == 1, "client \(i) job \(id): \(t.terminals.count) terminal frames")
                if case .jobResult(let res)? = t.terminals.first?.message {
                    #expect(res.result == ["slept": 1.0], "client \(i) job \(id)")
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
