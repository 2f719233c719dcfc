import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import ARCPWebSocket

/// The server's handshake deadline on its own, on an `EmbeddedChannel` whose clock the test
/// moves: what it does in each state a connection can be in when the deadline passes.
@Suite("WebSocket server: the handshake deadline")
struct HandshakeDeadlineTests {
    /// Whether `channel` has closed, read without waiting.
    func closedFlag(_ channel: EmbeddedChannel) -> NIOLockedValueBox<Bool> {
        let closed = NIOLockedValueBox(false)
        channel.closeFuture.whenComplete { _ in closed.withLockedValue { $0 = true } }
        return closed
    }

    /// NIO adds the server's handlers to an accepted channel before it registers and activates
    /// it, in another event-loop task; on a busy loop the deadline can pass in between. Such a
    /// connection is closed too (the deadline used to give up on it, leaving it open forever).
    @Test func aConnectionNotYetActiveWhenTheDeadlinePassesIsClosed() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(HandshakeDeadline(timeout: .milliseconds(200), decision: UpgradeDecision()))
        let closed = closedFlag(channel)
        #expect(!channel.isActive)
        loop.advanceTime(by: .milliseconds(199))
        #expect(!closed.withLockedValue { $0 })
        loop.advanceTime(by: .milliseconds(1))
        #expect(closed.withLockedValue { $0 }, "the deadline closed the connection that was never activated")
    }

    @Test func anActiveConnectionThatSentNothingIsClosedWithoutAWord() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(HandshakeDeadline(timeout: .milliseconds(200), decision: UpgradeDecision()))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let closed = closedFlag(channel)
        loop.advanceTime(by: .milliseconds(200))
        #expect(closed.withLockedValue { $0 })
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "nothing is written to a peer that sent nothing")
    }

    @Test func anActiveConnectionWithHalfARequestIsAnswered408() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(HandshakeDeadline(timeout: .seconds(2), decision: UpgradeDecision()))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "GET /arcp HTTP/1.1\r\n"))
        let closed = closedFlag(channel)
        loop.advanceTime(by: .seconds(2))
        let reply = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: reply).hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(String(buffer: reply).hasSuffix("did not complete within 2 s\n"))
        #expect(closed.withLockedValue { $0 })
    }

    @Test func theDeadlineEndsWhenTheHandlerIsRemoved() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let deadline = HandshakeDeadline(timeout: .milliseconds(200), decision: UpgradeDecision())
        try channel.pipeline.syncOperations.addHandler(deadline)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.pipeline.syncOperations.removeHandler(deadline).wait()
        loop.advanceTime(by: .seconds(1))
        #expect(channel.isActive, "an upgraded connection outlives the handshake deadline")
        _ = try channel.finish()
    }
}
