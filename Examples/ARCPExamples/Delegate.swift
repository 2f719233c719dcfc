import ARCP
import Foundation

/// A parent agent hands work to a child agent with `ctx.delegate`. The child's lease must
/// be a subset of the parent's; a request that is not is refused as a `tool_result` error
/// on the parent, which decides what to do. The client follows the job tree.
public enum Delegate: Example {
    public static let name = "delegate"
    public static let summary = "A parent agent delegates to a child under a narrower lease; the client follows the tree."
    public static let spec = "§9.4, §10"

    struct Summary: Codable, Sendable {
        var folder: String
        var files: Int
    }

    public static func run() async throws {
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))

        // The child: summarizes one folder, which its own lease must cover.
        try runtime.register("summarizer") { input, ctx in
            let folder = input["folder"]?.stringValue ?? "/"
            try ctx.authorize(.fsRead, folder + "/report.txt")
            await ctx.log("info", "summarizing \(folder) for parent job \(ctx.parentJobID ?? "-")")
            return try json(Summary(folder: folder, files: 3))
        }

        // The parent: delegates one quarter to the summarizer, then tries to hand the
        // child more than it has itself (refused), and carries on.
        try runtime.register("planner") { _, ctx in
            let child = try await ctx.delegate(
                agent: "summarizer", input: ["folder": "/docs/q3"], leaseRequest: ["fs.read": ["/docs/q3/**"]])
            await ctx.log("info", "delegated to \(child.agent) as job \(child.jobID), lease \(child.lease)")
            let summary = try decode(Summary.self, from: try await child.result())

            do {
                _ = try await ctx.delegate(agent: "summarizer", input: ["folder": "/"], leaseRequest: ["fs.read": ["/**"]])
            } catch let e as ARCPError {
                // Not a session error: the parent sees the refusal and decides.
                await ctx.log("warn", "wider delegation refused: \(e.code.rawValue)")
            }
            return ["q3": try json(summary)]
        }

        let client = ARCPClient(token: "demo-token")
        try await connectInMemory(client, to: runtime)

        // The parent may read /docs/** and delegate to the summarizer.
        let job = try await client.submit(
            agent: "planner", leaseRequest: ["agent.delegate": ["summarizer"], "fs.read": ["/docs/**"]])
        step("parent \(job.jobID) events")
        var kinds: [String] = []
        for try await event in job.events {
            say(describe(event))
            kinds.append(event.body.kind)
        }
        let outcome = try await job.result()
        say("parent result: \(outcome.result ?? .null)")

        // Each delegated job arrived as its own job.accepted (with parent_job_id and
        // delegate_id) and has its own handle: events, result, and its own children.
        step("the job tree")
        for child in job.childJobs {
            say("child \(child.jobID): agent \(child.accepted?.agent ?? "?")")
            say("  parent \(child.parentJobID ?? "-"), delegate \(child.delegateID ?? "-")")
            say("  lease \(child.accepted?.lease ?? [:])")
            for try await event in child.events { say("  " + describe(event)) }
            say("  result: \(try await child.result().result ?? .null)")
        }

        try check(job.childJobs.count == 1, "one child job was created")
        try check(job.childJobs.first?.parentJobID == job.jobID, "the child names its parent")
        try check(kinds.filter { $0 == "delegate" }.count == 2, "two delegate events on the parent")
        try check(kinds.contains("tool_result"), "the refused delegation is a tool_result error on the parent")

        await client.close()
        await runtime.shutdown()
    }
}
