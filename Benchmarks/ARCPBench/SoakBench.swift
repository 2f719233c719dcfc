import ARCP
import ARCPWebSocket
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `arcp-bench soak`: many short sessions of echo jobs with mixed input sizes through one
/// runtime over loopback WebSocket, with the runtime's resident memory sampled over time
/// (issue 10: "RSS must plateau and return to within a few MiB of its start once the retention
/// window has passed"). A benchmark, not a test: it reports the curve and the growth per job,
/// and fails only when jobs fail.
///
/// - The runtime is `arcp serve` (a child process, `--serve-args` added to its command line:
///   this is where retention settings go, e.g. `--serve-args "--job-retention-sec 60"`), or any
///   runtime already listening (`--url` with `--pid`, e.g. the Python reference: see
///   Scripts/bench-soak.sh).
/// - `--sessions` sessions, `--concurrency` at a time; each connects, runs its share of the
///   `--jobs` echo jobs one after another (input `{"blob": "aaa…"}` of the next size in a
///   deterministic shuffled schedule drawn from `--mix`; the echoed size is checked), sends
///   `session.close` and disconnects.
/// - Every `--sample-ms` the runtime's VmRSS (/proc/PID/status) is recorded with the jobs and
///   sessions done so far; after the last job the sampling goes on for `--settle-sec` seconds
///   (the retention window), with no client connected.
enum SoakBench: BenchCommand {
    static let name = "soak"
    static let summary = "100,000 echo jobs over 10,000 sessions (1 KiB–4 MiB inputs) through one runtime; its RSS over time"

    /// The default input-size mix: `bytes:weight` (weights are relative). About 6.7 MiB of input
    /// per 1,000 jobs: 89.88 % 1 KiB, 9 % 16 KiB, 1 % 256 KiB, 0.1 % 1 MiB, 0.02 % 4 MiB.
    static let defaultMix = "1024:8988,16384:900,262144:100,1048576:10,4194304:2"

    static let help = """
        usage: arcp-bench soak [--jobs N] [--sessions N] [--concurrency C] [--mix SPEC] [--sample-ms MS]
                               [--settle-sec S] [--seed N] [--json OUT] [--label NAME]
                               [--arcp PATH] [--serve-args "ARGS"] | [--url ws://… --pid PID]

          --jobs N          echo jobs in all (default 100000)
          --sessions N      sessions in all; the jobs are shared out evenly (default 10000)
          --concurrency C   sessions open at a time (default 8)
          --mix SPEC        input sizes, bytes:weight,… (default \(defaultMix))
          --sample-ms MS    RSS sampling period (default 500)
          --settle-sec S    sampling after the last job, no client connected (default 30)
          --seed N          the size schedule's shuffle seed (default 1)
          --json OUT        write the parameters, the summary and every sample to OUT
          --label NAME      what to call the runtime in the output (default swift-arcp, or url)
          --arcp PATH       the `arcp` executable to run as `arcp serve` (default: next to arcp-bench)
          --serve-args A    extra `arcp serve` arguments, space-separated (retention settings go here)
          --url URL --pid P a runtime already listening at URL, whose process P is sampled

        Tokens: the runtime must accept bearer `tok`. Linux only (RSS from /proc).
        """

    static func run(arguments: [String]) async throws {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(help)
            return
        }
        let a = try BenchArguments(
            arguments,
            valueFlags: ["--jobs", "--sessions", "--concurrency", "--mix", "--sample-ms", "--settle-sec", "--seed", "--json",
                         "--label", "--arcp", "--serve-args", "--url", "--pid"],
            switchFlags: [])
        let jobs = try a.int("--jobs", default: 100_000)
        let sessions = try a.int("--sessions", default: 10_000)
        let concurrency = try a.int("--concurrency", default: 8)
        let sampleMs = try a.int("--sample-ms", default: 500)
        let settle = try a.int("--settle-sec", default: 30)
        let seed = try a.int("--seed", default: 1)
        let mix = try parseMix(a.string("--mix") ?? defaultMix)
        guard sessions <= jobs else { throw BenchError("--sessions must not exceed --jobs") }
        let schedule = sizeSchedule(jobs: jobs, mix: mix, seed: UInt64(seed))
        let serveArgs = (a.string("--serve-args") ?? "").split(separator: " ").map(String.init)
        _ = WebSocketBench.raiseNoFileLimit()

