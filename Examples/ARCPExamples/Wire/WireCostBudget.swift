import ARCP
import Foundation

/// `cost_budget`: the lease grants `USD:1.00`; each model call costs 0.30, reported as a
/// `cost.openai` metric and deducted by the runtime, which follows each deduction with a
/// `cost.budget.remaining` metric; once the counter is ≤ 0 the next authorization fails
/// with BUDGET_EXHAUSTED as a `tool_result` error and the agent stops (spec §9.6, §13.5).
///
/// The reference's agent asks `ctx.authorize("cost.budget", "USD")`; `cost.budget` is not an
/// operation namespace (§9.2), so here each call authorizes its model (`model.use`, any model
/// allowed when the lease does not name one, §9.7) and the runtime checks the budget first.
enum WireCostBudget: WireExample {
    static let name = "cost_budget"
    static let defaultPort = 7891
    static let summary = "USD:1.00 drawn down by 0.30 per call; cost.budget.remaining; BUDGET_EXHAUSTED in a tool_result."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        var config = setup.configuration(name: "cost-budget-server")
        config.modelPolicy = .allowAnyWhenAbsent
        let runtime = ARCPRuntime(configuration: config, verifier: setup.verifier)
        try runtime.register("caller") { _, ctx in
            for i in 1...5 {
                let call = await ctx.toolCall("llm.complete", args: ["model": "demo/model"], callID: "tc\(i)")
                do {
                    // Denied: the runtime emits the tool_result error for this call.
                    try ctx.authorize(.modelUse, "demo/model", toolCallID: call)
                } catch let e as ARCPError where e.code == .budgetExhausted {
                    return ["completed": .int(Int64(i - 1)), "exhausted": true]
                }
                await ctx.metric("cost.openai", 0.30, unit: "USD")
                await ctx.toolResult(callID: call, result: .string("call-\(i)"))
            }
            return ["completed": 5, "exhausted": false]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let client = ARCPClient(token: setup.token, options: setup.options(name: "cost-budget-client", features: [.costBudget]))
        try await setup.connect(client)
        let job = try await client.submit(agent: "caller", leaseRequest: ["cost.budget": ["USD:1.00"]])
        var remaining: [Double] = []
        var exhausted = false
        for try await event in job.events {
            say(describe(event))
            switch event.body {
            case .metric(let m) where m.name == "cost.budget.remaining":
                remaining.append(m.value)
            case .toolResult(let r) where r.error?["code"]?.stringValue == "BUDGET_EXHAUSTED":
                exhausted = true
            default:
                break
            }
        }
        let outcome = try await job.result()
        say("remaining_snapshots=\(remaining), exhausted_in_tool_result=\(exhausted); result \(compact(outcome.result))")
        try check(outcome.finalStatus == .success, "the job succeeds")
        try check(exhausted, "a tool_result carried BUDGET_EXHAUSTED")
        try check(remaining == remaining.sorted(by: >), "cost.budget.remaining never rises: \(remaining)")
        await client.close()
    }
}
