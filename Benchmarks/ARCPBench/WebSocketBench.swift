import ARCP
import ARCPWebSocket
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `arcp-bench ws`: runtime and client in separate processes over loopback WebSocket, measured
/// the way the Python reference's `bench.py` measures its own (stream-ws, latency, concurrency;
/// ../shared/reference/python-1.1.3/bench/RESULTS.md, "Method notes"):
///
/// - the runtime is the built `arcp serve` (demo agents, heartbeat 30 s, resume window 600 s,
///   in-memory event log), a fresh child process per repetition on 127.0.0.1, port 0;
/// - the client is this process: `ARCPClient` over `WebSocketTransport.connect`;
/// - stream: after a 200-event warm-up job on the same session, one `flood` job of N `log`
///   events; window = submit → `job.result`; events/s = N / window; the count is asserted;
/// - latency: after 100 warm-up jobs, `--jobs` sequential `echo` jobs on one session
///   (submit → result, result checked); p50/p99 nearest-rank; jobs/s = jobs / loop time;
/// - concurrency: after one warm-up session, S sessions connect (+hello) all at once, then S
///   echo jobs at once (all sessions open), then S closes; runtime peak RSS = VmHWM of the
///   runtime process read after the close phase.
/// - concurrent echo: C sessions (default 50) connected first, then each runs J sequential
///   `echo` jobs (default 200) at the same time; jobs/s = C×J / wall time (start → last result),
///   p50/p99 over every job.
/// - the client's own code (each measurement's loops) runs where its connection's frames arrive
///   (`withTaskExecutorPreference(client.connectionExecutor)`: the socket's event loop), as the
///   Python client runs on one event loop; `--caller pool` runs it on the cooperative pool
///   instead, the default of code that does not ask (docs/BENCHMARKS.md, session 17);
/// - frame sizes: one calibration session (not timed) records the frames of one echo job and of
///   a 10-event flood job, so that `arcp-bench ws-floor` can send the same sizes.
///
/// CPU per operation: runtime from `/proc/PID/stat` (utime+stime, clock ticks), client from
/// `getrusage(RUSAGE_SELF)`, over each timed window.
enum WebSocketBench: BenchCommand {
    static let name = "ws"
    static let summary = "loopback WebSocket, `arcp serve` as a child process: events/s, echo p50/p99, S sessions + runtime RSS"

    static let help = """
        usage: arcp-bench ws [--reps N] [--conc-reps N] [--n N] [--jobs N] [--sessions S[,S…]]
                             [--echo-sessions C] [--echo-jobs J] [--json OUT] [--arcp PATH]
                             [--runtime arcp|hummingbird] [--host-hummingbird PATH]
                             [--only stream,latency,concurrent,concurrency] [--caller connection|pool] [--agents-on-pool]

          --reps N        repetitions of stream and latency, a fresh runtime process each (default 3)
          --conc-reps N   repetitions of each concurrency level (default 2)
          --n N           log events in the stream job (default 20000, as bench.py)
          --jobs N        sequential echo jobs in the latency loop (default 2000, as bench.py)
          --sessions S    concurrent sessions, or a comma list of levels (default 1000)
          --echo-sessions C  sessions of the concurrent echo measurement (default 50)
          --echo-jobs J   sequential echo jobs in each of them (default 200)
          --json OUT      also write every number (with its unit) and the raw samples to OUT
          --arcp PATH     the `arcp` executable (default: next to this arcp-bench)
          --runtime R     the runtime process: arcp (`arcp serve`, ARCPWebSocket's server, default)
                          or hummingbird (`arcp-host-hummingbird`: the same runtime behind
                          Hummingbird's WebSocket stack, WSCore)
          --host-hummingbird PATH  that executable (default: next to this arcp-bench)
          --only LIST     run only these measurements (comma list of stream, latency, concurrent, concurrency)
          --caller WHERE  where the client's own loops run: connection (the connection's event loop,
                          ARCPClient.connectionExecutor; default) or pool (the cooperative pool)
          --agents-on-pool  `arcp serve --agents-on-pool`: echo jobs start on the runtime's cooperative
                          pool instead of immediately on the connection's event loop

        Figures are median (min–max) over the repetitions. Linux: RSS and runtime CPU come from /proc.
        """

