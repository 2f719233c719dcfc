import ARCP
import Foundation

/// `arcp-bench engine`: the session/job engine over MemoryTransport, as the Python
/// reference's bench measures its in-process path (bench.py stream-mem and latency).
/// - stream: one job emitting N `log` events; events/s from submit to the end of the stream.
/// - latency: sequential echo submit → result; p50/p99 in µs.
enum EngineBench: BenchCommand {
    static let name = "engine"
    static let summary = "runtime+client over MemoryTransport: events/s (one job, N logs) and echo submit→result p50/p99"

    static func run(arguments: [String]) async throws {
        let a = try BenchArguments(arguments, valueFlags: ["--n", "--jobs", "--reps"], switchFlags: ["--json"])
        let n = try a.int("--n", default: 20_000)
        let jobs = try a.int("--jobs", default: 2_000)
        let reps = try a.int("--reps", default: 5)

        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["tok": "bench"]))
        try runtime.register("flood") { input, ctx in
            let count = input["n"]?.int64Value ?? 0
            for i in 0..<count { await ctx.log("info", "event \(i)") }
            return ["n": .int(count)]
        }
        try runtime.register("echo") { input, _ in ["echoed": input] }
        let (c, r) = MemoryTransport.pair()
        Task { await runtime.accept(r) }
        let client = ARCPClient(token: "tok")
        try await client.connect(c)

        func stream(_ count: Int) async throws -> Double {
            let start = ContinuousClock.now
            let job = try await client.submit(agent: "flood", input: ["n": .int(Int64(count))])
            var seen = 0
            // Count the job's own log events: a `status back_pressure` the runtime may add
            // under load is not one of them.
            for try await event in job.events {
                if case .log = event.body { seen += 1 }
            }
            _ = try await job.result()
            let secs = (ContinuousClock.now - start).seconds
            guard seen == count else { throw BenchError("expected \(count) events, saw \(seen)") }
            return Double(count) / secs
        }
        _ = try await stream(200)  // warm-up
        var rates: [Double] = []
        for _ in 0..<reps { rates.append(try await stream(n)) }

        for i in 0..<100 { _ = try await client.submit(agent: "echo", input: ["i": .int(Int64(i))], streamEvents: false).result() }
        var p50s: [Double] = [], p99s: [Double] = []
        for _ in 0..<reps {
            var lat: [Double] = []
            lat.reserveCapacity(jobs)
            for i in 0..<jobs {
                let t0 = ContinuousClock.now
                let out = try await client.submit(agent: "echo", input: ["i": .int(Int64(i))], streamEvents: false).result()
                lat.append((ContinuousClock.now - t0).seconds * 1e6)
                guard out.result?["echoed"]?["i"]?.int64Value == Int64(i) else { throw BenchError("wrong echo result") }
            }
            lat.sort()
            p50s.append(lat[lat.count / 2])
            p99s.append(lat[min(lat.count - 1, Int(Double(lat.count) * 0.99))])
        }
        await client.close()

        func med(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
        // Python reference (bench/RESULTS.md on this machine kind): 38,207 events/s in-process; p50 811 µs (over WebSocket).
        let streamRatio = med(rates) / 38_207
        let latRatio = 811 / med(p50s)
        if a.has("--json") {
            print(#"{"stream_events_per_sec":\#(med(rates)),"stream_min":\#(rates.min() ?? 0),"stream_max":\#(rates.max() ?? 0),"echo_p50_us":\#(med(p50s)),"echo_p99_us":\#(med(p99s)),"stream_ratio_vs_python":\#(streamRatio),"p50_ratio_vs_python":\#(latRatio)}"#)
        } else {
            print("stream  N=\(n): \(Int(med(rates))) events/s (min \(Int(rates.min() ?? 0)), max \(Int(rates.max() ?? 0))) — \(String(format: "%.1f", streamRatio))x the Python reference's 38,207")
            print("echo    \(jobs) jobs: p50 \(Int(med(p50s))) µs, p99 \(Int(med(p99s))) µs — p50 \(String(format: "%.1f", latRatio))x faster than the reference's 811 µs")
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
