import ARCP
import Foundation

/// `job.cancel` reaches the agent as Swift task cancellation: the next cancellable await
/// throws `CancellationError`, cleanup runs (and may still emit events), and then the
/// runtime sends the terminal `job.error CANCELLED` with final status `cancelled`.
public enum Cancel: Example {
    public static let name = "cancel"
    public static let summary = "job.cancel → Swift task cancellation in the agent, cleanup, terminal CANCELLED."
    public static let spec = "§7.3, §7.4"

    public static func run() async throws {
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        try runtime.register("crawler") { _, ctx in
            await ctx.status("running", "crawling until cancelled")
            var page = 0
            do {
                while true {
                    try await Task.sleep(for: .seconds(60))  // any cancellable await ends here on cancel
                    page += 1
                    await ctx.log("info", "crawled page \(page)")
                }
            } catch {
                // Cleanup runs before the terminal frame, and can still report.
                await ctx.log("info", "cleanup after \(page) pages: closing connections (\(type(of: error)))")
                throw error
            }
        }

        let client = ARCPClient(token: "demo-token")
        try await connectInMemory(client, to: runtime)
        let job = try await client.submit(agent: "crawler")

        // Wait until the agent is running, then cancel. cancel() returns once the runtime
        // acknowledged with job.cancelled; the job's outcome follows on the handle.
        var events = job.events.makeAsyncIterator()
        if let first = try await events.next() { say(describe(first)) }
        try await job.cancel(reason: "user pressed stop")
        say("job.cancelled acknowledged")

        var sawCleanup = false
        while let event = try await events.next() {
            say(describe(event))
            if case .log(let l) = event.body, l.message.hasPrefix("cleanup") { sawCleanup = true }
        }
        let failure = try await expectError("the cancelled job") { _ = try await job.result() }
        say("job.error \(failure.code.rawValue): \(failure.message) (final_status \(failure.finalStatus?.rawValue ?? "?"))")
        say("runtime status: \(runtime.jobStatus(job.jobID)?.rawValue ?? "?")")

        try check(sawCleanup, "the agent's cleanup ran before the terminal frame")
        try check(failure.code == .cancelled && failure.finalStatus == .cancelled, "terminal CANCELLED / cancelled")

        await client.close()
        await runtime.shutdown()
    }
}
