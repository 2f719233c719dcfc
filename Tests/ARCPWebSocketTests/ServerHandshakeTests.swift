import ARCPWebSocketCore
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import ARCPWebSocket

/// The server's opening handshake on its own (``ServerHandshakeHandler``), on an
/// `EmbeddedChannel` whose clock the test moves: what it answers, what it installs, and its
/// deadline in each state a connection can be in when it passes.
@Suite("WebSocket server: the opening handshake")
struct ServerHandshakeTests {
    static let key = "dGhlIHNhbXBsZSBub25jZQ=="
    static let upgrade = "GET /arcp HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"

    struct Setup {
        let loop = EmbeddedEventLoop()
        let channel: EmbeddedChannel
        let outcome: EventLoopPromise<ServerUpgradeResult>
        let handler: ServerHandshakeHandler
        let limiter: ConnectionLimiter

        init(timeout: TimeAmount = .seconds(2), maxHeadBytes: Int = 16 * 1024, maxConnections: Int = 10, active: Bool = true) throws {
            channel = EmbeddedChannel(loop: loop)
            outcome = loop.makePromise()
            limiter = ConnectionLimiter(limit: maxConnections)
            let policy = ServerUpgradePolicy(
                path: "/arcp", allowLists: UpgradePolicy(allowedOrigins: ["https://good.example"], allowedHosts: nil),
                limiter: limiter)
            handler = ServerHandshakeHandler(
                settings: .init(
                    policy: policy, limits: ConnectionLimits(), handlesFramesOnEventLoop: false, timeout: timeout,
                    maxHeadBytes: maxHeadBytes),
                executor: nil, outcome: outcome)
            try channel.pipeline.syncOperations.addHandler(handler)
            if active { try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait() }
        }

