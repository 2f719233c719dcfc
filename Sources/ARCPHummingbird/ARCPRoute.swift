import ARCP
import ARCPWebSocketCore
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

/// Options of an ARCP route (`router.addARCP`) and of ``HummingbirdWebSocketTransport``: size
/// limits, queue bounds, origin and host allow-lists, the connection limit, the close timeout.
/// The rules behind them are `ARCPWebSocketCore`'s, shared with `ARCPWebSocket`'s server.
///
/// Mounting an ARCP runtime in a Hummingbird 2 application is one WebSocket route, beside the
/// app's own routes:
///
/// ```swift
/// import ARCP
/// import ARCPHummingbird
/// import Hummingbird
/// import HummingbirdWebSocket
/// import ServiceLifecycle
///
/// let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["s3cret": "alice@example.com"]))
/// try runtime.register("echo") { input, _ in ["echoed": input] }
///
/// let router = Router(context: BasicWebSocketRequestContext.self)
/// router.get("/health") { _, _ in "ok" }
/// router.addARCP(runtime, path: "/arcp")                 // ws://HOST:PORT/arcp
///
/// let app = Application(
///     router: router,
///     server: .http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(ws: .arcp())),
///     configuration: .init(address: .hostname("127.0.0.1", port: 8080)))
/// // The runtime says goodbye to its sessions before the HTTP server stops:
/// let group = ServiceGroup(
///     services: [app, ARCPRuntimeService(runtime)],   // shut down in reverse order
///     gracefulShutdownSignals: [.sigterm, .sigint], logger: app.logger)
/// try await group.run()
/// ```
///
/// Pass the same router as `webSocketRouter` (as above): a plain HTTP request for the path then
/// gets **426 Upgrade Required**. `.init(ws: .arcp())` raises Hummingbird's WebSocket frame
/// limit (16 KiB by default, too small for ARCP envelopes) to match the route's.
public struct ARCPRouteOptions: Sendable {
    /// The default ``maxFrameSize``: 16 MiB, as `ARCPWebSocket`'s server and client.
    public static let defaultMaxFrameSize = ARCPWebSocketDefaults.maxMessageSize
    /// The default ``inboundByteLimit``: 4 MiB.
    public static let defaultInboundByteLimit = ARCPWebSocketDefaults.inboundByteLimit

    /// Largest message accepted or sent, in bytes (fragments are reassembled up to it).
    /// A bigger one closes the connection with 1009. Each *frame* is also limited by the
    /// server's `WebSocketServerConfiguration.maxFrameSize` (NIO closes with 1009 above it):
    /// configure the server with `WebSocketServerConfiguration.arcp(maxFrameSize:autoPing:closeTimeout:)`
    /// and the same value.
    public var maxFrameSize: Int
    /// Largest *first* message of a connection (before the session is established). Default
    /// 64 KiB; a bigger one closes the connection with 1009 ("first message larger than …").
    /// Hummingbird decodes a whole frame before the route sees it, so the memory a peer can
    /// make the server hold before that is bounded by the server's
    /// `WebSocketServerConfiguration.maxFrameSize` (per frame), not by this cap.
    public var maxFirstMessageSize: Int
    /// ARCP connections open on this route at once. Default 4,096. A connection beyond it is
    /// upgraded and closed at once with **1013** ("try again later": Hummingbird answers every
    /// refused upgrade with a bare 400, which would not say why).
    public var maxConnections: Int
    /// Allowed `Origin` header values, e.g. `["https://app.example.com"]` (compared
    /// case-insensitively). `nil` allows all. Handshakes without an `Origin` (non-browser
    /// clients, which could claim any origin anyway) are not judged by this list.
    public var allowedOrigins: Set<String>?
    /// Allowed `Host` header values, with or without port (e.g. `["localhost", "arcp.example.com:443"]`).
    /// `nil` allows all. Guards against DNS rebinding.
    public var allowedHosts: Set<String>?
    /// Messages queued per connection before the transport stops taking frames (and so NIO
    /// stops reading the socket).
    public var inboundCapacity: Int
    /// Bytes of queued messages per connection before the transport stops taking frames (one
    /// larger message still gets through).
    public var inboundByteLimit: Int
    /// No longer used: the outbound queue is bounded in bytes (``outboundByteLimit``).
    @available(*, deprecated, message: "the outbound queue is bounded in bytes: use outboundByteLimit")
    public var outboundCapacity: Int {
        get { 0 }
        set {}
    }
    /// Bytes of frames accepted by `send` and not yet handed to Hummingbird's writer, per
    /// connection, before `send` suspends (one larger frame still goes through alone). Default
    /// 256 KiB.
    public var outboundByteLimit: Int
    /// How long closing may take: sending the close frame, then waiting for the peer's answer.
    public var closeTimeout: Duration

