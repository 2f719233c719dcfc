import ARCP
import ARCPWebSocketCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// One Hummingbird WebSocket connection carrying ARCP (spec §4): one text message is one envelope.
///
/// You rarely create one yourself: `router.addARCP(_:path:options:)` does,
/// for each upgraded connection. For a WebSocket handler of your own (a `router.ws(…)` route,
/// or `HTTPServerBuilder.http1WebSocketUpgrade(shouldUpgrade:)`), wrap its inbound stream and
/// outbound writer with ``serve(inbound:outbound:options:logger:eventLoop:_:)``:
///
/// ```swift
/// router.ws("/custom") { inbound, outbound, context in
///     await HummingbirdWebSocketTransport.serve(
///         inbound: inbound, outbound: outbound, logger: context.logger
///     ) { transport in
///         await runtime.accept(transport)
///     }
/// }
/// ```
///
/// This is a thin adapter: the ARCP rules are `ARCPWebSocketCore`'s, the same as
/// `WebSocketTransport`'s in `ARCPWebSocket`:
/// - ``receive()`` returns the next text message (fragments reassembled up to
///   ``maxFrameSize`` bytes; the first message up to ``ARCPRouteOptions/maxFirstMessageSize``),
///   and `nil` once the peer closed, the connection ended or ``close()`` was called. A
///   **binary** message closes the connection with **1003** and a reason, a message over the
///   limit with **1009**, invalid UTF-8 with **1007**, a broken fragment sequence with
///   **1002**; `receive()` then throws the matching `TransportError` (`invalidFrame`,
///   `frameTooLarge`) once, and returns `nil` after that. An I/O failure of the connection is
///   `TransportError.io`.
/// - Inbound messages wait in a bounded mailbox (``ARCPRouteOptions/inboundCapacity`` messages
///   and, beyond one message, ``ARCPRouteOptions/inboundByteLimit`` bytes). While it is full no
///   further frame is taken from Hummingbird, so NIO stops reading the socket and TCP flow
///   control slows the peer down: nothing is buffered without limit, nothing is dropped.
/// - ``send(_:)`` queues one text frame for the connection's writer task, which hands frames to
///   Hummingbird's writer one by one (that writer waits while the socket is not writable; WSCore
///   has no batched write). At most ``ARCPRouteOptions/outboundByteLimit`` bytes (or one larger
///   frame) wait; beyond that `send` suspends, so a peer that does not read slows the sender
///   down. A frame accepted by `send` is written even if the sending task is cancelled
///   afterwards. Frames larger than ``maxFrameSize`` are refused with
///   `TransportError.frameTooLarge`; after a close, sends throw `TransportError.closed`.
/// - ``close()`` lets the frames already accepted go out, then sends a close frame with code
///   1000 (waiting at most ``ARCPRouteOptions/closeTimeout`` for that); ``receive()`` drains
///   what was queued and returns `nil`.
/// - ``preferredExecutor`` is the connection's event loop when the route knows it (a request
///   context conforming to ``ARCPEventLoopRequestContext``, e.g. ``ARCPRequestContext``).
///
/// Hummingbird (WSCore) answers pings and runs the close handshake; control frames never reach
/// `receive()`. Its pong is written before the next frame is read, through a writer that waits
/// while the socket is not writable, so pings from a peer that does not read are back-pressured
/// (and bounded by the channel's write buffer), not queued.
public final class HummingbirdWebSocketTransport: Transport {
    /// The largest accepted message, in bytes, inbound and outbound.
    public let maxFrameSize: Int

