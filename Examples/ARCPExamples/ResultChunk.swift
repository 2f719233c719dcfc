import ARCP
import Foundation

/// Streamed results: instead of one inline `result`, the agent writes its result in
/// pieces with `ctx.streamResult()`. They travel as `result_chunk` events (text as utf8,
/// bytes as base64, each at most the runtime's chunk cap), and `finish` ends the job with
/// a `job.result` carrying `result_id` and `result_size`. The client reassembles them.
public enum ResultChunk: Example {
    public static let name = "result-chunk"
    public static let summary = "A result streamed as result_chunk events (text and bytes) and reassembled by the client."
    public static let spec = "§8.4, §13.6"

    public static func run() async throws {
        var config = ARCPRuntime.Configuration()
        config.chunkSizeCap = 16  // bytes per chunk; tiny, so a short report takes several
        let runtime = ARCPRuntime(configuration: config, verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        try runtime.register("report") { _, ctx in
            let stream = ctx.streamResult()
            for section in ["# Weekly report\n", "Jobs run: 1,204.\n", "Leases expired: 3.\n"] {
                try await stream.write(section)
            }
            try await stream.finish(summary: "3 sections")
            return nil  // ignored: the stream already ended the job
        }
        try runtime.register("thumbnail") { _, ctx in
            let stream = ctx.streamResult()
            try await stream.write(Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(repeating: 0xAB, count: 32)))
            try await stream.finish(summary: "a PNG-ish blob")
            return nil
        }

        let client = ARCPClient(token: "demo-token")
        try await connectInMemory(client, to: runtime)

        step("text")
        let report = try await client.submit(agent: "report")
        var chunks = 0
        for try await event in report.events {
            say(describe(event))
            if case .resultChunk = event.body { chunks += 1 }
        }
        let text = try await report.result()
        say("job.result: result_id \(text.resultID ?? "-"), result_size \(text.resultSize ?? 0), summary \(text.summary ?? "-")")
        say("assembled:\n\(text.result?.stringValue ?? "")")

        step("bytes")
        let image = try await client.submit(agent: "thumbnail")
        for try await event in image.events { say(describe(event)) }
        let blob = try await image.result()
        let bytes = blob.streamedBytes ?? Data()
        say("assembled \(bytes.count) bytes, starting \(bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " "))")

        try check(chunks >= 3, "the text came in several chunks")
        try check(text.result == "# Weekly report\nJobs run: 1,204.\nLeases expired: 3.\n", "the text reassembled exactly")
        try check(text.resultSize == text.result?.stringValue?.utf8.count, "result_size is the byte count")
        try check(bytes.count == 40 && bytes.first == 0x89, "the bytes reassembled exactly")

        await client.close()
        await runtime.shutdown()
    }
}
