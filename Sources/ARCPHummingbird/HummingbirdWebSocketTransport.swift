import ARCP
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
/// outbound writer with ``serve(inbound:outbound:options:logger:_:)``:
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
/// Behaviour (the same as `WebSocketTransport` in `ARCPWebSocket`):
/// - ``receive()`` returns the next text message (fragments reassembled up to
///   ``maxFrameSize`` bytes), and `nil` once the peer closed, the connection ended or
///   ``close()`` was called. A **binary** message closes the connection with **1003** and a
///   reason, a message over ``maxFrameSize`` with **1009**, invalid UTF-8 with **1007**, a
///   broken fragment sequence with **1002**; `receive()` then throws the matching
///   `TransportError` (`invalidFrame`, `frameTooLarge`) once, and returns `nil` after that.
///   An I/O failure of the connection is `TransportError.io`.
/// - Inbound messages wait in a bounded queue (``ARCPRouteOptions/inboundCapacity`` messages
///   and, beyond one message, ``ARCPRouteOptions/inboundByteLimit`` bytes). While it is full
///   no further frame is taken from Hummingbird, so NIO stops reading the socket and TCP flow
///   control slows the peer down: nothing is buffered without limit, nothing is dropped.
/// - ``send(_:)`` queues one text frame for the connection's writer task, which hands frames to
///   Hummingbird's writer one by one (that writer waits while the socket is not writable). At
///   most ``ARCPRouteOptions/outboundByteLimit`` bytes (or one larger frame) and
///   ``ARCPRouteOptions/outboundCapacity`` frames wait; beyond that `send` suspends, so a peer
///   that does not read slows the sender down. A frame accepted by `send` is written even if
///   the sending task is cancelled afterwards. Frames larger than ``maxFrameSize`` are refused
///   with `TransportError.frameTooLarge`; after a close, sends throw `TransportError.closed`.
/// - ``close()`` lets the frames already accepted go out, then sends a close frame with code
///   1000 (waiting at most ``ARCPRouteOptions/closeTimeout`` for that); ``receive()`` drains
///   what was queued and returns `nil`.
///
/// Hummingbird answers pings and runs the close handshake; control frames never reach
/// `receive()`.
public final class HummingbirdWebSocketTransport: Transport {
    /// The largest accepted message, in bytes, inbound and outbound.
    public let maxFrameSize: Int

    private let outbound: WebSocketOutboundWriter
    private let inbox: BoundedAsyncQueue<String>
    private let gate: InboundByteGate
    /// Frames accepted by `send`, in order, for the writer task.
    private let outbox: BoundedAsyncQueue<String>
    private let credit: OutboundCredit
    private let closeTimeout: Duration
    private let logger: Logger
    private let state = Mutex(State())
    private let failure = FailureReport()

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

