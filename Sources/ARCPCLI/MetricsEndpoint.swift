import NIOCore
import NIOHTTP1
import NIOPosix

/// `arcp serve --metrics-port`: a small HTTP/1.1 server whose `GET /metrics` answers the
/// Prometheus text exposition (keep-alive, as Prometheus scrapes). Any other path is 404,
/// any other method 405.
final class MetricsEndpoint: Sendable {
    let channel: any Channel
    let host: String

    /// The bound port (the one picked, with port 0).
    var port: Int { channel.localAddress?.port ?? 0 }

    /// `http://HOST:PORT/metrics`.
    var url: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/metrics" }

    private init(channel: any Channel, host: String) {
        self.channel = channel
        self.host = host
    }

    /// Binds and serves until `stop()`. `render` returns the exposition, called per scrape.
    static func start(host: String, port: Int, render: @escaping @Sendable () -> [UInt8]) async throws -> MetricsEndpoint {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(render: render))
                }
            }
            .bind(host: host, port: port).get()
        return MetricsEndpoint(channel: channel, host: host)
    }

    func stop() async {
        try? await channel.close()
    }
}

/// Answers each request of one connection.
final class MetricsHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    let render: @Sendable () -> [UInt8]
    private var request: HTTPRequestHead? = nil

    init(render: @escaping @Sendable () -> [UInt8]) { self.render = render }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(context, to: head)
        }
    }

    private func respond(_ context: ChannelHandlerContext, to head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        var headers = HTTPHeaders()
        let status: HTTPResponseStatus
        let body: [UInt8]
        if head.method != .GET && head.method != .HEAD {
            status = .methodNotAllowed
            headers.add(name: "Allow", value: "GET, HEAD")
            body = Array("method not allowed\n".utf8)
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        } else if path == "/metrics" {
            status = .ok
            body = render()
            headers.add(name: "Content-Type", value: Self.contentType)
        } else {
            status = .notFound
            body = Array("not found: the metrics are at /metrics\n".utf8)
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        }
        headers.add(name: "Content-Length", value: "\(body.count)")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
