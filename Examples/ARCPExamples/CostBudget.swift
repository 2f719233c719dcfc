import ARCP
import Foundation

/// A `cost.budget` lease entry gives a job money to spend (`USD:1.00`). Each `cost.*`
/// metric the agent reports in that currency is deducted, exactly (decimal arithmetic);
/// the client sees `cost.budget.remaining` after each deduction, and once the counter
/// reaches zero every `authorize` fails with BUDGET_EXHAUSTED (not retryable).
public enum CostBudget: Example {
    public static let name = "cost-budget"
    public static let summary = "A USD:1.00 budget drawn down by cost metrics; cost.budget.remaining; BUDGET_EXHAUSTED at zero."
    public static let spec = "§9.6, §13.5"

    public static func run() async throws {
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        try runtime.register("analyst") { _, ctx in
            var answered = 0
            for question in 1...5 {
                do {
                    // Ask before each model call; once the budget is spent this throws.
                    _ = try await ctx.callTool("llm.complete", args: ["question": .int(Int64(question))]) { ["ok": true] }
                } catch let e as ARCPError where e.code == .budgetExhausted {
                    await ctx.log("warn", "question \(question): \(e.code.rawValue), stopping with \(answered) answers")
                    break
                }
                // Report what the call cost; the runtime deducts it from the budget.
                await ctx.metric("cost.inference", 0.35, unit: "USD")
                answered += 1
            }
            return ["answered": .int(Int64(answered)), "remaining": .string(LeaseDecimal.format(ctx.budgetRemaining["USD"] ?? 0))]
        }

        let client = ARCPClient(token: "demo-token")
        try await connectInMemory(client, to: runtime)
        let job = try await client.submit(agent: "analyst", leaseRequest: ["cost.budget": ["USD:1.00"], "tool.call": ["llm.*"]])
        for (currency, amount) in job.accepted?.budget ?? [:] {
            if case .number(let value) = amount { say("job.accepted budget: \(currency) \(value)") }
        }

        var remaining: [Double] = []
        for try await event in job.events {
            say(describe(event))
            if case .metric(let m) = event.body, m.name == "cost.budget.remaining" { remaining.append(m.value) }
        }
        let outcome = try await job.result()
        say("result: \(outcome.result ?? .null)")
        say("runtime's counter: \(runtime.budgetRemaining(job: job.jobID) ?? [:])")

        // 1.00 − 0.35 − 0.35 − 0.35 = −0.05: the third call was authorized (0.30 left)
        // and overspent; the fourth is refused.
        try check(remaining.count == 3, "one cost.budget.remaining per deduction: \(remaining)")
        try check(outcome.result?["answered"] == 3, "three calls were made before the budget ran out")

        await client.close()
        await runtime.shutdown()
    }
}
