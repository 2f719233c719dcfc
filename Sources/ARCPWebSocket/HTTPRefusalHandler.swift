import ARCPWebSocketCore
import NIOCore
import NIOHTTP1

/// Answers a request that was not upgraded (wrong path, refused origin/host, no room for another
/// connection, no upgrade headers, wrong method) with a short plain-text response, then closes
/// the connection.
final class HTTPRefusalHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let policy: ServerUpgradePolicy
    private let decision: UpgradeDecision
    private var answered = false

    init(policy: ServerUpgradePolicy, decision: UpgradeDecision) {
        self.policy = policy
        self.decision = decision
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            decision.markRequestSeen()
            answer(context, head, refusal: Self.refusalOfPlainRequest(head, path: policy.path))
        case .end:
            // A refused upgrade: the head went to the upgrader only. Without a recorded head the
            // upgrade failed before the policy ran (e.g. no Sec-WebSocket-Key): a malformed
            // handshake.
            answer(context, decision.head, refusal: decision.refusal)
        case .body:
            break
        }
    }

    /// A request that never reached the upgrader (no upgrade headers): 404 off the path.
    private static func refusalOfPlainRequest(_ head: HTTPRequestHead, path: String) -> UpgradeRefusal? {
        let requestPath = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return requestPath == path[...] ? nil : ServerUpgradePolicy.notFound(path)
    }

    private func answer(_ context: ChannelHandlerContext, _ request: HTTPRequestHead?, refusal: UpgradeRefusal?) {
        answered = true
        let status: HTTPResponseStatus
        let text: String
        var headers = HTTPHeaders()
        let head = request ?? HTTPRequestHead(version: .http1_1, method: .GET, uri: policy.path)
        if let refusal {
            status = HTTPResponseStatus(statusCode: refusal.status)
            text = refusal.message + "\n"
            if let seconds = refusal.retryAfterSeconds { headers.add(name: "Retry-After", value: String(seconds)) }
        } else if request == nil {
            status = .badRequest
            text = "bad request: invalid WebSocket handshake\n"
        } else if head.method != .GET {
            status = .methodNotAllowed
            text = "method not allowed: open a WebSocket with GET \(policy.path)\n"
            headers.add(name: "Allow", value: "GET")
        } else {
            status = .upgradeRequired
            text = "upgrade required: ARCP speaks WebSocket at \(policy.path)\n"
            headers.add(name: "Upgrade", value: "websocket")
            headers.add(name: "Sec-WebSocket-Version", value: "13")
        }
        var body = context.channel.allocator.buffer(capacity: text.utf8.count)
        body.writeString(text)
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: "close")
        let response = HTTPResponseHead(version: head.version, status: status, headers: headers)
        context.write(Self.wrapOutboundOut(.head(response)), promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension HTTPRefusalHandler: Sendable {}
