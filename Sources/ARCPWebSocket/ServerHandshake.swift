import ARCPWebSocketCore
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The stand-alone server's side of the opening handshake (RFC 6455 §4.2), as one handler that
/// reads the request head itself (``HTTPHead``), answers it, and on success puts the
/// connection's WebSocket handlers in its place.
///
/// Why not NIO's HTTP pipeline and its WebSocket upgrader: for a connection that is upgraded
/// and then lives on WebSocket frames, that pipeline adds five handlers (HTTP decoder and
/// encoder, the upgrade handler, the frame decoder and encoder) and removes three, each with
/// its context, futures and dynamic casts; with the handshake deadline and the refusal
/// handler, a fifth of the runtime's CPU per connection at 1,000 connections went there
/// (docs/BENCHMARKS.md, "The opening handshake in one handler"). Here a connection gets this
/// handler, then the frame encoder and the protocol handler (and the first-message guard).
///
/// What it answers:
/// - another path: **404**; not `GET`: **405**; no `Upgrade: websocket` and `Connection:
///   upgrade`: **426**; a `Sec-WebSocket-Version` other than 13: **426** with
///   `Sec-WebSocket-Version: 13`; HTTP/1.0, no `Host` or two, a missing or invalid
///   `Sec-WebSocket-Key`, a body, or a head that is not HTTP: **400** (RFC 6455 §4.2.1); a head longer than ``Settings/maxHeadBytes``: **431**;
/// - then the `Host`/`Origin` allow-lists (**403**) and the connection limit (**503**, with
///   `Retry-After`), in ``ServerUpgradePolicy``;
/// - otherwise **101**, and the bytes that came after the head go to the protocol handler.
///
/// A refusal is answered with a short plain-text body and the connection closed.
///
/// It also keeps the handshake deadline: a connection that has not completed its handshake
/// within ``Settings/timeout`` is closed, after a **408** if it sent part of a request (one
/// that sent nothing is closed without a word, as nginx does: there is nobody to tell).
final class ServerHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Settings {
        var policy: ServerUpgradePolicy
        var limits: ConnectionLimits
        var handlesFramesOnEventLoop: Bool
        var timeout: TimeAmount
        var maxHeadBytes: Int
    }

    private enum State {
        /// Reading the request head.
        case reading
        /// A refusal is written; the connection closes.
        case refused
        /// Upgraded, or the connection ended: nothing more to do.
        case done
    }

    private let settings: Settings
    private let executor: EventLoopTaskExecutor?
    private let outcome: EventLoopPromise<ServerUpgradeResult>
    private var state = State.reading
    private var head: HTTPHeadReader
    /// Some of a request arrived (the deadline then answers 408).
    private var bytesSeen = false
    private var timer: Scheduled<Void>?

    /// - Parameters:
    ///   - outcome: completed with the connection's transport, or `.refused`; failed if the
    ///     connection ends first.
    ///   - executor: the connection's executor, for its transport.
    init(settings: Settings, executor: EventLoopTaskExecutor?, outcome: EventLoopPromise<ServerUpgradeResult>) {
        self.settings = settings
        self.executor = executor
        self.outcome = outcome
        self.head = HTTPHeadReader(limit: settings.maxHeadBytes)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: settings.timeout) {
            let (handler, context) = bound.value
            handler.expire(context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopTimer()
        end()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimer()
        end()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A TLS or I/O error during the handshake: nothing to answer.
        end()
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // After a refusal the connection is closing: what else the peer sends is not read.
        guard case .reading = state else { return }
        bytesSeen = true
        switch head.read(Self.unwrapInboundIn(data)) {
        case .needMore:
            return
        case .tooLarge:
            refuse(context, UpgradeRefusal(
                status: 431, message: "request header fields too large: the handshake's head is over \(settings.maxHeadBytes) bytes"))
        case .malformed(let why):
            refuse(context, UpgradeRefusal(status: 400, message: "bad request: \(why)"))
        case .head(let request, let rest):
            answer(context, request, rest: rest)
        }
    }

    private func answer(_ context: ChannelHandlerContext, _ request: HTTPHead, rest: ByteBuffer) {
        guard let line = request.requestLine() else {
            return refuse(context, UpgradeRefusal(status: 400, message: "bad request: the request line is not: method SP target SP HTTP/1.x"))
        }
        let path = settings.policy.path
        if HTTPHead.path(of: line.target) != path[...] { return refuse(context, ServerUpgradePolicy.notFound(path)) }
        if line.method != "GET" {
            return refuse(
                context, UpgradeRefusal(status: 405, message: "method not allowed: open a WebSocket with GET \(path)"),
                headers: "Allow: GET\r\n")
        }
        let asksForWebSocket = UpgradePolicy.isWebSocketHandshake(
            connection: request.values("Connection"), upgrade: request.values("Upgrade"),
            hasKey: request.first("Sec-WebSocket-Key") != nil)
        if !asksForWebSocket {
            return refuse(
                context, UpgradeRefusal(status: 426, message: "upgrade required: ARCP speaks WebSocket at \(path)"),
                headers: "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n")
        }
        if line.minorVersion < 1 {
            return refuse(context, UpgradeRefusal(status: 400, message: "bad request: a WebSocket handshake needs HTTP/1.1"))
        }
        if request.values("Host").count != 1 {
            return refuse(context, UpgradeRefusal(status: 400, message: "bad request: a WebSocket handshake needs one Host header"))
        }
        if request.values("Sec-WebSocket-Version") != ["13"] {
            return refuse(
                context, UpgradeRefusal(status: 426, message: "upgrade required: this server speaks WebSocket version 13"),
                headers: "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n")
        }
        let keys = request.values("Sec-WebSocket-Key")
        guard keys.count == 1, let key = keys.first, WebSocketKey.isValid(key) else {
            return refuse(context, UpgradeRefusal(status: 400, message: "bad request: invalid Sec-WebSocket-Key"))
        }
        if request.first("Transfer-Encoding") != nil || request.values("Content-Length").contains(where: { $0 != "0" }) {
            return refuse(context, UpgradeRefusal(status: 400, message: "bad request: a WebSocket handshake has no body"))
        }
        if let refusal = settings.policy.decide(host: request.first("Host"), origin: request.first("Origin"), channel: context.channel) {
            return refuse(context, refusal)
        }
        upgrade(context, key: key, rest: rest)
    }

    private func upgrade(_ context: ChannelHandlerContext, key: String, rest: ByteBuffer) {
        state = .done
        stopTimer()
        let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: \(WebSocketKey.accept(forKey: key))\r\n\r\n"
        context.write(Self.wrapOutboundOut(context.channel.allocator.buffer(string: response)), promise: nil)
        let channel = context.channel
        let transport: WebSocketTransport
        do {
            // Frames written by the protocol handler pass through the encoder on their way out.
            try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder(), position: .after(self))
            transport = try WebSocketTransport.install(
                on: channel, isClient: false, limits: settings.limits,
                handlesFramesOnEventLoop: settings.handlesFramesOnEventLoop, executor: executor)
        } catch {
            outcome.fail(error)
            context.close(promise: nil)
            return
        }
        context.flush()
        outcome.succeed(.websocket(transport))
        // Bytes that followed the head (a client that did not wait for the 101) are frames.
        if rest.readableBytes > 0 { context.fireChannelRead(Self.wrapInboundOut(rest)) }
        channel.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// Answers with `refusal`'s status and message, then closes. `headers`: extra header lines,
    /// each ending with CRLF.
    private func refuse(_ context: ChannelHandlerContext, _ refusal: UpgradeRefusal, headers: String = "") {
        state = .refused
        head.drop()
        stopTimer()
        outcome.succeed(.refused)
        let body = refusal.message + "\n"
        var head = "HTTP/1.1 \(refusal.status) \(HTTPResponseStatus(statusCode: refusal.status).reasonPhrase)\r\n"
        head += headers
        if let seconds = refusal.retryAfterSeconds { head += "Retry-After: \(seconds)\r\n" }
        head += "Content-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
        let channel = context.channel
        context.writeAndFlush(Self.wrapOutboundOut(channel.allocator.buffer(string: head + body))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    private func expire(_ context: ChannelHandlerContext) {
        timer = nil
        // The server's initializer (which adds this handler) runs before NIO registers and
        // activates an accepted channel, in a separate event-loop task. On a loop busy enough
        // that activation comes after the deadline, the channel is open but not yet active: it
        // is closed all the same (it has certainly not completed a handshake).
        guard context.channel.isActive, case .reading = state, bytesSeen else {
            end()
            context.close(promise: nil)
            return
        }
        let seconds = Double(settings.timeout.nanoseconds) / 1e9
        let shown = seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
        refuse(context, UpgradeRefusal(
            status: 408, message: "request timeout: the WebSocket handshake did not complete within \(shown)"))
    }

    private func stopTimer() {
        timer?.cancel()
        timer = nil
    }

    /// The connection ended (or was given up) before an answer: the server's wait ends.
    private func end() {
        guard case .reading = state else { return }
        state = .done
        head.drop()
        outcome.fail(ChannelError.eof)
    }
}

@available(*, unavailable)
extension ServerHandshakeHandler: Sendable {}
