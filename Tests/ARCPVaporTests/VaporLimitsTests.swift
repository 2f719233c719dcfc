import ARCP
import ARCPTestSupport
@testable import ARCPVapor
import ARCPWebSocket
import NIOPosix
import NIOWebSocket
import Synchronization
import Testing
import Vapor

/// The WebSocket-level limits of an ARCP route in a Vapor app that the shared host scenarios do
/// not cover, each against a hostile raw client over a real socket, each checking that the app
/// still serves a session. (The rules are `ARCPWebSocketCore`'s, shared with `WebSocketServer`.)
@Suite("ARCP in a Vapor app: limits", .timeLimit(.minutes(1)))
struct VaporLimitsTests {
    static let upgradeHeaders = [
        "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ]

    @Test func connectionsBeyondTheLimitAreRefusedWith503() async throws {
        let app = try await VaporApp.start(options: ARCPVaporOptions(closeTimeout: .seconds(2), pingInterval: nil, maxConnections: 1))
        let first = try await WebSocketTransport.connect(to: app.url)
        let sid = try await handshake(first)
        let refused = try await httpGet(port: app.port, path: "/arcp", headers: Self.upgradeHeaders)
        #expect(refused.status == 503)
        #expect(refused.head.lowercased().contains("retry-after: 1"), "head: \(refused.head)")
        #expect(refused.body.contains("too many connections (limit 1)"), "body: \(refused.body)")
        // The open session is served throughout; once it is gone, its place is free again.
        try await first.send(Frames.ping("still", session: sid))
        _ = try await next(first, "session.pong")
        await first.close()
        let client = try await within(.seconds(10), "a connection once the first closed") { () -> ARCPClient in
            while true {  // the place comes back when the first connection's socket has closed
                do {
                    let c = try await app.client()
                    if try await c.submit(agent: "echo", input: 1).result().result == ["echoed": 1] { return c }
                } catch {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        }
        await client.close()
        try await app.stop()
    }

    /// A first message over the cap is refused as it arrives: a frame announcing 8 MiB is not
    /// buffered; the connection is closed with 1009 after the cap (plus slack) has been read.
    @Test func anOversizedFirstMessageIsRefusedBeforeItIsBuffered() async throws {
        let app = try await VaporApp.start(options: ARCPVaporOptions(closeTimeout: .seconds(2), pingInterval: nil, maxFirstMessageSize: 1024))
        let raw = try await RawWebSocketClient.connect(port: app.port)
        let close = try await raw.run { inbound, _ in
            try await raw.writeRaw(RawWebSocketClient.textFrameHeader(length: 8 << 20))
            try await raw.writeRaw(Array(repeating: UInt8(ascii: "x"), count: 16 * 1024))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(close?.code == 1009)
        #expect(close?.reason.hasPrefix("first message larger than 1024 bytes") == true, "reason: \(close?.reason ?? "-")")
        try await app.stillServes("after an oversized first message")
        try await app.stop()
    }

    /// Keep-alive pings (`pingInterval`): a peer that answers them stays; one that does not is
    /// disconnected when the next ping is due, and its session sees the connection lost.
    @Test func keepAlivePingsDisconnectAPeerThatDoesNotAnswer() async throws {
        let ended = Mutex<[String]>([])
        let done = Latch()
        let options = ARCPVaporOptions(closeTimeout: .seconds(2), pingInterval: .seconds(1))
        // An event loop of its own, for the app and the answering client: in a parallel suite
        // the shared loops also carry other tests' 16 MiB messages (seconds of unmasking and
        // UTF-8 checks in a debug build), behind which a pong could wait past the interval.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let app = try await VaporApp.start(options: options, eventLoopGroup: group) { app, _ in
            app.arcp(at: ["probe"], options: options) { transport, _ in
                do {
                    while try await transport.receive() != nil {}
                    ended.withLock { $0.append("end") }
                } catch {
                    ended.withLock { $0.append("error: \(error)") }
                }
                done.open()
            }
        }
        // ARCPWebSocket's client answers pings: the session outlives several intervals.
        var clientOptions = ARCPClient.Options()
        clientOptions.requestTimeout = .seconds(10)
        clientOptions.logger.logLevel = .critical
        let client = ARCPClient(token: "tok", options: clientOptions)
        try await client.connect(try await WebSocketTransport.connect(to: app.url, eventLoopGroup: group))
        try await Task.sleep(for: .seconds(3))
        #expect(try await client.submit(agent: "echo", input: 3).result().result == ["echoed": 3])
        await client.close()
        // The raw client reads the pings and never answers them.
        let pings = try await RawWebSocketClient.connect(port: app.port, path: "/probe").run { inbound, _ in
            try await within(.seconds(15), "the server to hang up") { () -> Int in
                var pings = 0
                do {
                    for try await frame in inbound where frame.opcode == .ping { pings += 1 }
                } catch {}
                return pings
            }
        }
        #expect(pings >= 1)
        try await within(.seconds(5), "the handler to finish") { await done.wait() }
        #expect(ended.withLock { $0 } == ["error: I/O error: no answer to a keep-alive ping"])
        try await app.stop()
        try await group.shutdownGracefully()
    }
}
