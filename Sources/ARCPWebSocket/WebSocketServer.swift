import ARCP
import ARCPWebSocketCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import ServiceLifecycle
import Synchronization

/// An ARCP WebSocket server (spec §4): accepts WebSocket upgrades on one path and hands each
/// connection, as a `Transport`, to a handler that runs one ARCP session on it.
///
/// ```swift
/// let server = WebSocketServer(configuration: .init(host: "0.0.0.0", port: 7777)) { transport in
///     await runtime.serve(transport)       // one session per connection
/// }
/// // Under ServiceLifecycle:
/// let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// // Or by hand (tests):
/// try await server.start(); print(server.port!); …; await server.stop()
/// ```
///
/// Requests for another path get HTTP 404, a refused `Origin`/`Host` gets 403, a handshake
/// beyond ``Configuration/maxConnections`` gets 503 (with `Retry-After`), a plain HTTP request
/// for the path gets 426; none is upgraded. Graceful shutdown stops accepting, calls
/// `onShutdown` (a runtime says goodbye to its sessions there), waits up to
/// ``Configuration/shutdownGracePeriod`` for connections to end, then closes the rest with
/// WebSocket close code 1001.
///
/// The per-connection rules (reassembly, close codes, size limits, the first-message cap,
/// bounded pongs, inbound and outbound byte budgets) are `ARCPWebSocketCore`'s, shared with the
/// client and with `ARCPHummingbird`.
public final class WebSocketServer: Service, Sendable {
    /// Server settings.
    public struct Configuration: Sendable {
        /// Address to bind, e.g. `127.0.0.1` or `0.0.0.0`.
        public var host: String
        /// Port to bind; 0 picks a free one, readable from ``WebSocketServer/port`` once listening.
        public var port: Int
        /// The only path that is upgraded. Default `/arcp`.
        public var path: String
        /// Largest message (and frame) accepted, in bytes. Default 16 MiB. Bigger ones close
        /// the connection with code 1009.
        public var maxFrameSize: Int
        /// Largest *first* message of a connection (before the session is established), in
        /// bytes. Default 64 KiB: a `session.hello` is a few KiB. A bigger one closes the
        /// connection with 1009 ("first message larger than …") before more than the cap plus
        /// 4 KiB has been read, so an unauthenticated peer cannot make the server hold
        /// `maxFrameSize` bytes. At most `maxFrameSize`.
        public var maxFirstMessageSize: Int
        /// Open WebSocket connections at most. Default 4,096. A handshake beyond it is answered
        /// **503 Service Unavailable** with `Retry-After: 1` and not upgraded; connections being
        /// upgraded count from the moment their handshake is accepted until their socket closes.
        public var maxConnections: Int
        /// Bytes accepted by `send` and not yet written to the socket, per connection, before
        /// `send` suspends (one larger frame still goes through alone). Default 256 KiB. A
        /// session whose peer does not read is slowed down to the peer's pace, never buffered
        /// beyond this.
        public var outboundByteLimit: Int
        /// Pings a peer may send while it does not read the pongs before its connection is
        /// closed with 1008. Default 16. Meanwhile only the latest such ping is answered (RFC
        /// 6455 §5.5.3), so pongs never queue up.
        public var maxUnansweredPings: Int
        /// Whether a connection's frames are handled on its event loop (the transport's
        /// `preferredExecutor`): the runtime decodes, dispatches and answers there without a
        /// thread hop (agents still run on the cooperative pool). Default
        /// `ARCPWebSocketDefaults.handlesFramesOnEventLoop` (true); see docs/TRANSPORTS.md.
        public var handlesFramesOnEventLoop: Bool
        /// Allowed `Origin` header values, e.g. `["https://app.example.com"]` (compared
        /// case-insensitively). `nil` allows all. Requests without an `Origin` (non-browser
        /// clients) are not judged by this list.
        public var allowedOrigins: Set<String>?
        /// Allowed `Host` header values, with or without port (e.g. `["localhost", "arcp.example.com:443"]`).
        /// `nil` allows all. Guards against DNS rebinding.
        public var allowedHosts: Set<String>?
        /// TLS settings for `wss://`; `nil` serves plain `ws://`.
        public var tlsConfiguration: TLSConfiguration?
        /// How long graceful shutdown waits for open connections to end before closing them.
        public var shutdownGracePeriod: Duration
        /// How long a new connection may take to complete its (TLS and) WebSocket handshake.
        /// Default 10 s. Then it is closed; one that sent part of a request is first answered
        /// **408 Request Timeout**.
        public var handshakeTimeout: Duration
        /// The longest request head (request line and header fields) read for a handshake, in
        /// bytes. Default 16 KiB (`ARCPWebSocketDefaults.maxHandshakeBytes`). A longer one is
        /// answered **431 Request Header Fields Too Large** and the connection closed.
        public var maxHandshakeBytes: Int
        /// How long a close handshake may take before the socket is closed regardless.
        public var closeTimeout: Duration
        /// Messages buffered per connection before the server stops reading that socket.
        public var inboundCapacity: Int
        /// Bytes of received messages buffered per connection before the server stops reading
        /// that socket (one larger message still gets through). Default 4 MiB. Together with
        /// `maxFrameSize` this bounds a connection's inbound memory to about
        /// `inboundByteLimit + 3 × maxFrameSize` (buffered messages, the message being
        /// reassembled, the frame being decoded), whatever the peer sends.
        public var inboundByteLimit: Int
        /// Connections the kernel queues for `accept` (the `listen` backlog; Linux caps it at
        /// `net.core.somaxconn`). Default 4096. SYNs that find the queue full are dropped and
        /// the client retries only after about a second, so a burst of connects larger than
        /// the backlog stalls: at 1,000 simultaneous connects, a backlog of 256 overflowed
        /// and the connect phase took 1.1 s instead of 0.3 s.
        public var listenBacklog: Int

