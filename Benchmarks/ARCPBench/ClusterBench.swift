import ARCP
import ARCPPostgres
import ARCPStore
import ARCPWebSocket
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `arcp-bench cluster`: a runtime cluster on PostgreSQL (docs/CLUSTER.md), on one machine.
///
/// - events/s and jobs/s through 1, 2 and 3 `arcp serve --postgres` nodes (child processes),
///   the client sessions spread evenly over the nodes: `flood` jobs (log events) all at
///   once, then `echo` jobs, a few in flight per session;
/// - the event-log append rate (`RuntimeStoreBenchmark`, batches of 256 ~300-byte frames)
///   into `PostgresRuntimeStore` against `SQLiteRuntimeStore`;
/// - resume on another node: a session moved between three nodes in turn, connect →
///   `session.welcome` (the holder's flush, the log read, the claim), p50/p99.
///
/// Every figure is the median (min–max) over `--reps` repetitions. Not a test: nothing is
/// asserted about time. `Scripts/bench-cluster.sh` starts a throwaway PostgreSQL and runs it.
enum ClusterBench: BenchCommand {
    static let name = "cluster"
    static let summary = "cluster on PostgreSQL: events/s and jobs/s through 1-3 nodes, append rate vs SQLite, resume on another node"

    static let help = """
        usage: arcp-bench cluster --postgres URL[,URL2,URL3,URL4] [options]

        URL: an empty database per phase (1, 2, 3 nodes, and the store phase), or one URL used
        for all (the nodes then share its rows across phases).

          --reps N            repetitions of each measurement (default 3)
          --events N          log events per repetition, over all sessions (default 60000)
          --jobs N            echo jobs per repetition, over all sessions (default 1500)
          --sessions-per-node N   client sessions per node (default 2)
          --in-flight N       echo jobs in flight per session (default 4)
          --append-events N   events per append repetition (default 50000)
          --resumes N         resumes per repetition (default 200)
          --nodes LIST        node counts to measure (default 1,2,3)
          --arcp PATH         the arcp binary (default: beside arcp-bench)
          --json PATH         also write every figure and sample as JSON
        """

    static func run(arguments: [String]) async throws {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(help)
            return
        }
        let a = try BenchArguments(
            arguments,
            valueFlags: [
                "--postgres", "--reps", "--events", "--jobs", "--sessions-per-node", "--in-flight", "--append-events", "--resumes",
                "--nodes", "--arcp", "--json",
            ],
            switchFlags: [])
        guard let urls = a.string("--postgres")?.split(separator: ",").map(String.init), !urls.isEmpty else {
            throw BenchError("--postgres URL is required (Scripts/bench-cluster.sh starts a throwaway PostgreSQL)")
        }
        func url(_ i: Int) -> String { urls[min(i, urls.count - 1)] }
        let reps = try a.int("--reps", default: 3)
        let events = try a.int("--events", default: 60_000)
        let jobs = try a.int("--jobs", default: 1_500)
        let perNode = try a.int("--sessions-per-node", default: 2)
        let inFlight = try a.int("--in-flight", default: 4)
        let appendEvents = try a.int("--append-events", default: 50_000)
        let resumes = try a.int("--resumes", default: 200)
        let counts = try (a.string("--nodes") ?? "1,2,3").split(separator: ",").map { part -> Int in
            guard let v = Int(part), (1...3).contains(v) else { throw BenchError("--nodes takes 1, 2 or 3, e.g. 1,2,3") }
            return v
        }
        let arcp = try WebSocketBench.locateSibling("arcp", explicit: a.string("--arcp"), product: "arcp")
        let logDir = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-bench-cluster-\(getpid())")
        try FileManager.default.createDirectory(at: logDir, withIntermediateDirectories: true)

