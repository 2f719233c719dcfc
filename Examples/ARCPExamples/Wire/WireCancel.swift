import ARCP
import Foundation

/// `cancel`: a long job (`patient`, a tick every 0.5 s for 30 s) cancelled after 1.5 s;
/// the agent sees Swift task cancellation at its next await, and the job ends as cancelled
/// (spec §7.4: `job.cancelled`, then `job.error` CANCELLED).
enum WireCancel: WireExample {
    static let name = "cancel"
    static let defaultPort = 7883
    static let summary = "Submit a 30 s job, cancel it after 1.5 s; it ends CANCELLED."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        let runtime = ARCPRuntime(configuration: setup.configuration(name: "cancel-server"), verifier: setup.verifier)
        try runtime.register("patient") { _, ctx in
            for i in 0..<60 {
                await ctx.log("info", "tick \(i)")
                try await Task.sleep(for: .milliseconds(500))  // throws CancellationError once cancelled
            }
            return ["never_reached": true]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        var options = setup.options(name: "cancel-client", features: [])
        // The reference client waits up to 30 s for the end; the ack should come at once.
        options.requestTimeout = .seconds(5)
        let client = ARCPClient(token: setup.token, options: options)
        try await setup.connect(client)
        let job = try await client.submit(agent: "patient")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await event in job.events { say("[event] kind=\(event.body.kind)") }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(1500))
                say("sending job.cancel for \(job.jobID)")
                try await job.cancel(reason: "demo.cancel")  // returns on job.cancelled
                say("job.cancelled received")
            }
            try await group.waitForAll()
        }
        let ended = try await expectError("the cancelled job") { _ = try await job.result() }
        say("job ended: code=\(ended.code.rawValue) final_status=\(ended.finalStatus?.rawValue ?? "-")")
        try check(ended.code == .cancelled, "expected CANCELLED, got \(ended.code.rawValue)")
        await client.close()
    }
}
