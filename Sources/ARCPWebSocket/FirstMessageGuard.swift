import ARCPWebSocketCore
import NIOCore

/// The first-message cap on a server, enforced on raw bytes in front of the frame parser.
///
/// The frame parser (``InboundFrameParser``) takes one size limit for the life of the
/// connection (the message limit, 16 MiB by default) and buffers a whole frame before passing
/// it on, so a cap on the first message checked after parsing would come too late: an
/// unauthenticated peer could still make the server hold 16 MiB. This handler counts the bytes
/// that arrive before the first message has been delivered; more than the cap plus 4 KiB
/// (framing, a few control frames) fails the connection with 1009 at once, and the bytes are
/// not buffered. Once the protocol handler delivered the first message it disarms the guard,
/// which then passes bytes through.
final class FirstMessageGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Room for frame headers and control frames around a first message of `limit` bytes.
    static let slack = 4096

    private let limit: Int
    private let budget: Int
    private var seen = 0
    private var armed = true
    private var tripped = false

    init(limit: Int) {
        self.limit = limit
        self.budget = limit + Self.slack
    }

    /// The first message was delivered: from now on bytes pass through unchecked.
    func disarm() {
        armed = false
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if tripped { return }  // the connection is being failed; nothing more is decoded
        if armed {
            seen += Self.unwrapInboundIn(data).readableBytes
            if seen > budget {
                tripped = true
                context.fireErrorCaught(WebSocketViolation.firstMessageTooLarge(limit: limit))
                return
            }
        }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension FirstMessageGuard: Sendable {}