        var report: [String: Any] = ["machine": Machine.description, "reps": reps]
        print("arcp-bench cluster: \(reps) repetitions, median (min–max); load average \(Machine.loadavg().map { String(format: "%.2f", $0) } ?? "?") at start")
        print("")
        print("| Nodes | Sessions | Events/s (\(Format.grouped(Double(events))) log events) | Jobs/s (\(Format.grouped(Double(jobs))) echo jobs, \(inFlight) in flight per session) |")
        print("|---|---|---|---|")
        var throughput: [[String: Any]] = []
        var cluster3: [RuntimeChild] = []
        for n in counts {
            let db = url(n - 1)
            var nodes: [RuntimeChild] = []
            for i in 0..<n {
                nodes.append(
                    try await RuntimeChild.start(
                        .arcpServe(arcp), log: logDir.appendingPathComponent("n\(n)-node\(i).log"),
                        extraArguments: ["--postgres", db, "--node-id", "bench-\(n)-\(i)", "--max-running-jobs-per-session", "100000"]))
            }
            let sessions = n * perNode
            var eventRates: [Double] = []
            var jobRates: [Double] = []
            for _ in 0..<reps {
                eventRates.append(try await floodRate(nodes.map(\.url), sessions: sessions, events: events))
                jobRates.append(try await echoRate(nodes.map(\.url), sessions: sessions, jobs: jobs, inFlight: inFlight))
            }
            let e = Summary(eventRates), j = Summary(jobRates)
            print("| \(n) | \(sessions) | \(Format.grouped(e.median)) (\(Format.grouped(e.min))–\(Format.grouped(e.max))) | \(Format.grouped(j.median)) (\(Format.grouped(j.min))–\(Format.grouped(j.max))) |")
            throughput.append(["nodes": n, "sessions": sessions, "events_per_sec": e.json, "jobs_per_sec": j.json])
            if n == 3 { cluster3 = nodes } else { for node in nodes { _ = await node.stop() } }
        }
        report["throughput"] = throughput

        // Resume on another node (three nodes; two when fewer were started).
        var resumeNodes = cluster3
        if resumeNodes.isEmpty {
            for i in 0..<2 {
                resumeNodes.append(
                    try await RuntimeChild.start(
                        .arcpServe(arcp), log: logDir.appendingPathComponent("resume-node\(i).log"),
                        extraArguments: ["--postgres", url(2), "--node-id", "bench-r-\(i)"]))
            }
        }
        var p50s: [Double] = [], p99s: [Double] = [], same: [Double] = []
        for _ in 0..<reps {
            let (moved, stayed) = try await resumeLatencies(resumeNodes.map(\.url), count: resumes)
            p50s.append(percentile(moved, 0.50))
            p99s.append(percentile(moved, 0.99))
            same.append(percentile(stayed, 0.50))
        }
        for node in resumeNodes { _ = await node.stop() }
        let r50 = Summary(p50s), r99 = Summary(p99s), s50 = Summary(same)
        print("")
        print("Resume on another node (\(resumeNodes.count) nodes, \(resumes) resumes a repetition, connect → session.welcome):")
        print("  p50 \(ms(r50.median)) ms (\(ms(r50.min))–\(ms(r50.max))), p99 \(ms(r99.median)) ms (\(ms(r99.min))–\(ms(r99.max))); same node p50 \(ms(s50.median)) ms (\(ms(s50.min))–\(ms(s50.max)))")
        report["resume_other_node_ms"] = ["p50": r50.json, "p99": r99.json]
        report["resume_same_node_p50_ms"] = s50.json