        /// Everything written so far, as text.
        func written() throws -> String {
            var text = ""
            while let b = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: b) }
            return text
        }

        func closedFlag() -> NIOLockedValueBox<Bool> {
            let closed = NIOLockedValueBox(false)
            channel.closeFuture.whenComplete { _ in closed.withLockedValue { $0 = true } }
            return closed
        }

        /// The outcome, if it is known.
        func result() -> Result<ServerUpgradeResult, any Error>? {
            let box = NIOLockedValueBox<Result<ServerUpgradeResult, any Error>?>(nil)
            outcome.futureResult.whenComplete { r in box.withLockedValue { $0 = r } }
            return box.withLockedValue { $0 }
        }

        var upgraded: Bool {
            if case .success(.websocket)? = result() { return true }
            return false
        }
    }

    /// RFC 6455 §1.3's example: the key `dGhlIHNhbXBsZSBub25jZQ==` is answered with
    /// `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`; the pipeline then holds the frame encoder and the protocol
    /// handler, not the handshake handler.
    @Test func anUpgradeIsAnswered101AndInstallsTheWebSocketHandlers() throws {
        let s = try Setup()
        try s.channel.writeInbound(ByteBuffer(string: Self.upgrade))
        let reply = try s.written()
        #expect(reply.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        #expect(reply.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"))
        #expect(reply.hasSuffix("\r\n\r\n"))
        #expect(s.upgraded)
        #expect(throws: (any Error).self) { try s.channel.pipeline.syncOperations.handler(type: ServerHandshakeHandler.self) }
        #expect(throws: Never.self) { _ = try s.channel.pipeline.syncOperations.handler(type: WebSocketFrameEncoder.self) }
        #expect(throws: Never.self) { _ = try s.channel.pipeline.syncOperations.handler(type: WebSocketProtocolHandler.self) }
        _ = try? s.channel.finish()
    }

    /// A client that sends its first frame right behind the head: the frame reaches the
    /// transport. The head may also arrive a byte at a time.
    @Test func bytesAfterTheHeadAreFramesAndTheHeadMayComeInPieces() async throws {
        let s = try Setup()
        var bytes = Array(Self.upgrade.utf8)
        // A masked text frame "hi".
        let mask: [UInt8] = [1, 2, 3, 4]
        bytes += [0x81, 0x82] + mask + zip(Array("hi".utf8), [1, 2]).map { $0 ^ $1 }
        for b in bytes { try s.channel.writeInbound(ByteBuffer(bytes: [b])) }
        guard case .success(.websocket(let transport))? = s.result() else {
            Issue.record("not upgraded: \(String(describing: s.result()))")
            return
        }
        #expect(try await transport.receive() == "hi")
        _ = try? s.channel.finish()
    }

    @Test(arguments: [
        ("GET /other HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 Not Found"),
        ("POST /arcp HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"),
        ("GET /arcp HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 426 Upgrade Required"),
        (upgrade.replacingOccurrences(of: "Version: 13", with: "Version: 8"), "HTTP/1.1 426 Upgrade Required"),
        (upgrade.replacingOccurrences(of: "HTTP/1.1", with: "HTTP/1.0"), "HTTP/1.1 400 Bad Request"),
        (upgrade.replacingOccurrences(of: key, with: "short=="), "HTTP/1.1 400 Bad Request"),
        (upgrade.replacingOccurrences(of: "Host: server.example.com\r\n", with: ""), "HTTP/1.1 400 Bad Request"),
        (upgrade.replacingOccurrences(of: "\r\n\r\n", with: "\r\nHost: other.example\r\n\r\n"), "HTTP/1.1 400 Bad Request"),
        (upgrade.replacingOccurrences(of: "\r\n\r\n", with: "\r\nSec-WebSocket-Key: \(key)\r\n\r\n"), "HTTP/1.1 400 Bad Request"),
        (upgrade.replacingOccurrences(of: "\r\n\r\n", with: "\r\nContent-Length: 5\r\n\r\n"), "HTTP/1.1 400 Bad Request"),
        (upgrade.replacingOccurrences(of: "\r\n\r\n", with: "\r\nOrigin: https://evil.example\r\n\r\n"), "HTTP/1.1 403 Forbidden"),
        ("GET /arcp HTTP/1.1\r\nHost : x\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        ("GET /arcp HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        ("GET /arcp HTTP/2.0\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        ("GET  /arcp HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        ("GET /arcp HTTP/1.1\r\nX: a\rb\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    ])
    func refusalsAreAnsweredAndClosed(request: String, status: String) throws {
        let s = try Setup()
        let closed = s.closedFlag()
        try s.channel.writeInbound(ByteBuffer(string: request))
        s.loop.run()
        let reply = try s.written()
        #expect(reply.hasPrefix(status + "\r\n"), "\(reply)")
        #expect(reply.contains("\r\nConnection: close\r\n"))
        #expect(closed.withLockedValue { $0 })
        if case .success(.refused)? = s.result() {} else { Issue.record("outcome: \(String(describing: s.result()))") }
    }

    /// The limit is on the head's bytes, checked as they arrive: a head that does not end
    /// within it is answered 431 without waiting for its end.
    @Test func aHeadOverTheLimitIsAnswered431() throws {
        let s = try Setup(maxHeadBytes: 256)
        try s.channel.writeInbound(ByteBuffer(string: "GET /arcp HTTP/1.1\r\nX: " + String(repeating: "a", count: 300)))
        #expect(try s.written().hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
    }

    @Test func beyondTheConnectionLimitIsAnswered503WithRetryAfter() throws {
        let s = try Setup(maxConnections: 1)
        #expect(s.limiter.tryAcquire(), "the one connection the server may hold is taken")
        try s.channel.writeInbound(ByteBuffer(string: Self.upgrade))
        let reply = try s.written()
        #expect(reply.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(reply.contains("\r\nRetry-After: 1\r\n"))
    }

    /// Empty lines before the request line are skipped and a line may end with LF alone
    /// (RFC 9112 §2.2).
    @Test func leadingEmptyLinesAndBareLineFeedsAreRead() throws {
        let s = try Setup()
        try s.channel.writeInbound(ByteBuffer(string: "\r\n" + Self.upgrade.replacingOccurrences(of: "\r\n", with: "\n")))
        #expect(try s.written().hasPrefix("HTTP/1.1 101 "))
        _ = try? s.channel.finish()
    }

    @Test func theParserReportsWhereTheHeadEnds() throws {
        var scan = 0
        let text = "GET /arcp?x=1 HTTP/1.1\r\nHost:  a \r\nhost: b\r\n\r\nrest"
        let parsed = HTTPHead.parse(ByteBuffer(string: text).readableBytesView, limit: 1024, scanFrom: &scan)
        guard case .head(let head, let length) = parsed else {
            Issue.record("\(parsed)")
            return
        }
        #expect(length == text.utf8.count - 4)
        let line = try #require(head.requestLine())
        #expect(line.method == "GET" && line.target == "/arcp?x=1" && line.minorVersion == 1)
        #expect(HTTPHead.path(of: line.target) == "/arcp")
        #expect(head.values("HOST") == ["a", "b"])
        #expect(head.statusLine() == nil)
        var scan2 = 0
        guard case .needMore = HTTPHead.parse(ByteBuffer(string: "GET / HTTP/1.1\r\n").readableBytesView, limit: 1024, scanFrom: &scan2) else {
            Issue.record("a head without its end is not complete")
            return
        }
        #expect(scan2 > 0, "the next call starts where this one stopped")
        let response = HTTPHead(startLine: "HTTP/1.1 404 Not Found", headers: [])
        #expect(response.statusLine()?.status == 404 && response.statusLine()?.reason == "Not Found")
        #expect(HTTPHead(startLine: "HTTP/1.1 4x4 Nope", headers: []).statusLine() == nil)
    }

    /// Mutated heads (bytes flipped, line ends, NULs, high bytes inserted), each parsed at once
    /// and again as it would arrive in random pieces: the same outcome, and no trap.
    @Test func piecesAndWholeAgreeOnMutatedHeads() {
        var rng = SystemRandomNumberGenerator()
        let base = Array(Self.upgrade.utf8)
        func summary(_ p: HTTPHead.Parsed) -> String {
            switch p {
            case .needMore: return "needMore"
            case .tooLarge: return "tooLarge"
            case .malformed(let why): return "malformed \(why)"
            case .head(let h, let length): return "head \(h.startLine) \(h.headers.map { "\($0.name)=\($0.value)" }) \(length)"
            }
        }
        let inserts: [UInt8] = [0x0D, 0x0A, 0x00, 0x20, 0x09, 0x3A, 0x80, 0xFF]
        for _ in 0..<2000 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                if Bool.random(using: &rng) {
                    bytes[i] = inserts.randomElement(using: &rng) ?? 0
                } else {
                    bytes.insert(inserts.randomElement(using: &rng) ?? 0, at: i)
                }
            }
            let limit = Int.random(in: 64...400, using: &rng)
            var scan = 0
            let whole = summary(HTTPHead.parse(ByteBuffer(bytes: bytes).readableBytesView, limit: limit, scanFrom: &scan))
            var buffer = ByteBuffer()
            var pieces = "needMore"
            var scan2 = 0
            var offset = 0
            while offset < bytes.count, pieces == "needMore" {
                let n = Int.random(in: 1...16, using: &rng)
                buffer.writeBytes(bytes[offset..<min(bytes.count, offset + n)])
                offset += n
                pieces = summary(HTTPHead.parse(buffer.readableBytesView, limit: limit, scanFrom: &scan2))
            }
            #expect(whole == pieces, "\(bytes)")
            if whole != pieces { return }
        }
    }

    /// NIO adds the server's handlers to an accepted channel before it registers and activates
    /// it, in another event-loop task; on a busy loop the deadline can pass in between. Such a
    /// connection is closed too.
    @Test func aConnectionNotYetActiveWhenTheDeadlinePassesIsClosed() throws {
        let s = try Setup(timeout: .milliseconds(200), active: false)
        let closed = s.closedFlag()
        #expect(!s.channel.isActive)
        s.loop.advanceTime(by: .milliseconds(199))
        #expect(!closed.withLockedValue { $0 })
        s.loop.advanceTime(by: .milliseconds(1))
        #expect(closed.withLockedValue { $0 }, "the deadline closed the connection that was never activated")
    }

    @Test func anActiveConnectionThatSentNothingIsClosedWithoutAWord() throws {
        let s = try Setup(timeout: .milliseconds(200))
        let closed = s.closedFlag()
        s.loop.advanceTime(by: .milliseconds(200))
        #expect(closed.withLockedValue { $0 })
        #expect(try s.written() == "", "nothing is written to a peer that sent nothing")
        if case .failure? = s.result() {} else { Issue.record("the server's wait ends with the connection") }
    }

    @Test func anActiveConnectionWithHalfARequestIsAnswered408() throws {
        let s = try Setup(timeout: .seconds(2))
        try s.channel.writeInbound(ByteBuffer(string: "GET /arcp HTTP/1.1\r\n"))
        let closed = s.closedFlag()
        s.loop.advanceTime(by: .seconds(2))
        let reply = try s.written()
        #expect(reply.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(reply.hasSuffix("did not complete within 2 s\n"))
        #expect(closed.withLockedValue { $0 })
    }

    @Test func theDeadlineEndsWithTheUpgrade() throws {
        let s = try Setup(timeout: .milliseconds(200))
        try s.channel.writeInbound(ByteBuffer(string: Self.upgrade))
        s.loop.advanceTime(by: .seconds(1))
        #expect(s.channel.isActive, "an upgraded connection outlives the handshake deadline")
        _ = try? s.channel.finish()
    }

    @Test func theKeyIsTheBase64OfSixteenBytes() {
        #expect(WebSocketKey.isValid(Self.key))
        #expect(!WebSocketKey.isValid("dGhlIHNhbXBsZSBub25jZQ="))
        #expect(!WebSocketKey.isValid("dGhlIHNhbXBsZSBub25j*Q=="))
        let made = (0..<50).map { _ in WebSocketKey.make() }
        #expect(made.allSatisfy(WebSocketKey.isValid), "\(made)")
        #expect(Set(made).count == made.count, "fresh keys")
        #expect(WebSocketKey.base64(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(WebSocketKey.base64(Array("fooba".utf8)) == "Zm9vYmE=")
        #expect(WebSocketKey.base64(Array("foob".utf8)) == "Zm9vYg==")
    }
}
