import ARCP
import ARCPTestSupport
import ARCPWebSocketCore
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOSSL
import NIOWebSocket
import ServiceLifecycle
import Synchronization
import Testing

@testable import ARCPWebSocket

@Suite("WebSocket URL parsing")
struct WebSocketURLTests {
    @Test func defaultsAndForms() throws {
        #expect(try WebSocketURL(parsing: "ws://localhost:7777") ==
            WebSocketURL(secure: false, host: "localhost", port: 7777, target: "/arcp"))
        #expect(try WebSocketURL(parsing: "wss://example.com/x/y?q=1#frag") ==
            WebSocketURL(secure: true, host: "example.com", port: 443, target: "/x/y?q=1"))
        #expect(try WebSocketURL(parsing: "ws://[::1]:9000?token=a") ==
            WebSocketURL(secure: false, host: "::1", port: 9000, target: "/arcp?token=a"))
        #expect(try WebSocketURL(parsing: "WS://h/").target == "/")
        #expect(try WebSocketURL(parsing: "ws://h:80").hostHeader == "h")
        #expect(try WebSocketURL(parsing: "ws://[::1]:81").hostHeader == "[::1]:81")
    }

    @Test func rejectsBadURLs() {
        #expect(throws: TransportError.connectFailed("unsupported URL \"http://x\": use ws:// or wss://")) {
            try WebSocketURL(parsing: "http://x")
        }
        #expect(throws: TransportError.self) { try WebSocketURL(parsing: "ws://h:99999") }
        #expect(throws: TransportError.self) { try WebSocketURL(parsing: "ws://user:pw@h") }
        #expect(throws: TransportError.self) { try WebSocketURL(parsing: "ws://") }
    }
}

@Suite("WebSocket transport", .timeLimit(.minutes(1)))
struct WebSocketTransportTests {
    @Test func framesRoundTripBothWays() async throws {
        let server = try await TestServer.echo()
        let client = try await WebSocketTransport.connect(to: server.url)
        #expect(client.isClient)
        for i in 0..<200 {
            try await client.send("{\"n\":\(i),\"s\":\"héllo ✓\"}")
        }
        for i in 0..<200 {
            #expect(try await client.receive() == "{\"n\":\(i),\"s\":\"héllo ✓\"}")
        }
        await client.close()
        #expect(try await client.receive() == nil)
        #expect(try await server.nextEvent() == "end", "the server saw a clean close")
        #expect(client.sentCloseFrame?.code == 1000)
        await #expect(throws: TransportError.closed) { try await client.send("{}") }
        await server.server.stop()
    }

