import ARCP
import Foundation

/// `delegate`: a parent agent delegates to `child`; the runtime emits the `delegate` event on
/// the parent, starts the child under a lease derived from the parent's, and the child
/// inherits the trace id (spec §9.4, §10, §11).
///
/// The reference's parent opens a loopback WebSocket client to its own runtime, submits the
/// child as a new top-level job with `trace_id`, and emits a `delegate` event by hand. Here
/// delegation is the runtime's (`ctx.delegate`), so it needs what §9.1 requires of every
/// authority-bearing operation: an `agent.delegate` grant in the parent's lease. Our client
/// requests it; the reference's `client.py` submits without a lease, so against this runtime
/// its parent's delegation is PERMISSION_DENIED (docs/INTEROP.md, examples matrix).
enum WireDelegate: WireExample {
    static let name = "delegate"
    static let defaultPort = 7878
    static let summary = "A parent agent delegates to a child under its lease; both share the trace id."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        let runtime = ARCPRuntime(configuration: setup.configuration(name: "delegate-server"), verifier: setup.verifier)
        try runtime.register("child") { _, ctx in
            await ctx.log("info", "child running", attributes: ["trace_id": .string(ctx.traceID)])
            return ["child_done": true, "trace_id": .string(ctx.traceID)]
        }
        try runtime.register("parent") { _, ctx in
            let child = try await ctx.delegate(agent: "child", input: ["from": "parent"])
            let result = try await child.result()
            return ["parent_trace": .string(ctx.traceID), "child_trace": result["trace_id"] ?? .null]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let client = ARCPClient(token: setup.token, options: setup.options(name: "delegate-client", features: []))
        try await setup.connect(client)
        let job = try await client.submit(agent: "parent", input: ["start": true], leaseRequest: ["agent.delegate": ["child"]])
        var delegated: DelegateBody? = nil
        for try await event in job.events {
            say("[event] kind=\(event.body.kind)")
            if case .delegate(let d) = event.body { delegated = d }
        }
        let outcome = try await job.result()
        say("parent terminal: \(outcome.finalStatus.rawValue); delegate: agent \(delegated?.agent ?? "-"), child \(delegated?.childJobId ?? "-")")
        try check(outcome.finalStatus == .success, "the parent succeeds")
        try check(delegated != nil, "a delegate event was seen")
        let parentTrace = outcome.result?["parent_trace"]
        let childTrace = outcome.result?["child_trace"]
        try check(parentTrace == childTrace, "parent.trace_id == child.trace_id: \(compact(outcome.result))")
        say("trace_id shared across parent/child: \(compact(parentTrace))")
        await client.close()
    }
}