    static func run(arguments: [String]) async throws {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(help)
            return
        }
        let a = try BenchArguments(
            arguments,
            valueFlags: [
                "--reps", "--conc-reps", "--n", "--jobs", "--sessions", "--json", "--arcp", "--only",
                "--echo-sessions", "--echo-jobs", "--runtime", "--host-hummingbird", "--caller",
            ],
            switchFlags: ["--agents-on-pool"])
        let reps = try a.int("--reps", default: 3)
        let concReps = try a.int("--conc-reps", default: 2)
        let n = try a.int("--n", default: 20_000)
        let jobs = try a.int("--jobs", default: 2_000)
        let levels = try (a.string("--sessions") ?? "1000").split(separator: ",").map { part -> Int in
            guard let v = Int(part.trimmingCharacters(in: .whitespaces)), v > 0 else {
                throw BenchError("--sessions takes positive integers, e.g. 1000 or 100,1000")
            }
            return v
        }
        let echoSessions = try a.int("--echo-sessions", default: 50)
        let echoJobs = try a.int("--echo-jobs", default: 200)
        let all: Set<String> = ["stream", "latency", "concurrent", "concurrency"]
        let only = Set((a.string("--only") ?? "stream,latency,concurrent,concurrency").split(separator: ",").map(String.init))
        guard !only.isEmpty, only.isSubset(of: all) else { throw BenchError("--only takes a comma list of \(all.sorted())") }
        let callerKind = a.string("--caller") ?? "connection"
        guard callerKind == "connection" || callerKind == "pool" else { throw BenchError("--caller takes connection or pool") }
        let caller = Caller(onConnection: callerKind == "connection")
        let agentsOnPool = a.has("--agents-on-pool")
        let runtimeKind = a.string("--runtime") ?? "arcp"
        let arcp: RuntimeCommand
        switch runtimeKind {
        case "arcp":
            arcp = .arcpServe(
                try locateSibling("arcp", explicit: a.string("--arcp"), product: "arcp"), extra: agentsOnPool ? ["--agents-on-pool"] : [])
        case "hummingbird":
            if agentsOnPool { throw BenchError("--agents-on-pool takes --runtime arcp") }
            arcp = .hostHummingbird(
                try locateSibling("arcp-host-hummingbird", explicit: a.string("--host-hummingbird"), product: "arcp-host-hummingbird"))
        default:
            throw BenchError("--runtime takes arcp or hummingbird")
        }
        let nofile = raiseNoFileLimit()
        let logDir = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-wsbench-\(getpid())")
        try FileManager.default.createDirectory(at: logDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: logDir) }

        let started = Date()
        let clock = ContinuousClock()
        let t0 = clock.now
        var results: [(key: String, value: [String: Any])] = []
        var samples: [String: Any] = [:]
        var lines: [String] = []

        func add(_ key: String, _ values: [Double], unit: String, what: String) {
            var d = Summary(values).json
            d["n"] = values.count
            d["unit"] = unit
            d["what"] = what
            results.append((key, d))
        }

        if only.contains("stream") {
            var reps_: [StreamSample] = []
            for r in 0..<reps {
                let s = try await withRuntime(arcp, logDir: logDir, tag: "stream_\(r)") { url, pid in
                    try await streamOnce(url: url, pid: pid, n: n, caller: caller)
                }
                progress("stream rep \(r + 1)/\(reps): \(Format.grouped(s.eventsPerSec)) events/s (\(String(format: "%.3f", s.seconds)) s; runtime CPU \(String(format: "%.2f", s.runtimeCPU)) s, client CPU \(String(format: "%.2f", s.clientCPU)) s)")
                reps_.append(s)
            }
            let what = "\(n) log events of one flood job over loopback WebSocket, runtime (arcp serve) and client in separate processes; submit -> job.result, after a 200-event warm-up job"
            add("stream_ws_events_per_s", reps_.map(\.eventsPerSec), unit: "events/s", what: what)
            add("stream_ws_seconds", reps_.map(\.seconds), unit: "s", what: what)
            add("stream_ws_runtime_cpu_us_per_event", reps_.map { $0.runtimeCPU * 1e6 / Double(n) }, unit: "µs/event", what: "runtime process CPU (utime+stime) over the window / events")
            add("stream_ws_client_cpu_us_per_event", reps_.map { $0.clientCPU * 1e6 / Double(n) }, unit: "µs/event", what: "client process CPU (getrusage) over the window / events")
            add("stream_ws_runtime_peak_rss_mib", reps_.compactMap { $0.runtimeHWMKB.map { Double($0) / 1024 } }, unit: "MiB", what: "runtime VmHWM after the stream job")
            samples["stream_ws"] = reps_.map(\.json)
            let e = Summary(reps_.map(\.eventsPerSec))
            lines.append("stream       N=\(n) log events: \(fmtRange(e, 0)) events/s; CPU µs/event runtime \(fmtRange(Summary(reps_.map { $0.runtimeCPU * 1e6 / Double(n) }), 2)), client \(fmtRange(Summary(reps_.map { $0.clientCPU * 1e6 / Double(n) }), 2))")
        }

        if only.contains("latency") {
            var reps_: [LatencySample] = []
            for r in 0..<reps {
                let s = try await withRuntime(arcp, logDir: logDir, tag: "latency_\(r)") { url, pid in
                    try await latencyOnce(url: url, pid: pid, jobs: jobs, caller: caller)
                }
                progress("latency rep \(r + 1)/\(reps): p50 \(Int(s.p50)) µs, p99 \(Int(s.p99)) µs, \(Format.grouped(s.jobsPerSec)) jobs/s")
                reps_.append(s)
            }
            let what = "sequential echo submit -> result, \(jobs) jobs on one WebSocket session after 100 warm-up jobs; nearest-rank percentiles per repetition"
            add("latency_echo_p50_us", reps_.map(\.p50), unit: "µs", what: what)
            add("latency_echo_p99_us", reps_.map(\.p99), unit: "µs", what: what)
            add("latency_echo_jobs_per_s", reps_.map(\.jobsPerSec), unit: "jobs/s", what: what)
            add("latency_echo_runtime_cpu_us_per_job", reps_.map { $0.runtimeCPU * 1e6 / Double(jobs) }, unit: "µs/job", what: "runtime process CPU over the loop / jobs")
            add("latency_echo_client_cpu_us_per_job", reps_.map { $0.clientCPU * 1e6 / Double(jobs) }, unit: "µs/job", what: "client process CPU over the loop / jobs")
            samples["latency"] = reps_.map(\.json)
            lines.append("latency      \(jobs) echo jobs, 1 session: p50 \(fmtRange(Summary(reps_.map(\.p50)), 0)) µs; p99 \(fmtRange(Summary(reps_.map(\.p99)), 0)) µs; \(fmtRange(Summary(reps_.map(\.jobsPerSec)), 0)) jobs/s; CPU µs/job runtime \(fmtRange(Summary(reps_.map { $0.runtimeCPU * 1e6 / Double(jobs) }), 1)), client \(fmtRange(Summary(reps_.map { $0.clientCPU * 1e6 / Double(jobs) }), 1))")
        }

        // Frame sizes (not timed): what `arcp-bench ws-floor` sends to measure the floor.
        let sizes = try await withRuntime(arcp, logDir: logDir, tag: "calibrate") { url, _ in
            try await calibrate(url: url)
        }
        progress("frame sizes: echo request \(sizes.echoRequest) B, replies \(sizes.echoReplies) B; flood event \(sizes.event) B")

        if only.contains("concurrent") {
            var reps_: [ConcurrentEchoSample] = []
            for r in 0..<reps {
                let s = try await withRuntime(arcp, logDir: logDir, tag: "concurrent_\(r)") { url, pid in
                    try await concurrentEchoOnce(url: url, pid: pid, sessions: echoSessions, jobsPerSession: echoJobs, caller: caller)
                }
                progress("concurrent echo rep \(r + 1)/\(reps): \(Format.grouped(s.jobsPerSec)) jobs/s, p50 \(Int(s.p50)) µs, p99 \(Int(s.p99)) µs")
                reps_.append(s)
            }
            let total = echoSessions * echoJobs
            let what = "\(echoSessions) concurrent sessions, each running \(echoJobs) sequential echo jobs (all sessions connected before the window); jobs/s = \(total) / (first submit -> last result)"
            add("concurrent_echo_jobs_per_s", reps_.map(\.jobsPerSec), unit: "jobs/s", what: what)
            add("concurrent_echo_p50_us", reps_.map(\.p50), unit: "µs", what: what + "; per-job submit -> result, all jobs")
            add("concurrent_echo_p99_us", reps_.map(\.p99), unit: "µs", what: what + "; per-job submit -> result, all jobs")
            add("concurrent_echo_runtime_cpu_us_per_job", reps_.map { $0.runtimeCPU * 1e6 / Double(total) }, unit: "µs/job", what: "runtime process CPU over the window / jobs")
            add("concurrent_echo_client_cpu_us_per_job", reps_.map { $0.clientCPU * 1e6 / Double(total) }, unit: "µs/job", what: "client process CPU over the window / jobs")
            samples["concurrent_echo"] = reps_.map(\.json)
            lines.append("concurrent   \(echoSessions) sessions x \(echoJobs) sequential echo jobs: \(fmtRange(Summary(reps_.map(\.jobsPerSec)), 0)) jobs/s; p50 \(fmtRange(Summary(reps_.map(\.p50)), 0)) µs; p99 \(fmtRange(Summary(reps_.map(\.p99)), 0)) µs; CPU µs/job runtime \(fmtRange(Summary(reps_.map { $0.runtimeCPU * 1e6 / Double(total) }), 1)), client \(fmtRange(Summary(reps_.map { $0.clientCPU * 1e6 / Double(total) }), 1))")
        }

        if only.contains("concurrency") {
            var bySessions: [String: Any] = [:]
            for S in levels {
                var reps_: [ConcurrencySample] = []
                for r in 0..<concReps {
                    let s = try await withRuntime(arcp, logDir: logDir, tag: "conc_\(S)_\(r)") { url, pid in
                        try await concurrencyOnce(url: url, pid: pid, sessions: S, caller: caller)
                    }
                    progress("S=\(S) rep \(r + 1)/\(concReps): total \(String(format: "%.3f", s.total)) s (connect \(String(format: "%.3f", s.connect)), jobs \(String(format: "%.3f", s.jobs)), close \(String(format: "%.3f", s.close))); failures \(s.failures); runtime VmHWM \(String(format: "%.1f", Double(s.hwmKB ?? 0) / 1024)) MiB; listen overflows \(s.listenOverflows)\(s.errors.isEmpty ? "" : "; errors \(s.errors.prefix(2))")")
                    reps_.append(s)
                }
                let what = "\(S) concurrent WebSocket sessions x 1 echo job (connect all, run all, close all), after one warm-up session"
                add("concurrency_\(S)_total_s", reps_.map(\.total), unit: "s", what: what)
                add("concurrency_\(S)_connect_s", reps_.map(\.connect), unit: "s", what: what)
                add("concurrency_\(S)_jobs_s", reps_.map(\.jobs), unit: "s", what: what)
                add("concurrency_\(S)_close_s", reps_.map(\.close), unit: "s", what: what)
                add("concurrency_\(S)_failures", reps_.map { Double($0.failures) }, unit: "sessions", what: what)
                add("concurrency_\(S)_runtime_peak_rss_mib", reps_.compactMap { $0.hwmKB.map { Double($0) / 1024 } }, unit: "MiB", what: what + "; runtime VmHWM after the close phase")
                add("concurrency_\(S)_runtime_idle_rss_mib", reps_.compactMap { $0.hwmBeforeKB.map { Double($0) / 1024 } }, unit: "MiB", what: "runtime VmHWM after one warm-up session")
                add("concurrency_\(S)_runtime_cpu_us_per_session", reps_.map { $0.runtimeCPU * 1e6 / Double(S) }, unit: "µs/session", what: "runtime CPU over the three phases / sessions (connect+hello, one echo job, close)")
                add("concurrency_\(S)_client_cpu_us_per_session", reps_.map { $0.clientCPU * 1e6 / Double(S) }, unit: "µs/session", what: "client CPU over the three phases / sessions")
                for (i, phase) in ["connect", "jobs", "close"].enumerated() {
                    add("concurrency_\(S)_\(phase)_cpu_us_per_session", reps_.map { $0.phaseCPU[i] * 1e6 / Double(S) }, unit: "µs/session",
                        what: "runtime + client CPU in the \(phase) phase / sessions")
                }
                add("concurrency_\(S)_listen_overflows", reps_.map { Double($0.listenOverflows) }, unit: "SYNs", what: "TcpExt ListenOverflows delta over the three phases (system-wide)")
                bySessions[String(S)] = reps_.map(\.json)
                func m(_ k: KeyPath<ConcurrencySample, Double>, _ d: Int) -> String { fmtRange(Summary(reps_.map { $0[keyPath: k] }), d) }
                lines.append("sessions     S=\(S): total \(m(\.total, 3)) s (connect \(m(\.connect, 3)), jobs \(m(\.jobs, 3)), close \(m(\.close, 3))); failures \(fmtRange(Summary(reps_.map { Double($0.failures) }), 0)); runtime VmHWM \(fmtRange(Summary(reps_.compactMap { $0.hwmKB.map { Double($0) / 1024 } }), 1)) MiB (idle after warm-up \(fmtRange(Summary(reps_.compactMap { $0.hwmBeforeKB.map { Double($0) / 1024 } }), 1))); CPU µs/session runtime \(fmtRange(Summary(reps_.map { $0.runtimeCPU * 1e6 / Double(S) }), 0)), client \(fmtRange(Summary(reps_.map { $0.clientCPU * 1e6 / Double(S) }), 0)); listen overflows \(reps_.map(\.listenOverflows))")
            }
            samples["concurrency"] = bySessions
        }
        let elapsed = (clock.now - t0).seconds

        print("Loopback WebSocket, runtime `\(arcp.label)` in a child process (fresh per repetition), client in arcp-bench (\(Machine.build) build)")
        print("median (min–max); reps: stream/latency \(reps), concurrency \(concReps); \(String(format: "%.0f", elapsed)) s")
        for l in lines { print(l) }

        if let out = a.string("--json") {
            var resultsJSON: [String: Any] = [:]
            for (k, v) in results { resultsJSON[k] = v }
            let doc: [String: Any] = [
                "what": "swift-arcp runtime+client over loopback WebSocket, runtime = `\(arcp.label)` child process (arcp-bench ws)",
                "command": CommandLine.arguments.joined(separator: " "),
                "arcp": arcp.executable.path,
                "runtime": runtimeKind,
                "frame_sizes": sizes.json,
                "when": ISO8601DateFormatter().string(from: started),
                "elapsed_s": elapsed,
                "statistic": "median, min and max over the repetitions (n)",
                "params": [
                    "reps": reps, "concurrency_reps": concReps, "n": n, "jobs": jobs, "sessions": levels,
                    "echo_sessions": echoSessions, "echo_jobs_per_session": echoJobs,
                    "warmup": "stream: one 200-event flood job; latency: 100 echo jobs; concurrent echo: 10 echo jobs per session; concurrency: one session with one echo job",
                    "runtime": arcp.commandLine.joined(separator: " "),
                    "caller": callerKind == "connection"
                        ? "the client's loops run with the connection's event loop as executor preference (ARCPClient.connectionExecutor)"
                        : "the client's loops run on the cooperative pool",
                    "echo_agent_start": agentsOnPool
                        ? "on the runtime's cooperative pool (arcp serve --agents-on-pool)"
                        : "immediately, on the connection's event loop until its first suspension (ARCPRuntime.register(_:startsImmediately:))",
                    "websocket_server_listen_backlog": WebSocketServer.Configuration().listenBacklog,
                    "rlimit_nofile": nofile,
                ] as [String: Any],
                "machine": Machine.description,
                "results": resultsJSON,
                "samples": samples,
            ]
            let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: out))
            progress("wrote \(out)")
        }
    }

    // MARK: - Measurements

    struct StreamSample {
        var events: Int
        var seconds: Double
        var runtimeCPU: Double
        var clientCPU: Double
        var runtimeHWMKB: Int?
        var loadavg: Double?
        var eventsPerSec: Double { Double(events) / seconds }
        var json: [String: Any] {
            ["events": events, "seconds": seconds, "events_per_s": eventsPerSec, "server_cpu_s": runtimeCPU,
             "client_cpu_s": clientCPU, "server_vmhwm_kb": runtimeHWMKB ?? NSNull(), "loadavg_1m": loadavg ?? NSNull()]
        }
    }

    struct LatencySample {
        var jobs: Int
        var seconds: Double
        var p50, p90, p99, minimum, maximum, mean: Double
        var runtimeCPU: Double
        var clientCPU: Double
        var loadavg: Double?
        var jobsPerSec: Double { Double(jobs) / seconds }
        var json: [String: Any] {
            ["jobs": jobs, "seconds": seconds, "jobs_per_s": jobsPerSec, "p50_us": p50, "p90_us": p90, "p99_us": p99,
             "min_us": minimum, "max_us": maximum, "mean_us": mean, "server_cpu_s": runtimeCPU, "client_cpu_s": clientCPU,
             "loadavg_1m": loadavg ?? NSNull()]
        }
    }

    struct ConcurrencySample {
        var sessions: Int
        var connected: Int
        var jobsOK: Int
        var errors: [String]
        var total, connect, jobs, close: Double
        var rssBeforeKB, hwmBeforeKB, rssAllOpenKB, hwmKB: Int?
        var runtimeCPU: Double
        var clientCPU: Double
        /// Both processes' CPU seconds in each phase (connect, jobs, close).
        var phaseCPU: [Double]
        var listenOverflows: Int
        var listenDrops: Int
        var loadavg: Double?
        var failures: Int { sessions - jobsOK }
        var json: [String: Any] {
            ["sessions": sessions, "connected": connected, "jobs_ok": jobsOK, "failures": failures,
             "error_kinds": errors, "total_s": total, "connect_s": connect, "jobs_s": jobs, "close_s": close,
             "server_vmrss_before_kb": rssBeforeKB ?? NSNull(), "server_vmhwm_before_kb": hwmBeforeKB ?? NSNull(),
             "server_vmrss_all_open_kb": rssAllOpenKB ?? NSNull(), "server_vmhwm_kb": hwmKB ?? NSNull(),
             "server_cpu_s": runtimeCPU, "client_cpu_s": clientCPU,
             "connect_cpu_s": phaseCPU[0], "jobs_cpu_s": phaseCPU[1], "close_cpu_s": phaseCPU[2],
             "listen_overflows_delta": ["ListenOverflows": listenOverflows, "ListenDrops": listenDrops],
             "loadavg_1m": loadavg ?? NSNull()]
        }
    }

    /// Where the client's own loops run (`--caller`).
    struct Caller: Sendable {
        /// On the connection's event loop (`ARCPClient.connectionExecutor`), else on the pool.
        var onConnection: Bool

        func run<T: Sendable>(_ client: ARCPClient, _ body: () async throws -> T) async rethrows -> T {
            try await withTaskExecutorPreference(executor(client)) { try await body() }
        }

        /// Where a task of `client`'s own starts (`group.addTask(executorPreference:)`): there
        /// from its first instruction, not on the pool and then moved.
        func executor(_ client: ARCPClient) -> (any TaskExecutor)? { onConnection ? client.connectionExecutor : nil }
    }

    static func connectClient(_ url: String) async throws -> ARCPClient {
        let transport = try await WebSocketTransport.connect(to: url)
        let client = ARCPClient(token: "tok")
        do {
            try await client.connect(transport)
        } catch {
            await transport.close()
            throw error
        }
        return client
    }

    /// One `flood` job; returns the number of `log` events seen (asserted == n).
    static func flood(_ client: ARCPClient, n: Int) async throws -> Int {
        let job = try await client.submit(agent: "flood", input: ["n": .int(Int64(n))])
        var count = 0
        for try await event in job.events {
            if case .log = event.body { count += 1 }
        }
        let outcome = try await job.result()
        guard outcome.finalStatus == .success else { throw BenchError("flood ended \(outcome.finalStatus)") }
        guard count == n else { throw BenchError("flood: expected \(n) log events, saw \(count)") }
        return count
    }

    static func streamOnce(url: String, pid: Int32, n: Int, caller: Caller) async throws -> StreamSample {
        let client = try await connectClient(url)
        _ = try await caller.run(client) { try await flood(client, n: 200) }  // warm-up
        let load = Machine.loadavg()
        let s0 = Proc.cpuSeconds(pid: pid) ?? 0, c0 = Proc.selfCPUSeconds()
        let t0 = ContinuousClock.now
        let got = try await caller.run(client) { try await flood(client, n: n) }
        let dt = (ContinuousClock.now - t0).seconds
        let s1 = Proc.cpuSeconds(pid: pid) ?? 0, c1 = Proc.selfCPUSeconds()
        await client.close()
        return StreamSample(
            events: got, seconds: dt, runtimeCPU: s1 - s0, clientCPU: c1 - c0,
            runtimeHWMKB: Proc.statusKB(pid: pid, "VmHWM"), loadavg: load)
    }

    static func echo(_ client: ARCPClient, _ i: Int) async throws -> Bool {
        let outcome = try await client.submit(agent: "echo", input: ["i": .int(Int64(i))], streamEvents: false).result()
        return outcome.finalStatus == .success && outcome.result == ["echoed": ["i": .int(Int64(i))]]
    }

    static func latencyOnce(url: String, pid: Int32, jobs: Int, caller: Caller) async throws -> LatencySample {
        let client = try await connectClient(url)
        try await caller.run(client) {
            for i in 0..<100 { guard try await echo(client, i) else { throw BenchError("warm-up echo \(i): wrong result") } }
        }
        let load = Machine.loadavg()
        let s0 = Proc.cpuSeconds(pid: pid) ?? 0, c0 = Proc.selfCPUSeconds()
        let t0 = ContinuousClock.now
        let lat = try await caller.run(client) {
            var lat: [Double] = []
            lat.reserveCapacity(jobs)
            for i in 0..<jobs {
                let ts = ContinuousClock.now
                let ok = try await echo(client, i)
                lat.append((ContinuousClock.now - ts).seconds * 1e6)
                guard ok else { throw BenchError("echo \(i): wrong result") }
            }
            return lat.sorted()
        }
        let dt = (ContinuousClock.now - t0).seconds
        let s1 = Proc.cpuSeconds(pid: pid) ?? 0, c1 = Proc.selfCPUSeconds()
        await client.close()
        return LatencySample(
            jobs: jobs, seconds: dt, p50: percentile(lat, 50), p90: percentile(lat, 90), p99: percentile(lat, 99),
            minimum: lat.first ?? 0, maximum: lat.last ?? 0, mean: lat.reduce(0, +) / Double(max(1, lat.count)),
            runtimeCPU: s1 - s0, clientCPU: c1 - c0, loadavg: load)
    }

    static func concurrencyOnce(url: String, pid: Int32, sessions S: Int, caller: Caller) async throws -> ConcurrencySample {
        // Warm-up: one full session, so first-use costs are not measured.
        let w = try await connectClient(url)
        guard try await echo(w, -1) else { throw BenchError("warm-up echo: wrong result") }
        await w.close()
        let rssBefore = Proc.statusKB(pid: pid, "VmRSS"), hwmBefore = Proc.statusKB(pid: pid, "VmHWM")
        let load = Machine.loadavg()
        let s0 = Proc.cpuSeconds(pid: pid) ?? 0, c0 = Proc.selfCPUSeconds()
        let lo0 = Proc.listenOverflows()
        var errors: [String] = []

        let t0 = ContinuousClock.now
        let cpu0 = s0 + c0
        // Phase 1: all sessions connect (TCP + WebSocket upgrade + session.hello/welcome) at once.
        let conns = await withTaskGroup(of: Result<ARCPClient, BenchError>.self) { group in
            for _ in 0..<S {
                group.addTask {
                    do { return .success(try await connectClient(url)) } catch { return .failure(BenchError("connect \(error)")) }
                }
            }
            var out: [Result<ARCPClient, BenchError>] = []
            out.reserveCapacity(S)
            for await r in group { out.append(r) }
            return out
        }
        let t1 = ContinuousClock.now
        let cpu1 = Proc.bothCPUSeconds(pid: pid)
        var clients: [ARCPClient] = []
        for c in conns {
            switch c {
            case .success(let client): clients.append(client)
            case .failure(let e): errors.append(e.description)
            }
        }
        // Phase 2: one echo job per session, all at once (every session still open).
        let jobResults = await withTaskGroup(of: String?.self) { group in
            for (i, client) in clients.enumerated() {
                group.addTask(executorPreference: caller.executor(client)) {
                    do { return try await echo(client, i) ? nil : "job: bad result" } catch { return "job \(error)" }
                }
            }
            var out: [String?] = []
            out.reserveCapacity(clients.count)
            for await r in group { out.append(r) }
            return out
        }
        let t2 = ContinuousClock.now
        let cpu2 = Proc.bothCPUSeconds(pid: pid)
        let jobsOK = jobResults.filter { $0 == nil }.count
        errors += jobResults.compactMap { $0 }
        let rssAllOpen = Proc.statusKB(pid: pid, "VmRSS")
        // Phase 3: every session closes (session.close/closed + WebSocket close handshake) at once.
        await withDiscardingTaskGroup { group in
            for client in clients { group.addTask(executorPreference: caller.executor(client)) { await client.close() } }
        }
        let t3 = ContinuousClock.now
        let s1 = Proc.cpuSeconds(pid: pid) ?? 0, c1 = Proc.selfCPUSeconds()
        let cpu3 = s1 + c1
        let lo1 = Proc.listenOverflows()
        let hwm = Proc.statusKB(pid: pid, "VmHWM")
        var kinds: [String] = []
        for e in errors where !kinds.contains(String(e.prefix(200))) { kinds.append(String(e.prefix(200))) }
        return ConcurrencySample(
            sessions: S, connected: clients.count, jobsOK: jobsOK, errors: Array(kinds.sorted().prefix(10)),
            total: (t3 - t0).seconds, connect: (t1 - t0).seconds, jobs: (t2 - t1).seconds, close: (t3 - t2).seconds,
            rssBeforeKB: rssBefore, hwmBeforeKB: hwmBefore, rssAllOpenKB: rssAllOpen, hwmKB: hwm,
            runtimeCPU: s1 - s0, clientCPU: c1 - c0, phaseCPU: [cpu1 - cpu0, cpu2 - cpu1, cpu3 - cpu2],
            listenOverflows: (lo1["ListenOverflows"] ?? 0) - (lo0["ListenOverflows"] ?? 0),
            listenDrops: (lo1["ListenDrops"] ?? 0) - (lo0["ListenDrops"] ?? 0), loadavg: load)
    }

    struct ConcurrentEchoSample {
        var sessions: Int
        var jobs: Int
        var seconds: Double
        var p50, p99: Double
        var runtimeCPU: Double
        var clientCPU: Double
        var loadavg: Double?
        var jobsPerSec: Double { Double(jobs) / seconds }
        var json: [String: Any] {
            ["sessions": sessions, "jobs": jobs, "seconds": seconds, "jobs_per_s": jobsPerSec, "p50_us": p50, "p99_us": p99,
             "server_cpu_s": runtimeCPU, "client_cpu_s": clientCPU, "loadavg_1m": loadavg ?? NSNull()]
        }
    }

    /// C sessions, all connected (and warmed up with 10 echo jobs each) before the window; then
    /// each runs J sequential echo jobs, all sessions at once.
    static func concurrentEchoOnce(
        url: String, pid: Int32, sessions C: Int, jobsPerSession J: Int, caller: Caller
    ) async throws -> ConcurrentEchoSample {
        var clients: [ARCPClient] = []
        for _ in 0..<C { clients.append(try await connectClient(url)) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients {
                group.addTask(executorPreference: caller.executor(client)) {
                    for i in 0..<10 { guard try await echo(client, i) else { throw BenchError("warm-up echo: wrong result") } }
                }
            }
            try await group.waitForAll()
        }
        let load = Machine.loadavg()
        let s0 = Proc.cpuSeconds(pid: pid) ?? 0, c0 = Proc.selfCPUSeconds()
        let t0 = ContinuousClock.now
        let perSession = try await withThrowingTaskGroup(of: [Double].self) { group in
            for (k, client) in clients.enumerated() {
                group.addTask(executorPreference: caller.executor(client)) {
                    var lat: [Double] = []
                    lat.reserveCapacity(J)
                    for j in 0..<J {
                        let ts = ContinuousClock.now
                        let ok = try await echo(client, k * J + j)
                        lat.append((ContinuousClock.now - ts).seconds * 1e6)
                        guard ok else { throw BenchError("echo \(k * J + j): wrong result") }
                    }
                    return lat
                }
            }
            var all: [[Double]] = []
            for try await lat in group { all.append(lat) }
            return all
        }
        let dt = (ContinuousClock.now - t0).seconds
        let s1 = Proc.cpuSeconds(pid: pid) ?? 0, c1 = Proc.selfCPUSeconds()
        await withDiscardingTaskGroup { group in
            for client in clients { group.addTask { await client.close() } }
        }
        let lat = perSession.flatMap { $0 }.sorted()
        return ConcurrentEchoSample(
            sessions: C, jobs: lat.count, seconds: dt, p50: percentile(lat, 50), p99: percentile(lat, 99),
            runtimeCPU: s1 - s0, clientCPU: c1 - c0, loadavg: load)
    }

    /// The sizes of the frames one echo job and one flood job exchange, seen through a
    /// recording transport on a session of its own (not timed).
    static func calibrate(url: String) async throws -> FrameSizes {
        let recorder = RecordingTransport(try await WebSocketTransport.connect(to: url))
        let client = ARCPClient(token: "tok")
        try await client.connect(recorder)
        _ = try await echo(client, 0)  // first use
        recorder.reset()
        guard try await echo(client, 1) else { throw BenchError("calibration echo: wrong result") }
        let echoFrames = recorder.take()
        _ = try await flood(client, n: 10)
        let floodFrames = recorder.take()
        await client.close()
        guard let request = echoFrames.sent.first, !echoFrames.received.isEmpty, let floodRequest = floodFrames.sent.first else {
            throw BenchError("calibration: no frames recorded")
        }
        // The flood job's frames: its `log` events (all the same size but for the digits), then
        // the frames that end the job.
        let events = floodFrames.received.filter { $0.isLog }.map(\.bytes).sorted()
        guard events.count == 10 else { throw BenchError("calibration: saw \(events.count) log events of 10") }
        let tail = floodFrames.received.filter { !$0.isLog }.map(\.bytes)
        return FrameSizes(
            echoRequest: request.bytes, echoReplies: echoFrames.received.map(\.bytes),
            floodRequest: floodRequest.bytes, event: events[events.count / 2], streamTail: tail)
    }

    /// Nearest-rank percentile of an ascending list (as bench.py's `pct`).
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let k = max(0, min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
        return sorted[k]
    }

    // MARK: - The runtime child process

    /// Starts `arcp serve` on an ephemeral port, runs `body` with its URL and pid, stops it
    /// (SIGTERM, then SIGKILL after 15 s) whatever `body` did.
    static func withRuntime<T>(
        _ runtime: RuntimeCommand, logDir: URL, tag: String, _ body: (String, Int32) async throws -> T
    ) async throws -> T {
        let child = try await RuntimeChild.start(runtime, log: logDir.appendingPathComponent("serve_\(tag).err"))
        let result: Result<T, any Error>
        do { result = .success(try await body(child.url, child.pid)) } catch { result = .failure(error) }
        let status = await child.stop()
        if case .failure(let e) = result {
            throw BenchError("\(tag): \(e)\n  runtime exit status \(status); its stderr:\n\(child.logTail())")
        }
        return try result.get()
    }

    /// An executable of this package: `explicit` if given, else next to this arcp-bench.
    static func locateSibling(_ name: String, explicit: String?, product: String) throws -> URL {
        let candidate: URL
        if let explicit {
            candidate = URL(fileURLWithPath: explicit)
        } else {
            let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments.first ?? "arcp-bench"
            candidate = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent(name)
        }
        guard FileManager.default.isExecutableFile(atPath: candidate.path) else {
            throw BenchError("no \(name) executable at \(candidate.path): build it (swift build -c release --product \(product)) or pass its path")
        }
        return candidate
    }

    /// Raises the soft RLIMIT_NOFILE to the hard limit (S sessions need S sockets here and in
    /// the runtime child, which inherits the limit). Returns the resulting soft limit.
    static func raiseNoFileLimit() -> Int {
        var rl = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &rl) == 0 else { return -1 }
        if rl.rlim_cur < rl.rlim_max {
            var raised = rl
            raised.rlim_cur = rl.rlim_max
            if setrlimit(resource, &raised) == 0 { rl = raised }
        }
        return Int(clamping: rl.rlim_cur)
    }

    static func fmtRange(_ s: Summary, _ digits: Int) -> String {
        func f(_ v: Double) -> String { digits == 0 ? Format.grouped(v) : String(format: "%.\(digits)f", v) }
        return "\(f(s.median)) (\(f(s.min))–\(f(s.max)))"
    }

    static func progress(_ line: String) {
        FileHandle.standardError.write(Data("ws: \(line)\n".utf8))
    }
}

