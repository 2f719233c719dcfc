import ARCP
import ARCPWebSocket

/// One Vapor WebSocket connection carrying ARCP (spec §4): one text message is one envelope.
///
/// You do not create one yourself: `app.arcp(runtime, at:)` (or the general form
/// `routes.arcp(at:options:onConnection:)`) makes one for each upgraded connection.
///
/// It is `ARCPWebSocket`'s connection stack, installed in the upgraded Vapor channel: the same
/// protocol handler, limits, close codes and outbound pump as `WebSocketServer`, with the rules
/// of `ARCPWebSocketCore` (docs/TRANSPORTS.md, "One WebSocket stack"). So, as for
/// `WebSocketTransport` and `HummingbirdWebSocketTransport`:
/// - ``receive()`` returns the next text message (fragments reassembled up to
///   ``maxFrameSize`` bytes), and `nil` once the peer closed, the connection ended or
///   ``close()`` was called. A **binary** message closes the connection with **1003** and a
///   reason, a message over ``maxFrameSize`` with **1009** (a first message over
///   ``ARCPVaporOptions/maxFirstMessageSize`` too), invalid UTF-8 with **1007**, a broken
///   fragment sequence with **1002**, a ping flood with **1008**; `receive()` then throws the
///   matching `TransportError` (`invalidFrame`, `frameTooLarge`) once, and returns `nil` after
///   that. A connection that drops without a close handshake is `TransportError.io`.
/// - Inbound messages wait in a bounded queue (``ARCPVaporOptions/inboundCapacity`` messages
///   and ``ARCPVaporOptions/inboundByteLimit`` bytes). While it is full the connection stops
///   reading its socket and TCP flow control slows the peer down: nothing is buffered without
///   limit, nothing is dropped.
/// - ``send(_:)`` hands the frame to the connection. While frames of more than
///   ``ARCPVaporOptions/outboundByteLimit`` bytes are not yet written to the socket, `send`
///   suspends, so a peer that does not read slows the sender down. A frame accepted by `send`
///   is written even if the sending task is cancelled afterwards. Frames larger than
///   ``maxFrameSize`` are refused with `TransportError.frameTooLarge`; after a close, sends
///   throw `TransportError.closed`.
/// - ``close()`` sends a close frame with code 1000 after the frames already accepted, waits
///   for the peer's answer at most ``ARCPVaporOptions/closeTimeout``, and closes the socket.
/// - Pings are answered (one pong in flight, RFC 6455 §5.5.3); keep-alive pings go out every
///   ``ARCPVaporOptions/pingInterval``. Control frames never reach `receive()`.
/// - ``preferredExecutor`` is the connection's event loop when
///   ``ARCPVaporOptions/handlesFramesOnEventLoop`` is on: the runtime handles this
///   connection's frames there.
public final class VaporWebSocketTransport: Transport {
    /// The connection (`ARCPWebSocket`'s), which this transport hands everything to.
    let connection: WebSocketTransport

    init(_ connection: WebSocketTransport) {
        self.connection = connection
    }

    /// The largest accepted message, in bytes, inbound and outbound.
    public var maxFrameSize: Int { connection.maxFrameSize }

    /// The close code this side sent, if any (1000 after ``close()``, 1003/1009/… after a
    /// protocol violation by the peer).
    public var sentCloseCode: UInt16? { connection.sentCloseFrame?.code }

    /// The peer's address, e.g. `127.0.0.1:53210`.
    public var remoteAddress: String? { connection.remoteAddress }

    /// Messages received and not yet taken by `receive()` (for tests and diagnostics).
    var queuedMessages: Int { connection.inboundQueuedMessages }

    /// Bytes of those messages (for tests and diagnostics).
    var queuedBytes: Int { connection.inboundQueuedBytes }

    // MARK: Transport

    /// The connection's event loop as a task executor, when frames are handled on it; else `nil`.
    public var preferredExecutor: (any TaskExecutor)? { connection.preferredExecutor }

    /// Whether `receive()` would return at once: a frame, or the end, is already buffered.
    public var hasBufferedInbound: Bool { connection.hasBufferedInbound }

    /// The messages already received, at most `max` and `maxBytes`, without waiting.
    public func takeBufferedInbound(max: Int, maxBytes: Int) -> [String] { connection.takeBufferedInbound(max: max, maxBytes: maxBytes) }

    /// The next text message; `nil` once the peer closed the connection cleanly.
    /// - Throws: `TransportError` when the connection failed or broke a limit.
    public func receive() async throws -> String? {
        try await connection.receive()
    }

    /// Sends `frame` as one text message; suspends while the outbound credit is used up.
    /// - Throws: `TransportError.frameTooLarge` over the frame limit, `TransportError.closed`
    ///   once closing.
    public func send(_ frame: String) async throws {
        try await connection.send(frame)
    }

    /// Hands several frames to the connection in order, with one credit check and one flush.
    /// All frames are checked first: if one is larger than ``maxFrameSize`` none is sent.
    public func send(batch frames: [String]) async throws {
        try await connection.send(batch: frames)
    }

    /// Sends a close frame with code 1000; ``receive()`` then drains and returns `nil`.
    public func close() async {
        await connection.close()
    }

    /// Closes with a specific code and reason, e.g. 1001 ("going away") when a server shuts
    /// down. Only the first close sends a frame; the reason is cut to fit a control frame.
    public func close(code: UInt16, reason: String) async {
        await connection.close(code: code, reason: reason)
    }
}

// The same connection stack, so the same task-free paths as `WebSocketTransport`: the hello
// wait bounded by an event-loop timer, and the runtime's writer as event-loop callbacks
// (docs/RUNTIME.md, "Where work runs").
extension VaporWebSocketTransport: DeadlineReceiving, PushWritable {
    package func receive(waitingAtMost limit: Duration) async throws -> TimedReceive {
        try await connection.receive(waitingAtMost: limit)
    }

    package func enqueue(_ body: @escaping @Sendable () -> Void) {
        connection.enqueue(body)
    }

    package func push(_ frames: [String], waiter: any PushWaiter) -> PushResult {
        connection.push(frames, waiter: waiter)
    }

    package func close(then done: @escaping @Sendable () -> Void) {
        connection.close(then: done)
    }
}