    private let outbound: WebSocketOutboundWriter
    private let limits: ConnectionLimits
    private let mailbox: InboundMailbox
    /// Frames accepted by `send`, in order, for the writer task (bounded by `credit`, in bytes).
    private let outbox = BoundedAsyncQueue<String>(capacity: Int.max)
    private let credit: OutboundCredit
    private let executor: EventLoopTaskExecutor?
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        /// `close()` was called, or a protocol violation closed the connection.
        var closing = false
        /// The close code this side sent (for diagnostics and tests).
        var sentCloseCode: UInt16?
        /// Hands queued frames to Hummingbird's writer; ends once the outbox is finished and drained.
        var writer: Task<Void, Never>?
        /// Sends the close frame once the writer is done (or given up on).
        var closer: Task<Void, Never>?
    }

    init(outbound: WebSocketOutboundWriter, options: ARCPRouteOptions, logger: Logger, eventLoop: (any EventLoop)?) {
        self.outbound = outbound
        self.limits = options.connectionLimits
        self.maxFrameSize = limits.maxMessageSize
        self.mailbox = InboundMailbox(limits: limits)
        self.credit = OutboundCredit(limit: limits.outboundByteLimit)
        self.executor = eventLoop.map(EventLoopTaskExecutor.init(eventLoop:))
        self.logger = logger
    }

    /// Runs `body` with a transport over one Hummingbird WebSocket connection, then closes it
    /// (code 1000, unless it is closed already) and waits, at most
    /// ``ARCPRouteOptions/closeTimeout``, for the peer to answer the close. Call it from a
    /// WebSocket handler and return when it returns: Hummingbird then closes the socket.
    ///
    /// - Parameters:
    ///   - inbound: the handler's inbound stream (read only by the transport from now on).
    ///   - outbound: the handler's outbound writer.
    ///   - options: size limits, queue bounds and the close timeout
    ///     (``ARCPRouteOptions/allowedOrigins``, ``ARCPRouteOptions/allowedHosts`` and
    ///     ``ARCPRouteOptions/maxConnections`` are the route's, not used here).
    ///   - logger: where protocol violations are logged (debug level).
    ///   - eventLoop: the connection's event loop, when known: the transport's reader and
    ///     writer run there, and it is the ``preferredExecutor``.
    ///   - body: runs the session, e.g. `await runtime.accept(transport)`.
    public static func serve(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        options: ARCPRouteOptions = ARCPRouteOptions(),
        logger: Logger = Logger(label: "arcp.hummingbird"),
        eventLoop: (any EventLoop)? = nil,
        _ body: (HummingbirdWebSocketTransport) async -> Void
    ) async {
        let transport = HummingbirdWebSocketTransport(outbound: outbound, options: options, logger: logger, eventLoop: eventLoop)
        await transport.run(inbound: inbound, body)
    }

    /// Closes at once with 1013 (too many connections): for a route at its connection limit.
    static func refuse(outbound: WebSocketOutboundWriter, limit: Int, logger: Logger) async {
        let violation = WebSocketViolation.tooManyConnections(limit: limit)
        logger.debug("refusing an ARCP WebSocket connection", metadata: ["reason": "\(violation.reason)"])
        try? await outbound.close(WebSocketErrorCode(codeNumber: Int(violation.code)), reason: CloseReason.truncated(violation.reason))
    }

    private func run(inbound: WebSocketInboundStream, _ body: (HummingbirdWebSocketTransport) async -> Void) async {
        startWriter()
        let closeTimeout = limits.closeTimeout
        let executor = self.executor
        await withTaskGroup(of: Void.self) { group in
            group.addTask(executorPreference: executor) { await self.readFrames(from: inbound) }
            await body(self)
            await self.close()
            // The reader ends when the peer answers the close frame or hangs up. It must end
            // before the handler returns (Hummingbird then reads the same stream), so a peer
            // that does neither in time has its stream cancelled.
            group.addTask { try? await Task.sleep(for: closeTimeout) }
            _ = await group.next()
            group.cancelAll()
        }
        // Make sure the close frame reached Hummingbird before the handler returns (bounded).
        await waitForCloseFrame(timeout: closeTimeout)
        executor?.retire()
    }

    /// The close code this side sent, if any (1000 after ``close()``, 1003/1009/… after a
    /// protocol violation by the peer).
    public var sentCloseCode: UInt16? { state.withLock { $0.sentCloseCode } }

    /// Messages received and not yet taken by `receive()` (for tests and diagnostics).
    var queuedMessages: Int { mailbox.count }

    /// Bytes of those messages (for tests and diagnostics).
    var queuedBytes: Int { mailbox.bufferedBytes }

    /// Bytes accepted by `send` and not yet handed to Hummingbird's writer (for tests and diagnostics).
    var outboundBytesWaiting: Int { credit.outstanding }

    // MARK: Transport

    /// The connection's event loop as a task executor, when the route knew it; else `nil`.
    public var preferredExecutor: (any TaskExecutor)? { executor }

    /// Whether `receive()` would return at once: a frame, or the end, is already buffered.
    public var hasBufferedInbound: Bool { mailbox.hasBuffered }

    /// The messages already received, at most `max` and `maxBytes`, without waiting.
    public func takeBufferedInbound(max: Int, maxBytes: Int) -> [String] { mailbox.takeQueued(max: max, maxBytes: maxBytes) }

    /// The next text message; `nil` once the peer closed the connection cleanly.
    /// - Throws: `TransportError` when the connection failed or broke a limit.
    public func receive() async throws -> String? {
        try await mailbox.receive()
    }

    /// Sends `frame` as one text message; suspends while the outbound credit is used up.
    /// - Throws: `TransportError.frameTooLarge` over the frame limit, `TransportError.closed`
    ///   once closing.
    public func send(_ frame: String) async throws {
        let size = frame.utf8.count
        if size > maxFrameSize { throw TransportError.frameTooLarge(limit: maxFrameSize) }
        try await enqueue(bytes: size) { try await outbox.send(frame) }
    }

    /// Queues several frames in order with one credit check and one hand-over to the writer.
    /// All frames are checked first: if one is larger than ``maxFrameSize`` none is sent.
    public func send(batch frames: [String]) async throws {
        if frames.isEmpty { return }
        var total = 0
        for frame in frames {
            let size = frame.utf8.count
            if size > maxFrameSize { throw TransportError.frameTooLarge(limit: maxFrameSize) }
            total += size
        }
        try await enqueue(bytes: total) { try await outbox.send(contentsOf: frames) }
    }

    private func enqueue(bytes: Int, _ put: () async throws -> Void) async throws {
        if state.withLock({ $0.closing }) { throw TransportError.closed }
        do {
            try await credit.acquire(bytes)
        } catch is OutboundCredit.Finished {
            throw TransportError.closed
        }
        do {
            try await put()
        } catch {
            credit.release(bytes)
            if error is CancellationError { throw error }
            throw TransportError.closed
        }
    }

    /// Starts the task that hands queued frames to Hummingbird's writer. It is not a child of
    /// the caller: a frame accepted by `send` goes out even if the sender is cancelled next
    /// (a session that ends cancels its writer right after queueing its last frames).
    private func startWriter() {
        let task = Task(executorPreference: executor) { await self.writeFrames() }
        state.withLock { $0.writer = task }
    }

    private func writeFrames() async {
        while true {
            let frame: String?
            do {
                frame = try await outbox.next()
            } catch {
                frame = nil
            }
            guard let frame else { return }
            let size = frame.utf8.count
            do {
                try await outbound.write(.text(frame))
                credit.release(size)
            } catch {
                // The connection is gone (or the close gave up on a peer that does not read):
                // later sends fail, and the frames still queued cannot be written.
                logger.debug("ARCP WebSocket write failed", metadata: ["error": "\(error)"])
                state.withLock { $0.closing = true }
                stopSending()
                return
            }
        }
    }

    /// Sends a close frame with code 1000; ``receive()`` then drains and returns `nil`.
    public func close() async {
        await close(code: CloseCode.normal, reason: "")
    }

    /// Closes with a specific code and reason, e.g. 1001 ("going away") when a server shuts
    /// down. Only the first close sends a frame; the reason is cut to fit a control frame.
    public func close(code: UInt16, reason: String) async {
        let first = state.withLock { s -> Bool in
            defer { s.closing = true }
            return !s.closing
        }
        stopSending()
        mailbox.finish()
        guard first else { return }
        await sendClose(code: code, reason: reason)
    }

    /// No more frames are accepted; the writer still writes those already queued.
    private func stopSending() {
        credit.finish()
        outbox.finish()
    }

    // MARK: Reading

    /// Takes frames from Hummingbird until the stream ends: the shared ``MessageAssembler``
    /// turns them into messages (or a violation, which closes the connection), the shared
    /// ``InboundMailbox`` queues them; no further frame is taken while it is full.
    func readFrames(from inbound: WebSocketInboundStream) async {
        var assembler = MessageAssembler(limits: limits)
        var violated = false
        do {
            for try await frame in inbound {
                // After a violation, or once nobody reads: discard until the peer answers the
                // close frame or hangs up (nothing is kept, so this cannot grow memory).
                if violated || mailbox.isFinished { continue }
                switch assembler.receive(opcode: Self.opcode(frame.opcode), fin: frame.fin, payload: frame.data) {
                case .incomplete:
                    continue
                case .message(let text):
                    _ = mailbox.offer(text)
                    // Take the next frame only once there is room for another message.
                    await mailbox.waitForRoom()
                case .violation(let violation):
                    violated = true
                    await fail(violation)
                }
            }
            mailbox.finish()
        } catch is CancellationError {
            mailbox.finish()
        } catch {
            mailbox.finish(failure: Self.readError(error))
        }
    }

    private static func opcode(_ opcode: WebSocketDataFrame.Opcode) -> WebSocketOpcode {
        switch opcode {
        case .text: return .text
        case .binary: return .binary
        case .continuation: return .continuation
        }
    }

    /// The peer broke the protocol: `receive()` reports it after the queued messages, and
    /// the connection is closed with the violation's code and reason.
    private func fail(_ violation: WebSocketViolation) async {
        logger.debug(
            "closing the ARCP WebSocket connection after a protocol violation",
            metadata: ["code": "\(violation.code)", "reason": "\(violation.reason)"])
        let first = state.withLock { s -> Bool in
            defer { s.closing = true }
            // Recorded before `receive()` can report the violation: a handler that reads
            // `sentCloseCode` once its transport ended sees the code (it read nil on a loaded
            // machine when this was set only once the close frame was being sent).
            if !s.closing, s.sentCloseCode == nil { s.sentCloseCode = violation.code }
            return !s.closing
        }
        stopSending()
        mailbox.finish(failure: violation.error)
        guard first else { return }
        await sendClose(code: violation.code, reason: violation.reason)
    }

    /// Once the writer has written the frames queued before, sends a close frame. That runs in
    /// a task of its own, not a child: close is often called from a task that is being
    /// cancelled (a session that ends cancels its writer), and a cancelled write would lose the
    /// queued frames and the close frame. The caller waits at most `closeTimeout`.
    private func sendClose(code: UInt16, reason: String) async {
        let outbound = self.outbound
        let closeTimeout = limits.closeTimeout
        let text = CloseReason.truncated(reason)
        let closer = state.withLock { s -> Task<Void, Never> in
            if s.sentCloseCode == nil { s.sentCloseCode = code }
            let writer = s.writer
            let task = Task {
                // A peer that does not read keeps the writer waiting: after `closeTimeout` its
                // frames are abandoned, so that the close frame is at least queued in
                // Hummingbird, which then closes the socket after its own close timeout.
                let drained = await Self.within(closeTimeout) { await writer?.value }
                if !drained { writer?.cancel() }
                try? await outbound.close(WebSocketErrorCode(codeNumber: Int(code)), reason: text.isEmpty ? nil : text)
            }
            s.closer = task
            return task
        }
        _ = await Self.within(closeTimeout) { await closer.value }
    }

    /// Waits (at most `timeout`) until the close frame was handed to Hummingbird.
    func waitForCloseFrame(timeout: Duration) async {
        guard let closer = state.withLock({ $0.closer }) else { return }
        _ = await Self.within(timeout) { await closer.value }
    }

    /// Runs `body` for at most `timeout` (or until the caller is cancelled); true if it finished.
    private static func within(_ timeout: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await body()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    // MARK: Helpers

    static func readError(_ error: any Error) -> TransportError {
        if let error = error as? NIOWebSocketError, error == .invalidFrameLength {
            // NIO's frame decoder refused a frame over the server's `maxFrameSize` and closed
            // the connection with 1009.
            return .invalidFrame("a frame exceeded the server's WebSocket maxFrameSize")
        }
        return .io("\(error)")
    }
}