/// The runtime process a measurement runs against.
enum RuntimeCommand {
    /// `arcp serve`: the demo agents behind `ARCPWebSocket`'s server (`extra`: more of its
    /// options).
    case arcpServe(URL, extra: [String] = [])
    /// `arcp-host-hummingbird`: the same runtime and agents behind a Hummingbird app (WSCore).
    case hostHummingbird(URL)
    /// `arcp-bench ws-floor-server …`: raw swift-nio, no ARCP (`arcp-bench ws-floor`).
    case floorServer(URL, [String])

    var executable: URL {
        switch self {
        case .arcpServe(let url, _), .hostHummingbird(let url), .floorServer(let url, _): return url
        }
    }

    var label: String {
        switch self {
        case .arcpServe: return "arcp serve"
        case .hostHummingbird: return "arcp-host-hummingbird"
        case .floorServer: return "arcp-bench ws-floor-server"
        }
    }

    /// The whole command line (executable first).
    var commandLine: [String] {
        switch self {
        case .arcpServe(let url, let extra):
            // One principal opens all the bench's sessions (1,000 at once): the per-principal
            // limits (256 connections, 1,000 sessions by default) are raised so that they
            // measure speed, not the limits.
            return [url.path, "serve", "--host", "127.0.0.1", "--port", "0", "--token", "tok=bench@example.com",
                    "--log-level", "warning", "--stop-on-eof",
                    "--max-connections-per-principal", "100000", "--max-sessions-per-principal", "100000"] + extra
        case .hostHummingbird(let url):
            return [url.path, "--host", "127.0.0.1", "--port", "0", "--token", "tok=bench@example.com"]
        case .floorServer(let url, let arguments):
            return [url.path, "ws-floor-server"] + arguments
        }
    }
}

