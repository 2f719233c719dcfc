import ARCP
import Foundation
import Synchronization
import Testing

/// The runtime's connection writer without a task (`PushWriter`), over a transport that takes
/// frames by callbacks (`PushWritable`, as the WebSocket transport does).
@Suite("Connection writer without a task")
struct PushWriterTests {
    static func hello() -> String {
        FrameCodec.encode(Envelope.make(.sessionHello(SessionHelloPayload(
            client: PeerInfo(name: "push", version: "0"), auth: Auth(scheme: "bearer", token: "demo"),
            capabilities: HelloCapabilities(encodings: ["json"], features: [])))))
    }

    static func ping(_ nonce: String, session: String) -> String {
        FrameCodec.encode(Envelope.make(.sessionPing(SessionPingPayload(nonce: nonce)), sessionID: session))
    }

    /// A runtime serving `transport` (whose first inbound frame is a hello) in the background;
    /// `served` is set once `accept` returned.
    static func serve(_ transport: ScriptedPushTransport, closeFlushTimeout: Duration = .seconds(5)) -> (ARCPRuntime, served: CleanupFlag) {
        var config = ARCPRuntime.Configuration()
        config.heartbeatInterval = nil
        config.closeFlushTimeout = closeFlushTimeout
        let runtime = ARCPRuntime(configuration: config, verifier: StaticBearerVerifier(["demo": "me@example.com"]))
        let served = CleanupFlag()
        Task {
            await runtime.accept(transport)
            served.set()
        }
        return (runtime, served)
    }

    @Test("a batch waiting for credit holds the writer: nothing else is taken until it is queued; then the rest goes in order, and the end closes the transport")
    func heldBatchesBackPressure() async throws {
        let transport = ScriptedPushTransport(inbound: [Self.hello()], holdFirst: true)
        let (runtime, served) = Self.serve(transport)
        // The welcome is the first batch, and it waits for credit.
        #expect(await eventually { transport.pushed.count == 1 })
        let welcome = try #require(transport.pushed.first?.first.flatMap { try? Envelope(jsonText: $0) })
        let sessionID = try #require(welcome.sessionId)
        // Three pings are answered while it waits: their pongs are queued, not handed over.
        for n in ["a", "b", "c"] { transport.deliver(Self.ping(n, session: sessionID)) }
        #expect(await eventually { runtime.sessionIDs.contains(sessionID) })
        try await Task.sleep(for: .milliseconds(200))
        #expect(transport.pushed.count == 1, "a held batch keeps the writer from taking more")
        // Credit comes back: the held welcome is queued, then the pongs follow, in order.
        transport.grantHeld()
        #expect(await eventually { transport.pushed.flatMap { $0 }.count == 4 })
        let nonces = transport.pushed.dropFirst().flatMap { $0 }.compactMap { frame -> String? in
            guard case .sessionPong(let p)? = (try? Envelope(jsonText: frame))?.message else { return nil }
            return p.pingNonce
        }
        #expect(nonces == ["a", "b", "c"])
        // The peer ends: the writer flushes, detaches the session and closes the transport.
        transport.endInbound()
        #expect(await eventually { served.value })
        #expect(transport.closes == 1)
        await runtime.shutdown()
    }

    @Test("a batch still waiting for credit when the connection ends: the writer ends, the transport is closed once")
    func heldBatchAtTheEnd() async throws {
        let transport = ScriptedPushTransport(inbound: [Self.hello()], holdFirst: true)
        let (runtime, served) = Self.serve(transport, closeFlushTimeout: .milliseconds(200))
        #expect(await eventually { transport.pushed.count == 1 })
        // The peer stops sending and never reads: the flush bound closes the transport, which
        // refuses the held batch (as a WebSocket connection's credit does when it closes).
        transport.endInbound()
        #expect(await eventually { served.value }, "the writer is freed by the flush deadline")
        #expect(transport.closes == 1)
        await runtime.shutdown()
    }
}
