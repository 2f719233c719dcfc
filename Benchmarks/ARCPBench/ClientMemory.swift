import ARCP
import ARCPWebSocket
import Foundation
import Synchronization

/// `arcp-bench client-memory`: whether a long-lived `ARCPClient` grows. One client, one session,
/// N jobs (default 100,000) against `arcp serve` in a child process over loopback WebSocket (so
/// the runtime's memory is not in this process). Mixed jobs: echo with and without streamed
/// events, small `flood` jobs whose events are read, failing jobs. Samples this process's RSS and
/// what the client holds (jobs followed, requests in flight, held frames) every N/10 jobs; reports
/// the growth after the first tenth (warm-up) per job.
enum ClientMemoryBench: BenchCommand {
    static let name = "client-memory"
    static let summary = "one long-lived client runs N jobs (default 100,000) against `arcp serve`: client RSS per job, state held"

    static let help = """
        usage: arcp-bench client-memory [--jobs N] [--concurrency C] [--arcp PATH] [--json]

          --jobs N         jobs in total (default 100000)
          --concurrency C  jobs in flight at once (default 8)
          --arcp PATH      the `arcp` executable (default: next to this arcp-bench)
          --json           print the samples as JSON
        """

    static func run(arguments: [String]) async throws {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(help)
            return
        }
        let a = try BenchArguments(arguments, valueFlags: ["--jobs", "--concurrency", "--arcp"], switchFlags: ["--json"])
        let total = try a.int("--jobs", default: 100_000)
        let concurrency = max(1, try a.int("--concurrency", default: 8))
        let arcp = RuntimeCommand.arcpServe(try WebSocketBench.locateSibling("arcp", explicit: a.string("--arcp"), product: "arcp"))
        let logDir = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-bench-client-memory-\(getpid())")
        try FileManager.default.createDirectory(at: logDir, withIntermediateDirectories: true)

        struct Sample {
            var jobs: Int
            var rssKB: Int
            var seconds: Double
            var retained: (jobs: Int, requests: Int, heldFrames: Int)
        }
        var samples: [Sample] = []
        let step = max(1, total / 10)
        let t0 = ContinuousClock.now
        try await WebSocketBench.withRuntime(arcp, logDir: logDir, tag: "client-memory") { url, _ in
            let client = try await WebSocketBench.connectClient(url)
            var done = 0
            samples.append(Sample(jobs: 0, rssKB: Proc.statusKB(pid: getpid(), "VmRSS") ?? 0, seconds: 0, retained: client.retained))
            while done < total {
                let batch = min(step, total - done)
                // C workers, each taking the next job number until the batch is done.
                let counter = Counter(start: done, end: done + batch)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<concurrency {
                        group.addTask {
                            while let i = counter.next() { try await job(client, i) }
                        }
                    }
                    try await group.waitForAll()
                }
                done += batch
                samples.append(
                    Sample(
                        jobs: done, rssKB: Proc.statusKB(pid: getpid(), "VmRSS") ?? 0, seconds: (ContinuousClock.now - t0).seconds,
                        retained: client.retained))
                let s = samples[samples.count - 1]
                FileHandle.standardError.write(
                    Data("client-memory: \(s.jobs) jobs, RSS \(s.rssKB / 1024) MiB, held: \(s.retained.jobs) jobs \(s.retained.requests) requests \(s.retained.heldFrames) frames\n".utf8))
            }
            await client.close()
        }
        let warm = samples[1]
        let last = samples[samples.count - 1]
        let perJob = Double(last.rssKB - warm.rssKB) * 1024 / Double(max(1, last.jobs - warm.jobs))
        if a.has("--json") {
            let rows = samples.map {
                #"{"jobs":\#($0.jobs),"rss_kb":\#($0.rssKB),"seconds":\#($0.seconds),"jobs_held":\#($0.retained.jobs),"requests_held":\#($0.retained.requests),"frames_held":\#($0.retained.heldFrames)}"#
            }
            print(#"{"jobs":\#(total),"concurrency":\#(concurrency),"rss_growth_bytes_per_job_after_warmup":\#(perJob),"samples":[\#(rows.joined(separator: ","))]}"#)
        } else {
            print("client-memory: \(total) jobs, \(concurrency) in flight, \(String(format: "%.1f", last.seconds)) s")
            for s in samples {
                print("  after \(s.jobs) jobs: RSS \(String(format: "%.1f", Double(s.rssKB) / 1024)) MiB; held \(s.retained.jobs) jobs, \(s.retained.requests) requests, \(s.retained.heldFrames) frames")
            }
            print("  RSS growth after the first \(warm.jobs) jobs: \(String(format: "%.1f", perJob)) bytes per job")
        }
    }

    /// Job `i` of the mix: mostly echo without events, every 4th with its events read, every
    /// 16th a 20-event flood, every 64th a job that fails.
    static func job(_ client: ARCPClient, _ i: Int) async throws {
        switch i % 64 {
        case 63:
            do {
                _ = try await client.submit(agent: "nope-\(i % 7)", input: [:]).result()
            } catch is ARCPError {}
        case let r where r % 16 == 15:
            let job = try await client.submit(agent: "flood", input: ["n": 20])
            for try await _ in job.events {}
            _ = try await job.result()
        case let r where r % 4 == 3:
            let job = try await client.submit(agent: "echo", input: ["i": .int(Int64(i))])
            for try await _ in job.events {}
            _ = try await job.result()
        default:
            _ = try await client.submit(agent: "echo", input: ["i": .int(Int64(i))], streamEvents: false).result()
        }
    }
}

/// Hands out job numbers to the workers of one batch.
private final class Counter: Sendable {
    private let state: Mutex<(next: Int, end: Int)>
    init(start: Int, end: Int) { state = Mutex((start, end)) }
    func next() -> Int? {
        state.withLock { s in
            guard s.next < s.end else { return nil }
            defer { s.next += 1 }
            return s.next
        }
    }
}