    /// An adapter whose framework upgrades with NIO's upgrader (Vapor) hands over a pipeline
    /// with NIO's frame decoder in it; the protocol handler parses the bytes in front of it, and
    /// the decoder (and the first-message guard) leave with the first message.
    @Test("an upgrader's idle frame decoder leaves the pipeline with the first message (it never sees a byte)")
    func theIdleDecoderLeavesWithTheFirstMessage() async throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder())
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        let limits = ConnectionLimits(maxFirstMessageSize: 1024)
        let transport = try WebSocketTransport.install(on: channel, isClient: false, limits: limits, handlesFramesOnEventLoop: false)
        func keeps() -> Bool {
            (try? channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)) != nil
                || (try? channel.pipeline.syncOperations.handler(type: FirstMessageGuard.self)) != nil
        }
        #expect(keeps(), "before any message")
        let mask: [UInt8] = [1, 2, 3, 4]
        let payload = Array("{\"n\":1}".utf8)
        let frame = [0x81, 0x80 | UInt8(payload.count)] + mask + payload.enumerated().map { $1 ^ mask[$0 % 4] }
        try channel.writeInbound(ByteBuffer(bytes: frame))
        #expect(try await transport.receive() == "{\"n\":1}")
        channel.embeddedEventLoop.run()  // NIO lets a decoder go one tick after it is asked to
        #expect(!keeps(), "after the first message")
        _ = try? channel.finish()
    }

    /// The stand-alone server and client do their own handshakes (``ServerHandshakeHandler``,
    /// ``ClientHandshakeHandler``): no NIO frame decoder ever joins their pipelines.
    @Test func theStandAloneStacksHoldNoFrameDecoder() async throws {
        let server = try await TestServer.echo()
        let client = try await WebSocketTransport.connect(to: server.url)
        #expect(await !client.keepsHandshakeHandlers)
        try await client.send("{\"n\":1}")
        #expect(try await client.receive() == "{\"n\":1}")
        // Frames flow both ways, in pieces too.
        let big = "{\"s\":\"" + String(repeating: "x", count: 200_000) + "\"}"
        try await client.send(big)
        #expect(try await client.receive() == big)
        await client.close()
        await server.server.stop()
    }

    /// An IP literal is connected to directly, a host name through NIO's resolver and Happy
    /// Eyeballs (`localhost` may name ::1 first, where nothing listens): both reach the server.
    @Test func hostNamesAndIPLiteralsBothConnect() async throws {
        let server = try await TestServer.echo()
        for host in ["127.0.0.1", "localhost"] {
            let client = try await WebSocketTransport.connect(to: "ws://\(host):\(server.port)/arcp")
            try await client.send("{\"via\":\"\(host)\"}")
            #expect(try await client.receive() == "{\"via\":\"\(host)\"}")
            await client.close()
        }
        await server.server.stop()
    }

    @Test func batchesGoOutInOrderOrNotAtAll() async throws {
        let server = try await TestServer.echo()
        let client = try await WebSocketTransport.connect(to: server.url, maxFrameSize: 1024)
        let batch = (0..<1000).map { "{\"b\":\($0)}" }
        try await client.send(batch: batch)
        for expected in batch {
            #expect(try await client.receive() == expected)
        }
        // One frame over the limit: the whole batch is refused before anything is sent.
        await #expect(throws: TransportError.frameTooLarge(limit: 1024)) {
            try await client.send(batch: ["{\"first\":1}", String(repeating: "x", count: 2000)])
        }
        try await client.send(batch: [])
        try await client.send("{\"marker\":1}")
        #expect(try await client.receive() == "{\"marker\":1}", "nothing of the refused batch went out")
        await client.close()
        await server.server.stop()
    }

    /// The handshakes' bounded wait (`receive(within:)`): a timer on the event loop, no task.
    @Test func aBoundedReceiveTimesOutThenStillReceives() async throws {
        let server = try await TestServer.echo()
        let client = try await WebSocketTransport.connect(to: server.url)
        guard case .timedOut = try await client.receive(within: .milliseconds(100)) else {
            Issue.record("nothing was sent: the wait should time out")
            return
        }
        try await client.send(#"{"after":"timeout"}"#)
        guard case .received(let frame) = try await client.receive(within: .seconds(10)) else {
            Issue.record("the echo should arrive within the limit")
            return
        }
        #expect(frame == #"{"after":"timeout"}"#)
        await client.close()
        guard case .received(nil) = try await client.receive(within: .seconds(10)) else {
            Issue.record("a closed transport ends the wait with nil")
            return
        }
        await server.server.stop()
    }

    @Test func serverSideCloseSends1000() async throws {
        let server = try await TestServer.start { transport, _ in
            try? await transport.send(#"{"hello":true}"#)
            await transport.close()
        }
        let client = try await WebSocketTransport.connect(to: "ws://127.0.0.1:\(server.port)")  // default path
        #expect(try await client.receive() == #"{"hello":true}"#)
        #expect(try await client.receive() == nil)
        #expect(client.peerCloseFrame?.code == 1000)
        await client.close()
        await server.server.stop()
    }

    @Test func manyFramesInFlightFromConcurrentSenders() async throws {
        let server = try await TestServer.echo(.init(inboundCapacity: 8))
        let client = try await WebSocketTransport.connect(to: server.url, inboundCapacity: 8)
        let senders = 8
        let perSender = 500
        try await withThrowingTaskGroup(of: Void.self) { group in
            for s in 0..<senders {
                group.addTask {
                    for i in 0..<perSender { try await client.send("{\"s\":\(s),\"i\":\(i)}") }
                }
            }
            var next = [Int](repeating: 0, count: senders)
            for _ in 0..<(senders * perSender) {
                let frame = try #require(try await client.receive())
                // {"s":S,"i":I}
                let parts = frame.dropFirst(5).dropLast().split(separator: ",")
                let s = try #require(Int(parts[0]))
                let i = try #require(Int(parts[1].dropFirst(4)))
                #expect(i == next[s], "frames of one sender stay in order")
                next[s] = i + 1
            }
            try await group.waitForAll()
            #expect(next == [Int](repeating: perSender, count: senders))
        }
        await client.close()
        await server.server.stop()
    }

    /// A peer that sends faster than the other side reads is slowed down: the reader's bounded
    /// queue fills, it stops reading the socket, TCP flow control pushes back, and the sender's
    /// `send` suspends. (Measured server → client: client frames are masked, which makes a
    /// debug build of NIO far slower than the mechanism under test; the code is the same on
    /// both ends.)
    @Test(arguments: [
        (capacity: 4, byteLimit: WebSocketTransport.defaultInboundByteLimit),  // message-count bound
        (capacity: 100_000, byteLimit: 256 * 1024),  // byte bound
    ])
    func floodingPeerIsBackPressured(capacity: Int, byteLimit: Int) async throws {
        let frameSize = 64 * 1024
        let total = 4000  // 250 MiB: far more than socket buffers hold
        let sent = Atomic<Int>(0)
        let server = try await TestServer.start { transport, events in
            let body = String(repeating: "x", count: frameSize - 20)
            do {
                for i in 0..<total {
                    try await transport.send("{\"i\":\(1_000_000 + i),\"p\":\"" + body + "\"}")
                    sent.add(1, ordering: .relaxed)
                }
                try? await events.send("sent everything")
            } catch {
                try? await events.send("send failed: \(error)")
            }
        }
        let client = try await WebSocketTransport.connect(
            to: server.url, inboundCapacity: capacity, inboundByteLimit: byteLimit)
        #expect(await eventually { sent.load(ordering: .relaxed) > 0 }, "the server started sending")
        // Wait until the sender stalls (no progress for 200 ms).
        var last = -1
        var stable = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while stable < 10 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            let now = sent.load(ordering: .relaxed)
            stable = now == last ? stable + 1 : 0
            last = now
        }
        #expect(last > 0)
        #expect(last < total / 4, "sender blocked after \(last) frames (\((last * frameSize) >> 20) MiB in flight)")
        // Every wait is bounded (`within`), so a lost wake-up fails the test instead of hanging it.
        let frames = try await within(.seconds(20), "50 frames to arrive") { () -> [String] in
            var frames: [String] = []
            while frames.count < 50, let frame = try await client.receive() { frames.append(frame) }
            return frames
        }
        try #require(frames.count == 50, "the connection ended after \(frames.count) frames")
        for (i, frame) in frames.enumerated() {
            #expect(frame.hasPrefix("{\"i\":\(1_000_000 + i),"), "frames arrive complete and in order")
            #expect(frame.utf8.count == frameSize)
        }
        let stalledAt = last
        #expect(await eventually { sent.load(ordering: .relaxed) > stalledAt }, "reading lets the sender go on")
        try await within(.seconds(10), "the client's close") { await client.close() }
        #expect(try await server.nextEvent()?.hasPrefix("send failed: ") == true)
        try await within(.seconds(20), "the server to stop") { await server.server.stop() }
    }

    @Test func otherPathsAreRefusedWith404() async throws {
        let server = try await TestServer.echo()
        await #expect(throws: TransportError.connectFailed(
            "server refused the WebSocket upgrade: HTTP 404 Not Found (127.0.0.1:\(server.port)/other)")) {
            _ = try await WebSocketTransport.connect(to: "ws://127.0.0.1:\(server.port)/other")
        }
        let plain = await rawHTTP(port: server.port, request: "GET /arcp HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(plain.hasPrefix("HTTP/1.1 426"), "a plain GET on the path asks for an upgrade")
        let other = await rawHTTP(port: server.port, request: "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(other.hasPrefix("HTTP/1.1 404"))
        #expect(server.server.connectionCount == 0)
        await server.server.stop()
    }

    @Test func originAndHostAllowLists() async throws {
        let server = try await TestServer.echo(.init(
            allowedOrigins: ["https://good.example"], allowedHosts: ["127.0.0.1", "localhost"]))
        await #expect(throws: TransportError.connectFailed(
            "server refused the WebSocket upgrade: HTTP 403 Forbidden (127.0.0.1:\(server.port)/arcp)")) {
            _ = try await WebSocketTransport.connect(to: server.url, headers: ["Origin": "https://evil.example"])
        }
        await #expect(throws: TransportError.self) {
            _ = try await WebSocketTransport.connect(to: server.url, headers: ["Host": "rebound.example:\(server.port)"])
        }
        let good = try await WebSocketTransport.connect(to: server.url, headers: ["Origin": "https://GOOD.example"])
        try await good.send("{}")
        #expect(try await good.receive() == "{}")
        await good.close()
        let noOrigin = try await WebSocketTransport.connect(to: server.url)
        await noOrigin.close()
        await server.server.stop()
    }

    @Test func oversizeFrameClosesWith1009() async throws {
        let server = try await TestServer.echo(.init(maxFrameSize: 1024))
        let client = try await WebSocketTransport.connect(to: server.url)
        try await client.send("{\"ok\":1}")
        #expect(try await client.receive() == "{\"ok\":1}")
        try await client.send(String(repeating: "a", count: 2000))
        await #expect(throws: TransportError.io("connection closed by peer with code 1009 frame larger than 1024 bytes")) {
            _ = try await client.receive()
        }
        #expect(client.peerCloseFrame == WebSocketCloseInfo(code: 1009, reason: "frame larger than 1024 bytes"))
        #expect(try await server.nextEvent() == "error: frame larger than 1024 bytes")
        await client.close()
        await server.server.stop()
    }

    @Test func fragmentedMessageOverLimitClosesWith1009() async throws {
        let server = try await TestServer.echo(.init(maxFrameSize: 1024))
        let raw = try await RawWebSocketClient.connect(port: server.port)
        let close = try await raw.run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text(String(repeating: "a", count: 600), fin: false))
            try await outbound.write(RawWebSocketClient.frame(.continuation, Array(repeating: 0x61, count: 600)))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(close == WebSocketCloseInfoLike(code: 1009, reason: "message larger than 1024 bytes"))
        #expect(try await server.nextEvent() == "error: frame larger than 1024 bytes")
        await server.server.stop()
    }

    @Test func binaryFrameClosesWith1003() async throws {
        let server = try await TestServer.echo()
        let raw = try await RawWebSocketClient.connect(port: server.port)
        let close = try await raw.run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.frame(.binary, [1, 2, 3]))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(close?.code == 1003)
        #expect(close?.reason.contains("binary frames are not supported") == true)
        #expect(try await server.nextEvent() == "error: invalid frame: binary frame")
        await server.server.stop()
    }

    @Test func protocolViolationsGetTheirCloseCodes() async throws {
        let server = try await TestServer.echo()
        let unmasked = try await RawWebSocketClient.connect(port: server.port)
        let c1 = try await unmasked.run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text("{}", masked: false))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(c1?.code == 1002)
        let badUTF8 = try await RawWebSocketClient.connect(port: server.port)
        let c2 = try await badUTF8.run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.frame(.text, [0x7B, 0xC3, 0x28, 0x7D]))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(c2?.code == 1007)
        let stray = try await RawWebSocketClient.connect(port: server.port)
        let c3 = try await stray.run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.frame(.continuation, Array("{}".utf8)))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(c3?.code == 1002)
        await server.server.stop()
    }

    @Test func fragmentsAreReassembledAndPingsAnswered() async throws {
        let server = try await TestServer.echo()
        let raw = try await RawWebSocketClient.connect(port: server.port)
        let (pong, echoed) = try await raw.run { inbound, outbound -> (String?, String?) in
            try await outbound.write(RawWebSocketClient.text(#"{"a":"#, fin: false))
            try await outbound.write(RawWebSocketClient.frame(.ping, Array("p1".utf8)))
            try await outbound.write(RawWebSocketClient.frame(.continuation, Array("1}".utf8)))
            var pong: String?
            var echoed: String?
            var iterator = inbound.makeAsyncIterator()
            while pong == nil || echoed == nil, let frame = try await iterator.next() {
                #expect(frame.maskKey == nil, "server frames are not masked")
                switch frame.opcode {
                case .pong: pong = String(buffer: frame.data)
                case .text: echoed = String(buffer: frame.data)
                default: break
                }
            }
            var bye = ByteBuffer()
            bye.writeInteger(UInt16(1000))
            try await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: bye))
            while let frame = try await iterator.next(), frame.opcode != .connectionClose {}
            return (pong, echoed)
        }
        #expect(pong == "p1")
        #expect(echoed == #"{"a":1}"#)
        #expect(try await server.nextEvent() == "end")
        await server.server.stop()
    }

    @Test func abruptDropIsAnIOError() async throws {
        let server = try await TestServer.echo()
        let raw = try await RawWebSocketClient.connect(port: server.port)
        try await raw.run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text("{}"))
            for try await frame in inbound where frame.opcode == .text { break }
            // Leave without a close frame: executeThenClose just closes the socket.
        }
        let event = try #require(try await server.nextEvent())
        #expect(event.hasPrefix("error: I/O error: "), "got \(event)")
        await server.server.stop()
    }

    @Test func connectionRefusedIsOneClearLine() async throws {
        // A port that is bound but not listening: connecting is refused, and no other test
        // can take the port meanwhile.
        let reserved = try #require(ReservedPort())
        defer { reserved.release() }
        let port = reserved.port
        await #expect(throws: TransportError.connectFailed("connection refused (127.0.0.1:\(port))")) {
            _ = try await WebSocketTransport.connect(to: "ws://127.0.0.1:\(port)/arcp")
        }
        let error = await #expect(throws: TransportError.self) {
            _ = try await WebSocketTransport.connect(to: "ws://127.0.0.1:\(port)/arcp")
        }
        #expect(error?.description == "connect failed: connection refused (127.0.0.1:\(port))")
    }

    /// A server that hangs up without answering the upgrade: one clear line, not NIO's
    /// "Inappropriate operation for state" (what CI showed for a server that timed out a
    /// loaded client's handshake).
    @Test func aServerThatHangsUpDuringTheHandshakeIsOneClearLine() async throws {
        let rude = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.close() }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(rude.localAddress?.port)
        for _ in 0..<20 {
            let error = await #expect(throws: TransportError.self) {
                _ = try await WebSocketTransport.connect(to: "ws://127.0.0.1:\(port)/arcp")
            }
            // Which of the two depends on whether the hang-up reached the client before its
            // request left (FIN) or after (the server's kernel answers unread data with RST).
            let expected: Set<String> = [
                "connect failed: the server closed the connection during the WebSocket handshake (127.0.0.1:\(port))",
                "connect failed: connection reset by peer (127.0.0.1:\(port))",
            ]
            #expect(expected.contains(error?.description ?? "-"), "got \(error?.description ?? "-")")
        }
        try await rude.close()
    }

    @Test func handshakesThatNeverFinishTimeOut() async throws {
        // Client side: a TCP listener that never answers the upgrade.
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let silentPort = try #require(silent.localAddress?.port)
        let clock = ContinuousClock()
        let start = clock.now
        // The limit covers the TCP connect too: on a starved host (CI's 2 cores during the
        // parallel phase) the connect itself can use up the 0.3 s, and then that is the error.
        let timedOut: Set<String> = [
            "connect failed: no WebSocket handshake response within 0.3 s (127.0.0.1:\(silentPort))",
            "connect failed: timed out after 0.3 s",
        ]
        do {
            _ = try await WebSocketTransport.connect(to: "ws://127.0.0.1:\(silentPort)", timeout: .milliseconds(300))
            Issue.record("connected to a server that never answers the upgrade")
        } catch let error as TransportError {
            #expect(timedOut.contains(error.description), "got \(error.description)")
        }
        #expect(clock.now - start < .seconds(10))
        try await silent.close()

        // Server side: a client that connects and sends nothing is dropped.
        let server = try await TestServer.echo(.init(handshakeTimeout: .milliseconds(200)))
        let reply = await rawHTTP(port: server.port, request: "")
        #expect(reply == "", "closed without a response")
        await server.server.stop()
    }

    @Test func gracefulShutdownSaysGoodbyeThenCloses() async throws {
        let sessions = SessionList()
        let hookCalls = Atomic<Int>(0)
        let server = try await TestServer.start(
            .init(shutdownGracePeriod: .seconds(30)),
            onShutdown: {
                hookCalls.add(1, ordering: .relaxed)
                for transport in sessions.all { try? await transport.send(#"{"type":"session.bye"}"#) }
            }
        ) { transport, events in
            sessions.add(transport)
            while let _ = try? await transport.receive() {}
            try? await events.send("end")
        }
        // A client that leaves when told to.
        let polite = try await WebSocketTransport.connect(to: server.url)
        let politeTask = Task {
            while let frame = try await polite.receive() {
                if frame.contains("session.bye") { await polite.close() }
            }
        }
        #expect(await eventually { server.server.connectionCount == 1 })
        let clock = ContinuousClock()
        let start = clock.now
        await server.server.stop()
        // Generous bound: CI machines can be slow, but waiting out the 30 s grace is a bug.
        #expect(clock.now - start < .seconds(15), "did not need the whole grace period")
        #expect(hookCalls.load(ordering: .relaxed) == 1)
        try await politeTask.value
        #expect(try await server.nextEvent() == "end")
        #expect(server.server.connectionCount == 0)
        await #expect(throws: TransportError.self) {
            _ = try await WebSocketTransport.connect(to: server.url, timeout: .seconds(2))
        }
    }

    @Test func gracefulShutdownClosesStragglersWith1001() async throws {
        let hookCalls = Atomic<Int>(0)
        let server = try await TestServer.start(
            .init(shutdownGracePeriod: .milliseconds(200)),
            onShutdown: { hookCalls.add(1, ordering: .relaxed) }
        ) { transport, events in
            while let _ = try? await transport.receive() {}
            try? await events.send("end")
        }
        let client = try await WebSocketTransport.connect(to: server.url)
        #expect(await eventually { server.server.connectionCount == 1 })
        await server.server.stop()
        #expect(hookCalls.load(ordering: .relaxed) == 1)
        #expect(try await client.receive() == nil, "1001 going away is a clean close")
        #expect(client.peerCloseFrame?.code == 1001)
        #expect(try await server.nextEvent() == "end")
        await client.close()
    }

    @Test func runsAsAServiceUnderServiceGroup() async throws {
        let hookCalls = Atomic<Int>(0)
        let server = WebSocketServer(
            configuration: .init(shutdownGracePeriod: .milliseconds(200)),
            onShutdown: { hookCalls.add(1, ordering: .relaxed) }
        ) { transport in
            while let frame = try? await transport.receive() { try? await transport.send(frame) }
        }
        let group = ServiceGroup(services: [server], logger: .init(label: "test"))
        let running = Task { try await group.run() }
        #expect(await eventually { server.port != nil })
        let client = try await WebSocketTransport.connect(to: "ws://127.0.0.1:\(server.port ?? 0)/arcp")
        try await client.send("{}")
        #expect(try await client.receive() == "{}")
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(hookCalls.load(ordering: .relaxed) == 1)
        #expect(try await client.receive() == nil)
        await client.close()
    }

    @Test(.enabled(if: opensslAvailable, "needs the openssl command to make a test certificate"))
    func tlsWithSelfSignedCertificate() async throws {
        let files = try #require(makeSelfSignedCertificate())
        let certificate = try #require(try NIOSSLCertificate.fromPEMFile(files.cert).first)
        let key = try NIOSSLPrivateKey(file: files.key, format: .pem)
        let serverTLS = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
        let server = try await TestServer.echo(.init(tlsConfiguration: serverTLS))

        var clientTLS = TLSConfiguration.makeClientConfiguration()
        clientTLS.trustRoots = .certificates([certificate])
        let client = try await WebSocketTransport.connect(
            to: "wss://localhost:\(server.port)/arcp", tlsConfiguration: clientTLS)
        try await client.send(#"{"secure":true}"#)
        #expect(try await client.receive() == #"{"secure":true}"#)
        await client.close()

        // Without trusting the certificate the handshake fails with a short reason.
        let error = await #expect(throws: TransportError.self) {
            _ = try await WebSocketTransport.connect(to: "wss://localhost:\(server.port)/arcp")
        }
        #expect(error == .connectFailed("TLS handshake failed: certificate verify failed (localhost:\(server.port))"))
        // A plain ws:// client does not get through a TLS listener.
        await #expect(throws: TransportError.self) {
            _ = try await WebSocketTransport.connect(to: "ws://127.0.0.1:\(server.port)/arcp", timeout: .seconds(2))
        }
        await server.server.stop()
    }
}

/// Transports seen by a test server's handler.
final class SessionList: Sendable {
    private let items = Mutex<[any Transport]>([])
    func add(_ t: any Transport) { items.withLock { $0.append(t) } }
    var all: [any Transport] { items.withLock { $0 } }
}
