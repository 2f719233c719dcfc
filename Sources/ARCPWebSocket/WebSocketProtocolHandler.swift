import ARCP
import DequeModule
import NIOCore
import NIOWebSocket
import Synchronization

/// A close frame as seen on the wire.
public struct WebSocketCloseInfo: Sendable, Equatable, CustomStringConvertible {
    /// The close status code (RFC 6455 §7.4), e.g. 1000 normal, 1003 unsupported data,
    /// 1009 message too big. `nil` when the frame carried no code.
    public var code: UInt16?
    /// The reason text (may be empty).
    public var reason: String

    public init(code: UInt16?, reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String {
        let c = code.map(String.init) ?? "no code"
        return reason.isEmpty ? c : "\(c) \(reason)"
    }
}

/// State shared between the event-loop handler and the `WebSocketTransport`: the inbound
/// queue, the byte budget, and how the connection ended.
final class ConnectionShared: Sendable {
    private struct State {
        var peerClose: WebSocketCloseInfo?
        var sentClose: WebSocketCloseInfo?
        var resumeReading: (@Sendable () -> Void)?
    }
    private let state = Mutex(State())
    /// Bytes of messages queued by the handler and not yet taken by `receive()`.
    private let bufferedBytes = Atomic<Int>(0)
    /// Set by the handler when it holds messages it could not queue; the consumer then wakes it.
    private let readerWaiting = Atomic<Bool>(false)

    /// Complete inbound messages, filled on the event loop, drained by `receive()`.
    let inbox: BoundedAsyncQueue<String>
    /// Above this many queued bytes the handler stops reading the socket.
    let inboundByteLimit: Int

    init(inboundCapacity: Int, inboundByteLimit: Int) {
        self.inbox = BoundedAsyncQueue(capacity: inboundCapacity)
        self.inboundByteLimit = Swift.max(1, inboundByteLimit)
    }

    var peerClose: WebSocketCloseInfo? { state.withLock { $0.peerClose } }
    var sentClose: WebSocketCloseInfo? { state.withLock { $0.sentClose } }

    func recordPeerClose(_ info: WebSocketCloseInfo) {
        state.withLock { $0.peerClose = info }
    }

    func recordSentClose(_ info: WebSocketCloseInfo) {
        state.withLock { s in
            if s.sentClose == nil { s.sentClose = info }
        }
    }

    // MARK: Inbound flow control

    /// Whether the queued bytes are over the limit (the handler then holds back reads).
    var isOverBudget: Bool { bufferedBytes.load(ordering: .sequentiallyConsistent) > inboundByteLimit }

    func messageQueued(bytes: Int) {
        bufferedBytes.add(bytes, ordering: .sequentiallyConsistent)
    }

    func markReaderWaiting() {
        readerWaiting.store(true, ordering: .sequentiallyConsistent)
    }

    func clearReaderWaiting() {
        readerWaiting.store(false, ordering: .sequentiallyConsistent)
    }

    /// Called by `receive()` for each message it hands out; wakes the handler when it waits
    /// for queue space or the byte count dropped back under the limit.
    func messageConsumed(bytes: Int) {
        let after = bufferedBytes.subtract(bytes, ordering: .sequentiallyConsistent).newValue
        let crossed = after + bytes > inboundByteLimit && after <= inboundByteLimit
        let waiting = readerWaiting.load(ordering: .sequentiallyConsistent)
            && readerWaiting.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged
        if crossed || waiting {
            state.withLock { $0.resumeReading }?()
        }
    }

    /// The handler registers how to wake it (on its event loop), and clears it at the end.
    func setResumeReading(_ resume: (@Sendable () -> Void)?) {
        state.withLock { $0.resumeReading = resume }
    }
}

extension WebSocketFrame {
    /// A close frame with `code` and a reason truncated to fit the 125-byte control-frame limit.
    static func close(code: UInt16, reason: String, masked: Bool, allocator: ByteBufferAllocator) -> WebSocketFrame {
        var data = allocator.buffer(capacity: 2 + reason.utf8.count)
        data.writeInteger(code)
        data.writeString(truncatedReason(reason))
        return WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: masked ? .random() : nil, data: data)
    }

    /// Reads the code and reason of a close frame (already unmasked).
    static func closeInfo(from payload: ByteBuffer) -> WebSocketCloseInfo {
        var data = payload
        guard let code = data.readInteger(as: UInt16.self) else { return WebSocketCloseInfo(code: nil, reason: "") }
        let reason = data.readString(length: data.readableBytes) ?? ""
        return WebSocketCloseInfo(code: code, reason: reason)
    }

    private static func truncatedReason(_ reason: String) -> String { WebSocketCloseReason.truncated(reason) }
}