/// The frame sizes of one echo job and one flood job, in bytes, for `arcp-bench ws-floor`.
struct FrameSizes: Sendable {
    /// The `job.submit` of an echo job.
    var echoRequest: Int
    /// What the runtime sends back for it, in order.
    var echoReplies: [Int]
    /// The `job.submit` of a flood job.
    var floodRequest: Int
    /// One `log` event of a flood job (median).
    var event: Int
    /// The frames after a flood job's events (its result), in order.
    var streamTail: [Int]

    var json: [String: Any] {
        ["echo_request": echoRequest, "echo_replies": echoReplies, "flood_request": floodRequest,
         "event": event, "stream_tail": streamTail]
    }

    init(echoRequest: Int, echoReplies: [Int], floodRequest: Int, event: Int, streamTail: [Int]) {
        self.echoRequest = echoRequest
        self.echoReplies = echoReplies
        self.floodRequest = floodRequest
        self.event = event
        self.streamTail = streamTail
    }

    /// Reads `frame_sizes` from an `arcp-bench ws --json` document.
    init(json: Any?) throws {
        guard let d = json as? [String: Any],
              let echoRequest = d["echo_request"] as? Int, let echoReplies = d["echo_replies"] as? [Int],
              let floodRequest = d["flood_request"] as? Int, let event = d["event"] as? Int,
              let tail = d["stream_tail"] as? [Int], !echoReplies.isEmpty, event > 0
        else { throw BenchError("no usable frame_sizes in the ws results") }
        self.init(echoRequest: echoRequest, echoReplies: echoReplies, floodRequest: floodRequest, event: event, streamTail: tail)
    }
}