    init(outbound: WebSocketOutboundWriter, options: ARCPRouteOptions, logger: Logger) {
        self.outbound = outbound
        self.maxFrameSize = Swift.max(1, options.maxFrameSize)
        self.inbox = BoundedAsyncQueue(capacity: options.inboundCapacity)
        self.gate = InboundByteGate(limit: options.inboundByteLimit)
        self.outbox = BoundedAsyncQueue(capacity: options.outboundCapacity)
        self.credit = OutboundCredit(limit: options.outboundByteLimit)
        self.closeTimeout = options.closeTimeout
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
    ///     (``ARCPRouteOptions/allowedOrigins`` and ``ARCPRouteOptions/allowedHosts`` are not used here).
    ///   - logger: where protocol violations are logged (debug level).
    ///   - body: runs the session, e.g. `await runtime.accept(transport)`.
    public static func serve(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        options: ARCPRouteOptions = ARCPRouteOptions(),
        logger: Logger = Logger(label: "arcp.hummingbird"),
        _ body: (HummingbirdWebSocketTransport) async -> Void
    ) async {
        let transport = HummingbirdWebSocketTransport(outbound: outbound, options: options, logger: logger)
        transport.startWriter()
        let closeTimeout = options.closeTimeout
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await transport.readFrames(from: inbound) }
            await body(transport)
            await transport.close()
            // The reader ends when the peer answers the close frame or hangs up. It must end
            // before the handler returns (Hummingbird then reads the same stream), so a peer
            // that does neither in time has its stream cancelled.
            group.addTask { try? await Task.sleep(for: closeTimeout) }
            _ = await group.next()
            group.cancelAll()
        }
        // Make sure the close frame reached Hummingbird before the handler returns (bounded).
        await transport.waitForCloseFrame(timeout: closeTimeout)
    }

    /// The close code this side sent, if any (1000 after ``close()``, 1003/1009/… after a
    /// protocol violation by the peer).
    public var sentCloseCode: UInt16? { state.withLock { $0.sentCloseCode } }

    /// Messages received and not yet taken by `receive()` (for tests and diagnostics).
    var queuedMessages: Int { inbox.count }

    /// Bytes of those messages (for tests and diagnostics).
    var queuedBytes: Int { gate.buffered }

    // MARK: Transport

    public func receive() async throws -> String? {
        let message: String?
        do {
            message = try await inbox.next()
        } catch let error as TransportError {
            // A protocol violation ends the connection: reported once, then nil like a close.
            if failure.isFirst() { throw error }
            return nil
        }
        guard let message else { return nil }
        gate.removed(message.utf8.count)
        return message
    }

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
    func startWriter() {
        let task = Task { await self.writeFrames() }
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
        await close(code: 1000, reason: "")
    }

    /// Closes with a specific code and reason, e.g. 1001 ("going away") when a server shuts
    /// down. Only the first close sends a frame; the reason is cut to fit a control frame.
    public func close(code: UInt16, reason: String) async {
        let first = state.withLock { s -> Bool in
            defer { s.closing = true }
            return !s.closing
        }
        stopSending()
        inbox.finish()
        gate.finish()
        guard first else { return }
        await sendClose(code: code, reason: reason)
    }

    /// No more frames are accepted; the writer still writes those already queued.
    private func stopSending() {
        credit.finish()
        outbox.finish()
    }

    // MARK: Reading

    private struct Violation: Error {
        var code: UInt16
        var reason: String
        var error: TransportError
    }

    /// Takes frames from Hummingbird until the stream ends: reassembles text messages, queues
    /// them (waiting while the inbox is full), and turns a violation into a close frame.
    func readFrames(from inbound: WebSocketInboundStream) async {
        var fragments: ByteBuffer?
        var violated = false
        do {
            for try await frame in inbound {
                // After a violation, or once nobody reads: discard until the peer answers the
                // close frame or hangs up (nothing is kept, so this cannot grow memory).
                if violated { continue }
                do {
                    switch frame.opcode {
                    case .binary:
                        throw Violation(
                            code: 1003,
                            reason: "binary frames are not supported: send each ARCP envelope as one text frame",
                            error: .invalidFrame("binary frame"))
                    case .text:
                        if fragments != nil {
                            throw Violation(
                                code: 1002, reason: "new message before the previous one ended",
                                error: .invalidFrame("interleaved message"))
                        }
                        try checkSize(frame.data.readableBytes)
                        if frame.fin {
                            try await deliver(frame.data)
                        } else {
                            fragments = frame.data
                        }
                    case .continuation:
                        guard var message = fragments else {
                            throw Violation(
                                code: 1002, reason: "continuation frame without a message",
                                error: .invalidFrame("unexpected continuation frame"))
                        }
                        fragments = nil
                        try checkSize(message.readableBytes + frame.data.readableBytes)
                        var more = frame.data
                        message.writeBuffer(&more)
                        if frame.fin {
                            try await deliver(message)
                        } else {
                            fragments = message
                        }
                    }
                } catch let violation as Violation {
                    violated = true
                    fragments = nil
                    await fail(violation)
                }
            }
            inbox.finish()
        } catch is CancellationError {
            inbox.finish()
        } catch {
            inbox.finish(throwing: Self.readError(error))
        }
    }

    private func checkSize(_ bytes: Int) throws {
        if bytes > maxFrameSize {
            throw Violation(
                code: 1009, reason: "message larger than \(maxFrameSize) bytes",
                error: .frameTooLarge(limit: maxFrameSize))
        }
    }

    /// Queues one complete message, waiting while the inbox is full or over its byte limit.
    private func deliver(_ payload: ByteBuffer) async throws {
        let text = payload.withUnsafeReadableBytes { String(validating: $0, as: UTF8.self) }
        guard let text else {
            throw Violation(
                code: 1007, reason: "text frame is not valid UTF-8",
                error: .invalidFrame("text frame is not valid UTF-8"))
        }
        let bytes = text.utf8.count
        gate.added(bytes)
        do {
            try await inbox.send(text)
        } catch {
            // Closed locally (nobody will read it) or the reader is being cancelled.
            gate.removed(bytes)
            return
        }
        if gate.buffered > gate.limit {
            await gate.waitUntilUnderLimit()
        }
    }

    /// The peer broke the protocol: `receive()` reports it after the queued messages, and
    /// the connection is closed with the violation's code and reason.
    private func fail(_ violation: Violation) async {
        logger.debug(
            "closing the ARCP WebSocket connection after a protocol violation",
            metadata: ["code": "\(violation.code)", "reason": "\(violation.reason)"])
        let first = state.withLock { s -> Bool in
            defer { s.closing = true }
            return !s.closing
        }
        stopSending()
        inbox.finish(throwing: violation.error)
        guard first else { return }
        await sendClose(code: violation.code, reason: violation.reason)
    }

    /// Once the writer has written the frames queued before, sends a close frame. That runs in
    /// a task of its own, not a child: close is often called from a task that is being
    /// cancelled (a session that ends cancels its writer), and a cancelled write would lose the
    /// queued frames and the close frame. The caller waits at most `closeTimeout`.
    private func sendClose(code: UInt16, reason: String) async {
        let outbound = self.outbound
        let closeTimeout = self.closeTimeout
        let text = Self.truncatedReason(reason)
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

    /// A close reason fits a control frame: at most 123 bytes of UTF-8 after the code.
    static func truncatedReason(_ reason: String) -> String { WebSocketCloseReason.truncated(reason) }

    static func readError(_ error: any Error) -> TransportError {
        if let error = error as? NIOWebSocketError, error == .invalidFrameLength {
            // NIO's frame decoder refused a frame over the server's `maxFrameSize` and closed
            // the connection with 1009.
            return .invalidFrame("a frame exceeded the server's WebSocket maxFrameSize")
        }
        return .io("\(error)")
    }
}