        // The runtime: ours as a child process, or one already running.
        var child: RuntimeChild?
        let url: String
        let pid: Int32
        if let external = a.string("--url") {
            guard let p = a.string("--pid").flatMap({ Int32($0) }) else { throw BenchError("--url needs --pid (the process to sample)") }
            url = external
            pid = p
        } else {
            let arcp = RuntimeCommand.arcpServe(try WebSocketBench.locateSibling("arcp", explicit: a.string("--arcp"), product: "arcp"))
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-soak-\(getpid()).err")
            let started = try await RuntimeChild.start(arcp, log: log, extraArguments: serveArgs)
            child = started
            url = started.url
            pid = started.pid
        }
        let label = a.string("--label") ?? (child == nil ? url : "swift-arcp")
        guard Proc.statusKB(pid: pid, "VmRSS") != nil else { throw BenchError("cannot read /proc/\(pid)/status (Linux only)") }

        let recorder = SoakRecorder(pid: pid)
        let result: Result<SoakOutcome, any Error>
        do {
            result = .success(try await soak(
                url: url, recorder: recorder, schedule: schedule, sessions: sessions, concurrency: concurrency,
                sampleEvery: .milliseconds(sampleMs), settle: .seconds(settle)))
        } catch {
            result = .failure(error)
        }
        if let child { _ = await child.stop() }
        let outcome = try result.get()
        let report = SoakReport(label: label, outcome: outcome, samples: recorder.samples, jobs: jobs, sessions: sessions)
        print(report.text)
        if let out = a.string("--json") {
            let doc: [String: Any] = [
                "what": "arcp-bench soak: echo jobs with mixed input sizes over many short WebSocket sessions; runtime RSS over time",
                "runtime": label,
                "command": CommandLine.arguments.joined(separator: " "),
                "when": ISO8601DateFormatter().string(from: Date()),
                "params": [
                    "jobs": jobs, "sessions": sessions, "concurrency": concurrency, "mix": a.string("--mix") ?? defaultMix,
                    "input_bytes_total": schedule.reduce(0, +), "sample_ms": sampleMs, "settle_s": settle, "seed": seed,
                    "serve_args": serveArgs, "url": url,
                ] as [String: Any],
                "machine": Machine.description,
                "summary": report.summary,
                "samples": recorder.samples.map(\.json),
            ]
            let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: out))
            progress("wrote \(out)")
        }
        if outcome.failures > 0 { throw BenchError("\(outcome.failures) of \(jobs) jobs failed; first errors: \(outcome.errors)") }
    }

    // MARK: - The workload

    struct SoakOutcome {
        var failures: Int
        var errors: [String]
        var baselineKB: Int
        var loadSeconds: Double
        var settleSeconds: Double
        var inputBytes: Int
    }

    static func soak(
        url: String, recorder: SoakRecorder, schedule: [Int], sessions: Int, concurrency: Int, sampleEvery: Duration,
        settle: Duration
    ) async throws -> SoakOutcome {
        let sampler = Task {
            while !Task.isCancelled {
                recorder.sample()
                try? await Task.sleep(for: sampleEvery)
            }
        }
        defer { sampler.cancel() }
        // One blob per distinct size, shared by every job of that size.
        var blobs: [Int: JSONValue] = [:]
        for size in Set(schedule) { blobs[size] = .string(String(repeating: "a", count: size)) }
        let table = blobs

        // Warm-up: one session of small jobs, so first-use allocations are in the baseline.
        let warm = try await WebSocketBench.connectClient(url)
        for _ in 0..<20 { _ = try await echo(warm, size: 1024, blob: table[1024] ?? .string(String(repeating: "a", count: 1024))) }
        await warm.close()
        try await Task.sleep(for: .seconds(1))
        recorder.sample()
        let baseline = recorder.samples.last?.rssKB ?? 0
        recorder.mark("load")

        // Session s runs jobs [s * jobs / sessions, (s + 1) * jobs / sessions).
        let t0 = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while let s = recorder.nextSession(below: sessions) {
                        let range = (s * schedule.count / sessions)..<((s + 1) * schedule.count / sessions)
                        do {
                            let client = try await WebSocketBench.connectClient(url)
                            for j in range {
                                let size = schedule[j]
                                do {
                                    guard try await echo(client, size: size, blob: table[size] ?? .null) else {
                                        throw BenchError("job \(j): wrong echo")
                                    }
                                } catch {
                                    recorder.failed(1, "job \(j) (\(size) B): \(error)")
                                }
                                recorder.jobDone()
                            }
                            await client.close()
                        } catch {
                            recorder.failed(range.count, "session \(s): \(error)")
                        }
                        recorder.sessionDone()
                        if s % max(1, sessions / 20) == 0 {
                            progress("\(recorder.jobsDone) jobs, \(s + 1) sessions started, RSS \(recorder.samples.last.map { $0.rssKB / 1024 } ?? 0) MiB")
                        }
                    }
                }
            }
        }
        let loadSeconds = (ContinuousClock.now - t0).seconds
        recorder.sample()
        recorder.mark("settle")
        progress("load done in \(String(format: "%.1f", loadSeconds)) s; settling \(settle)")
        try await Task.sleep(for: settle)
        recorder.sample()
        return SoakOutcome(
            failures: recorder.failures.count, errors: recorder.failures.first, baselineKB: baseline,
            loadSeconds: loadSeconds, settleSeconds: settle.seconds, inputBytes: schedule.reduce(0, +))
    }

    /// One echo job of a `size`-byte blob; true when the echoed blob has that size.
    static func echo(_ client: ARCPClient, size: Int, blob: JSONValue) async throws -> Bool {
        let outcome = try await client.submit(agent: "echo", input: ["blob": blob], streamEvents: false).result()
        return outcome.finalStatus == .success && outcome.result?["echoed"]?["blob"]?.stringValue?.utf8.count == size
    }

    /// `bytes:weight,…` → [(bytes, weight)].
    static func parseMix(_ spec: String) throws -> [(bytes: Int, weight: Int)] {
        let mix = try spec.split(separator: ",").map { part -> (bytes: Int, weight: Int) in
            let kv = part.split(separator: ":")
            guard kv.count == 2, let b = Int(kv[0]), let w = Int(kv[1]), b > 0, b <= 16 << 20, w > 0 else {
                throw BenchError("--mix takes bytes:weight,… with 0 < bytes ≤ 16 MiB, e.g. \(defaultMix)")
            }
            return (b, w)
        }
        guard !mix.isEmpty else { throw BenchError("--mix is empty") }
        return mix
    }

    /// `jobs` sizes in the proportions of `mix` (largest remainders), shuffled with a fixed seed
    /// so every run (and both runtimes) gets the same sequence.
    static func sizeSchedule(jobs: Int, mix: [(bytes: Int, weight: Int)], seed: UInt64) -> [Int] {
        let total = mix.reduce(0) { $0 + $1.weight }
        var counts = mix.map { jobs * $0.weight / total }
        var left = jobs - counts.reduce(0, +)
        var i = 0
        while left > 0 {
            counts[i % counts.count] += 1
            left -= 1
            i += 1
        }
        var out: [Int] = []
        out.reserveCapacity(jobs)
        for (k, m) in mix.enumerated() { out.append(contentsOf: repeatElement(m.bytes, count: counts[k])) }
        var rng = SplitMix64(state: seed)
        out.shuffle(using: &rng)
        return out
    }

    static func progress(_ line: String) {
        FileHandle.standardError.write(Data("soak: \(line)\n".utf8))
    }
}

