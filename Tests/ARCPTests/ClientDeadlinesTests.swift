import ARCPGenerated
import Foundation
import Synchronization
import Testing

@testable import ARCP

/// The client's timers as entries of the process-wide `ARCPClient.deadlines`
/// (`ClientDeadlines.swift`): a heartbeat that stops with its connection, a silent runtime
/// declared lost, and timers that never keep a client alive.
@Suite("Client timers: heartbeat and request timeouts as scheduler entries")
struct ClientDeadlinesTests {
    static let sid = StandInRuntime.sessionID

    /// A client connected to a stand-in runtime (`r`) that welcomes it with heartbeats on.
    static func connected(heartbeat: Duration, onDiagnostic: (@Sendable (String) -> Void)? = nil) async throws -> (ARCPClient, MemoryTransport) {
        var options = ARCPClient.Options()
        options.heartbeatInterval = heartbeat
        options.onDiagnostic = onDiagnostic
        return try await StandInRuntime.connected(options, welcome: StandInRuntime.welcome(heartbeat: true))
    }

    @Test("a heartbeat entry fires for its own connection only, and leaves once the client closed")
    func heartbeatEntryStops() async throws {
        let (client, r) = try await Self.connected(heartbeat: .seconds(30))
        let generation = client.state.withLock { $0.connection.generation }
        let now = ContinuousClock.now
        let next = ClientTimer(.heartbeat, client: client, generation: generation).fire(at: now)
        #expect(next.map { $0 > now } == true, "the connection's heartbeat waits for its next check")
        #expect(ClientTimer(.heartbeat, client: client, generation: generation + 1).fire(at: now) == nil, "another connection's entry leaves")
        async let closed: Void = client.close()
        // The stand-in answers session.close so close() need not wait for its timeout.
        if let text = try await r.receive(), case .sessionClose = try Envelope(jsonText: text).message {
            try? await r.send(FrameCodec.encode(Envelope.make(.sessionClosed(SessionClosedPayload()), sessionID: Self.sid)))
        }
        await closed
        #expect(ClientTimer(.heartbeat, client: client, generation: generation).fire(at: .now) == nil, "a closed client's entry leaves")
    }

    @Test("a runtime silent despite a ping is declared lost: the transport is closed and requests fail")
    func silentRuntimeIsLost() async throws {
        let reports = Mutex<[String]>([])
        let (client, r) = try await Self.connected(heartbeat: .milliseconds(50)) { text in reports.withLock { $0.append(text) } }
        // The stand-in reads (a ping comes) and never answers: the client closes its side.
        var types: [String] = []
        while let text = try await r.receive() { types.append(try Envelope(jsonText: text).message.type) }
        #expect(types.contains("session.ping"), "\(types)")
        #expect(reports.withLock { $0.contains { $0.contains("heartbeat lost") } })
        await #expect(throws: ARCPClientError.self) { try await client.ping() }
    }

    @Test("pending timers never keep a client alive")
    func timersHoldClientsWeakly() async throws {
        weak var weakClient: ARCPClient?
        var r: MemoryTransport?
        do {
            let (client, transport) = try await Self.connected(heartbeat: .seconds(30))
            r = transport
            weakClient = client
            // A request with a pending timeout entry, abandoned when the transport closes.
            async let pong: Void = { _ = try? await client.ping() }()
            _ = try await transport.receive()
            await transport.close()
            await pong
            await client.close()
        }
        _ = r
        #expect(weakClient == nil, "a timer entry (heartbeat or request) kept the client")
    }
}
