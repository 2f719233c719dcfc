import ARCP
@testable import ARCPHummingbird
import ARCPTestSupport
import ARCPWebSocket
import ARCPWebSocketCore
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import NIOWebSocket
import Synchronization
import Testing

/// The WebSocket-level limits of an ARCP route in a Hummingbird app (issue 10), each against a
/// hostile raw client over a real socket, each checking that the app still serves a session.
@Suite("ARCP in a Hummingbird app: limits", .timeLimit(.minutes(1)))
struct HostLimitsTests {
    @Test func anOversizedFirstMessageClosesWith1009() async throws {
        let app = try await HostedApp.start(options: ARCPRouteOptions(closeTimeout: .seconds(2), maxFirstMessageSize: 4096))
        let big = Frames.submit("echo", ["blob": .string(String(repeating: "x", count: 10_000))])
        let close = try await RawWebSocketClient.connect(port: app.port).run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text(big))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(close?.code == 1009)
        #expect(close?.reason.hasPrefix("first message larger than 4096 bytes") == true, "reason: \(close?.reason ?? "-")")
        // After the first message, the message limit applies (16 MiB here).
        let t = try await WebSocketTransport.connect(to: app.url)
        _ = try await handshake(t)
        try await t.send(big)
        _ = try await next(t, "job.result")
        await t.close()
        try await app.stillServes("after an oversized first message")
        try await app.stop()
    }

    @Test func connectionsBeyondTheLimitAreClosedWith1013() async throws {
        let app = try await HostedApp.start(options: ARCPRouteOptions(closeTimeout: .seconds(2), maxConnections: 1))
        let first = try await WebSocketTransport.connect(to: app.url)
        let sid = try await handshake(first)
        // Read as raw bytes: the route sends its close frame and hangs up right behind the 101,
        // and NIO's HTTP client drops bytes that arrive with the end of the stream during an
        // upgrade, so a WebSocket client may see only the hang-up.
        let refused = try #require(Self.closeFrame(in: try await Self.upgradeAndReadToEnd(port: app.port)))
        #expect(refused.code == 1013, "close: \(refused)")
        #expect(refused.reason.contains("too many connections (limit 1)"))
        // The open session is served throughout; once it is gone, its place is free again.
        try await first.send(Frames.ping("still", session: sid))
        _ = try await next(first, "session.pong")
        await first.close()
        // 60 s: an attempt that meets the limit before the first connection's handler ended
        // is refused, and one whose welcome is lost waits out the client's 10 s request timeout.
        let attempts = Atomic<Int>(0)
        let client = try await within(.seconds(60), "a connection once the first closed (\(attempts.load(ordering: .relaxed)) attempts)") { () -> ARCPClient in
            while true {  // the first connection gives its place back once its handler has ended
                do {
                    attempts.add(1, ordering: .relaxed)
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

    /// Hummingbird (WSCore) answers a ping before it reads the next frame, through a writer
    /// that waits while the socket is not writable: a peer that pings and never reads is
    /// back-pressured (its pings stop being read), not given a queue of pongs. The route here
    /// sends data until the socket is full (the peer does not read it), so no pong can be written.
    @Test func pingsFromAPeerThatDoesNotReadAreBackPressured() async throws {
        let blob = String(repeating: "d", count: 256 * 1024)
        let app = try await HostedApp.start { router, _ in
            router.addARCP(path: "/blast") { transport, _ in
                while true {
                    do { try await transport.send(blob) } catch { return }
                }
            }
        }
        let raw = try await RawWebSocketClient.connect(port: app.port, path: "/blast", receiveBufferSize: 4096, sendBufferSize: 4096)
        let sent = Atomic<Int>(0)
        // Watches the flood: once the writes make no progress (the server no longer reads this
        // socket), checks another session is served, then ends the flood.
        let monitor = Task { () -> Bool in
            var last = -1
            var stable = 0
            let deadline = ContinuousClock.now + .seconds(30)
            while stable < 25 && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
                let now = sent.load(ordering: .relaxed)
                stable = now == last ? stable + 1 : 0
                last = now
            }
            try? await app.stillServes("while a peer floods pings")
            raw.channel.channel.close(promise: nil)
            return stable >= 25
        }
        try? await raw.run { _, outbound in
            try await Task.sleep(for: .milliseconds(100))  // the route fills the socket meanwhile
            let payload = [UInt8](repeating: 0x70, count: 125)
            while sent.load(ordering: .relaxed) < 100_000 {
                do { try await outbound.write(RawWebSocketClient.frame(.ping, payload)) } catch { return }
                sent.add(1, ordering: .relaxed)
            }
        }
        let stalled = await monitor.value
        #expect(stalled, "the server kept reading pings it could not answer (\(sent.load(ordering: .relaxed)) sent)")
        #expect(sent.load(ordering: .relaxed) < 100_000)
        try await app.stillServes("after a ping flood")
        try await app.stop()
    }

    @Test func aPeerThatDoesNotReadCostsAtMostTheOutboundByteLimit() async throws {
        let limit = 64 * 1024
        let frame = String(repeating: "o", count: 10 * 1024)
        let transportBox = Mutex<HummingbirdWebSocketTransport?>(nil)
        let sent = Atomic<Int>(0)
        let app = try await HostedApp.start { router, _ in
            router.addARCP(path: "/sink", options: ARCPRouteOptions(outboundByteLimit: limit)) { transport, _ in
                transportBox.withLock { $0 = transport }
                for _ in 0..<100_000 {
                    do { try await transport.send(frame) } catch { return }
                    sent.add(1, ordering: .relaxed)
                }
            }
        }
        let raw = try await RawWebSocketClient.connect(port: app.port, path: "/sink", receiveBufferSize: 4096)
        try await raw.run { _, _ in
            var last = -1
            var stable = 0
            while stable < 15 {
                try await Task.sleep(for: .milliseconds(20))
                let now = sent.load(ordering: .relaxed)
                stable = now == last ? stable + 1 : 0
                last = now
            }
            #expect(last < 100_000)
            let waiting = try #require(transportBox.withLock { $0 }).outboundBytesWaiting
            #expect(waiting > 0)
            #expect(waiting <= limit + frame.utf8.count, "\(waiting) bytes wait for the peer")
        }
        try await app.stillServes("after a peer that did not read")
        try await app.stop()
    }

    @Test func aContextThatKnowsTheEventLoopMakesItTheExecutor() async throws {
        let seen = Mutex<[Bool]>([])
        let aware = Router(context: ARCPRequestContext.self)
        aware.addARCP(path: "/arcp") { transport, _ in
            seen.withLock { $0.append(transport.preferredExecutor is EventLoopTaskExecutor) }
        }
        try await Self.withApp(aware) { port in
            let t = try await WebSocketTransport.connect(to: "ws://127.0.0.1:\(port)/arcp")
            _ = try? await t.receive()  // the end (a close frame, or only the hang-up: see above)
        }
        let plain = Router(context: BasicWebSocketRequestContext.self)
        plain.addARCP(path: "/arcp") { transport, _ in
            seen.withLock { $0.append(transport.preferredExecutor is EventLoopTaskExecutor) }
        }
        try await Self.withApp(plain) { port in
            let t = try await WebSocketTransport.connect(to: "ws://127.0.0.1:\(port)/arcp")
            _ = try? await t.receive()  // the end (a close frame, or only the hang-up: see above)
        }
        #expect(seen.withLock { $0 } == [true, false])
    }

    /// Sends a WebSocket upgrade request on a plain TCP connection and returns every byte the
    /// server sends until it hangs up.
    static func upgradeAndReadToEnd(port: Int) async throws -> [UInt8] {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: """
                GET /arcp HTTP/1.1\r
                Host: 127.0.0.1\r
                Upgrade: websocket\r
                Connection: Upgrade\r
                Sec-WebSocket-Version: 13\r
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
                \r

                """))
            var data: [UInt8] = []
            for try await chunk in inbound { data += Array(chunk.readableBytesView) }
            return data
        }
    }

    /// The first frame after a 101 response in `bytes`, if it is a close frame (server frames
    /// are unmasked): its code and reason.
    static func closeFrame(in bytes: [UInt8]) -> WebSocketCloseInfo? {
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        guard String(decoding: bytes.prefix(12), as: UTF8.self) == "HTTP/1.1 101",
              let head = (0...(bytes.count - end.count)).first(where: { Array(bytes[$0..<$0 + end.count]) == end })
        else { return nil }
        let frame = Array(bytes[(head + end.count)...])
        guard frame.count >= 4, frame[0] == 0x88, frame[1] < 126, frame.count >= 2 + Int(frame[1]) else { return nil }
        let payload = frame[2..<2 + Int(frame[1])]
        let code = UInt16(payload[payload.startIndex]) << 8 | UInt16(payload[payload.startIndex + 1])
        return WebSocketCloseInfo(code: code, reason: String(decoding: payload.dropFirst(2), as: UTF8.self))
    }

    /// Runs a Hummingbird app with `router` on port 0 for the duration of `body`.
    static func withApp<Context: WebSocketRequestContext>(
        _ router: Router<Context>, _ body: (Int) async throws -> Void
    ) async throws where Context.Source == ApplicationRequestContextSource {
        var logger = Logger(label: "test.hummingbird")
        logger.logLevel = .critical
        let bound = PortBox()
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(ws: .arcp(autoPing: .disabled))),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in bound.set(channel.localAddress?.port) },
            logger: logger)
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: logger)
        let running = Task {
            defer { bound.set(nil) }
            try await group.run()
        }
        let port = try #require(await bound.wait())
        do {
            try await body(port)
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await running.value
    }
}
