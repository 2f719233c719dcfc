import ARCP
import Foundation

/// `ack_backpressure`: the client negotiates `ack` but starves it (an ack every 10 000
/// events or 60 s); the runtime sees the acknowledged seq fall behind and reports a
/// `status` event with phase `back_pressure` (spec §6.5, §13.2).
///
/// The reference's agent measures the lag itself (`gap >= 50`); here the runtime does it for
/// every emitter, with the threshold set to the reference's 50.
enum WireAckBackpressure: WireExample {
    static let name = "ack_backpressure"
    static let defaultPort = 7886
    static let summary = "A client that never acks; the runtime reports status back_pressure at a lag of 50."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        var config = setup.configuration(name: "ack-backpressure-server")
        config.features = [.ack]
        config.buffering.backPressureThreshold = 50
        let runtime = ARCPRuntime(configuration: config, verifier: setup.verifier)
        try runtime.register("chatty") { _, ctx in
            for i in 0..<200 {
                await ctx.log("info", "chatter \(i)", attributes: ["i": .int(Int64(i))])
                try await Task.sleep(for: .milliseconds(5))
            }
            return ["emitted": 200]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        var options = setup.options(name: "ack-backpressure-client", features: [.ack])
        // Starved acks: never within the run.
        options.autoAckEvery = 10_000
        options.autoAckInterval = .seconds(60)
        let client = ARCPClient(token: setup.token, options: options)
        try await setup.connect(client)
        try check(client.negotiatedFeatures.contains(.ack), "ack is negotiated")

        let job = try await client.submit(agent: "chatty")
        var seen = 0
        for try await event in job.events {
            if case .status(let status) = event.body, status.phase == "back_pressure" {
                seen += 1
                say("[back_pressure] \(status.message ?? "")")
            }
        }
        let outcome = try await job.result()
        say("terminal: \(outcome.finalStatus.rawValue); backpressure_seen=\(seen)")
        try check(seen >= 1, "expected at least one back_pressure status")
        await client.close()
    }
}
