import ARCP
import Logging
import NIOCore
import NIOPosix
import NIOSSL

extension WebSocketServer {
    /// A server whose connections are sessions of `runtime`: every accepted connection goes to
    /// `runtime.accept(_:)`, and graceful shutdown calls `runtime.shutdown()` (each attached
    /// session gets `session.bye`) before the grace period starts.
    public convenience init(
        runtime: ARCPRuntime,
        configuration: Configuration = Configuration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "arcp.websocket.server")
    ) {
        self.init(
            configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger,
            onShutdown: { await runtime.shutdown() },
            handler: { transport in await runtime.accept(transport) }
        )
    }
}

/// Serves `runtime` over WebSocket (spec §4) until the calling task is cancelled, or until
/// graceful shutdown when called from a ServiceLifecycle service. For a value to put in a
/// `ServiceGroup`, use `WebSocketServer(runtime:configuration:)`.
///
/// - Throws: `TransportError.io` when the address cannot be bound.
public func serveWebSocket(
    runtime: ARCPRuntime,
    host: String = "127.0.0.1",
    port: Int,
    path: String = "/arcp",
    tlsConfiguration: TLSConfiguration? = nil
) async throws {
    let server = WebSocketServer(
        runtime: runtime,
        configuration: .init(host: host, port: port, path: path, tlsConfiguration: tlsConfiguration))
    try await server.run()
}
