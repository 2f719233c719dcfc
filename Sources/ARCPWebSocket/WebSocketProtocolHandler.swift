import ARCP
import ARCPWebSocketCore
import DequeModule
import NIOCore
import NIOWebSocket

/// The RFC 6455 message layer of an `ARCPWebSocket` connection, on the event loop: frames are
/// cut from the socket's bytes by ``InboundFrameParser`` and written by NIO's frame encoder
/// (or as wire bytes), with the ARCP rules from `ARCPWebSocketCore`: ``MessageAssembler``
/// (reassembly, size limits, UTF-8, binary → 1003), ``PongSchedule`` (pings from a peer that
/// does not read), ``InboundMailbox`` (the bounded queue `receive()` reads), the close codes.
///
/// Why a hand-written handler rather than swift-websocket's `WSCore` (which Hummingbird uses,
/// see `ARCPHummingbird`): WSCore hands every frame through an actor and an `NIOAsyncChannel`
/// (a task hop per inbound frame and per outbound frame, no batched write), and bounds outbound
/// data only by channel writability, which a producer faster than the event loop outruns.
/// Here a frame is turned into a message on the event loop that read it, the messages of one
/// socket read reach the session with one wake-up, and outbound frames are written in batches
/// with one flush under a byte credit (``OutboundPump``). `docs/BENCHMARKS.md` has the
/// measurement (the same runtime behind both stacks).
///
/// Complete messages of one socket read are handed to the mailbox together at the end of the
/// read. When it is full the handler keeps the rest of that read's messages, holds back
/// `read()`, and so stops reading the socket: TCP flow control then slows the peer down.
/// `receive()` wakes it when there is room again.
///
/// A violation by the peer closes the connection with its code and reason: binary → 1003, a
/// message over the limit → 1009, invalid UTF-8 → 1007, ping flood → 1008, anything else →
/// 1002. The handler then stops delivering, keeps reading (and discarding) so the close frame is
/// not lost to a TCP reset, and closes the channel when the peer answers, hangs up, or
/// `closeTimeout` passes. When the channel closes it ends the mailbox: cleanly after a close
/// handshake with code 1000/1001, with the violation or an I/O error otherwise.
final class WebSocketProtocolHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private enum Phase {
        case open
        /// We sent a close frame and wait for the peer's.
        case closeSent
        /// We hit a protocol violation, sent a close frame, and discard input until the end.
        case draining
        case closed
    }

    private let isClient: Bool
    private let closeTimeout: TimeAmount
    private let shared: ConnectionShared
    private let firstMessageGuard: FirstMessageGuard?
    /// Handlers with nothing left to do once the first message arrived (NIO's frame decoder,
    /// which never sees a byte, and the first-message guard): removed at the end of that read,
    /// so a connection does not keep them (and their contexts) for its whole life.
    private var idleOnceOpen: [any RemovableChannelHandler]
    private var parser: InboundFrameParser
    /// The bytes broke the framing: nothing more is parsed.
    private var parserFailed = false
    private var assembler: MessageAssembler
    private var pongs: PongSchedule
    private var phase: Phase = .open
    private var closeTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// NIO's frame encoder's context: what is written there goes to the socket as it is
    /// (``writeWire(_:promise:)``).
    private var wireContext: ChannelHandlerContext?
    /// Messages that did not fit into the mailbox (at most one read's worth: reading stops).
    private var pending: Deque<String> = []
    /// A `read()` held back because the mailbox is full.
    private var readHeldBack = false
    /// How the mailbox ends, once the channel closed; applied after `pending` is delivered.
    private var ending: TransportError??
    /// Why the connection failed, when this side detected it.
    private var failure: TransportError?
    /// The socket closed (``connectionEnded()`` ran).
    private var ended = false
    /// The last I/O error, for the message when the connection drops.
    private var ioError: (any Error)?
    /// Whether every frame reaching this handler is followed by `channelReadComplete`, which
    /// hands the held messages to the mailbox. Not at first: the bytes an upgrade handler
    /// buffered during the handshake are replayed as reads without one (Vapor's
    /// `UpgradeBufferHandler` does), so messages delivered before the first read completes
    /// after a frame are flushed by a task of their own instead of waiting for a read that may
    /// never come (the peer waits for our answer).
    private var readCompletesFollowFrames = false
    /// A frame arrived since the last `channelReadComplete`.
    private var framesSinceReadComplete = false
    /// A flush task for replayed messages is queued.
    private var flushScheduled = false
    /// Keep-alive pings (``ConnectionLimits/keepAlivePingInterval``), if any.
    private let keepAliveInterval: TimeAmount?
    private var keepAliveTask: RepeatedTask?
    /// A whole message arrived (the first-message guard is disarmed).
    private var firstMessageSeen = false
    /// A keep-alive ping is out and no pong has come back since.
    private var awaitingPong = false

    init(
        isClient: Bool, limits: ConnectionLimits, shared: ConnectionShared, firstMessageGuard: FirstMessageGuard?,
        wireContext: ChannelHandlerContext, idleDecoder: (any RemovableChannelHandler)? = nil
    ) {
        self.isClient = isClient
        self.idleOnceOpen = [idleDecoder, firstMessageGuard].compactMap { $0 }
        self.wireContext = wireContext
        self.closeTimeout = TimeAmount(limits.closeTimeout)
        self.shared = shared
        self.firstMessageGuard = firstMessageGuard
        self.parser = InboundFrameParser(maxFrameSize: limits.maxMessageSize)
        self.assembler = MessageAssembler(limits: limits)
        self.pongs = PongSchedule(maxUnanswered: limits.maxUnansweredPings)
        self.keepAliveInterval = limits.keepAlivePingInterval.map(TimeAmount.init)
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        shared.mailbox.setRoomHandler {
            eventLoop.execute { bound.value.resume() }
        }
        // The socket may have closed during the upgrade, before this handler was added (a
        // server that sends a close frame and hangs up right behind its 101): then no
        // `channelInactive` will come, and `receive()` would wait forever. Frames NIO buffered
        // during the upgrade are delivered right after this; the end is applied after them.
        if !context.channel.isActive {
            eventLoop.execute { bound.value.connectionEnded() }
        } else if let interval = keepAliveInterval {
            keepAliveTask = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                bound.value.keepAlive()
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        wireContext = nil
        // Removed with the pipeline of a closed channel, without having seen it close.
        connectionEnded()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connectionEnded()
        context.fireChannelInactive()
    }

    /// The socket closed: end the mailbox (after the held messages) with how it ended.
    private func connectionEnded() {
        if ended { return }
        ended = true
        let wasClosed = phase == .closed
        phase = .closed
        closeTimer?.cancel()
        closeTimer = nil
        keepAliveTask?.cancel()
        keepAliveTask = nil
        if let failure {
            ending = .some(failure)
        } else if let peer = shared.peerClose {
            if let code = peer.code, code != CloseCode.normal, code != CloseCode.goingAway {
                ending = .some(TransportError.io("connection closed by peer with code \(peer)"))
            } else {
                ending = .some(nil)
            }
        } else if wasClosed || shared.sentClose != nil {
            ending = .some(nil)
        } else {
            let why = ioError.map(describeNetworkError) ?? "connection closed without a WebSocket close frame"
            ending = .some(TransportError.io(why))
        }
        flushPending()
    }

    /// On the event loop, when `receive()` made room: deliver held messages, then read again.
    private func resume() {
        flushPending()
        guard readHeldBack, pending.isEmpty, shared.mailbox.hasRoom, let context else { return }
        readHeldBack = false
        context.read()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        framesSinceReadComplete = true
        guard phase != .closed, !parserFailed else { return }
        parser.append(Self.unwrapInboundIn(data))
        while phase != .closed {
            switch parser.next() {
            case .needMore:
                return
            case .frame(let frame):
                handle(frame, context: context)
            case .violation(let violation):
                parserFailed = true
                parser.discard()
                // While draining, the bytes are being discarded on purpose.
                if phase != .draining { fail(context, violation) }
                return
            }
        }
    }

    private func handle(_ frame: InboundFrame, context: ChannelHandlerContext) {
        switch phase {
        case .closed:
            return
        case .draining:
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        case .open, .closeSent:
            break
        }

        if frame.hasReservedBits { return fail(context, .reservedBits) }
        if isClient && frame.wasMasked { return fail(context, .maskedServerFrame) }
        if !isClient && !frame.wasMasked { return fail(context, .unmaskedClientFrame) }

        switch frame.opcode {
        case .text, .continuation, .binary:
            switch assembler.receive(opcode: frame.opcode, fin: frame.fin, payload: frame.payload) {
            case .incomplete:
                break
            case .message(let text):
                deliver(text)
            case .violation(let violation):
                fail(context, violation)
            }
        case .ping:
            guard phase == .open else { return }
            switch pongs.receivedPing(frame.payload) {
            case .send(let payload):
                writePong(context, payload)
            case .deferred:
                break
            case .violation(let violation):
                fail(context, violation)
            }
        case .pong:
            awaitingPong = false
        case .connectionClose:
            let info = WebSocketFrame.closeInfo(from: frame.payload)
            shared.recordPeerClose(info)
            if phase == .open {
                // Echo the peer's code (RFC 6455 §5.5.1), then hang up.
                let code = info.code ?? CloseCode.normal
                let reply = WebSocketFrame.close(code: code, reason: "", masked: isClient, allocator: context.channel.allocator)
                shared.recordSentClose(WebSocketCloseInfo(code: code, reason: ""))
                phase = .closed
                let channel = context.channel
                context.writeAndFlush(Self.wrapOutboundOut(reply)).whenComplete { _ in
                    channel.close(promise: nil)
                }
            } else {
                phase = .closed
                context.close(promise: nil)
            }
        default:
            fail(context, .unknownOpcode)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if firstMessageSeen && !idleOnceOpen.isEmpty {
            for handler in idleOnceOpen { context.pipeline.syncOperations.removeHandler(handler, promise: nil) }
            idleOnceOpen = []
        }
        if framesSinceReadComplete {
            framesSinceReadComplete = false
            readCompletesFollowFrames = true
        }
        if !pending.isEmpty { flushPending() }
        if phase == .draining || phase == .closeSent {
            // Keep reading even if the consumer is not: the peer's close frame (or EOF) must be
            // seen. Data is discarded in these phases, so this cannot grow memory.
            context.read()
        }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let violation = error as? WebSocketViolation {
            return fail(context, violation)
        }
        if phase == .draining {
            // An error while the connection is failing already: it is closing anyway.
            return
        }
        // An I/O error (e.g. connection reset): remember it for the message, and hang up.
        ioError = error
        context.close(promise: nil)
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if !pending.isEmpty { flushPending() }
        if phase == .open && (!pending.isEmpty || !shared.mailbox.hasRoom) {
            readHeldBack = true
            return
        }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = Self.unwrapOutboundIn(data)
        if frame.opcode == .connectionClose {
            guard phase == .open else {
                // A close frame already went out (or the connection is failing): send no other.
                promise?.succeed(())
                return
            }
            shared.recordSentClose(WebSocketFrame.closeInfo(from: frame.data))
            phase = .closeSent
            pending.removeAll()
            startCloseTimer(context)
            context.write(data, promise: promise)
            context.flush()
            context.read()
            return
        }
        guard phase == .open else {
            promise?.fail(TransportError.closed)
            return
        }
        context.write(data, promise: promise)
    }

    /// Writes complete frames (``WireFrames``: text messages as wire bytes) past NIO's frame
    /// encoder, in order with the frames written through it; refused (`TransportError.closed`)
    /// once a close frame went out or the connection ended, as a data frame is in `write`.
    func writeWire(_ bytes: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard phase == .open, let wireContext else {
            promise?.fail(TransportError.closed)
            return
        }
        wireContext.write(NIOAny(bytes), promise: promise)
    }

    // MARK: Helpers

    private func deliver(_ text: String) {
        // In `.closeSent` the local side already closed: later messages are not wanted.
        guard phase == .open else { return }
        firstMessageGuard?.disarm()
        firstMessageSeen = true
        // Collected and handed over at the end of the read (`channelReadComplete`): one burst
        // into the mailbox wakes the consumer about once per read instead of once per message.
        pending.append(text)
        if !readCompletesFollowFrames && !flushScheduled, let context {
            // Possibly a replayed read with no `channelReadComplete` behind it (see the property).
            flushScheduled = true
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.execute {
                bound.value.flushScheduled = false
                bound.value.flushPending()
            }
        }
        // Once per 256 held messages: a flush that could not hand them over is not retried
        // for every further message of the same read (channelReadComplete or resume() will).
        if pending.count % 256 == 0 { flushPending() }
    }

    /// Moves held messages into the mailbox while it has room; ends the mailbox once the
    /// connection ended and nothing is held.
    private func flushPending() {
        if !pending.isEmpty {
            _ = shared.mailbox.offer(&pending)
        }
        if pending.isEmpty, let ending {
            self.ending = nil
            shared.mailbox.finish(failure: ending)
            shared.mailbox.setRoomHandler(nil)  // nothing left to wake; breaks the reference cycle
        }
    }

    /// One pong at a time (``PongSchedule``): the next waits for this one's write.
    private func writePong(_ context: ChannelHandlerContext, _ payload: ByteBuffer) {
        let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: isClient ? .random() : nil, data: payload)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.writeAndFlush(Self.wrapOutboundOut(pong)).whenComplete { _ in
            bound.value.pongWritten()
        }
    }

    private func pongWritten() {
        guard let next = pongs.pongWritten() else { return }
        guard phase == .open, let context else { return }
        writePong(context, next)
    }

    private func fail(_ context: ChannelHandlerContext, _ violation: WebSocketViolation) {
        if failure == nil { failure = violation.error }
        let wasOpen = phase == .open
        phase = .draining
        if wasOpen {
            let frame = WebSocketFrame.close(
                code: violation.code, reason: violation.reason, masked: isClient, allocator: context.channel.allocator)
            shared.recordSentClose(WebSocketCloseInfo(code: violation.code, reason: violation.reason))
            context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
        }
        startCloseTimer(context)
        context.read()
    }

    /// Every keep-alive interval: a peer that has not answered the last ping is gone (the socket
    /// is closed, `receive()` reports the lost connection); otherwise ping it. Pongs are read
    /// only while the session reads: a connection whose mailbox stays full for a whole interval
    /// is disconnected too.
    private func keepAlive() {
        guard phase == .open, let context else { return }
        if awaitingPong {
            ioError = KeepAliveUnanswered()
            context.close(promise: nil)
            return
        }
        awaitingPong = true
        let ping = WebSocketFrame(
            fin: true, opcode: .ping, maskKey: isClient ? .random() : nil, data: context.channel.allocator.buffer(capacity: 0))
        context.writeAndFlush(Self.wrapOutboundOut(ping), promise: nil)
    }

    private func startCloseTimer(_ context: ChannelHandlerContext) {
        guard closeTimer == nil else { return }
        let channel = context.channel
        closeTimer = context.eventLoop.scheduleTask(in: closeTimeout) {
            channel.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension WebSocketProtocolHandler: Sendable {}

/// Why the connection was dropped: the peer did not answer a keep-alive ping in time.
struct KeepAliveUnanswered: Error, CustomStringConvertible {
    var description: String { "no answer to a keep-alive ping" }
}

extension WebSocketProtocolHandler {
    /// After the HTTP upgrade (on the event loop): adds the protocol handler, with its
    /// ``InboundFrameParser``, behind NIO's frame encoder and, on a server with a first-message
    /// cap below the message limit, the ``FirstMessageGuard`` in front of it; returns the state
    /// it shares with the connection's ``WebSocketTransport``.
    ///
    /// The stand-alone server and client (``ServerHandshakeHandler``,
    /// ``ClientHandshakeHandler``) add only the encoder. NIO's upgraders (an adapter such as
    /// Vapor's) also add NIO's frame decoder: then both go in front of it, and it never sees a
    /// byte. In front of the decoder rather than in its place: NIO removes a decoder one
    /// event-loop tick after it is asked to, and the bytes the upgrader buffered during the
    /// handshake are replayed before that tick; they must reach the parser, not the decoder.
    /// The decoder (and the guard) are removed once the first message arrived, long after the
    /// replay.
    static func install(
        on channel: any Channel, isClient: Bool, limits: ConnectionLimits
    ) throws -> (ConnectionShared, WebSocketProtocolHandler) {
        // Messages are written past NIO's frame encoder (``writeWire(_:promise:)``): a pipeline
        // without it is not one this handler can serve.
        let wireContext = try channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
        // NIO's upgraders add its frame decoder; our own handshakes add none.
        let decoder = try? channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
        let shared = ConnectionShared(limits: limits)
        var firstMessageGuard: FirstMessageGuard?
        var position = decoder.map { ChannelPipeline.SynchronousOperations.Position.before($0) } ?? .after(wireContext.handler)
        if !isClient && limits.maxFirstMessageSize < limits.maxMessageSize {
            let guardHandler = FirstMessageGuard(limit: limits.maxFirstMessageSize)
            try channel.pipeline.syncOperations.addHandler(guardHandler, position: position)
            firstMessageGuard = guardHandler
            if decoder == nil { position = .after(guardHandler) }
        }
        let handler = WebSocketProtocolHandler(
            isClient: isClient, limits: limits, shared: shared, firstMessageGuard: firstMessageGuard, wireContext: wireContext,
            idleDecoder: decoder)
        try channel.pipeline.syncOperations.addHandler(handler, position: position)
        return (shared, handler)
    }
}
