import NIOCore

/// The server's handshake timeout: a new connection that has not completed its (TLS and)
/// WebSocket handshake within `timeout` is closed. One that sent part of a request (a slow or
/// stalled client) is first answered **408 Request Timeout**; one that sent nothing is closed
/// without a word, as nginx does (there is nobody to tell). The deadline sits in front of the
/// HTTP handlers, so the 408 is written as raw bytes straight to the socket (or TLS), whatever
/// state the HTTP parser is in; once a whole request head has been seen, some handler is
/// answering it and the deadline only closes the connection. The server removes it when the
/// upgrade completes.
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let decision: UpgradeDecision
    private var timer: Scheduled<Void>?
    private var bytesSeen = false

    init(timeout: TimeAmount, decision: UpgradeDecision) {
        self.timeout = timeout
        self.decision = decision
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.expire(context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytesSeen = true
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func expire(_ context: ChannelHandlerContext) {
        timer = nil
        // The server's initializer (which adds this handler) runs before NIO registers and
        // activates an accepted channel, in a separate event-loop task. On a loop busy enough
        // that activation comes after the deadline, the channel is open but not yet active:
        // it is closed all the same (it has certainly not completed a handshake). Giving up
        // here instead left such a connection open forever, with no deadline: a test on a
        // loaded loop hung waiting for the close of a connection that had sent nothing.
        guard context.channel.isActive else {
            context.close(promise: nil)
            return
        }
        if decision.requestSeen || !bytesSeen {
            context.close(promise: nil)
            return
        }
        let seconds = Double(timeout.nanoseconds) / 1e9
        let shown = seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
        let body = "request timeout: the WebSocket handshake did not complete within \(shown)\n"
        let text = "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        let channel = context.channel
        context.writeAndFlush(Self.wrapOutboundOut(context.channel.allocator.buffer(string: text))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension HandshakeDeadline: Sendable {}
