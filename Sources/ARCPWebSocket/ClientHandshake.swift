import ARCP
import ARCPWebSocketCore
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The client's side of the opening handshake (RFC 6455 §4.1), as one handler: it writes the
/// upgrade request when the connection is up, reads the response head itself (``HTTPHead``),
/// and on a valid **101** puts the connection's WebSocket handlers in its place. The same
/// reasons as the server's (``ServerHandshakeHandler``): NIO's HTTP client pipeline and
/// upgrader add and remove five handlers per connection, and the client's wait for the answer
/// raced a sleeping task; here the wait is a timer on the connection's event loop.
///
/// Outcomes: the transport; `.notUpgraded` with the status of any other response (the
/// connection is closed); or `TransportError.connectFailed` when the answer is not a valid
/// handshake (no `Upgrade: websocket`, `Connection: upgrade`, or the right
/// `Sec-WebSocket-Accept`; an extension that was not asked for), when the server hangs up or
/// the connection fails first, or when no answer came within the timeout.
final class ClientHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Settings {
        /// The request head, ending with its empty line.
        var request: String
        /// The `Sec-WebSocket-Accept` a server must answer with.
        var expectedAccept: String
        var limits: ConnectionLimits
        var handlesFramesOnEventLoop: Bool
        /// From the TCP connection's start; the connect has its own timeout.
        var timeout: TimeAmount
        /// For messages: `host:port`.
        var endpoint: String
    }

    /// The longest response head read: a 101 is a few lines.
    static let maxHeadBytes = 16 * 1024

    private let settings: Settings
    private let outcome: EventLoopPromise<ClientUpgradeResult>
    private var done = false
    private var requestSent = false
    private var head = HTTPHeadReader(limit: ClientHandshakeHandler.maxHeadBytes)
    private var timer: Scheduled<Void>?

    init(settings: Settings, outcome: EventLoopPromise<ClientUpgradeResult>) {
        self.settings = settings
        self.outcome = outcome
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        hungUp()
    }

    func channelInactive(context: ChannelHandlerContext) {
        hungUp()
        context.fireChannelInactive()
    }

    /// The connection ended before an answer (nothing happens once there was one).
    private func hungUp() {
        finish(.failure(TransportError.connectFailed(
            "the server closed the connection during the WebSocket handshake (\(settings.endpoint))")))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(TransportError.connectFailed("\(describeNetworkError(error)) (\(settings.endpoint))")))
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch head.read(Self.unwrapInboundIn(data)) {
        case .needMore:
            return
        case .tooLarge, .malformed:
            invalid(context)
        case .head(let response, let rest):
            answered(context, response, rest: rest)
        }
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !requestSent else { return }
        requestSent = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: settings.timeout) {
            let (handler, context) = bound.value
            handler.expire(context)
        }
        context.writeAndFlush(Self.wrapOutboundOut(context.channel.allocator.buffer(string: settings.request)), promise: nil)
    }

    private func answered(_ context: ChannelHandlerContext, _ head: HTTPHead, rest: ByteBuffer) {
        guard let line = head.statusLine() else { return invalid(context) }
        guard line.status == 101 else {
            finish(.success(.notUpgraded(status: line.status)))
            context.close(promise: nil)
            return
        }
        let asExpected =
            UpgradePolicy.isWebSocketHandshake(connection: head.values("Connection"), upgrade: head.values("Upgrade"), hasKey: true)
            && head.values("Sec-WebSocket-Accept") == [settings.expectedAccept]
            && head.first("Sec-WebSocket-Extensions") == nil
        guard asExpected else { return invalid(context) }
        let channel = context.channel
        let transport: WebSocketTransport
        do {
            // Frames written by the protocol handler pass through the encoder on their way out.
            try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder(), position: .after(self))
            transport = try WebSocketTransport.install(
                on: channel, isClient: true, limits: settings.limits, handlesFramesOnEventLoop: settings.handlesFramesOnEventLoop)
        } catch {
            finish(.failure(TransportError.connectFailed("\(describeNetworkError(error)) (\(settings.endpoint))")))
            context.close(promise: nil)
            return
        }
        finish(.success(.websocket(transport)))
        // Frames the server sent right behind its 101 arrive with it.
        if rest.readableBytes > 0 { context.fireChannelRead(Self.wrapInboundOut(rest)) }
        channel.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func invalid(_ context: ChannelHandlerContext) {
        finish(.failure(TransportError.connectFailed("server sent an invalid WebSocket handshake (\(settings.endpoint))")))
        context.close(promise: nil)
    }

    private func expire(_ context: ChannelHandlerContext) {
        timer = nil
        finish(.failure(TransportError.connectFailed(
            "no WebSocket handshake response within \(describeDuration(settings.timeout)) (\(settings.endpoint))")))
        context.close(promise: nil)
    }

    private func stopTimer() {
        timer?.cancel()
        timer = nil
    }

    private func finish(_ result: Result<ClientUpgradeResult, any Error>) {
        guard !done else { return }
        done = true
        head.drop()
        stopTimer()
        outcome.completeWith(result)
    }
}

@available(*, unavailable)
extension ClientHandshakeHandler: Sendable {}
