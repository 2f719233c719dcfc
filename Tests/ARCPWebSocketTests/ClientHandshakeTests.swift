import ARCP
import ARCPWebSocketCore
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import ARCPWebSocket

/// The client's side of the opening handshake on its own (``ClientHandshakeHandler``), on an
/// `EmbeddedChannel`: what it writes, and what it makes of each kind of answer.
@Suite("WebSocket client: the opening handshake")
struct ClientHandshakeTests {
    static let key = "dGhlIHNhbXBsZSBub25jZQ=="
    static let accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    struct Setup {
        let loop = EmbeddedEventLoop()
        let channel: EmbeddedChannel
        let outcome: EventLoopPromise<ClientUpgradeResult>

        init(timeout: TimeAmount = .seconds(2)) throws {
            channel = EmbeddedChannel(loop: loop)
            outcome = loop.makePromise()
            let target = try WebSocketURL(parsing: "ws://127.0.0.1:7777/arcp")
            let settings = ClientHandshakeHandler.Settings(
                request: try upgradeRequest(target, headers: ["Authorization": "Bearer t"], key: ClientHandshakeTests.key),
                expectedAccept: WebSocketKey.accept(forKey: ClientHandshakeTests.key), limits: ConnectionLimits(maxFirstMessageSize: nil),
                handlesFramesOnEventLoop: false, timeout: timeout, endpoint: "127.0.0.1:7777")
            try channel.pipeline.syncOperations.addHandler(ClientHandshakeHandler(settings: settings, outcome: outcome))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7777)).wait()
        }

        func result() -> Result<ClientUpgradeResult, any Error>? {
            let box = NIOLockedValueBox<Result<ClientUpgradeResult, any Error>?>(nil)
            outcome.futureResult.whenComplete { r in box.withLockedValue { $0 = r } }
            return box.withLockedValue { $0 }
        }

        func failure() -> String? {
            if case .failure(let e)? = result() { return "\(e)" }
            return nil
        }
    }

    static func response(accept: String = accept, extra: String = "") -> String {
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\(extra)\r\n"
    }

    @Test func theRequestCarriesTheHandshakeAndTheCallersHeaders() throws {
        let s = try Setup()
        let text = String(buffer: try #require(try s.channel.readOutbound(as: ByteBuffer.self)))
        #expect(text.hasPrefix("GET /arcp HTTP/1.1\r\nHost: 127.0.0.1:7777\r\n"))
        #expect(text.contains("\r\nAuthorization: Bearer t\r\n"))
        #expect(text.contains("\r\nSec-WebSocket-Key: \(Self.key)\r\nSec-WebSocket-Version: 13\r\n\r\n"))
    }

    @Test func aHeaderWithALineBreakIsRefusedBeforeConnecting() throws {
        let target = try WebSocketURL(parsing: "ws://127.0.0.1:7777/arcp")
        #expect(throws: TransportError.self) { _ = try upgradeRequest(target, headers: ["X": "a\r\nEvil: 1"], key: Self.key) }
        #expect(throws: TransportError.self) { _ = try upgradeRequest(target, headers: ["Bad Name": "v"], key: Self.key) }
    }

    /// A valid 101 installs the WebSocket handlers, and a frame the server sent right behind it
    /// reaches the transport.
    @Test func aValid101WithAFrameBehindIt() async throws {
        let s = try Setup()
        var bytes = Array(Self.response().utf8)
        bytes += [0x81, 0x02] + Array("hi".utf8)
        try s.channel.writeInbound(ByteBuffer(bytes: bytes))
        guard case .success(.websocket(let transport))? = s.result() else {
            Issue.record("not upgraded: \(String(describing: s.result()))")
            return
        }
        #expect(try await transport.receive() == "hi")
        #expect(throws: (any Error).self) { try s.channel.pipeline.syncOperations.handler(type: ClientHandshakeHandler.self) }
        _ = try? s.channel.finish()
    }

    @Test(arguments: [
        response(accept: "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        response(extra: "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\r\n",
        "HTTP/1.1 1O1 Switching Protocols\r\n\r\n",
    ])
    func anInvalidAnswerIsOneClearLine(answer: String) throws {
        let s = try Setup()
        try s.channel.writeInbound(ByteBuffer(string: answer))
        #expect(s.failure() == "connect failed: server sent an invalid WebSocket handshake (127.0.0.1:7777)")
        #expect(!s.channel.isActive)
    }

    @Test func anotherStatusIsNotAnUpgrade() throws {
        let s = try Setup()
        try s.channel.writeInbound(ByteBuffer(string: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
        guard case .success(.notUpgraded(let status))? = s.result() else {
            Issue.record("\(String(describing: s.result()))")
            return
        }
        #expect(status == 404)
    }

    @Test func noAnswerWithinTheTimeout() throws {
        let s = try Setup(timeout: .milliseconds(300))
        s.loop.advanceTime(by: .milliseconds(300))
        #expect(s.failure() == "connect failed: no WebSocket handshake response within 0.3 s (127.0.0.1:7777)")
    }
}