        /// The defaults of every limit (`ARCPWebSocketDefaults`), listening on `host`:`port` (0: a
        /// free port the OS picks) at `path`, without TLS unless `tlsConfiguration` is given. Each
        /// parameter sets the property of the same name.
        public init(
            host: String = "127.0.0.1",
            port: Int = 0,
            path: String = "/arcp",
            maxFrameSize: Int = WebSocketTransport.defaultMaxFrameSize,
            allowedOrigins: Set<String>? = nil,
            allowedHosts: Set<String>? = nil,
            tlsConfiguration: TLSConfiguration? = nil,
            shutdownGracePeriod: Duration = .seconds(10),
            handshakeTimeout: Duration = ARCPWebSocketDefaults.handshakeTimeout,
            maxHandshakeBytes: Int = ARCPWebSocketDefaults.maxHandshakeBytes,
            closeTimeout: Duration = ARCPWebSocketDefaults.closeTimeout,
            inboundCapacity: Int = ARCPWebSocketDefaults.inboundCapacity,
            inboundByteLimit: Int = WebSocketTransport.defaultInboundByteLimit,
            listenBacklog: Int = 4096,
            maxFirstMessageSize: Int = ARCPWebSocketDefaults.maxFirstMessageSize,
            maxConnections: Int = ARCPWebSocketDefaults.maxConnections,
            outboundByteLimit: Int = ARCPWebSocketDefaults.outboundByteLimit,
            maxUnansweredPings: Int = ARCPWebSocketDefaults.maxUnansweredPings,
            handlesFramesOnEventLoop: Bool = ARCPWebSocketDefaults.handlesFramesOnEventLoop
        ) {
            self.host = host
            self.port = port
            self.path = path
            self.maxFrameSize = maxFrameSize
            self.allowedOrigins = allowedOrigins
            self.allowedHosts = allowedHosts
            self.tlsConfiguration = tlsConfiguration
            self.shutdownGracePeriod = shutdownGracePeriod
            self.handshakeTimeout = handshakeTimeout
            self.maxHandshakeBytes = maxHandshakeBytes
            self.closeTimeout = closeTimeout
            self.inboundCapacity = inboundCapacity
            self.inboundByteLimit = inboundByteLimit
            self.listenBacklog = listenBacklog
            self.maxFirstMessageSize = maxFirstMessageSize
            self.maxConnections = maxConnections
            self.outboundByteLimit = outboundByteLimit
            self.maxUnansweredPings = maxUnansweredPings
            self.handlesFramesOnEventLoop = handlesFramesOnEventLoop
        }

        /// The per-connection limits, as the shared stack takes them.
        var connectionLimits: ConnectionLimits {
            ConnectionLimits(
                maxMessageSize: clampFrameSize(maxFrameSize), maxFirstMessageSize: maxFirstMessageSize,
                inboundCapacity: inboundCapacity, inboundByteLimit: inboundByteLimit,
                outboundByteLimit: outboundByteLimit, maxUnansweredPings: maxUnansweredPings,
                closeTimeout: closeTimeout)
        }
    }

    /// Called once per accepted connection; the connection is closed (code 1000) when it returns.
    public typealias Handler = @Sendable (any Transport) async -> Void

    /// The configuration the server was made with.
    public let configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let handler: Handler
    private let onShutdown: (@Sendable () async -> Void)?
    private let registry = ConnectionRegistry()
    private let limiter: ConnectionLimiter
    private let listening = Latch()
    private let stopped = Latch()
    private let state = Mutex(State())