/// Implements the RFC 6455 message layer on the event loop, on top of NIO's frame codec:
/// reassembles fragmented text messages (up to the size limit), validates UTF-8, answers
/// pings, runs the close handshake, and turns protocol violations into a close frame with a
/// code and a reason: binary data → 1003, a message over the limit → 1009, invalid UTF-8 →
/// 1007, anything else → 1002.
///
/// Complete messages of one socket read are handed to the connection's bounded inbox together
/// at the end of the read. When the inbox is full (or holds more than its byte limit) the
/// handler keeps the rest of that read's messages, holds back `read()`, and so stops reading
/// the socket: TCP flow control then slows the peer down. `receive()` wakes it when there is
/// room again.
///
/// After a violation the handler stops delivering, keeps reading (and discarding) so the close
/// frame is not lost to a TCP reset, and closes the channel when the peer answers, hangs up,
/// or `closeTimeout` passes. When the channel closes it finishes the inbox: cleanly after a
/// close handshake with code 1000/1001, with an error otherwise.
final class WebSocketProtocolHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
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
    private let maxMessageSize: Int
    private let closeTimeout: TimeAmount
    private let shared: ConnectionShared
    private var phase: Phase = .open
    private var fragments: ByteBuffer?
    private var closeTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// Messages that did not fit into the inbox (at most one read's worth: reading stops).
    private var pending: Deque<String> = []
    /// A `read()` held back because the inbox is full or over its byte limit.
    private var readHeldBack = false
    /// How the inbox ends, once the channel closed; applied after `pending` is delivered.
    private var ending: (any Error)??
    /// Why the connection failed, when this side detected it.
    private var failure: TransportError?
    /// The last I/O error, for the message when the connection drops.
    private var ioError: (any Error)?

    init(isClient: Bool, maxMessageSize: Int, closeTimeout: TimeAmount, shared: ConnectionShared) {
        self.isClient = isClient
        self.maxMessageSize = maxMessageSize
        self.closeTimeout = closeTimeout
        self.shared = shared
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        shared.setResumeReading {
            eventLoop.execute { bound.value.resume() }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        let wasClosed = phase == .closed
        phase = .closed
        closeTimer?.cancel()
        closeTimer = nil
        if let failure {
            ending = .some(failure)
        } else if let peer = shared.peerClose {
            if let code = peer.code, code != 1000, code != 1001 {
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
        context.fireChannelInactive()
    }

    /// On the event loop, when `receive()` made room: deliver held messages, then read again.
    private func resume() {
        flushPending()
        guard readHeldBack, pending.isEmpty, !shared.isOverBudget, let context else { return }
        readHeldBack = false
        context.read()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch phase {
        case .closed:
            return
        case .draining:
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        case .open, .closeSent:
            break
        }

        if frame.rsv1 || frame.rsv2 || frame.rsv3 {
            return fail(context, code: 1002, reason: "reserved bits set without a negotiated extension",
                        error: .invalidFrame("reserved bits set"))
        }
        if isClient && frame.maskKey != nil {
            return fail(context, code: 1002, reason: "server frames must not be masked",
                        error: .invalidFrame("masked server frame"))
        }
        if !isClient && frame.maskKey == nil {
            return fail(context, code: 1002, reason: "client frames must be masked",
                        error: .invalidFrame("unmasked client frame"))
        }

        switch frame.opcode {
        case .text:
            if fragments != nil {
                return fail(context, code: 1002, reason: "new message before the previous one ended",
                            error: .invalidFrame("interleaved message"))
            }
            if frame.fin {
                deliver(context, frame.unmaskedData)
            } else {
                fragments = frame.unmaskedData
            }
        case .continuation:
            guard var message = fragments else {
                return fail(context, code: 1002, reason: "continuation frame without a message",
                            error: .invalidFrame("unexpected continuation frame"))
            }
            fragments = nil
            if message.readableBytes + frame.length > maxMessageSize {
                return fail(context, code: 1009, reason: "message larger than \(maxMessageSize) bytes",
                            error: .frameTooLarge(limit: maxMessageSize))
            }
            var more = frame.unmaskedData
            message.writeBuffer(&more)
            if frame.fin {
                deliver(context, message)
            } else {
                fragments = message
            }
        case .binary:
            fail(context, code: 1003,
                 reason: "binary frames are not supported: send each ARCP envelope as one text frame",
                 error: .invalidFrame("binary frame"))
        case .ping:
            if phase == .open {
                let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: isClient ? .random() : nil,
                                          data: frame.unmaskedData)
                context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
            }
        case .pong:
            break
        case .connectionClose:
            let info = WebSocketFrame.closeInfo(from: frame.unmaskedData)
            shared.recordPeerClose(info)
            if phase == .open {
                // Echo the peer's code (RFC 6455 §5.5.1), then hang up.
                let reply = WebSocketFrame.close(code: info.code ?? 1000, reason: "", masked: isClient,
                                                 allocator: context.channel.allocator)
                shared.recordSentClose(WebSocketCloseInfo(code: info.code ?? 1000, reason: ""))
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
            fail(context, code: 1002, reason: "unknown opcode", error: .invalidFrame("unknown opcode"))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !pending.isEmpty { flushPending() }
        if phase == .draining || phase == .closeSent {
            // Keep reading even if the consumer is not: the peer's close frame (or EOF) must be
            // seen. Data is discarded in these phases, so this cannot grow memory.
            context.read()
        }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? NIOWebSocketError {
            switch error {
            case .invalidFrameLength:
                fail(context, code: 1009, reason: "frame larger than \(maxMessageSize) bytes",
                     error: .frameTooLarge(limit: maxMessageSize))
            case .fragmentedControlFrame, .multiByteControlFrameLength:
                fail(context, code: 1002, reason: "invalid control frame",
                     error: .invalidFrame("invalid control frame"))
            }
            return
        }
        if phase == .draining {
            // The frame decoder reports each chunk it refuses after its own error; those are
            // the bytes being drained on purpose.
            return
        }
        // An I/O error (e.g. connection reset): remember it for the message, and hang up.
        ioError = error
        context.close(promise: nil)
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if phase == .open && (!pending.isEmpty || shared.isOverBudget) {
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

    // MARK: Helpers

    private func deliver(_ context: ChannelHandlerContext, _ payload: ByteBuffer) {
        let text = payload.withUnsafeReadableBytes { String(validating: $0, as: UTF8.self) }
        guard let text else {
            return fail(context, code: 1007, reason: "text frame is not valid UTF-8",
                        error: .invalidFrame("text frame is not valid UTF-8"))
        }
        // In `.closeSent` the local side already closed: later messages are not wanted.
        guard phase == .open else { return }
        shared.messageQueued(bytes: text.utf8.count)
        // Collected and handed over at the end of the read (`channelReadComplete`): one burst
        // into the inbox wakes the consumer about once per read instead of once per message.
        pending.append(text)
        // Once per 256 held messages: a flush that could not hand them over is not retried
        // for every further message of the same read (channelReadComplete or resume() will).
        if pending.count % 256 == 0 { flushPending() }
    }

    /// Moves held messages into the inbox while it has room; finishes the inbox once the
    /// connection ended and nothing is held.
    ///
    /// Wake-up protocol: when the inbox is full, announce the wait (`markReaderWaiting`) and
    /// only then try once more. A `receive()` that takes a message after the announcement sees
    /// it and schedules `resume()`; one that took messages before it left room for the retry.
    /// (Announcing after a failed attempt without retrying can lose the wake-up: the consumer
    /// may drain the whole inbox in between, then wait forever.)
    private func flushPending() {
        while let first = pending.first {
            if shared.inbox.trySend(first) {
                pending.removeFirst()
                continue
            }
            if shared.inbox.isFinished {  // closed locally: nobody wants these
                pending.removeAll()
                break
            }
            shared.markReaderWaiting()
            if shared.inbox.trySend(first) {
                pending.removeFirst()
                continue
            }
            if shared.inbox.isFinished {
                pending.removeAll()
                break
            }
            return
        }
        shared.clearReaderWaiting()
        if let ending {
            self.ending = nil
            if let error = ending {
                shared.inbox.finish(throwing: error)
            } else {
                shared.inbox.finish()
            }
            shared.setResumeReading(nil)  // nothing left to wake; breaks the reference cycle
        }
    }

    private func fail(_ context: ChannelHandlerContext, code: UInt16, reason: String, error: TransportError) {
        fragments = nil
        if failure == nil { failure = error }
        let wasOpen = phase == .open
        phase = .draining
        if wasOpen {
            let frame = WebSocketFrame.close(code: code, reason: reason, masked: isClient,
                                             allocator: context.channel.allocator)
            shared.recordSentClose(WebSocketCloseInfo(code: code, reason: reason))
            context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
        }
        startCloseTimer(context)
        context.read()
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

extension WebSocketProtocolHandler {
    /// After the HTTP upgrade (on the event loop): adds the protocol handler to `channel` and
    /// returns the state it shares with the connection's ``WebSocketTransport``.
    static func install(
        on channel: any Channel, isClient: Bool, maxMessageSize: Int, closeTimeout: TimeAmount,
        inboundCapacity: Int, inboundByteLimit: Int
    ) throws -> ConnectionShared {
        let shared = ConnectionShared(inboundCapacity: inboundCapacity, inboundByteLimit: inboundByteLimit)
        try channel.pipeline.syncOperations.addHandler(
            WebSocketProtocolHandler(isClient: isClient, maxMessageSize: maxMessageSize, closeTimeout: closeTimeout, shared: shared))
        return shared
    }
}
