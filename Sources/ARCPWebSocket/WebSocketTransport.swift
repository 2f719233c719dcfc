import ARCP
import ARCPWebSocketCore
import NIOCore
import NIOPosix
import NIOWebSocket
import Synchronization

/// One WebSocket connection carrying ARCP (spec §4): one text frame is one envelope.
///
/// Clients get one from ``connect(to:headers:tlsConfiguration:maxFrameSize:timeout:inboundCapacity:inboundByteLimit:closeTimeout:outboundByteLimit:maxUnansweredPings:handlesFramesOnEventLoop:eventLoopGroup:)``;
/// ``WebSocketServer`` hands one (as `any Transport`) to its handler for each accepted connection.
///
/// - ``receive()`` returns the next text message (fragmented messages are reassembled up to
///   ``maxFrameSize`` bytes). It returns `nil` after a close handshake with code 1000 or 1001,
///   or after a local ``close()``. It throws `TransportError.io` when the TCP connection
///   dropped without a close frame or the peer closed with another code, and the error that
///   made this side close (`TransportError.frameTooLarge`,
///   `TransportError.invalidFrame`) after a protocol violation by the peer, once.
/// - ``send(_:)`` queues one text frame (masked when this is the client). At most
///   `outboundByteLimit` bytes (256 KiB by default, or one larger frame) per connection wait to
///   be written; beyond that `send` suspends until the socket takes them, so a peer that does
///   not read slows the sender down instead of growing memory. Frames larger than
///   ``maxFrameSize`` are refused.
/// - ``close()`` sends a close frame with code 1000, waits briefly for the peer's reply and
///   closes the socket.
/// - Inbound messages wait in a bounded queue (at most `inboundCapacity` messages and, beyond
///   one message, `inboundByteLimit` bytes); while it is full the socket is not read, so a
///   flooding peer is slowed down by TCP flow control, never buffered without limit.
/// - ``preferredExecutor`` is the connection's event loop (unless turned off): the runtime and
///   the client handle this connection's frames there, without a thread hop.
public final class WebSocketTransport: Transport, DeadlineReceiving, PushWritable {
    /// The largest accepted message, in bytes (also the cap on one frame).
    public let maxFrameSize: Int
    /// Whether this is the client end of the connection.
    public let isClient: Bool
    /// The peer's address, e.g. `127.0.0.1:54321`, when known.
    public let remoteAddress: String?

    private let channel: any Channel
    private let shared: ConnectionShared
    private let closeTimeout: TimeAmount
    private let pump: OutboundPump
    private let executor: EventLoopTaskExecutor?
    private let state = Mutex(State())

    private struct State {
        var closing = false
        var ioFinished = false
    }

    private init(
        channel: any Channel, isClient: Bool, limits: ConnectionLimits, executor: EventLoopTaskExecutor?, shared: ConnectionShared,
        handler: NIOLoopBound<WebSocketProtocolHandler>
    ) {
        self.channel = channel
        self.isClient = isClient
        self.maxFrameSize = limits.maxMessageSize
        self.closeTimeout = TimeAmount(limits.closeTimeout)
        self.shared = shared
        let pump = OutboundPump(channel: channel, handler: handler, byteLimit: limits.outboundByteLimit)
        self.pump = pump
        self.executor = executor
        self.remoteAddress = channel.remoteAddress.map(Self.describe)
        channel.closeFuture.whenComplete { [weak self] _ in
            self?.state.withLock { $0.ioFinished = true }
            pump.fail(.closed)
            executor?.retire()
        }
    }

    /// The close frame the peer sent, if any (for diagnostics and tests).
    public var peerCloseFrame: WebSocketCloseInfo? { shared.peerClose }

    /// The close frame this side sent, if any.
    public var sentCloseFrame: WebSocketCloseInfo? { shared.sentClose }

    /// Bytes accepted by `send` and not yet written to the socket (for tests and diagnostics).
    var outboundBytesWaiting: Int { pump.outstandingBytes }

    /// Received messages waiting for `receive()` (for adapters' tests and diagnostics).
    package var inboundQueuedMessages: Int { shared.mailbox.count }

