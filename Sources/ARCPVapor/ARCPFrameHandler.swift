import ARCP
import DequeModule
import NIOCore
import NIOWebSocket
import Synchronization

/// What the event-loop handler and the transport share: the inbox, its byte count, and the
/// flag by which the consumer wakes a handler that waits for room.
final class InboundShared: Sendable {
    /// Complete inbound messages, filled on the event loop, drained by `receive()`.
    let inbox: BoundedAsyncQueue<String>
    /// Above this many queued bytes the handler stops reading the socket.
    let byteLimit: Int
    /// Bytes of messages handed to the handler's queue and not yet taken by `receive()`.
    private let bytes = Atomic<Int>(0)
    /// Set by the handler while it holds messages back or has stopped reading.
    private let wantsWake = Atomic<Bool>(false)
    /// Wakes the handler on its event loop.
    private let wake = Mutex<(@Sendable () -> Void)?>(nil)
    /// The code of the close frame this side sent (the first one).
    private let closeCode = Mutex<UInt16?>(nil)

    init(capacity: Int, byteLimit: Int) {
        inbox = BoundedAsyncQueue(capacity: Swift.max(1, capacity))
        self.byteLimit = Swift.max(1, byteLimit)
    }

    var bufferedBytes: Int { bytes.load(ordering: .sequentiallyConsistent) }
    var isOverLimit: Bool { bufferedBytes > byteLimit }

    func added(_ n: Int) { bytes.add(n, ordering: .sequentiallyConsistent) }
    func removed(_ n: Int) { bytes.subtract(n, ordering: .sequentiallyConsistent) }
    func setWantsWake(_ value: Bool) { wantsWake.store(value, ordering: .sequentiallyConsistent) }
    func setWake(_ body: (@Sendable () -> Void)?) { wake.withLock { $0 = body } }

    var sentCloseCode: UInt16? { closeCode.withLock { $0 } }
    func recordSentClose(_ code: UInt16) {
        closeCode.withLock { c in
            if c == nil { c = code }
        }
    }

    /// `receive()` took a message of `n` bytes: wakes the handler if it waits.
    func consumed(_ n: Int) {
        removed(n)
        if wantsWake.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged {
            wake.withLock { $0 }?()
        }
    }
}

