import ARCP
import ARCPWebSocketCore
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import Vapor

/// One Vapor WebSocket connection carrying ARCP (spec §4): one text message is one envelope.
///
/// You do not create one yourself: `app.arcp(runtime, at:)` (or the general form
/// `routes.arcp(at:options:onConnection:)`) makes one for each upgraded connection.
///
/// Behaviour (the same as `WebSocketTransport` in `ARCPWebSocket` and
/// `HummingbirdWebSocketTransport` in `ARCPHummingbird`):
/// - ``receive()`` returns the next text message (fragments reassembled up to
///   ``maxFrameSize`` bytes), and `nil` once the peer closed, the connection ended or
///   ``close()`` was called. A **binary** message closes the connection with **1003** and a
///   reason, a message over ``maxFrameSize`` with **1009**, invalid UTF-8 with **1007**, a
///   broken fragment sequence with **1002**; `receive()` then throws the matching
///   `TransportError` (`invalidFrame`, `frameTooLarge`) once, and returns `nil` after that.
///   A connection that drops without a close handshake is `TransportError.io`.
/// - Inbound messages wait in a bounded queue (``ARCPVaporOptions/inboundCapacity`` messages
///   and ``ARCPVaporOptions/inboundByteLimit`` bytes). While it is full the connection stops
///   reading its socket and TCP flow control slows the peer down: nothing is buffered without
///   limit, nothing is dropped.
/// - ``send(_:)`` hands the frame to the connection at once. While frames of more than
///   ``ARCPVaporOptions/outboundByteLimit`` bytes are not yet written to the socket, `send`
///   suspends, so a peer that does not read slows the sender down. A frame accepted by `send`
///   is written even if the sending task is cancelled afterwards. Frames larger than
///   ``maxFrameSize`` are refused with `TransportError.frameTooLarge`; after a close, sends
///   throw `TransportError.closed`.
/// - ``close()`` sends a close frame with code 1000 after the frames already accepted and
///   waits, at most ``ARCPVaporOptions/closeTimeout``, for it to be written; the connection
///   ends when the peer answers, or after that timeout. ``receive()`` drains what was queued
///   and returns `nil`.
///
/// websocket-kit answers pings, sends the keep-alive pings of
/// ``ARCPVaporOptions/pingInterval``, and answers a close the peer starts; control frames
/// never reach `receive()`.
public final class VaporWebSocketTransport: Transport {
    /// The largest accepted message, in bytes, inbound and outbound.
    public let maxFrameSize: Int
    /// The websocket-kit connection (for its `eventLoop`, `onClose`, `pingInterval`, …). Send
    /// and close through the transport: frames written past it are not counted, and a close
    /// started on it bypasses the transport's close handshake.
    public let webSocket: WebSocket

    private let channel: any Channel
    private let shared: InboundShared
    private let handler: NIOLoopBound<ARCPFrameHandler>
    private let credit: OutboundCredit
    private let closeTimeout: Duration
    private let failure = FailureReport()
    private let state = Mutex(State())

    private struct State {
        /// `close()` was called, or the connection ended.
        var closing = false
    }

    init(
        webSocket: WebSocket, channel: any Channel, shared: InboundShared, handler: NIOLoopBound<ARCPFrameHandler>,
        options: ARCPVaporOptions
    ) {
        self.webSocket = webSocket
        self.channel = channel
        self.shared = shared
        self.handler = handler
        self.maxFrameSize = options.clampedMaxFrameSize
        self.credit = OutboundCredit(limit: options.outboundByteLimit)
        self.closeTimeout = options.closeTimeout
        channel.closeFuture.whenComplete { [self] _ in connectionEnded() }
    }

    /// The close code this side sent, if any (1000 after ``close()``, 1003/1009/… after a
    /// protocol violation by the peer).
    public var sentCloseCode: UInt16? { shared.sentCloseCode }

    /// The peer's address, e.g. `127.0.0.1:53210`.
    public var remoteAddress: String? {
        guard let address = channel.remoteAddress, let ip = address.ipAddress, let port = address.port else { return nil }
        return "\(ip):\(port)"
    }

    /// Messages received and not yet taken by `receive()` (for tests and diagnostics).
    var queuedMessages: Int { shared.inbox.count }

    /// Bytes of those messages, and of those waiting for room (for tests and diagnostics).
    var queuedBytes: Int { shared.bufferedBytes }

    // MARK: Transport

    public func receive() async throws -> String? {
        let message: String?
        do {
            message = try await shared.inbox.next()
        } catch let error as TransportError {
            // A protocol violation or a broken connection: reported once, then nil like a close.
            if failure.isFirst() { throw error }
            return nil
        }
        guard let message else { return nil }
        shared.consumed(message.utf8.count)
        return message
    }

    public func send(_ frame: String) async throws {
        let size = frame.utf8.count
        if size > maxFrameSize { throw TransportError.frameTooLarge(limit: maxFrameSize) }
        try await acquire(size)
        write([frame], bytes: size)
    }

    /// Hands several frames to the connection in order, with one credit check. All frames are
    /// checked first: if one is larger than ``maxFrameSize`` none is sent.
    public func send(batch frames: [String]) async throws {
        if frames.isEmpty { return }
        var total = 0
        for frame in frames {
            let size = frame.utf8.count
            if size > maxFrameSize { throw TransportError.frameTooLarge(limit: maxFrameSize) }
            total += size
        }
        try await acquire(total)
        write(frames, bytes: total)
    }

    private func acquire(_ bytes: Int) async throws {
        if state.withLock({ $0.closing }) { throw TransportError.closed }
        do {
            try await credit.acquire(bytes)
        } catch is OutboundCredit.Finished {
            throw TransportError.closed
        }
    }

    /// Writes `frames` (one flush) and returns their credit once the last is written or failed.
    private func write(_ frames: [String], bytes: Int) {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let credit = self.credit
        promise.futureResult.whenComplete { [self] result in
            credit.release(bytes)
            if case .failure = result { connectionEnded() }
        }
        for (i, frame) in frames.enumerated() {
            let last = i == frames.count - 1
            webSocket.send(frame, promise: last ? promise : nil)
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
        credit.finish()
        shared.inbox.finish()
        guard first else { return }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let handler = self.handler
        channel.eventLoop.execute { handler.value.sendClose(code: code, reason: reason, promise: promise) }
        _ = await Self.within(closeTimeout) { try? await promise.futureResult.get() }
    }

    /// The connection is over: waiting and later sends fail.
    private func connectionEnded() {
        state.withLock { $0.closing = true }
        credit.finish()
    }

    // MARK: Serving

    /// Runs `body` with the transport, then closes it (code 1000, unless it is closed
    /// already) and waits, at most the close timeout, for the connection to end before
    /// closing the socket.
    func serve(_ body: (VaporWebSocketTransport) async -> Void) async {
        await body(self)
        await close()
        let channel = self.channel
        let ended = await Self.within(closeTimeout) { try? await channel.closeFuture.get() }
        if !ended {
            try? await channel.close()
        }
        // websocket-kit expects its WebSocket to be released only once the channel is closed.
        try? await channel.closeFuture.get()
    }

    /// Runs `body` for at most `timeout`; true if it finished.
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
}