/// A transport that records the size (and whether it is a `log` event) of every frame it
/// carries; used only by the untimed calibration session.
final class RecordingTransport: Transport {
    struct Frame: Sendable {
        var bytes: Int
        var isLog: Bool
    }
    private let inner: any Transport
    private let frames = Mutex<(sent: [Frame], received: [Frame])>(([], []))

    init(_ inner: any Transport) {
        self.inner = inner
    }

    func reset() { frames.withLock { $0 = ([], []) } }

    /// The frames recorded since the last `take` or `reset`.
    func take() -> (sent: [Frame], received: [Frame]) {
        frames.withLock { f in
            defer { f = ([], []) }
            return f
        }
    }

    private static func record(_ frame: String) -> Frame {
        Frame(bytes: frame.utf8.count, isLog: frame.contains("\"kind\":\"log\""))
    }

    func receive() async throws -> String? {
        let frame = try await inner.receive()
        if let frame { frames.withLock { $0.received.append(Self.record(frame)) } }
        return frame
    }

    func send(_ frame: String) async throws {
        frames.withLock { $0.sent.append(Self.record(frame)) }
        try await inner.send(frame)
    }

    func send(batch frames: [String]) async throws {
        self.frames.withLock { $0.sent.append(contentsOf: frames.map(Self.record)) }
        try await inner.send(batch: frames)
    }

