import ARCP
import ARCPWebSocketCore
import Synchronization
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

enum ClientUpgradeResult: Sendable {
    case websocket(WebSocketTransport)
    case notUpgraded(EventLoopFuture<HTTPResponseStatus>)
}

extension WebSocketTransport {
    /// The default cap on one message: 16 MiB (`ARCPWebSocketDefaults.maxMessageSize`).
    public static let defaultMaxFrameSize = ARCPWebSocketDefaults.maxMessageSize
    /// The default limit on received-but-unread bytes per connection: 4 MiB.
    public static let defaultInboundByteLimit = ARCPWebSocketDefaults.inboundByteLimit
    /// The default limit on bytes accepted by `send` and not yet written: 256 KiB.
    public static let defaultOutboundByteLimit = ARCPWebSocketDefaults.outboundByteLimit

    /// Connects to an ARCP runtime over WebSocket.
    ///
    /// ```swift
    /// let transport = try await WebSocketTransport.connect(to: "wss://runtime.example.com/arcp")
    /// ```
    ///
    /// - Parameters:
    ///   - url: `ws://` or `wss://` URL; without a path, `/arcp` is used.
    ///   - headers: extra HTTP headers for the upgrade request (e.g. `Authorization`, `Origin`);
    ///     a `Host` entry replaces the one derived from the URL.
    ///   - tlsConfiguration: TLS settings for `wss://` (trust roots, client certificate, …);
    ///     default `TLSConfiguration.makeClientConfiguration()` (system trust store).
    ///   - maxFrameSize: the largest message accepted from or sent to the server.
    ///   - timeout: limit on TCP connect, TLS and WebSocket handshakes together.
    ///   - inboundCapacity: messages buffered before the socket stops being read.
    ///   - inboundByteLimit: bytes of received messages buffered before the socket stops
    ///     being read (one larger message still gets through). Default 4 MiB.
    ///   - closeTimeout: how long `close()` waits for the server's close frame before it closes
    ///     the socket anyway. Default 2 s.
    ///   - outboundByteLimit: bytes accepted by `send` and not yet written before `send`
    ///     suspends (one larger frame still goes through alone). Default 256 KiB.
    ///   - maxUnansweredPings: pings the server may send while this side's pongs are not
    ///     written (it does not read) before the connection is closed with 1008. Default 16.
    ///   - handlesFramesOnEventLoop: whether ``preferredExecutor`` is the connection's event
    ///     loop (an `ARCPClient` then handles the frames there). Default true, as on the server.
    ///   - eventLoopGroup: defaults to NIO's shared singleton group.
    /// - Throws: `TransportError.connectFailed` with a one-line reason, e.g.
    ///   `connection refused (127.0.0.1:7777)` or `server refused the WebSocket upgrade: HTTP 404 Not Found`.
    public static func connect(
        to url: String,
        headers: [String: String] = [:],
        tlsConfiguration: TLSConfiguration? = nil,
        maxFrameSize: Int = WebSocketTransport.defaultMaxFrameSize,
        timeout: Duration = .seconds(10),
        inboundCapacity: Int = 256,
        inboundByteLimit: Int = WebSocketTransport.defaultInboundByteLimit,
        closeTimeout: Duration = ARCPWebSocketDefaults.closeTimeout,
        outboundByteLimit: Int = WebSocketTransport.defaultOutboundByteLimit,
        maxUnansweredPings: Int = ARCPWebSocketDefaults.maxUnansweredPings,
        handlesFramesOnEventLoop: Bool = ARCPWebSocketDefaults.handlesFramesOnEventLoop,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> WebSocketTransport {
        let target = try WebSocketURL(parsing: url)
        let frameLimit = clampFrameSize(maxFrameSize)
        // A client has no first-message cap: the server's welcome is its first message.
        let limits = ConnectionLimits(
            maxMessageSize: frameLimit, maxFirstMessageSize: nil, inboundCapacity: inboundCapacity,
            inboundByteLimit: inboundByteLimit, outboundByteLimit: outboundByteLimit,
            maxUnansweredPings: maxUnansweredPings, closeTimeout: closeTimeout)
        let sslContext: NIOSSLContext?
        do {
            sslContext = target.secure
                ? try NIOSSLContext(configuration: tlsConfiguration ?? .makeClientConfiguration()) : nil
        } catch {
            throw TransportError.connectFailed("invalid TLS configuration: \(describeNetworkError(error))")
        }
        var requestHeaders = HTTPHeaders()
        if !headers.keys.contains(where: { $0.lowercased() == "host" }) {
            requestHeaders.add(name: "Host", value: target.hostHeader)
        }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            requestHeaders.add(name: name, value: value)
        }
        let requestHead = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.target, headers: requestHeaders)
        let serverHostname = isIPAddress(target.host) ? nil : target.host

