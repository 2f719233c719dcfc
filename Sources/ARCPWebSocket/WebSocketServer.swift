import ARCP
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
/// Requests for another path get HTTP 404, a refused `Origin`/`Host` gets 403, a plain HTTP
/// request for the path gets 426; none is upgraded. Graceful shutdown stops accepting, calls
/// `onShutdown` (a runtime says goodbye to its sessions there), waits up to
/// ``Configuration/shutdownGracePeriod`` for connections to end, then closes the rest with
/// WebSocket close code 1001.
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
        public var handshakeTimeout: Duration
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

        public init(
            host: String = "127.0.0.1",
            port: Int = 0,
            path: String = "/arcp",
            maxFrameSize: Int = WebSocketTransport.defaultMaxFrameSize,
            allowedOrigins: Set<String>? = nil,
            allowedHosts: Set<String>? = nil,
            tlsConfiguration: TLSConfiguration? = nil,
            shutdownGracePeriod: Duration = .seconds(10),
            handshakeTimeout: Duration = .seconds(10),
            closeTimeout: Duration = .seconds(2),
            inboundCapacity: Int = 256,
            inboundByteLimit: Int = WebSocketTransport.defaultInboundByteLimit,
            listenBacklog: Int = 4096
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
            self.closeTimeout = closeTimeout
            self.inboundCapacity = inboundCapacity
            self.inboundByteLimit = inboundByteLimit
            self.listenBacklog = listenBacklog
        }
    }

    /// Called once per accepted connection; the connection is closed (code 1000) when it returns.
    public typealias Handler = @Sendable (any Transport) async -> Void

    public let configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let handler: Handler
    private let onShutdown: (@Sendable () async -> Void)?
    private let registry = ConnectionRegistry()
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
        let serverChannel: NIOAsyncChannel<EventLoopFuture<ServerUpgradeResult>, Never>
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

        await withDiscardingTaskGroup { group in
            do {
                try await serverChannel.executeThenClose { inbound in
                    for try await pending in inbound {
                        group.addTask { await self.handleConnection(pending) }
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
                    group.addTask { await connection.close(code: 1001, reason: "server shutting down") }
                }
            }
            _ = await registry.waitUntilEmpty(timeout: configuration.closeTimeout)
        }
    }

    private func handleConnection(_ pending: EventLoopFuture<ServerUpgradeResult>) async {
        let result: ServerUpgradeResult
        do {
            result = try await pending.get()
        } catch {
            logger.debug("connection ended before the WebSocket handshake: \(describeNetworkError(error))")
            return
        }
        guard case .websocket(let channel, let shared) = result else { return }
        let transport = WebSocketTransport(
            channel: channel, isClient: false, maxFrameSize: clampFrameSize(configuration.maxFrameSize),
            closeTimeout: TimeAmount(configuration.closeTimeout), shared: shared)
        let accepted = registry.add(transport)
        logger.debug("WebSocket connection opened", metadata: ["peer": "\(transport.remoteAddress ?? "?")"])
        if accepted {
            await handler(transport)
            await transport.close()
        } else {
            await transport.close(code: 1001, reason: "server shutting down")
        }
        // `close` returns once the socket is closed.
        registry.remove(transport)
        logger.debug("WebSocket connection closed", metadata: ["peer": "\(transport.remoteAddress ?? "?")"])
    }

    private func bind() async throws -> NIOAsyncChannel<EventLoopFuture<ServerUpgradeResult>, Never> {
        let sslContext = try configuration.tlsConfiguration.map { try NIOSSLContext(configuration: $0) }
        let policy = UpgradePolicy(
            path: configuration.path, allowedOrigins: configuration.allowedOrigins,
            allowedHosts: configuration.allowedHosts)
        let frameLimit = clampFrameSize(configuration.maxFrameSize)
        let closeTimeout = TimeAmount(configuration.closeTimeout)
        let handshakeTimeout = TimeAmount(configuration.handshakeTimeout)
        let inboundByteLimit = configuration.inboundByteLimit
        let inboundCapacity = configuration.inboundCapacity

        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: Int32(clamping: max(1, configuration.listenBacklog)))
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    let seenHead = RequestHeadBox()
                    let upgrader = NIOTypedWebSocketServerUpgrader<ServerUpgradeResult>(
                        maxFrameSize: frameLimit,
                        enableAutomaticErrorHandling: false,
                        shouldUpgrade: { channel, head in
                            seenHead.value = head
                            return channel.eventLoop.makeSucceededFuture(policy.refusal(for: head) == nil ? HTTPHeaders() : nil)
                        },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                let shared = try WebSocketProtocolHandler.install(
                                    on: channel, isClient: false, maxMessageSize: frameLimit, closeTimeout: closeTimeout,
                                    inboundCapacity: inboundCapacity, inboundByteLimit: inboundByteLimit)
                                return ServerUpgradeResult.websocket(channel, shared)
                            }
                        }
                    )
                    let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration<ServerUpgradeResult>(
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(HTTPRefusalHandler(policy: policy, seenHead: seenHead))
                                return ServerUpgradeResult.refused
                            }
                        }
                    )
                    let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                        configuration: .init(upgradeConfiguration: upgradeConfiguration)
                    )
                    // A connection that does not finish its handshake in time is dropped.
                    let timeout = channel.eventLoop.scheduleTask(in: handshakeTimeout) {
                        channel.close(promise: nil)
                    }
                    negotiated.whenComplete { _ in timeout.cancel() }
                    return negotiated
                }
            }
    }
}

enum ServerUpgradeResult: Sendable {
    case websocket(any Channel, ConnectionShared)
    case refused
}

/// The open connections of a server, with a cancellable "wait until empty".
final class ConnectionRegistry: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Void, Never>
    }
    private struct State {
        var connections: [ObjectIdentifier: WebSocketTransport] = [:]
        var refusing = false
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    var count: Int { state.withLock { $0.connections.count } }
    var all: [WebSocketTransport] { state.withLock { Array($0.connections.values) } }

    /// Registers a connection; false once shutdown started (the caller closes it).
    func add(_ connection: WebSocketTransport) -> Bool {
        state.withLock { s in
            if s.refusing { return false }
            s.connections[ObjectIdentifier(connection)] = connection
            return true
        }
    }

    func remove(_ connection: WebSocketTransport) {
        let waiters = state.withLock { s -> [Waiter] in
            s.connections[ObjectIdentifier(connection)] = nil
            guard s.connections.isEmpty else { return [] }
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.continuation.resume() }
    }

    func refuseNew() {
        state.withLock { $0.refusing = true }
    }

    /// True when the registry became empty within `timeout`.
    func waitUntilEmpty(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.waitUntilEmpty(); return !Task.isCancelled }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first && count == 0
        }
    }

    private func waitUntilEmpty() async {
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.connections.isEmpty || Task.isCancelled { return true }
                    s.waiters.append(Waiter(id: id, continuation: cont))
                    return false
                }
                if resumeNow { cont.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i)
            }
            waiter?.continuation.resume()
        }
    }
}
