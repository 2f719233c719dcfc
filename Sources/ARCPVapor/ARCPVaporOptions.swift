import ARCP
import ARCPWebSocketCore

/// Options of an ARCP route in a Vapor application (`app.arcp(runtime, at: "arcp")`) and of
/// ``VaporWebSocketTransport``: size limits, queue bounds, origin and host allow-lists, the
/// connection limit, the close timeout and keep-alive pings. The same knobs, with the same
/// defaults (`ARCPWebSocketDefaults`), as `ARCPWebSocket`'s `WebSocketServer.Configuration`
/// and `ARCPHummingbird`'s `ARCPRouteOptions`: the rules behind them are `ARCPWebSocketCore`'s.
///
/// ```swift
/// import ARCP
/// import ARCPVapor
/// import Vapor
///
/// let app = try await Application.make(.detect())
/// let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["s3cret": "alice@example.com"]))
/// try runtime.register("echo") { input, _ in ["echoed": input] }
///
/// app.get("health") { _ in "ok" }
/// app.arcp(runtime, at: "arcp")     // ws://HOST:PORT/arcp; the runtime says goodbye at shutdown
/// try await app.execute()
/// try await app.asyncShutdown()
/// ```
public struct ARCPVaporOptions: Sendable {
    /// The default ``maxFrameSize``: 16 MiB, as `ARCPWebSocket`'s server and client.
    public static let defaultMaxFrameSize = ARCPWebSocketDefaults.maxMessageSize
    /// The default ``inboundByteLimit``: 4 MiB.
    public static let defaultInboundByteLimit = ARCPWebSocketDefaults.inboundByteLimit

    /// Largest message accepted or sent, in bytes, and largest single frame (fragments are
    /// reassembled up to it). A bigger one closes the connection with 1009 and a reason.
    /// Vapor's own WebSocket frame limit (16 KiB by default) does not apply to this route.
    public var maxFrameSize: Int
    /// Allowed `Origin` header values, e.g. `["https://app.example.com"]` (compared
    /// case-insensitively). `nil` allows all. Handshakes without an `Origin` (non-browser
    /// clients, which could claim any origin anyway) are not judged by this list.
    public var allowedOrigins: Set<String>?
    /// Allowed `Host` header values, with or without port (e.g. `["localhost", "arcp.example.com:443"]`).
    /// `nil` allows all. Guards against DNS rebinding.
    public var allowedHosts: Set<String>?
    /// Messages queued per connection before the transport stops reading the socket.
    public var inboundCapacity: Int
    /// Bytes of queued messages per connection before the transport stops reading the socket
    /// (one larger message still gets through).
    public var inboundByteLimit: Int
    /// Bytes accepted by `send` and not yet written to the socket, per connection, before
    /// `send` suspends (one larger frame still goes through alone).
    public var outboundByteLimit: Int
    /// How long closing may take: sending the close frame, then waiting for the peer's answer.
    public var closeTimeout: Duration
    /// Keep-alive pings: a peer that does not answer one before the next is due is
    /// disconnected. `nil` sends none. Pongs are read only while the transport reads: a
    /// connection whose inbox stays full for a whole period is disconnected too.
    public var pingInterval: Duration?
    /// Largest *first* message of a connection (before the session is established). Default
    /// 64 KiB; a bigger one closes the connection with 1009 ("first message larger than …")
    /// after at most the cap + 4 KiB of it was read.
    public var maxFirstMessageSize: Int
    /// ARCP connections open on this route at once. Default 4,096. A handshake beyond it gets
    /// **503 Service Unavailable** with `Retry-After: 1` and is not upgraded.
    public var maxConnections: Int
    /// Pings a peer may send while it does not read the pongs before its connection is closed
    /// with 1008. Default 16; meanwhile only the latest such ping is answered.
    public var maxUnansweredPings: Int
    /// Whether a connection's frames are handled on its event loop (the transport's
    /// `preferredExecutor`); see docs/TRANSPORTS.md, "Frames handled where they arrive".
    public var handlesFramesOnEventLoop: Bool

    /// The defaults of every limit; each parameter sets the property of the same name.
    public init(
        maxFrameSize: Int = ARCPVaporOptions.defaultMaxFrameSize,
        allowedOrigins: Set<String>? = nil,
        allowedHosts: Set<String>? = nil,
        inboundCapacity: Int = ARCPWebSocketDefaults.inboundCapacity,
        inboundByteLimit: Int = ARCPVaporOptions.defaultInboundByteLimit,
        outboundByteLimit: Int = ARCPWebSocketDefaults.outboundByteLimit,
        closeTimeout: Duration = ARCPWebSocketDefaults.closeTimeout,
        pingInterval: Duration? = .seconds(30),
        maxFirstMessageSize: Int = ARCPWebSocketDefaults.maxFirstMessageSize,
        maxConnections: Int = ARCPWebSocketDefaults.maxConnections,
        maxUnansweredPings: Int = ARCPWebSocketDefaults.maxUnansweredPings,
        handlesFramesOnEventLoop: Bool = ARCPWebSocketDefaults.handlesFramesOnEventLoop
    ) {
        self.maxFrameSize = maxFrameSize
        self.allowedOrigins = allowedOrigins
        self.allowedHosts = allowedHosts
        self.inboundCapacity = inboundCapacity
        self.inboundByteLimit = inboundByteLimit
        self.outboundByteLimit = outboundByteLimit
        self.closeTimeout = closeTimeout
        self.pingInterval = pingInterval
        self.maxFirstMessageSize = maxFirstMessageSize
        self.maxConnections = maxConnections
        self.maxUnansweredPings = maxUnansweredPings
        self.handlesFramesOnEventLoop = handlesFramesOnEventLoop
    }

    /// ``maxFrameSize`` within what NIO's frame decoder accepts (1 byte … 1 GiB).
    var clampedMaxFrameSize: Int { Swift.min(Swift.max(1, maxFrameSize), 1 << 30) }

    /// The per-connection limits these options set.
    var connectionLimits: ConnectionLimits {
        ConnectionLimits(
            maxMessageSize: clampedMaxFrameSize, maxFirstMessageSize: maxFirstMessageSize,
            inboundCapacity: inboundCapacity, inboundByteLimit: inboundByteLimit,
            outboundByteLimit: outboundByteLimit, maxUnansweredPings: maxUnansweredPings,
            closeTimeout: closeTimeout, keepAlivePingInterval: pingInterval)
    }
}
