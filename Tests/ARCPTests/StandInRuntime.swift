@testable import ARCP
import Foundation
import Testing

/// A hand-driven runtime stand-in for client tests: the test reads and writes the runtime's end
/// of a `MemoryTransport` itself.
enum StandInRuntime {
    static let sessionID = "sess_01J9Z6ZK3M8Q4P2V7W1X5Y0A2B"

    /// A welcome without features (`heartbeat: true`: with the heartbeat feature, 30 s).
    static func welcome(heartbeat: Bool = false) -> SessionWelcomePayload {
        heartbeat
            ? SessionWelcomePayload(
                runtime: PeerInfo(name: "fake", version: "0"), sessionId: sessionID, resumeToken: "rtk_x", resumeWindowSec: 600,
                heartbeatIntervalSec: 30, capabilities: WelcomeCapabilities(features: [.heartbeat]))
            : SessionWelcomePayload(sessionId: sessionID, resumeToken: "rtk_x", capabilities: WelcomeCapabilities(features: []))
    }

    /// A client with `options`, connected: the stand-in read its hello and answered `welcome`.
    static func connected(
        _ options: ARCPClient.Options, welcome: SessionWelcomePayload = welcome()
    ) async throws -> (client: ARCPClient, runtime: MemoryTransport) {
        let (c, r) = MemoryTransport.pair()
        let client = ARCPClient(token: "tok", options: options)
        async let connected: Void = client.connect(c)
        _ = try #require(try await r.receive())
        try await r.send(FrameCodec.encode(Envelope.make(.sessionWelcome(welcome), sessionID: sessionID)))
        try await connected
        return (client, r)
    }
}
