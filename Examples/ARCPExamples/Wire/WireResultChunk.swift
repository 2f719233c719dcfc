import ARCP
import Foundation

/// `result_chunk`: the agent streams its result in 30 sections (`ctx.streamResult()`); the
/// client reassembles the `result_chunk` events and checks the size against `job.result`'s
/// `result_size` (spec §8.4, §13.6).
enum WireResultChunk: WireExample {
    static let name = "result_chunk"
    static let defaultPort = 7893
    static let summary = "A result streamed as 30 result_chunk events, reassembled; size equals result_size."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        let runtime = ARCPRuntime(configuration: setup.configuration(name: "result-chunk-server"), verifier: setup.verifier)
        try runtime.register("report-builder") { input, ctx in
            // Bounded: the input comes from the wire.
            let chunks = Int(min(max(input["chunks"]?.int64Value ?? 30, 1), 10_000))
            let stream = ctx.streamResult()
            for i in 1...chunks {
                try await stream.write("Section \(i): lorem ipsum dolor sit amet.\n")
            }
            try await stream.finish(summary: "report with \(chunks) chunks")
            return .null  // the streamed result is the job's result
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let client = ARCPClient(token: setup.token, options: setup.options(name: "result-chunk-client", features: [.resultChunk]))
        try await setup.connect(client)
        let job = try await client.submit(agent: "report-builder", input: ["chunks": 30])
        var chunks = 0
        for try await event in job.events { if case .resultChunk = event.body { chunks += 1 } }
        let outcome = try await job.result()
        let blob = outcome.streamedBytes ?? Data()
        say("reassembled \(blob.count) bytes from \(chunks) chunks; result_size=\(outcome.resultSize.map { "\($0)" } ?? "nil")")
        try check(outcome.finalStatus == .success, "the job succeeds")
        try check(outcome.resultSize != nil, "job.result carries result_size")
        try check(blob.count == outcome.resultSize, "the reassembled size equals result_size")
        await client.close()
    }
}