/// The ARCP message layer of one upgraded Vapor connection, on its event loop, placed in the
/// pipeline ahead of websocket-kit's handlers. It reassembles text messages up to the size
/// limit, checks their UTF-8, queues them for ``VaporWebSocketTransport/receive()``, and
/// forwards only control frames (ping, pong, close) to websocket-kit, which answers pings and
/// a close the peer starts.
///
/// Violations close the connection with a code and a reason: binary data → 1003, a message
/// over the limit → 1009, invalid UTF-8 → 1007, a broken fragment sequence → 1002. The
/// handler then discards input until the peer answers the close, hangs up, or the close
/// timeout passes. A close this side starts (``VaporWebSocketTransport/close(code:reason:)``)
/// is written here too, after the frames already queued, and ends the same way.
///
/// Back-pressure: when the inbox is full (or holds more than its byte limit) the handler keeps
/// the messages of the current read, holds back `read()`, and so stops reading the socket: TCP
/// flow control then slows the peer down. The consumer wakes it when there is room again.
final class ARCPFrameHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private enum Phase {
        case open
        /// A close frame went out (ours or after a violation): input is discarded until the
        /// peer answers or hangs up.
        case closing
        case closed
    }

    private let maxMessageSize: Int
    private let closeTimeout: TimeAmount
    private let shared: InboundShared
    private var phase = Phase.open
    private var fragments: ByteBuffer?
    /// Messages that did not fit into the inbox (at most one read's worth: reading stops).
    private var pending: Deque<String> = []
    private var readHeldBack = false
    /// The violation to report after the queued messages, if any.
    private var failure: TransportError?
    /// The last I/O error, reported when the connection drops without a close handshake.
    private var ioError: TransportError?
    private var peerClosed = false
    private var inactive = false
    private var closeTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(maxMessageSize: Int, closeTimeout: TimeAmount, shared: InboundShared) {
        self.maxMessageSize = maxMessageSize
        self.closeTimeout = closeTimeout
        self.shared = shared
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        shared.setWake { eventLoop.execute { bound.value.settle() } }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        shared.setWake(nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
        phase = .closed
        closeTimer?.cancel()
        closeTimer = nil
        settle()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? NIOWebSocketError {
            // NIO's frame decoder refused a frame: over the size limit, or a malformed control
            // frame. After a close, what the peer still sends does not matter.
            guard phase == .open else { return }
            switch error {
            case .invalidFrameLength:
                violation(code: 1009, reason: "frame larger than \(maxMessageSize) bytes", .frameTooLarge(limit: maxMessageSize))
            case .fragmentedControlFrame, .multiByteControlFrameLength:
                violation(code: 1002, reason: "malformed control frame", .invalidFrame("malformed control frame"))
            }
            return
        }
        if phase == .open { ioError = .io("\(error)") }
        context.fireErrorCaught(error)
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch phase {
        case .closed:
            return
        case .closing:
            // The peer's answer to our close frame ends the connection; everything else is dropped.
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        case .open:
            break
        }
        switch frame.opcode {
        case .text:
            guard fragments == nil else {
                return violation(code: 1002, reason: "new message before the previous one ended", .invalidFrame("interleaved message"))
            }
            guard frame.length <= maxMessageSize else { return tooLarge() }
            if frame.fin {
                deliver(frame.unmaskedData)
            } else {
                fragments = frame.unmaskedData
            }
        case .continuation:
            guard var message = fragments else {
                return violation(code: 1002, reason: "continuation frame without a message", .invalidFrame("unexpected continuation frame"))
            }
            fragments = nil
            guard message.readableBytes + frame.length <= maxMessageSize else { return tooLarge() }
            var more = frame.unmaskedData
            message.writeBuffer(&more)
            if frame.fin {
                deliver(message)
            } else {
                fragments = message
            }
        case .binary:
            violation(
                code: 1003, reason: "binary frames are not supported: send each ARCP envelope as one text frame",
                .invalidFrame("binary frame"))
        case .connectionClose:
            // The peer starts the close: websocket-kit answers it and closes the channel.
            peerClosed = true
            phase = .closing
            context.fireChannelRead(data)
        default:
            // ping and pong: websocket-kit answers pings and keeps its keep-alive.
            context.fireChannelRead(data)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        settle()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if mustWait {
            readHeldBack = true
            shared.setWantsWake(true)
            // The consumer may have taken a message since the check: look again.
            settle()
        } else {
            context.read()
        }
    }

    private func tooLarge() {
        violation(code: 1009, reason: "message larger than \(maxMessageSize) bytes", .frameTooLarge(limit: maxMessageSize))
    }

    /// Queues one complete message (checked for UTF-8) behind those waiting for room.
    private func deliver(_ payload: ByteBuffer) {
        guard let text = payload.withUnsafeReadableBytes({ String(validating: $0, as: UTF8.self) }) else {
            return violation(code: 1007, reason: "text frame is not valid UTF-8", .invalidFrame("text frame is not valid UTF-8"))
        }
        shared.added(text.utf8.count)
        pending.append(text)
        flush()
    }

    /// Moves waiting messages into the inbox while it has room.
    private func flush() {
        if shared.inbox.isFinished {
            // Closed locally: nobody will read them.
            for text in pending { shared.removed(text.utf8.count) }
            pending.removeAll()
            return
        }
        while let first = pending.first, shared.inbox.trySend(first) {
            pending.removeFirst()
        }
    }

    /// Whether reading must wait: messages wait for room, or the queued bytes are over the limit.
    private var mustWait: Bool { !pending.isEmpty || shared.isOverLimit }

    /// Moves what fits into the inbox, reads again when there is room, and ends the inbox once
    /// the connection is over and everything before the end was queued.
    func settle() {
        flush()
        if mustWait {
            shared.setWantsWake(true)
            flush()
            if mustWait { return }
            shared.setWantsWake(false)
        }
        if inactive {
            if let failure {
                shared.inbox.finish(throwing: failure)
            } else if let ioError, !peerClosed {
                shared.inbox.finish(throwing: ioError)
            } else {
                shared.inbox.finish()
            }
            return
        }
        if readHeldBack, let context {
            readHeldBack = false
            context.read()
        }
    }

    // MARK: Closing

    /// The peer broke the protocol: the messages before it are still delivered, then the
    /// error, once; the connection closes with `code`.
    private func violation(code: UInt16, reason: String, _ error: TransportError) {
        fragments = nil
        failure = error
        sendClose(code: code, reason: reason, promise: nil)
    }

    /// Writes a close frame (after everything written before it) and waits for the peer's
    /// answer, at most the close timeout. Only the first close sends a frame.
    func sendClose(code: UInt16, reason: String, promise: EventLoopPromise<Void>?) {
        guard phase == .open, let context else {
            promise?.succeed(())
            return
        }
        phase = .closing
        shared.recordSentClose(code)
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.writeInteger(code)
        data.writeString(WebSocketCloseReason.truncated(reason))
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        context.writeAndFlush(Self.wrapOutboundOut(frame), promise: promise)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        closeTimer = context.eventLoop.scheduleTask(in: closeTimeout) {
            bound.value.close(promise: nil)
        }
    }
}
