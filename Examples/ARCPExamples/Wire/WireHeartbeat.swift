import ARCP
import Foundation

/// `heartbeat`: the runtime advertises a 5 s heartbeat; during a 12 s job the runtime pings
/// and the client answers with pongs (and pings an idle runtime itself) (spec §6.4, §13.1).
enum WireHeartbeat: WireExample {
    static let name = "heartbeat"
    static let defaultPort = 7885
    static let summary = "heartbeat_interval_sec 5 and a 12 s job: pings and pongs keep the session alive."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        var config = setup.configuration(name: "heartbeat-server")
        config.features = [.heartbeat]
        config.heartbeatInterval = .seconds(5)
        let runtime = ARCPRuntime(configuration: config, verifier: setup.verifier)
        try runtime.register("long") { _, _ in
            // Long enough for at least two heartbeat round trips.
            try await Task.sleep(for: .seconds(12))
            return ["ok": true]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let client = ARCPClient(token: setup.token, options: setup.options(name: "heartbeat-client", features: [.heartbeat]))
        try await setup.connect(client)
        say("negotiated features: \(client.negotiatedFeatures.map(\.rawValue))")
        say("welcome.heartbeat_interval_sec: \(client.welcome?.heartbeatIntervalSec.map { "\($0)" } ?? "-")")
        try check(client.negotiatedFeatures.contains(.heartbeat), "heartbeat is negotiated")
        try check(client.welcome?.heartbeatIntervalSec == 5, "the runtime advertises 5 s")

        let job = try await client.submit(agent: "long")
        let outcome = try await job.result()
        say("terminal: \(outcome.finalStatus.rawValue)")
        try check(outcome.finalStatus == .success, "the 12 s job succeeds")
        await client.close()
    }
}