    /// The defaults of every limit; each parameter sets the property of the same name.
    public init(
        maxFrameSize: Int = ARCPRouteOptions.defaultMaxFrameSize,
        allowedOrigins: Set<String>? = nil,
        allowedHosts: Set<String>? = nil,
        inboundCapacity: Int = ARCPWebSocketDefaults.inboundCapacity,
        inboundByteLimit: Int = ARCPRouteOptions.defaultInboundByteLimit,
        outboundByteLimit: Int = ARCPWebSocketDefaults.outboundByteLimit,
        closeTimeout: Duration = ARCPWebSocketDefaults.closeTimeout,
        maxFirstMessageSize: Int = ARCPWebSocketDefaults.maxFirstMessageSize,
        maxConnections: Int = ARCPWebSocketDefaults.maxConnections
    ) {
        self.maxFrameSize = maxFrameSize
        self.allowedOrigins = allowedOrigins
        self.allowedHosts = allowedHosts
        self.inboundCapacity = inboundCapacity
        self.inboundByteLimit = inboundByteLimit
        self.outboundByteLimit = outboundByteLimit
        self.closeTimeout = closeTimeout
        self.maxFirstMessageSize = maxFirstMessageSize
        self.maxConnections = maxConnections
    }

    /// The same, with the frame count the outbound queue no longer uses.
    @available(*, deprecated, message: "the outbound queue is bounded in bytes: drop outboundCapacity")
    public init(
        maxFrameSize: Int = ARCPRouteOptions.defaultMaxFrameSize,
        allowedOrigins: Set<String>? = nil,
        allowedHosts: Set<String>? = nil,
        inboundCapacity: Int = ARCPWebSocketDefaults.inboundCapacity,
        inboundByteLimit: Int = ARCPRouteOptions.defaultInboundByteLimit,
        outboundCapacity: Int,
        outboundByteLimit: Int = ARCPWebSocketDefaults.outboundByteLimit,
        closeTimeout: Duration = ARCPWebSocketDefaults.closeTimeout
    ) {
        self.init(
            maxFrameSize: maxFrameSize, allowedOrigins: allowedOrigins, allowedHosts: allowedHosts,
            inboundCapacity: inboundCapacity, inboundByteLimit: inboundByteLimit,
            outboundByteLimit: outboundByteLimit, closeTimeout: closeTimeout)
    }

    /// The per-connection limits, as the shared stack takes them. Pings are Hummingbird's
    /// (WSCore): `maxUnansweredPings` is not used here.
    var connectionLimits: ConnectionLimits {
        ConnectionLimits(
            maxMessageSize: maxFrameSize, maxFirstMessageSize: maxFirstMessageSize,
            inboundCapacity: inboundCapacity, inboundByteLimit: inboundByteLimit,
            outboundByteLimit: outboundByteLimit, closeTimeout: closeTimeout)
    }
}

extension RouterMethods where Context: WebSocketRequestContext {
    /// Serves `runtime` over WebSocket at `path`: each upgraded connection is one
    /// `runtime.accept(_:)` (one ARCP session), which lasts as long as the connection.
    ///
    /// ```swift
    /// let router = Router(context: BasicWebSocketRequestContext.self)
    /// router.addARCP(runtime, path: "/arcp", options: .init(allowedOrigins: ["https://app.example.com"]))
    /// ```
    ///
    /// - A WebSocket handshake for `path` is upgraded unless its `Origin` or `Host` is refused
    ///   by ``ARCPRouteOptions/allowedOrigins`` / ``ARCPRouteOptions/allowedHosts`` (Hummingbird
    ///   answers every refused upgrade with 400). Beyond ``ARCPRouteOptions/maxConnections``
    ///   open connections, a new one is closed at once with 1013.
    /// - With a request context that knows the connection's event loop
    ///   (``ARCPEventLoopRequestContext``, e.g. `Router(context: ARCPRequestContext.self)`), the
    ///   session handles its frames on that event loop.
    /// - A plain HTTP `GET` of `path` gets **426 Upgrade Required** with a JSON error message
    ///   (when this router also serves HTTP).
    /// - Messages, limits and close codes: see ``HummingbirdWebSocketTransport``.
    /// - Graceful shutdown: run ``ARCPRuntimeService`` after the application in the
    ///   `ServiceGroup`, so that sessions get `session.bye` before the server stops.
    @discardableResult
    public func addARCP(
        _ runtime: ARCPRuntime, path: RouterPath = "/arcp", options: ARCPRouteOptions = ARCPRouteOptions()
    ) -> Self {
        addARCP(path: path, options: options) { transport, _ in
            await runtime.accept(transport)
        }
    }