    func close() async { await inner.close() }
}

/// A running runtime child process (`arcp serve`, `arcp-host-hummingbird`). Used from one task at a time.
final class RuntimeChild {
    let process: Process
    let pid: Int32
    let url: String
    let log: URL
    private let stdin: Pipe
    private let exit: ExitStatus

    private init(process: Process, pid: Int32, url: String, log: URL, stdin: Pipe, exit: ExitStatus) {
        self.process = process
        self.pid = pid
        self.url = url
        self.log = log
        self.stdin = stdin
        self.exit = exit
    }

    /// Spawns the runtime (`arcp serve --port 0 …`, plus `extraArguments`) and waits (up to
    /// 20 s) for its `LISTENING ws://…` line.
    static func start(_ runtime: RuntimeCommand, log: URL, extraArguments: [String] = []) async throws -> RuntimeChild {
        let process = Process()
        process.executableURL = runtime.executable
        process.arguments = Array(runtime.commandLine.dropFirst()) + extraArguments
        let stdout = Pipe(), stdin = Pipe()
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
            throw BenchError("cannot create \(log.path)")
        }
        let errFile = try FileHandle(forWritingTo: log)
        process.standardOutput = stdout
        process.standardInput = stdin
        process.standardError = errFile
        let exit = ExitStatus()
        process.terminationHandler = { p in exit.set(p.terminationStatus) }
        try process.run()
        try? errFile.close()
        let pid = process.processIdentifier
        let fd = stdout.fileHandleForReading.fileDescriptor
        let line = await readLine(fd: fd, timeout: .seconds(20))
        var url: String?
        if let line, line.hasPrefix("LISTENING ws://") { url = String(line.dropFirst("LISTENING ".count)) }
        let child = RuntimeChild(process: process, pid: pid, url: url ?? "", log: log, stdin: stdin, exit: exit)
        if url == nil {
            let status = await child.stop()
            throw BenchError("\(runtime.label) did not start (first stdout line \(line.map { "\"\($0)\"" } ?? "none"), exit status \(status)):\n\(child.logTail())")
        }
        return child
    }

    /// SIGTERM (graceful shutdown), SIGKILL after 15 s; returns the exit status.
    func stop() async -> Int32 {
        if let done = exit.value { return done }
        kill(pid, SIGTERM)
        let exit = self.exit
        let pid = self.pid
        let status = await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await exit.wait() }
            group.addTask {
                try? await Task.sleep(for: .seconds(15))
                return nil
            }
            var first: Int32? = nil
            if let r = await group.next() { first = r }
            if first == nil { kill(pid, SIGKILL) }
            group.cancelAll()
            for await r in group where first == nil { first = r }
            return first
        }
        try? stdin.fileHandleForWriting.close()
        return status ?? -1
    }

    /// The last lines of the runtime's stderr, for error reports.
    func logTail() -> String {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(20).map { "    " + $0 }.joined(separator: "\n")
    }

    /// Reads one line from `fd` on a dispatch thread; nil on EOF or after `timeout`.
    static func readLine(fd: Int32, timeout: Duration) async -> String? {
        await withCheckedContinuation { (cont: CheckedContinuation<String?, Never>) in
            DispatchQueue.global().async {
                let deadline = ContinuousClock.now + timeout
                var bytes: [UInt8] = []
                var byte: UInt8 = 0
                while ContinuousClock.now < deadline {
                    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    let left = deadline - ContinuousClock.now
                    let ms = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
                    let ready = poll(&pfd, 1, max(1, ms))
                    if ready < 0 && errno == EINTR { continue }
                    if ready <= 0 { continue }
                    let n = read(fd, &byte, 1)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    if byte == UInt8(ascii: "\n") {
                        cont.resume(returning: String(decoding: bytes, as: UTF8.self))
                        return
                    }
                    bytes.append(byte)
                }
                cont.resume(returning: nil)
            }
        }
    }
}

