/// The defaults of the limits every ARCP WebSocket adapter applies: `ARCPWebSocket`'s server and
/// client, `ARCPHummingbird`'s route, and any other adapter built on this target. Each adapter's
/// public configuration has one knob per limit, defaulting to these.
public enum ARCPWebSocketDefaults {
    /// The largest message (and frame) accepted or sent: 16 MiB. A bigger one closes the
    /// connection with 1009.
    public static let maxMessageSize = 16 * 1024 * 1024
    /// The largest *first* message a server accepts, before the session is established: 64 KiB
    /// (a `session.hello` is a few KiB, with a long bearer token). A bigger one closes the
    /// connection with 1009, so an unauthenticated peer cannot make the server hold 16 MiB.
    public static let maxFirstMessageSize = 64 * 1024
    /// Received messages queued per connection before the socket is no longer read: 256.
    public static let inboundCapacity = 256
    /// Bytes of received messages queued per connection before the socket is no longer read
    /// (one larger message still gets through): 4 MiB.
    public static let inboundByteLimit = 4 * 1024 * 1024
    /// Bytes accepted by `send` and not yet written to the socket, per connection, before `send`
    /// suspends (one larger frame still goes through alone): 256 KiB.
    public static let outboundByteLimit = 256 * 1024
    /// Pings a peer may send while it does not read the pongs (the previous pong is not written
    /// yet) before the connection is closed with 1008: 16. Until then only the latest such ping
    /// is answered (RFC 6455 §5.5.3), so pongs never queue up.
    public static let maxUnansweredPings = 16
    /// Open WebSocket connections per server (or per route): 4,096. Beyond it a handshake is
    /// refused with HTTP 503 (or, where the framework answers refusals itself, the connection
    /// is closed at once with 1013).
    public static let maxConnections = 4096
    /// How long a new connection may take for its (TLS and) WebSocket handshake: 10 s. Then the
    /// server answers 408 (when no request arrived) and closes it.
    public static let handshakeTimeout: Duration = .seconds(10)
    /// The longest request head (request line and header fields) a server reads for a
    /// WebSocket handshake: 16 KiB (nginx reads up to 8 KiB per header line by default). A
    /// longer one is answered **431 Request Header Fields Too Large** and closed, so a peer
    /// cannot make the server hold more while the handshake deadline runs.
    public static let maxHandshakeBytes = 16 * 1024
    /// How long a close handshake may take before the socket is closed regardless: 2 s.
    public static let closeTimeout: Duration = .seconds(2)
    /// Whether a connection's frames are handled on its event loop (the transport's
    /// `preferredExecutor`, see docs/TRANSPORTS.md "Frames handled where they arrive"): true.
    public static let handlesFramesOnEventLoop = true
}

/// The per-connection limits of one ARCP WebSocket connection, built by each adapter from its
/// public configuration and applied by the shared pieces of this target (``MessageAssembler``,
/// ``InboundMailbox``, ``OutboundCredit``, ``PongSchedule``).
package struct ConnectionLimits: Sendable, Equatable {
    /// Largest message accepted (and sent), in bytes.
    package var maxMessageSize: Int
    /// Largest first message accepted; `maxMessageSize` where there is no such cap (a client).
    package var maxFirstMessageSize: Int
    /// Messages queued for `receive()` before reading stops.
    package var inboundCapacity: Int
    /// Bytes queued for `receive()` before reading stops.
    package var inboundByteLimit: Int
    /// Bytes accepted by `send` and not yet written before `send` suspends.
    package var outboundByteLimit: Int
    /// Pings coalesced while the peer does not read before the connection is closed.
    package var maxUnansweredPings: Int
    /// Bound on a close handshake.
    package var closeTimeout: Duration
    /// Keep-alive: a ping this often, and a peer that has not answered one when the next is due
    /// is disconnected. `nil` (the default) sends none: ARCP's own heartbeat covers liveness.
    package var keepAlivePingInterval: Duration?

    /// Every count is raised to at least 1; the first-message cap is at most `maxMessageSize`.
    package init(
        maxMessageSize: Int = ARCPWebSocketDefaults.maxMessageSize,
        maxFirstMessageSize: Int? = ARCPWebSocketDefaults.maxFirstMessageSize,
        inboundCapacity: Int = ARCPWebSocketDefaults.inboundCapacity,
        inboundByteLimit: Int = ARCPWebSocketDefaults.inboundByteLimit,
        outboundByteLimit: Int = ARCPWebSocketDefaults.outboundByteLimit,
        maxUnansweredPings: Int = ARCPWebSocketDefaults.maxUnansweredPings,
        closeTimeout: Duration = ARCPWebSocketDefaults.closeTimeout,
        keepAlivePingInterval: Duration? = nil
    ) {
        let maxMessage = Swift.max(1, maxMessageSize)
        self.maxMessageSize = maxMessage
        self.maxFirstMessageSize = Swift.min(maxMessage, Swift.max(1, maxFirstMessageSize ?? maxMessage))
        self.inboundCapacity = Swift.max(1, inboundCapacity)
        self.inboundByteLimit = Swift.max(1, inboundByteLimit)
        self.outboundByteLimit = Swift.max(1, outboundByteLimit)
        self.maxUnansweredPings = Swift.max(1, maxUnansweredPings)
        self.closeTimeout = closeTimeout
        self.keepAlivePingInterval = keepAlivePingInterval.map { Swift.max($0, .milliseconds(1)) }
    }
}
