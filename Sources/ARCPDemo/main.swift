import ARCP
import Foundation

// A one-command tour: a runtime and a client in one process over MemoryTransport.
//   swift run arcp-demo
// It registers agents, submits jobs, streams their events, cancels one, streams a chunked
// result, and lists jobs, printing every step.

let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo-token": "me@example.com"]))

try runtime.register("echo") { input, ctx in
    await ctx.log("info", "echo started")
    return ["echoed": input]
}
try runtime.register("research", version: "1.0.0") { input, ctx in
    let topic = input["topic"]?.stringValue ?? "ARCP"
    await ctx.thought("planning research on \(topic)")
    let call = await ctx.toolCall("search.web", args: ["q": .string(topic)])
    await ctx.toolResult(callID: call, result: ["hits": 3])
    for step in 1...3 {
        try await ctx.progress(Double(step), total: 3, units: "sources", message: "reading source \(step)")
    }
    await ctx.metric("tokens.in", 1234, unit: "tokens")
    return ["summary": .string("\(topic) is a wire protocol for long-running agent jobs")]
}
try runtime.register("sleeper") { _, ctx in
    await ctx.status("running", "sleeping until cancelled")
    try await Task.sleep(for: .seconds(3600))  // cancellation ends this
    return nil
}
try runtime.register("report") { _, ctx in
    let stream = ctx.streamResult()
    for section in ["# Report\n", "Section one.\n", "Section two.\n"] { try await stream.write(section) }
    try await stream.finish(summary: "3 sections")
    return nil
}

let (clientEnd, runtimeEnd) = MemoryTransport.pair()
let server = Task { await runtime.accept(runtimeEnd) }

let client = ARCPClient(token: "demo-token")
try await client.connect(clientEnd)
print("connected: session \(client.sessionID ?? "?"), features \(client.negotiatedFeatures.map(\.rawValue).joined(separator: ", "))")

func show(_ job: JobHandle) async throws {
    for try await event in job.events {
        switch event.body {
        case .log(let l): print("  [\(event.seq)] log \(l.level): \(l.message)")
        case .thought(let t): print("  [\(event.seq)] thought: \(t.text)")
        case .toolCall(let c): print("  [\(event.seq)] tool_call \(c.tool ?? "?") \(c.args.map { "\($0)" } ?? "")")
        case .toolResult(let r): print("  [\(event.seq)] tool_result \(r.result.map { "\($0)" } ?? "")")
        case .progress(let p): print("  [\(event.seq)] progress \(Int(p.current))/\(Int(p.total ?? 0)) \(p.message ?? "")")
        case .metric(let m): print("  [\(event.seq)] metric \(m.name)=\(m.value) \(m.unit ?? "")")
        case .status(let s): print("  [\(event.seq)] status \(s.phase) \(s.message ?? "")")
        case .resultChunk(let c): print("  [\(event.seq)] result_chunk #\(c.chunkSeq) \(c.data.debugDescription)")
        default: print("  [\(event.seq)] \(event.body.kind)")
        }
    }
}

print("\n1. echo")
let echo = try await client.submit(agent: "echo", input: ["hello": "world"])
try await show(echo)
print("  result:", try await echo.result().result ?? .null)

print("\n2. research@1.0.0 (every common event kind)")
let research = try await client.submit(agent: "research", input: ["topic": "leases"])
try await show(research)
print("  result:", try await research.result().result ?? .null)

print("\n3. cancel a running job")
let sleeper = try await client.submit(agent: "sleeper")
if let first = try await sleeper.events.first(where: { _ in true }) { print("  [\(first.seq)] \(first.body.kind)") }
try await sleeper.cancel(reason: "demo")
do {
    _ = try await sleeper.result()
} catch let e as ARCPError {
    print("  ended: \(e.code.rawValue) (final_status \(e.finalStatus?.rawValue ?? "?"))")
}

print("\n4. streamed result")
let report = try await client.submit(agent: "report")
try await show(report)
let outcome = try await report.result()
print("  assembled \(outcome.resultSize ?? 0) bytes as \(outcome.resultID ?? "?"):\n\(outcome.result?.stringValue ?? "")")

print("5. list jobs")
for job in try await client.listJobs().jobs {
    print("  \(job.jobId)  \(job.agent ?? "?")  \(job.status.rawValue)")
}

await client.close()
server.cancel()
print("\ndone")