/// A child's exit status, set once by `Process.terminationHandler`, awaitable.
final class ExitStatus: Sendable {
    private struct State {
        var status: Int32?
        var waiters: [CheckedContinuation<Int32, Never>] = []
    }
    private let state = Mutex(State())

    var value: Int32? { state.withLock { $0.status } }

    func set(_ status: Int32) {
        let waiters = state.withLock { s -> [CheckedContinuation<Int32, Never>] in
            guard s.status == nil else { return [] }
            s.status = status
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: status) }
    }

    func wait() async -> Int32 {
        await withCheckedContinuation { (cont: CheckedContinuation<Int32, Never>) in
            let now = state.withLock { s -> Int32? in
                if let v = s.status { return v }
                s.waiters.append(cont)
                return nil
            }
            if let now { cont.resume(returning: now) }
        }
    }
}

/// Linux `/proc` readings (nil elsewhere) and this process's CPU time.
enum Proc {
    static let clockTicks = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// A `kB` field of /proc/PID/status, e.g. `VmHWM`.
    static func statusKB(pid: Int32, _ key: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    /// The CPU seconds a process has used, all its threads (ended ones too). On Linux read
    /// from its CPU-time clock (`clock_getcpuclockid`, nanoseconds), so that a phase of a few
    /// tens of milliseconds is measured, not rounded to the 10 ms clock tick of `/proc/PID/stat`
    /// (which is the fallback).
    static func cpuSeconds(pid: Int32) -> Double? {
        #if canImport(Glibc)
        var clock = clockid_t()
        var ts = timespec()
        if clock_getcpuclockid(pid, &clock) == 0, clock_gettime(clock, &ts) == 0 {
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
        #endif
        return tickCPUSeconds(pid: pid)
    }

    /// Both processes' CPU seconds so far: the runtime's (`pid`) plus this one's.
    static func bothCPUSeconds(pid: Int32) -> Double { (cpuSeconds(pid: pid) ?? 0) + selfCPUSeconds() }

    /// utime+stime of a process in seconds (clock-tick resolution).
    static func tickCPUSeconds(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let paren = text.lastIndex(of: ")")
        else { return nil }
        // After ")": state(0) ppid(1) … utime(11) stime(12).
        let fields = text[text.index(after: paren)...].split(separator: " ")
        guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]), clockTicks > 0 else { return nil }
        return (u + s) / clockTicks
    }

    /// This process's user+system CPU seconds.
    static func selfCPUSeconds() -> Double {
        var ru = rusage()
        #if canImport(Glibc)
        _ = getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &ru)
        #else
        _ = getrusage(RUSAGE_SELF, &ru)
        #endif
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return s(ru.ru_utime) + s(ru.ru_stime)
    }

    /// System-wide TcpExt ListenOverflows / ListenDrops (SYNs dropped at a full accept queue).
    static func listenOverflows() -> [String: Int] {
        guard let text = try? String(contentsOfFile: "/proc/net/netstat", encoding: .utf8) else { return [:] }
        let lines = text.split(separator: "\n")
        var i = 0
        while i + 1 < lines.count {
            if lines[i].hasPrefix("TcpExt:") {
                let names = lines[i].split(separator: " ").dropFirst()
                let values = lines[i + 1].split(separator: " ").dropFirst()
                var out: [String: Int] = [:]
                for (k, v) in zip(names, values) where k == "ListenOverflows" || k == "ListenDrops" { out[String(k)] = Int(v) }
                return out
            }
            i += 2
        }
        return [:]
    }
}
