import ARCP
import ARCPWebSocket
import ARCPWebSocketCore
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Synchronization
import Vapor

extension RoutesBuilder {
    /// Serves `runtime` over WebSocket at `path`: each upgraded connection is one
    /// `runtime.accept(_:)` (one ARCP session), which lasts as long as the connection.
    ///
    /// ```swift
    /// let api = app.grouped("api")
    /// api.arcp(runtime, at: "arcp", options: .init(allowedOrigins: ["https://app.example.com"]))
    /// app.lifecycle.use(ARCPRuntimeLifecycle(runtime))   // app.arcp(…) does this itself
    /// ```
    ///
    /// - A WebSocket handshake for `path` is upgraded unless its `Origin` or `Host` is refused
    ///   by ``ARCPVaporOptions/allowedOrigins`` / ``ARCPVaporOptions/allowedHosts``: that gets
    ///   **403 Forbidden**; or the route holds ``ARCPVaporOptions/maxConnections``
    ///   connections: **503 Service Unavailable** with `Retry-After: 1`.
    /// - Any other `GET` of `path` gets **426 Upgrade Required** with a JSON error message.
    /// - Messages, limits and close codes: see ``VaporWebSocketTransport``.
    /// - Graceful shutdown: ``ARCPRuntimeLifecycle`` (registered by `Application.arcp`, not
    ///   by this method) shuts the runtime down before Vapor stops its HTTP server.
    @discardableResult
    public func arcp(_ runtime: ARCPRuntime, at path: PathComponent..., options: ARCPVaporOptions = ARCPVaporOptions()) -> Route {
        arcp(at: path, options: options) { transport, _ in
            await runtime.accept(transport)
        }
    }

    /// The general form of ``arcp(_:at:options:)``: `onConnection` runs one ARCP session (or
    /// anything else that speaks ARCP frames) on each upgraded connection, with the upgrade
    /// request (to read a header, say); the connection is closed (code 1000) when it returns.
    @discardableResult
    public func arcp(
        at path: [PathComponent], options: ARCPVaporOptions = ARCPVaporOptions(),
        onConnection: @escaping @Sendable (VaporWebSocketTransport, Request) async -> Void
    ) -> Route {
        let policy = UpgradePolicy(allowedOrigins: options.allowedOrigins, allowedHosts: options.allowedHosts)
        let limiter = ConnectionLimiter(limit: options.maxConnections)
        return on(.GET, path) { request -> Response in
            let headers = request.headers
            guard UpgradePolicy.isWebSocketHandshake(
                connection: headers[.connection], upgrade: headers[.upgrade], hasKey: headers.first(name: .secWebSocketKey) != nil)
            else {
                throw Abort(
                    .upgradeRequired, headers: ["Upgrade": "websocket", "Sec-WebSocket-Version": "13"],
                    reason: "upgrade required: ARCP is served over WebSocket at \(request.url.path); open it with a WebSocket client")
            }
            if let refusal = policy.refusal(host: headers.first(name: .host), origin: headers.first(name: .origin)) {
                throw Abort(HTTPResponseStatus(statusCode: refusal.status), reason: refusal.message)
            }
            guard limiter.tryAcquire() else {
                let refusal = UpgradeRefusal.tooManyConnections(limit: limiter.limit)
                throw Abort(
                    HTTPResponseStatus(statusCode: refusal.status),
                    headers: ["Retry-After": "\(refusal.retryAfterSeconds ?? 1)"], reason: refusal.message)
            }
            let response = Response(status: .switchingProtocols)
            response.upgrader = ARCPUpgrader(
                options: options, permit: ConnectionPermit(limiter), logger: request.logger
            ) { transport in
                await onConnection(transport, request)
            }
            return response
        }
    }
}