    /// The general form of ``addARCP(_:path:options:)``: `onConnection` runs one ARCP session
    /// (or anything else that speaks ARCP frames) on each upgraded connection; the connection
    /// is closed (code 1000) when it returns. The context carries the upgrade request, e.g. to
    /// read a header.
    @discardableResult
    public func addARCP(
        path: RouterPath = "/arcp",
        options: ARCPRouteOptions = ARCPRouteOptions(),
        onConnection: @escaping @Sendable (HummingbirdWebSocketTransport, WebSocketRouterContext<Context>) async -> Void
    ) -> Self {
        let policy = ARCPUpgradePolicy(options: options)
        let limiter = ConnectionLimiter(limit: options.maxConnections)
        return ws(
            path,
            shouldUpgrade: { request, _ in try policy.check(request) },
            onUpgrade: { inbound, outbound, context in
                guard limiter.tryAcquire() else {
                    await HummingbirdWebSocketTransport.refuse(outbound: outbound, limit: limiter.limit, logger: context.logger)
                    return
                }
                defer { limiter.release() }
                let eventLoop = (context.requestContext as? any ARCPEventLoopRequestContext)?.eventLoop
                await HummingbirdWebSocketTransport.serve(
                    inbound: inbound, outbound: outbound, options: options, logger: context.logger, eventLoop: eventLoop
                ) { transport in
                    await onConnection(transport, context)
                }
            }
        )
    }
}

extension WebSocketServerConfiguration {
    /// WebSocket settings for serving ARCP: frames up to `maxFrameSize` bytes (Hummingbird's
    /// default, 16 KiB, is too small for ARCP envelopes), no extensions, UTF-8 checked by the
    /// ARCP transport.
    ///
    /// ```swift
    /// .http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(ws: .arcp()))
    /// ```
    ///
    /// - Parameters:
    ///   - maxFrameSize: the largest frame NIO accepts; use the route's ``ARCPRouteOptions/maxFrameSize``.
    ///   - autoPing: Hummingbird's keep-alive pings (a peer that does not answer one before the
    ///     next is due is disconnected). Pongs are seen only while the transport takes frames:
    ///     a connection whose inbox stays full for a whole period is disconnected too.
    ///   - closeTimeout: how long Hummingbird waits for the peer's close frame.
    public static func arcp(
        maxFrameSize: Int = ARCPRouteOptions.defaultMaxFrameSize,
        autoPing: AutoPingSetup = .enabled(timePeriod: .seconds(30)),
        closeTimeout: Duration = .seconds(2)
    ) -> WebSocketServerConfiguration {
        WebSocketServerConfiguration(
            maxFrameSize: maxFrameSize, extensions: [], autoPing: autoPing, closeTimeout: closeTimeout,
            validateUTF8: false)
    }
}

/// Which requests to the ARCP path are upgraded: a WebSocket handshake whose `Host` and
/// `Origin` pass the shared allow-lists (``UpgradePolicy``, `ARCPWebSocketCore`).
struct ARCPUpgradePolicy: Sendable {
    let allowLists: UpgradePolicy

    init(options: ARCPRouteOptions) {
        self.allowLists = UpgradePolicy(allowedOrigins: options.allowedOrigins, allowedHosts: options.allowedHosts)
    }

    /// `.upgrade` for an acceptable WebSocket handshake; throws the HTTP error to answer otherwise.
    func check(_ request: Request) throws -> RouterShouldUpgrade {
        guard Self.isWebSocketHandshake(request) else {
            throw HTTPError(
                .upgradeRequired,
                headers: [.upgrade: "websocket", .secWebSocketVersion: "13"],
                message: "upgrade required: ARCP is served over WebSocket at \(request.uri.path); open it with a WebSocket client")
        }
        if let refusal = allowLists.refusal(host: request.head.authority, origin: request.headers[.origin]) {
            throw HTTPError(refusal.status == 503 ? .serviceUnavailable : .forbidden, message: refusal.message)
        }
        return .upgrade([:])
    }

    /// Whether `request` asks for a WebSocket upgrade. On the upgrade path NIO has checked the
    /// handshake already; on the plain HTTP path this is what tells the two apart.
    static func isWebSocketHandshake(_ request: Request) -> Bool {
        let upgrade = request.headers[values: .upgrade].flatMap { $0.split(separator: ",") }
        let wantsWebSocket = upgrade.contains { token in
            token.filter { $0 != " " && $0 != "\t" }.lowercased() == "websocket"
        }
        return wantsWebSocket && request.headers[.secWebSocketKey] != nil
    }
}
