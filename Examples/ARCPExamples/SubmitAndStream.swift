import ARCP
import Foundation

/// Connect, submit a job with a typed input, iterate its events as they arrive, read its
/// typed result, close. The wiring is spelled out in full here; the other examples use
/// `connectInMemory(_:to:)` for the same three lines.
public enum SubmitAndStream: Example {
    public static let name = "submit-and-stream"
    public static let summary = "Connect, submit a typed job, iterate its events, read its typed result, close."
    public static let spec = "§6.1–6.2, §7.1, §7.3, §8"

    /// The agent's input. Any `Decodable` type works: the runtime decodes `job.submit`'s
    /// `input` into it and fails the submission's job with INVALID_REQUEST if it does not fit.
    struct Question: Codable, Sendable {
        var topic: String
        var sources: Int
    }

    /// The agent's output. Any `Encodable` type: it becomes `job.result`'s `result`.
    struct Answer: Codable, Sendable {
        var topic: String
        var findings: [String]
    }

    public static func run() async throws {
        // 1. A runtime that accepts one bearer token (principal alice) and hosts one agent.
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        try runtime.register("researcher", input: Question.self) { question, ctx in
            await ctx.log("info", "researching \(question.topic)")
            await ctx.thought("I will read \(question.sources) sources")
            var findings: [String] = []
            for page in 1...question.sources {
                // A tool call under the job's lease: tool_call and tool_result events.
                let hit = try await ctx.callTool("search.web", args: ["q": .string(question.topic), "page": .int(Int64(page))]) {
                    ["title": .string("\(question.topic), source \(page)")]
                }
                findings.append(hit["title"]?.stringValue ?? "?")
                await ctx.metric("tokens.out", 120, unit: "tokens")
            }
            return Answer(topic: question.topic, findings: findings)
        }

        // 2. An in-process connection: the two ends of a MemoryTransport. The runtime
        //    serves its end in the background; the client takes the other.
        let (clientEnd, runtimeEnd) = MemoryTransport.pair()
        Task { await runtime.accept(runtimeEnd) }

        // 3. Connect: session.hello → session.welcome.
        let client = ARCPClient(token: "demo-token")
        try await client.connect(clientEnd)
        step("connected")
        say("session \(client.sessionID ?? "?")")
        say("features: \(client.negotiatedFeatures.map(\.rawValue).joined(separator: ", "))")

        // 4. Submit with an Encodable input and a lease allowing the search tool.
        let job = try await client.submit(
            agent: "researcher", input: Question(topic: "leases", sources: 2), leaseRequest: ["tool.call": ["search.*"]])
        step("job.accepted")
        say("job \(job.jobID), agent \(job.accepted?.agent ?? "?"), lease \(job.accepted?.lease ?? [:])")

        // 5. Stream the events: the sequence ends after the job's terminal frame.
        step("events")
        var kinds: [String] = []
        for try await event in job.events {
            say(describe(event))
            kinds.append(event.body.kind)
        }

        // 6. The outcome, decoded back into the agent's output type.
        let outcome = try await job.result()
        let answer = try decode(Answer.self, from: outcome.result)
        step("job.result (\(outcome.finalStatus.rawValue))")
        say("\(answer.topic): \(answer.findings.joined(separator: "; "))")
        try check(outcome.finalStatus == .success, "the job succeeded")
        try check(answer.findings.count == 2, "two findings")
        try check(kinds.first == "log" && kinds.contains("tool_call") && kinds.contains("tool_result"), "events streamed in order")

        // 7. Close: session.close → session.closed. Jobs on the runtime would keep running.
        await client.close()
        await runtime.shutdown()
        say("\nclosed")
    }
}