    /// Their bytes (for adapters' tests and diagnostics).
    package var inboundQueuedBytes: Int { shared.mailbox.bufferedBytes }

    // MARK: Transport

    /// The connection's event loop, as a task executor, while the connection is open (and
    /// unless `handlesFramesOnEventLoop` was turned off); `nil` means the default executor.
    public var preferredExecutor: (any TaskExecutor)? { executor }

    /// Whether `receive()` would return at once: a frame, or the end, is already buffered.
    public var hasBufferedInbound: Bool { shared.mailbox.hasBuffered }

    /// The messages already received, at most `max` and `maxBytes`, without waiting (the mailbox's `takeQueued`).
    public func takeBufferedInbound(max: Int, maxBytes: Int) -> [String] { shared.mailbox.takeQueued(max: max, maxBytes: maxBytes) }

    /// The next text message; `nil` once the peer closed the connection cleanly.
    /// - Throws: `TransportError` when the connection failed or broke a limit (the close code
    ///   says which).
    public func receive() async throws -> String? {
        try await shared.mailbox.receive()
    }

    /// `receive()`, ended by a timer on the connection's event loop when nothing came within
    /// `limit` (no task of its own: ``DeadlineReceiving``).
    package func receive(waitingAtMost limit: Duration) async throws -> TimedReceive {
        let mailbox = shared.mailbox
        let token = mailbox.nextDeadlineToken()
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(limit)) { mailbox.expire(token) }
        defer { timer.cancel() }
        do {
            return .received(try await mailbox.receive(expiring: token))
        } catch is InboundMailbox.Expired {
            return .timedOut
        }
    }

    /// Sends `frame` as one text message; suspends while the outbound credit is used up.
    /// - Throws: `TransportError.frameTooLarge` over `maxFrameSize`, `TransportError.closed`
    ///   once closing.
    public func send(_ frame: String) async throws {
        try await sendText(CollectionOfOne(frame))
    }

    /// Sends several text frames in order with one hand-over to the event loop and one flush.
    /// All frames are checked first: if one is larger than ``maxFrameSize`` none is sent.
    public func send(batch frames: [String]) async throws {
        if frames.isEmpty { return }
        try await sendText(frames)
    }

    /// `frames` as text messages in one buffer (every frame's header and payload: one write,
    /// one iovec), checked first, then queued under the outbound credit.
    private func sendText(_ frames: some Collection<String>) async throws {
        let (wire, total) = try wire(for: frames)
        try await pump.send(wire: wire, bytes: total)
    }

    /// `frames` as text messages in one buffer, and their payloads' total size.
    /// - Throws: `TransportError.frameTooLarge` (nothing is sent), `.closed` once closing.
    private func wire(for frames: some Collection<String>) throws(TransportError) -> (ByteBuffer, Int) {
        var total = 0
        var wireSize = 0
        for frame in frames {
            let size = frame.utf8.count
            if size > maxFrameSize { throw TransportError.frameTooLarge(limit: maxFrameSize) }
            total += size
            wireSize += WireFrames.frameSize(payloadLength: size, masked: isClient)
        }
        if state.withLock({ $0.closing }) { throw TransportError.closed }
        var wire = channel.allocator.buffer(capacity: wireSize)
        for frame in frames { WireFrames.appendText(frame, utf8Count: frame.utf8.count, masked: isClient, to: &wire) }
        return (wire, total)
    }

    /// Sends a close frame (1000), waits for the peer's reply (bounded), and closes the socket.
    public func close() async {
        await close(code: CloseCode.normal, reason: "")
    }

    /// Closes with a specific code, e.g. 1001 ("going away") when a server shuts down.
    public func close(code: UInt16, reason: String) async {
        try? await startClose(code: code, reason: reason).get()
    }

    /// Starts closing as `close(code:reason:)` does; the future completes once the socket is
    /// closed.
    private func startClose(code: UInt16, reason: String) -> EventLoopFuture<Void> {
        let (first, open) = state.withLock { s -> (Bool, Bool) in
            defer { s.closing = true }
            return (!s.closing, !s.ioFinished)
        }
        shared.mailbox.finish()
        let channel = self.channel
        guard first else { return channel.closeFuture }
        // Whatever happens below, the socket is closed within the timeout.
        let deadline = channel.eventLoop.scheduleTask(in: closeTimeout) {
            channel.close(promise: nil)
        }
        if open {
            // After the frames already accepted by `send`; the protocol handler then waits for
            // the peer's close frame and closes the socket.
            pump.sendImmediately(
                WebSocketFrame.close(code: code, reason: reason, masked: isClient, allocator: channel.allocator))
        } else {
            channel.close(promise: nil)
        }
        // The closeFuture callback in init has failed the pump.
        channel.closeFuture.whenComplete { _ in deadline.cancel() }
        return channel.closeFuture
    }

    private static func describe(_ address: SocketAddress) -> String {
        switch address {
        case .v4, .v6:
            let ip = address.ipAddress ?? "?"
            let port = address.port.map(String.init) ?? "?"
            return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        default:
            return address.description
        }
    }
}

