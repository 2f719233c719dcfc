import NIOCore
import NIOHTTP1
import Synchronization

/// Which upgrade requests the server accepts.
struct UpgradePolicy: Sendable {
    let path: String
    /// Lower-cased; `nil` allows any.
    let allowedOrigins: Set<String>?
    /// Lower-cased; `nil` allows any.
    let allowedHosts: Set<String>?

    init(path: String, allowedOrigins: Set<String>?, allowedHosts: Set<String>?) {
        self.path = path
        self.allowedOrigins = allowedOrigins.map { Set($0.map { $0.lowercased() }) }
        self.allowedHosts = allowedHosts.map { Set($0.map { $0.lowercased() }) }
    }

    /// Why a request may not be upgraded, or `nil` when it may.
    func refusal(for head: HTTPRequestHead) -> HTTPResponseStatus? {
        let requestPath = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        if requestPath != path[...] { return .notFound }
        if let allowedHosts {
            guard let host = head.headers.first(name: "Host")?.lowercased(),
                  allowedHosts.contains(host) || allowedHosts.contains(Self.stripPort(host))
            else { return .forbidden }
        }
        // A browser always sends Origin on a WebSocket handshake; other clients usually do not,
        // and could claim any Origin anyway. So the allow-list judges requests that carry one.
        if let allowedOrigins, let origin = head.headers.first(name: "Origin") {
            if !allowedOrigins.contains(origin.lowercased()) { return .forbidden }
        }
        return nil
    }

    private static func stripPort(_ host: String) -> String {
        if host.hasPrefix("[") {
            if let close = host.firstIndex(of: "]") { return String(host[...close]) }
            return host
        }
        if let colon = host.lastIndex(of: ":") { return String(host[..<colon]) }
        return host
    }
}

/// The request head seen by the upgrader of one connection. When an upgrade is attempted and
/// refused, NIO does not pass that head on to the not-upgraded pipeline, so it is kept here.
final class RequestHeadBox: Sendable {
    private let head = Mutex<HTTPRequestHead?>(nil)
    var value: HTTPRequestHead? {
        get { head.withLock { $0 } }
        set { head.withLock { $0 = newValue } }
    }
}

/// Answers a request that was not upgraded (wrong path, refused origin/host, no upgrade
/// headers, wrong method) with a short plain-text response, then closes the connection.
final class HTTPRefusalHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let policy: UpgradePolicy
    private let seenHead: RequestHeadBox
    private var answered = false

    init(policy: UpgradePolicy, seenHead: RequestHeadBox) {
        self.policy = policy
        self.seenHead = seenHead
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            answer(context, head)
        case .end:
            // A refused upgrade: the head went to the upgrader only.
            // Without a recorded head the upgrade failed before the policy ran (e.g. no
            // Sec-WebSocket-Key): a malformed handshake.
            answer(context, seenHead.value)
        case .body:
            break
        }
    }

    private func answer(_ context: ChannelHandlerContext, _ request: HTTPRequestHead?) {
        answered = true
        let status: HTTPResponseStatus
        let text: String
        var headers = HTTPHeaders()
        let head = request ?? HTTPRequestHead(version: .http1_1, method: .GET, uri: policy.path)
        switch request.flatMap(policy.refusal(for:)) {
        case nil where request == nil:
            status = .badRequest
            text = "bad request: invalid WebSocket handshake\n"
        case .notFound?:
            status = .notFound
            text = "not found: ARCP is served at \(policy.path)\n"
        case .forbidden?:
            status = .forbidden
            text = "forbidden: origin or host not allowed\n"
        case let other?:
            status = other
            text = "\(other.reasonPhrase)\n"
        case nil where head.method != .GET:
            status = .methodNotAllowed
            text = "method not allowed: open a WebSocket with GET \(policy.path)\n"
            headers.add(name: "Allow", value: "GET")
        case nil:
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