/// A small seeded generator (SplitMix64) for the size schedule.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The RSS samples of one soak run, with the progress counters at each.
final class SoakRecorder: Sendable {
    struct Sample: Sendable {
        var seconds: Double
        var rssKB: Int
        var jobs: Int
        var sessions: Int
        var phase: String
        var json: [String: Any] { ["t_s": seconds, "rss_kib": rssKB, "jobs_done": jobs, "sessions_done": sessions, "phase": phase] }
    }

    private struct State {
        var samples: [Sample] = []
        var jobs = 0
        var sessions = 0
        var nextSession = 0
        var phase = "warm-up"
        var failures = 0
        var firstErrors: [String] = []
    }

    let pid: Int32
    private let start = ContinuousClock.now
    private let state = Mutex(State())

    init(pid: Int32) { self.pid = pid }

    var samples: [Sample] { state.withLock { $0.samples } }
    var jobsDone: Int { state.withLock { $0.jobs } }

    func jobDone() { state.withLock { $0.jobs += 1 } }
    /// The next session index to run, or nil once `count` have been handed out.
    func nextSession(below count: Int) -> Int? {
        state.withLock { s in
            guard s.nextSession < count else { return nil }
            defer { s.nextSession += 1 }
            return s.nextSession
        }
    }
    /// Records `jobs` failed jobs (the first five reasons are kept).
    func failed(_ jobs: Int, _ reason: String) {
        state.withLock {
            $0.failures += jobs
            if $0.firstErrors.count < 5 { $0.firstErrors.append(reason) }
        }
    }
    /// Failed jobs so far, and the first reasons.
    var failures: (count: Int, first: [String]) { state.withLock { ($0.failures, $0.firstErrors) } }
    func sessionDone() { state.withLock { $0.sessions += 1 } }
    func mark(_ phase: String) { state.withLock { $0.phase = phase } }

