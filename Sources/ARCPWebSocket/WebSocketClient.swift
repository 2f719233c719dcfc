import ARCP
import ARCPWebSocketCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

enum ClientUpgradeResult: Sendable {
    case websocket(WebSocketTransport)
    /// The server answered with this status instead of 101.
    case notUpgraded(status: Int)
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
        let key = WebSocketKey.make()
        let handshake = ClientHandshakeHandler.Settings(
            request: try upgradeRequest(target, headers: headers, key: key), expectedAccept: WebSocketKey.accept(forKey: key),
            limits: limits, handlesFramesOnEventLoop: handlesFramesOnEventLoop, timeout: TimeAmount(timeout),
            endpoint: target.endpoint)
        let serverHostname = isIPAddress(target.host) ? nil : target.host

        let initialize: @Sendable (any Channel) -> EventLoopFuture<EventLoopFuture<ClientUpgradeResult>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                if let sslContext {
                    let tls = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
                    try channel.pipeline.syncOperations.addHandler(tls)
                }
                let outcome = channel.eventLoop.makePromise(of: ClientUpgradeResult.self)
                do {
                    try channel.pipeline.syncOperations.addHandler(ClientHandshakeHandler(settings: handshake, outcome: outcome))
                } catch {
                    outcome.fail(error)
                    throw error
                }
                return outcome.futureResult
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

        // The TLS and WebSocket handshakes are bounded by the handshake handler's timer.
        let result: ClientUpgradeResult
        do {
            result = try await upgrade.get()
        } catch let error as TransportError {
            throw error
        } catch {
            throw TransportError.connectFailed("\(describeNetworkError(error)) (\(target.endpoint))")
        }
        switch result {
        case .websocket(let transport):
            return transport
        case .notUpgraded(let status):
            let text = "HTTP \(status) \(HTTPResponseStatus(statusCode: status).reasonPhrase)"
            throw TransportError.connectFailed("server refused the WebSocket upgrade: \(text) (\(target.endpoint)\(target.target))")
        }
    }
}

/// The upgrade request's head (RFC 6455 §4.1): `headers` as given (a `Host` entry replaces the
/// one derived from the URL; the handshake's own headers cannot be replaced), each checked to
/// be a token and a value without line breaks, so none can smuggle another header in.
func upgradeRequest(_ target: WebSocketURL, headers: [String: String], key: String) throws -> String {
    var head = "GET \(target.target) HTTP/1.1\r\n"
    if !headers.keys.contains(where: { $0.lowercased() == "host" }) {
        head += "Host: \(target.hostHeader)\r\n"
    }
    let own: Set<String> = ["upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"]
    for (name, value) in headers.sorted(by: { $0.key < $1.key }) where !own.contains(name.lowercased()) {
        guard HTTPHead.isToken(name), !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
            throw TransportError.connectFailed("invalid HTTP header for the upgrade request: \(name)")
        }
        head += "\(name): \(value)\r\n"
    }
    head += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
    return head
}

/// NIO's frame decoder refuses limits above `UInt32.max`.
func clampFrameSize(_ size: Int) -> Int {
    Swift.min(Swift.max(size, 1), Int(UInt32.max))
}

func isIPAddress(_ host: String) -> Bool {
    (try? SocketAddress(ipAddress: host, port: 0)) != nil
}