        // The event log's append rate: PostgreSQL against SQLite.
        var quiet = Logger(label: "arcp.postgres")
        quiet.logLevel = .warning
        let store = try await PostgresRuntimeStore.connect(url: url(3), connectTimeout: .seconds(30), logger: quiet)
        var pgRates: [Double] = [], sqliteRates: [Double] = [], pgReplay: [Double] = [], sqliteReplay: [Double] = []
        for rep in 0..<reps {
            let pg = try await RuntimeStoreBenchmark.run(
                store: store, events: appendEvents, sessionID: "sess_bench_pg_\(rep)_\(UInt32.random(in: 0...UInt32.max))")
            pgRates.append(pg.appendPerSecond)
            pgReplay.append(pg.replayPerSecond)
            let path = logDir.appendingPathComponent("append-\(rep).sqlite").path
            let sqlite = try SQLiteRuntimeStore(path: path)
            let s = try await RuntimeStoreBenchmark.run(store: sqlite, events: appendEvents)
            try? sqlite.close()
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            sqliteRates.append(s.appendPerSecond)
            sqliteReplay.append(s.replayPerSecond)
        }
        store.close()
        let pa = Summary(pgRates), sa = Summary(sqliteRates), pr = Summary(pgReplay), sr = Summary(sqliteReplay)
        print("")
        print("| Event log (\(Format.grouped(Double(appendEvents))) events, batches of 256) | Append events/s | Replay events/s (pages of 1,000) |")
        print("|---|---|---|")
        print("| PostgresRuntimeStore | \(Format.grouped(pa.median)) (\(Format.grouped(pa.min))–\(Format.grouped(pa.max))) | \(Format.grouped(pr.median)) (\(Format.grouped(pr.min))–\(Format.grouped(pr.max))) |")
        print("| SQLiteRuntimeStore (WAL, synchronous=NORMAL) | \(Format.grouped(sa.median)) (\(Format.grouped(sa.min))–\(Format.grouped(sa.max))) | \(Format.grouped(sr.median)) (\(Format.grouped(sr.min))–\(Format.grouped(sr.max))) |")
        print("")
        print("load average \(Machine.loadavg().map { String(format: "%.2f", $0) } ?? "?") at the end")
        report["append_per_sec"] = ["postgres": pa.json, "sqlite": sa.json]
        report["replay_per_sec"] = ["postgres": pr.json, "sqlite": sr.json]
        try? FileManager.default.removeItem(at: logDir)
        if let path = a.string("--json") {
            let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: path))
        }
    }

    static func ms(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1000) }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return 0 }
        return s[min(s.count - 1, Int(Double(s.count) * p))]
    }

    // MARK: Sessions

    /// An open session on one node.
    struct Session {
        var transport: WebSocketTransport
        var id: String
        var token: String
        var lastSeq = 0
    }

    static let token = "tok"

    static func hello(resume: Session? = nil) -> String {
        FrameCodec.encode(
            Envelope.make(
                .sessionHello(
                    SessionHelloPayload(
                        client: PeerInfo(name: "arcp-bench", version: "1"), auth: Auth(scheme: "bearer", token: token),
                        capabilities: HelloCapabilities(encodings: ["json"], features: [.listJobs]),
                        resume: resume.map { ResumeBlock(sessionId: $0.id, resumeToken: $0.token, lastEventSeq: $0.lastSeq) }))))
    }

    static func open(_ url: String) async throws -> Session {
        let t = try await WebSocketTransport.connect(to: url)
        try await t.send(hello())
        guard let text = try await t.receive(), case .success(let env) = FrameCodec.decode(text, validate: false),
            case .sessionWelcome(let w) = env.message, let id = env.sessionId ?? w.sessionId
        else { throw BenchError("no session.welcome from \(url)") }
        return Session(transport: t, id: id, token: w.resumeToken)
    }

    static func submit(_ agent: String, _ input: JSONValue, session: String) -> String {
        FrameCodec.encode(Envelope.make(.jobSubmit(JobSubmitPayload(agent: agent, input: input)), sessionID: session))
    }

    /// The frame's type, read without decoding it (the client must not be the bottleneck).
    static func isTerminal(_ text: String) -> Bool {
        text.contains(#""type":"job.result""#) || text.contains(#""type":"job.error""#) || text.contains(#""type":"session.error""#)
    }

    static func isError(_ text: String) -> Bool {
        text.contains(#""type":"job.error""#) || text.contains(#""type":"session.error""#)
    }

    /// Opens `sessions` sessions, round robin over `urls`.
    static func openAll(_ urls: [String], sessions: Int) async throws -> [Session] {
        var out: [Session] = []
        for i in 0..<sessions { out.append(try await open(urls[i % urls.count])) }
        return out
    }

    /// Log events per second: every session runs one `flood` job at once; from the first
    /// submit to the last `job.result`.
    static func floodRate(_ urls: [String], sessions: Int, events: Int) async throws -> Double {
        let all = try await openAll(urls, sessions: sessions)
        let each = max(1, events / sessions)
        let clock = ContinuousClock()
        let start = clock.now
        let received = try await withThrowingTaskGroup(of: Int.self) { group in
            for s in all {
                group.addTask {
                    try await s.transport.send(submit("flood", ["n": .int(Int64(each))], session: s.id))
                    var n = 0
                    while let text = try await s.transport.receive() {
                        if text.contains(#""type":"job.event""#) {
                            n += 1
                        } else if isTerminal(text) {
                            if isError(text) { throw BenchError("flood failed: \(text)") }
                            return n
                        }
                    }
                    throw BenchError("a node closed the connection during flood")
                }
            }
            return try await group.reduce(0, +)
        }
        let seconds = (clock.now - start).seconds
        for s in all { await s.transport.close() }
        guard received >= each * sessions else { throw BenchError("flood: \(received) of \(each * sessions) events arrived") }
        return Double(received) / seconds
    }

    /// Echo jobs per second: every session keeps `inFlight` jobs submitted until it ran its
    /// share; from the first submit to the last `job.result`.
    static func echoRate(_ urls: [String], sessions: Int, jobs: Int, inFlight: Int) async throws -> Double {
        let all = try await openAll(urls, sessions: sessions)
        let each = max(1, jobs / sessions)
        let clock = ContinuousClock()
        let start = clock.now
        let done = try await withThrowingTaskGroup(of: Int.self) { group in
            for s in all {
                group.addTask {
                    var sent = 0
                    var finished = 0
                    while sent < min(inFlight, each) {
                        try await s.transport.send(submit("echo", .int(Int64(sent)), session: s.id))
                        sent += 1
                    }
                    while finished < each, let text = try await s.transport.receive() {
                        guard isTerminal(text) else { continue }
                        if isError(text) { throw BenchError("echo failed: \(text)") }
                        finished += 1
                        if sent < each {
                            try await s.transport.send(submit("echo", .int(Int64(sent)), session: s.id))
                            sent += 1
                        }
                    }
                    return finished
                }
            }
            return try await group.reduce(0, +)
        }
        let seconds = (clock.now - start).seconds
        for s in all { await s.transport.close() }
        guard done == each * sessions else { throw BenchError("echo: \(done) of \(each * sessions) jobs ended") }
        return Double(done) / seconds
    }

    /// One session, a job's events in its log, then `count` resumes moving it to the next
    /// node each time, and as many on the node that holds it: connect → `session.welcome`.
    static func resumeLatencies(_ urls: [String], count: Int) async throws -> (moved: [Double], stayed: [Double]) {
        var s = try await open(urls[0])
        try await s.transport.send(submit("echo", "warm", session: s.id))
        while let text = try await s.transport.receive() {
            if case .success(let env) = FrameCodec.decode(text, validate: false), let seq = env.eventSeq { s.lastSeq = max(s.lastSeq, seq) }
            if isTerminal(text) { break }
        }
        let clock = ContinuousClock()
        var moved: [Double] = []
        var stayed: [Double] = []
        var node = 0
        for i in 0..<(2 * count) {
            let move = i % 2 == 0
            if move { node = (node + 1) % urls.count }
            await s.transport.close()
            let start = clock.now
            let t = try await WebSocketTransport.connect(to: urls[node])
            try await t.send(hello(resume: s))
            guard let text = try await t.receive(), case .success(let env) = FrameCodec.decode(text, validate: false),
                case .sessionWelcome(let w) = env.message
            else { throw BenchError("resume \(i) on node \(node) was not welcomed") }
            let took = (clock.now - start).seconds
            if move { moved.append(took) } else { stayed.append(took) }
            s.transport = t
            s.token = w.resumeToken
        }
        await s.transport.close()
        return (moved, stayed)
    }
}