extension WebSocketTransport {
    // MARK: PushWritable (the runtime's connection writer, without a task)

    package func enqueue(_ body: @escaping @Sendable () -> Void) {
        channel.eventLoop.execute(body)
    }

    /// Whether NIO's frame decoder (or the first-message guard) is still in the pipeline: both
    /// leave once the first message arrived (for tests).
    package var keepsHandshakeHandlers: Bool {
        get async {
            let channel = self.channel
            let keeps = channel.eventLoop.submit {
                let pipeline = channel.pipeline.syncOperations
                return (try? pipeline.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)) != nil
                    || (try? pipeline.handler(type: FirstMessageGuard.self)) != nil
            }
            return (try? await keeps.get()) ?? false
        }
    }

    package func close(then done: @escaping @Sendable () -> Void) {
        startClose(code: CloseCode.normal, reason: "").whenComplete { _ in done() }
    }

    package func push(_ frames: [String], waiter: any PushWaiter) -> PushResult {
        if frames.isEmpty { return .queued }
        do {
            let (wire, total) = try wire(for: frames)
            return pump.push(wire: wire, bytes: total, waiter: waiter)
        } catch {
            return .failed(error)
        }
    }
}

extension WebSocketTransport {
    /// Sets up a channel that has just been upgraded to WebSocket (NIO's frame encoder, and
    /// possibly its decoder, is in its pipeline) as an ARCP connection: the protocol handler
    /// (and, on a server, the first-message guard) and the transport. Call it on the channel's
    /// event loop, from the upgrade's end.
    ///
    /// This is the whole connection stack of `ARCPWebSocket`, for every adapter whose framework
    /// hands over the upgraded channel: ``WebSocketServer`` and the client's `connect` (each
    /// from its own handshake handler), and a framework adapter such as a Vapor `Upgrader` returning a `NIOWebSocketServerUpgrader`
    /// (with `automaticErrorHandling: false` and `maxFrameSize` = `limits.maxMessageSize`)
    /// whose `upgradePipelineHandler` calls this, then runs the session on the transport in a
    /// task and closes it when the session ends. See docs/TRANSPORTS.md, "Adapters".
    ///
    /// `executor` is the channel's ``EventLoopTaskExecutor`` when the caller made it already (the
    /// server, which starts the connection's task on it); otherwise one is made here when
    /// `handlesFramesOnEventLoop`. Either way it retires when the channel closes.
    package static func install(
        on channel: any Channel, isClient: Bool, limits: ConnectionLimits, handlesFramesOnEventLoop: Bool,
        executor: EventLoopTaskExecutor? = nil
    ) throws -> WebSocketTransport {
        let (shared, handler) = try WebSocketProtocolHandler.install(on: channel, isClient: isClient, limits: limits)
        let executor = executor ?? (handlesFramesOnEventLoop ? EventLoopTaskExecutor(eventLoop: channel.eventLoop) : nil)
        return WebSocketTransport(
            channel: channel, isClient: isClient, limits: limits, executor: executor,
            shared: shared, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
    }
}