        let channelBox = ChannelBox()
        let initialize: @Sendable (any Channel) -> EventLoopFuture<EventLoopFuture<ClientUpgradeResult>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                channelBox.value.withLock { $0 = channel }
                if let sslContext {
                    let tls = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
                    try channel.pipeline.syncOperations.addHandler(tls)
                }
                let upgrader = NIOTypedWebSocketClientUpgrader<ClientUpgradeResult>(
                    maxFrameSize: frameLimit,
                    enableAutomaticErrorHandling: false,
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            .websocket(try WebSocketTransport.install(
                                on: channel, isClient: true, limits: limits,
                                handlesFramesOnEventLoop: handlesFramesOnEventLoop))
                        }
                    }
                )
                let configuration = NIOTypedHTTPClientUpgradeConfiguration<ClientUpgradeResult>(
                    upgradeRequestHead: requestHead,
                    upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let capture = ResponseStatusCapture(promise: channel.eventLoop.makePromise())
                            try channel.pipeline.syncOperations.addHandler(capture)
                            return ClientUpgradeResult.notUpgraded(capture.promise.futureResult)
                        }
                    }
                )
                var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration)
                // Frames the server sends right behind its 101 response arrive in the same
                // read as the response; NIO's default drops such bytes.
                pipeline.leftOverBytesStrategy = .forwardBytes
                return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                    configuration: pipeline
                )
            }
        }
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(TimeAmount(timeout))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        let upgrade: EventLoopFuture<ClientUpgradeResult>
        if let address = try? SocketAddress(ipAddress: target.host, port: target.port) {
            // An IP literal is connected to directly: NIO's `connect(host:port:)` would resolve
            // it with getaddrinfo on a thread of its own and race it through Happy Eyeballs
            // (6 % of a client's samples in the 1,000-session benchmark, docs/BENCHMARKS.md).
            do {
                upgrade = try await bootstrap.connect(to: address, channelInitializer: initialize)
            } catch let error as IOError {
                throw TransportError.connectFailed("\(describeNetworkError(error)) (\(target.endpoint))")
            } catch {
                throw TransportError.connectFailed(describeNetworkError(error))
            }
        } else {
            do {
                upgrade = try await bootstrap.connect(host: target.host, port: target.port, channelInitializer: initialize)
            } catch {
                throw TransportError.connectFailed(describeNetworkError(error))
            }
        }

        // TLS and WebSocket handshakes must finish within the timeout too.
        let result: ClientUpgradeResult
        do {
            result = try await awaitUpgrade(upgrade, timeout: timeout, channel: channelBox, endpoint: target.endpoint)
        } catch let error as TransportError {
            throw error
        } catch {
            throw TransportError.connectFailed("\(describeUpgradeError(error)) (\(target.endpoint))")
        }

        switch result {
        case .websocket(let transport):
            return transport
        case .notUpgraded(let statusFuture):
            let status = try? await statusFuture.get()
            let text = status.map { "HTTP \($0.code) \($0.reasonPhrase)" } ?? "no HTTP response"
            throw TransportError.connectFailed("server refused the WebSocket upgrade: \(text) (\(target.endpoint)\(target.target))")
        }
    }
}

/// Waits for the upgrade; on timeout closes the channel (which fails the future) and throws.
private func awaitUpgrade(
    _ upgrade: EventLoopFuture<ClientUpgradeResult>, timeout: Duration, channel: ChannelBox, endpoint: String
) async throws -> ClientUpgradeResult {
    try await withThrowingTaskGroup(of: ClientUpgradeResult?.self) { group in
        group.addTask { try await upgrade.get() }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        if let first = try await group.next(), let result = first {
            return result
        }
        channel.value.withLock { $0 }?.close(promise: nil)
        throw TransportError.connectFailed(
            "no WebSocket handshake response within \(describeDuration(TimeAmount(timeout))) (\(endpoint))")
    }
}

/// Holds the channel being connected, so a handshake timeout can close it.
private final class ChannelBox: Sendable {
    let value = Mutex<(any Channel)?>(nil)
}

/// Captures the status of a refused upgrade.
private final class ResponseStatusCapture: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<HTTPResponseStatus>
    private var done = false

    init(promise: EventLoopPromise<HTTPResponseStatus>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = Self.unwrapInboundIn(data), !done {
            done = true
            promise.succeed(head.status)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            promise.fail(ChannelError.eof)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done {
            done = true
            promise.fail(error)
        }
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ResponseStatusCapture: Sendable {}

private func describeUpgradeError(_ error: any Error) -> String {
    if let error = error as? NIOHTTPClientUpgradeError {
        switch error {
        case .responseProtocolNotFound, .upgraderDeniedUpgrade, .invalidHTTPOrdering:
            return "server sent an invalid WebSocket handshake"
        default:
            return "WebSocket handshake failed"
        }
    }
    if let error = error as? ChannelError, error == .inappropriateOperationForState {
        // NIO's upgrade handler fails its promise so when it is removed before the upgrade
        // finished: the connection was closed (e.g. a server that timed out the handshake and
        // reset the connection before its answer could be read).
        return "the server closed the connection during the WebSocket handshake"
    }
    return describeNetworkError(error)
}

/// NIO's frame decoder refuses limits above `UInt32.max`.
func clampFrameSize(_ size: Int) -> Int {
    Swift.min(Swift.max(size, 1), Int(UInt32.max))
}

func isIPAddress(_ host: String) -> Bool {
    (try? SocketAddress(ipAddress: host, port: 0)) != nil
}