    private struct State {
        var started = false
        var port: Int?
        var bindError: TransportError?
        var serverChannel: (any Channel)?
        var shutdownRequested = false
        var background: Task<Void, Never>?
    }

    /// A server that, once run, accepts WebSocket connections and runs `handler` on each.
    /// - Parameters:
    ///   - configuration: where and how to listen.
    ///   - eventLoopGroup: defaults to NIO's shared singleton group.
    ///   - logger: connection-level logging (debug) and lifecycle (info).
    ///   - onShutdown: awaited when graceful shutdown begins, after the server stopped accepting
    ///     and before the grace period starts: the place to send goodbyes on open sessions.
    ///   - handler: runs one ARCP session on each accepted connection.
    public init(
        configuration: Configuration = Configuration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "arcp.websocket.server"),
        onShutdown: (@Sendable () async -> Void)? = nil,
        handler: @escaping Handler
    ) {
        self.configuration = configuration
        self.group = eventLoopGroup
        self.logger = logger
        self.onShutdown = onShutdown
        self.handler = handler
        self.limiter = ConnectionLimiter(limit: configuration.maxConnections)
    }

    /// The bound port, once listening.
    public var port: Int? { state.withLock { $0.port } }

    /// The number of open WebSocket connections.
    public var connectionCount: Int { registry.count }

    // MARK: Service

    /// Listens and serves until graceful shutdown (ServiceLifecycle) or task cancellation.
    /// Throws if the address cannot be bound.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await self.serve()
        } onGracefulShutdown: {
            self.beginShutdown()
        }
    }

    // MARK: start / stop

    /// Binds and serves in the background; returns once listening (``port`` is then set).
    /// - Throws: `TransportError.io` when the address cannot be bound.
    public func start() async throws {
        let task = Task<Void, Never> {
            try? await self.serve()
        }
        state.withLock { $0.background = task }
        await listening.wait()
        if let error = state.withLock({ $0.bindError }) { throw error }
    }

    /// Graceful shutdown (see the type's documentation); returns once the server has stopped.
    public func stop() async {
        beginShutdown()
        let task = state.withLock { $0.background }
        if let task {
            await task.value
        } else if state.withLock({ $0.started }) {
            await stopped.wait()
        }
    }

    // MARK: Serving

    private func serve() async throws {
        let alreadyStarted = state.withLock { s -> Bool in
            defer { s.started = true }
            return s.started
        }
        if alreadyStarted {
            throw TransportError.io("WebSocketServer can only be started once")
        }
        defer { stopped.open() }
        let serverChannel: NIOAsyncChannel<PendingConnection, Never>
        do {
            serverChannel = try await bind()
        } catch {
            let failure = TransportError.io(
                "cannot listen on \(configuration.host):\(configuration.port): \(describeNetworkError(error))")
            state.withLock { $0.bindError = failure }
            listening.open()
            throw failure
        }
        let port = serverChannel.channel.localAddress?.port
        let closeNow = state.withLock { s -> Bool in
            s.port = port
            s.serverChannel = serverChannel.channel
            return s.shutdownRequested
        }
        listening.open()
        logger.info("ARCP WebSocket server listening", metadata: [
            "address": "\(configuration.host):\(port ?? configuration.port)",
            "path": "\(configuration.path)",
            "tls": "\(configuration.tlsConfiguration != nil)",
        ])
        if closeNow { serverChannel.channel.close(promise: nil) }

        // The accept loop waits on the listening socket's event loop (when frames are handled
        // on event loops): an accepted connection is handed to it there, in the loop's own
        // queue, not by waking a thread of the cooperative pool.
        let acceptExecutor = configuration.handlesFramesOnEventLoop ? EventLoopTaskExecutor(eventLoop: serverChannel.channel.eventLoop) : nil
        if let acceptExecutor { serverChannel.channel.closeFuture.whenComplete { _ in acceptExecutor.retire() } }
        await withDiscardingTaskGroup { group in
            do {
                try await withTaskExecutorPreference(acceptExecutor) {
                    try await serverChannel.executeThenClose { inbound in
                        for try await pending in inbound {
                            // Started on the connection's event loop (when frames are handled
                            // there): the upgrade completes and the session starts without a hop
                            // through the pool.
                            group.addTask(executorPreference: pending.executor) { await self.handleConnection(pending.upgrade) }
                        }
                    }
                }
            } catch {
                if !state.withLock({ $0.shutdownRequested }) {
                    logger.warning("accept loop ended: \(describeNetworkError(error))")
                }
            }
            await drain()
            // Anything still running has had its connection closed: stop waiting for it.
            group.cancelAll()
        }
        logger.info("ARCP WebSocket server stopped")
    }

    private func beginShutdown() {
        let channel = state.withLock { s -> (any Channel)? in
            s.shutdownRequested = true
            return s.serverChannel
        }
        channel?.close(promise: nil)
    }

    /// Stops taking connections, says goodbye, waits (bounded), closes what is left.
    private func drain() async {
        registry.refuseNew()
        if let onShutdown { await onShutdown() }
        let graceful = await registry.waitUntilEmpty(timeout: configuration.shutdownGracePeriod)
        if !graceful {
            let remaining = registry.all
            logger.info("closing \(remaining.count) connection(s) after the shutdown grace period")
            await withDiscardingTaskGroup { group in
                for connection in remaining {
                    group.addTask { await connection.close(code: CloseCode.goingAway, reason: "server shutting down") }
                }
            }
            _ = await registry.waitUntilEmpty(timeout: configuration.closeTimeout)
        }
    }

    /// Serves one accepted connection until it closes. Thin, with its logging and its wait
    /// for the upgrade in functions of their own: the connection's task keeps the memory of
    /// its deepest chain of frames for its whole life, and this frame is at its root
    /// (docs/BENCHMARKS.md, "Per-session memory").
    private func handleConnection(_ pending: EventLoopFuture<ServerUpgradeResult>) async {
        guard let transport = await upgraded(pending) else { return }
        let accepted = registry.add(transport)
        noteConnection(transport, "WebSocket connection opened")
        if accepted {
            await handler(transport)
            await transport.close()
        } else {
            await transport.close(code: CloseCode.goingAway, reason: "server shutting down")
        }
        // `close` returns once the socket is closed.
        registry.remove(transport)
        noteConnection(transport, "WebSocket connection closed")
    }

    /// The connection's transport once its WebSocket upgrade succeeded; nil when it was
    /// refused or the connection ended first.
    @inline(never)
    private func upgraded(_ pending: EventLoopFuture<ServerUpgradeResult>) async -> WebSocketTransport? {
        do {
            guard case .websocket(let transport) = try await pending.get() else { return nil }
            return transport
        } catch {
            logger.debug("connection ended before the WebSocket handshake: \(describeNetworkError(error))")
            return nil
        }
    }

    @inline(never)
    private func noteConnection(_ transport: WebSocketTransport, _ message: Logger.Message) {
        logger.debug(message, metadata: ["peer": "\(transport.remoteAddress ?? "?")"])
    }

    private func bind() async throws -> NIOAsyncChannel<PendingConnection, Never> {
        let sslContext = try configuration.tlsConfiguration.map { try NIOSSLContext(configuration: $0) }
        let policy = ServerUpgradePolicy(
            path: configuration.path,
            allowLists: UpgradePolicy(allowedOrigins: configuration.allowedOrigins, allowedHosts: configuration.allowedHosts),
            limiter: limiter)
        let handlesFramesOnEventLoop = configuration.handlesFramesOnEventLoop
        let handshake = ServerHandshakeHandler.Settings(
            policy: policy, limits: configuration.connectionLimits, handlesFramesOnEventLoop: handlesFramesOnEventLoop,
            timeout: TimeAmount(configuration.handshakeTimeout), maxHeadBytes: configuration.maxHandshakeBytes)

        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: Int32(clamping: max(1, configuration.listenBacklog)))
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // Each connection keeps its read buffer for its whole life: NIO's default starts at
            // 2 KiB; ARCP requests are a few hundred bytes. It still grows (to 64 KiB) as soon as
            // a read fills it (docs/BENCHMARKS.md, "Per-connection memory without tasks").
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    // The connection's executor, made before the upgrade so the connection's
                    // task can start on it; retired when the channel closes, upgraded or not.
                    let executor = handlesFramesOnEventLoop ? EventLoopTaskExecutor(eventLoop: channel.eventLoop) : nil
                    if let executor { channel.closeFuture.whenComplete { _ in executor.retire() } }
                    // The opening handshake (and its deadline) in one handler, which puts the
                    // connection's WebSocket handlers in its place when it upgrades.
                    let outcome = channel.eventLoop.makePromise(of: ServerUpgradeResult.self)
                    do {
                        try channel.pipeline.syncOperations.addHandler(
                            ServerHandshakeHandler(settings: handshake, executor: executor, outcome: outcome))
                    } catch {
                        outcome.fail(error)
                        throw error
                    }
                    return PendingConnection(upgrade: outcome.futureResult, executor: executor)
                }
            }
    }
}

/// An accepted connection: its HTTP upgrade's outcome, and the executor its task runs on.
struct PendingConnection: Sendable {
    var upgrade: EventLoopFuture<ServerUpgradeResult>
    var executor: EventLoopTaskExecutor?
}

enum ServerUpgradeResult: Sendable {
    case websocket(WebSocketTransport)
    case refused
}

