import ARCP
import Foundation

/// `submit_and_stream`: one job emitting the reserved event kinds — status, log, thought,
/// tool_call, tool_result, metric, artifact_ref, status — then `job.result` (spec §7.1, §8).
/// Bodies are sent in the spec's form (`tool`/`args`/`call_id`, `uri`/`content_type`/
/// `byte_size`); the reference's names (`name`/`arguments`/`tool_call_id`,
/// `media_type`/`size_bytes`) are accepted when they come the other way.
enum WireSubmitAndStream: WireExample {
    static let name = "submit_and_stream"
    static let defaultPort = 7879
    static let summary = "Submit, stream eight events of seven reserved kinds, read the result."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        let runtime = ARCPRuntime(configuration: setup.configuration(name: "submit-and-stream-server"), verifier: setup.verifier)
        try runtime.register("echo") { input, ctx in
            await ctx.status("starting")
            let keys = input.objectValue?.keys.map { JSONValue.string($0) } ?? []
            await ctx.log("info", "agent received input", attributes: ["keys": .array(keys)])
            await ctx.thought("I will fetch then summarize.")
            await ctx.toolCall("fetch", args: ["url": "x://"], callID: "tc1")
            await ctx.toolResult(callID: "tc1", result: ["bytes": 42])
            await ctx.metric("tokens.in", 12, unit: "tokens")
            await ctx.artifact(uri: "artifact://a1", contentType: "text/plain", byteSize: 7)
            await ctx.status("complete")
            return ["summary": "ok"]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let client = ARCPClient(token: setup.token, options: setup.options(name: "submit-and-stream-client", features: []))
        try await setup.connect(client)
        let job = try await client.submit(agent: "echo", input: ["hello": "world"])
        var count = 0
        for try await event in job.events {
            count += 1
            say("[event \(count)] \(describe(event))")
        }
        let outcome = try await job.result()
        say("terminal: \(outcome.finalStatus.rawValue) (events=\(count)) \(compact(outcome.result))")
        try check(outcome.finalStatus == .success, "the job succeeds")
        try check(count >= 7, "expected >= 7 events, got \(count)")
        await client.close()
    }
}
