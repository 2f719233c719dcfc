import ARCP
import Foundation

/// `progress`: the agent reports `progress` events (`current`, `total`, `units`, `message`)
/// and the client renders them as a text bar (spec §8.2.1).
enum WireProgress: WireExample {
    static let name = "progress"
    static let defaultPort = 7892
    static let summary = "progress events 1/10 … 10/10 rendered as a text bar."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        let runtime = ARCPRuntime(configuration: setup.configuration(name: "progress-server"), verifier: setup.verifier)
        try runtime.register("report") { input, ctx in
            // Bounded: the input comes from the wire.
            let total = Int(min(max(input["steps"]?.int64Value ?? 10, 1), 1000))
            for i in 1...total {
                try await ctx.progress(Double(i), total: Double(total), units: "steps", message: "step \(i)/\(total)")
                try await Task.sleep(for: .milliseconds(20))
            }
            return ["steps": .int(Int64(total))]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let client = ARCPClient(token: setup.token, options: setup.options(name: "progress-client", features: [.progress]))
        try await setup.connect(client)
        let job = try await client.submit(agent: "report", input: ["steps": 10])
        var last = 0
        for try await event in job.events {
            guard case .progress(let p) = event.body else { continue }
            let current = Int(exactly: p.current) ?? 0
            let total = p.total.flatMap { Int(exactly: $0) } ?? 0
            let width = min(max(total, 0), 100)  // the peer's numbers, bounded for drawing
            let done = min(max(current, 0), width)
            let bar = String(repeating: "#", count: done) + String(repeating: "-", count: width - done)
            say("[\(bar)] \(current)/\(total)")
            last = current
        }
        let outcome = try await job.result()
        try check(outcome.finalStatus == .success, "the job succeeds")
        try check(last == 10, "the last progress is 10, got \(last)")
        await client.close()
    }
}