extension Application {
    /// Serves `runtime` over WebSocket at `path` (see `RoutesBuilder.arcp(_:at:options:)`) and
    /// registers ``ARCPRuntimeLifecycle``, so that at `app.asyncShutdown()` every session gets
    /// `session.bye` while the HTTP server still runs.
    ///
    /// ```swift
    /// app.get("health") { _ in "ok" }
    /// app.arcp(runtime, at: "arcp")      // ws://HOST:PORT/arcp
    /// ```
    @discardableResult
    public func arcp(_ runtime: ARCPRuntime, at path: PathComponent..., options: ARCPVaporOptions = ARCPVaporOptions()) -> Route {
        lifecycle.use(ARCPRuntimeLifecycle(runtime))
        return routes.arcp(at: path, options: options) { transport, _ in
            await runtime.accept(transport)
        }
    }
}

/// Shuts an `ARCPRuntime` down with the Vapor application: running jobs end, every attached
/// session gets `session.bye` and its connection is closed.
///
/// Vapor calls lifecycle handlers in `app.asyncShutdown()` before it stops the HTTP server
/// (the serve command is shut down with the application's storage, after the handlers), so
/// the goodbyes reach the clients. `Application.arcp(_:at:options:)` registers one; register
/// it yourself when you mount the runtime on a route group:
///
/// ```swift
/// app.lifecycle.use(ARCPRuntimeLifecycle(runtime))
/// ```
public struct ARCPRuntimeLifecycle: LifecycleHandler {
    /// The runtime shut down with the application.
    public let runtime: ARCPRuntime

    /// A handler that shuts `runtime` down when the application does.
    public init(_ runtime: ARCPRuntime) {
        self.runtime = runtime
    }

    /// Shuts the runtime down (its sessions get `session.bye`) as the application stops.
    public func shutdownAsync(_ application: Application) async {
        await runtime.shutdown()
    }
}

/// A connection's place under the route's connection limit: taken before the upgrade, given
/// back once when the connection's socket closes, or when the upgrade never happened (the
/// permit is released when its last holder, the response's upgrader, goes away).
final class ConnectionPermit: Sendable {
    private let limiter: ConnectionLimiter
    private let released = Atomic<Bool>(false)

    init(_ limiter: ConnectionLimiter) {
        self.limiter = limiter
    }

    func release() {
        if !released.exchange(true, ordering: .acquiringAndReleasing) { limiter.release() }
    }

    deinit {
        release()
    }
}

/// Upgrades one request to an ARCP WebSocket connection: NIO's WebSocket codec with the
/// route's frame limit, then `ARCPWebSocket`'s connection stack (the same protocol handler,
/// first-message guard, mailbox and outbound pump as `WebSocketServer`), and the session in a
/// task of its own; the connection is closed when it ends.
struct ARCPUpgrader: Upgrader {
    let options: ARCPVaporOptions
    let permit: ConnectionPermit
    let logger: Logger
    let onConnection: @Sendable (VaporWebSocketTransport) async -> Void

    func applyUpgrade(req: Request, res: Response) -> any HTTPServerProtocolUpgrader {
        let limits = options.connectionLimits
        let handlesFramesOnEventLoop = options.handlesFramesOnEventLoop
        let permit = self.permit
        let onConnection = self.onConnection
        let logger = self.logger
        return NIOWebSocketServerUpgrader(
            maxFrameSize: limits.maxMessageSize, automaticErrorHandling: false,
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture([:]) },
            upgradePipelineHandler: { channel, _ in
                channel.closeFuture.whenComplete { _ in permit.release() }
                return channel.eventLoop.makeCompletedFuture {
                    let connection = try WebSocketTransport.install(
                        on: channel, isClient: false, limits: limits, handlesFramesOnEventLoop: handlesFramesOnEventLoop)
                    let transport = VaporWebSocketTransport(connection)
                    logger.debug("ARCP WebSocket connection opened", metadata: ["peer": "\(transport.remoteAddress ?? "?")"])
                    Task {
                        await onConnection(transport)
                        await transport.close()
                    }
                }
            })
    }
}