    /// Reads the runtime's VmRSS now.
    func sample() {
        guard let rss = Proc.statusKB(pid: pid, "VmRSS") else { return }
        let t = (ContinuousClock.now - start).seconds
        state.withLock { $0.samples.append(Sample(seconds: t, rssKB: rss, jobs: $0.jobs, sessions: $0.sessions, phase: $0.phase)) }
    }
}

/// The figures and the curve of one soak run, as text and as JSON.
struct SoakReport {
    let label: String
    let text: String
    let summary: [String: Any]

    init(label: String, outcome: SoakBench.SoakOutcome, samples: [SoakRecorder.Sample], jobs: Int, sessions: Int) {
        self.label = label
        let baseline = outcome.baselineKB
        let load = samples.filter { $0.phase == "load" }
        let peak = samples.map(\.rssKB).max() ?? 0
        let endOfLoad = samples.last { $0.phase == "load" }?.rssKB ?? load.last?.rssKB ?? baseline
        let settled = samples.last?.rssKB ?? endOfLoad
        let perJob = Double(endOfLoad - baseline) * 1024 / Double(max(1, jobs))
        let retainedPerJob = Double(settled - baseline) * 1024 / Double(max(1, jobs))
        summary = [
            "jobs": jobs, "sessions": sessions, "failures": outcome.failures,
            "load_s": outcome.loadSeconds, "jobs_per_s": Double(jobs) / max(outcome.loadSeconds, 1e-9),
            "input_mib": Double(outcome.inputBytes) / 1_048_576,
            "rss_baseline_mib": Double(baseline) / 1024, "rss_peak_mib": Double(peak) / 1024,
            "rss_end_of_load_mib": Double(endOfLoad) / 1024, "rss_after_settle_mib": Double(settled) / 1024,
            "settle_s": outcome.settleSeconds,
            "growth_bytes_per_job": perJob, "retained_bytes_per_job_after_settle": retainedPerJob,
        ]
        var lines: [String] = []
        func mib(_ kb: Int) -> String { String(format: "%.1f", Double(kb) / 1024) }
        lines.append("soak \(label): \(Format.grouped(Double(jobs))) echo jobs over \(Format.grouped(Double(sessions))) sessions, \(String(format: "%.0f", Double(outcome.inputBytes) / 1_048_576)) MiB of input, \(String(format: "%.1f", outcome.loadSeconds)) s (\(Format.grouped(Double(jobs) / max(outcome.loadSeconds, 1e-9))) jobs/s), \(outcome.failures) failed")
        lines.append("RSS MiB: baseline \(mib(baseline)), peak \(mib(peak)), end of load \(mib(endOfLoad)), after \(String(format: "%.0f", outcome.settleSeconds)) s idle \(mib(settled))")
        lines.append("growth \(Format.grouped(perJob)) B/job during the load; \(Format.grouped(retainedPerJob)) B/job still held after the idle period")
        lines.append("")
        lines.append(SoakReport.chart(samples, baselineKB: baseline))
        text = lines.joined(separator: "\n")
    }

    /// A text chart: about 24 rows spread over the samples, each with time, jobs done, RSS, its
    /// difference from the baseline, and a bar from the lowest sample (empty) to the peak (full).
    static func chart(_ samples: [SoakRecorder.Sample], baselineKB: Int) -> String {
        guard let peak = samples.map(\.rssKB).max(), let floor = samples.map(\.rssKB).min(), !samples.isEmpty else {
            return "(no samples)"
        }
        let rows = min(24, samples.count)
        var picked: [SoakRecorder.Sample] = []
        for r in 0..<rows { picked.append(samples[r * (samples.count - 1) / max(1, rows - 1)]) }
        var out = [
            "| t (s) | phase | jobs done | RSS (MiB) | vs baseline | \(String(format: "%.0f", Double(floor) / 1024)) … \(String(format: "%.0f", Double(peak) / 1024)) MiB |",
            "|---:|---|---:|---:|---:|---|",
        ]
        for s in picked {
            let fraction = peak > floor ? Double(s.rssKB - floor) / Double(peak - floor) : 1
            let bar = String(repeating: "█", count: Int((fraction * 40).rounded())) + "▏"
            out.append(
                "| \(String(format: "%.0f", s.seconds)) | \(s.phase) | \(Format.grouped(Double(s.jobs))) | \(String(format: "%.1f", Double(s.rssKB) / 1024)) | \(String(format: "%+.1f", Double(s.rssKB - baselineKB) / 1024)) | `\(bar)` |")
        }
        return out.joined(separator: "\n")
    }
}
