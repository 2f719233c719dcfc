import ARCP
import ARCPWebSocketCore
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

    /// A close frame with `code` (or none) and `reason`.
    public init(code: UInt16?, reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String {
        let c = code.map(String.init) ?? "no code"
        return reason.isEmpty ? c : "\(c) \(reason)"
    }
}

/// What the event-loop handler and the `WebSocketTransport` of one connection share: the
/// mailbox `receive()` reads, and the close frames each side sent.
final class ConnectionShared: Sendable {
    private struct Closes {
        var peer: WebSocketCloseInfo?
        var sent: WebSocketCloseInfo?
    }
    private let closes = Mutex(Closes())

    /// Complete inbound messages, filled on the event loop, drained by `receive()`.
    let mailbox: InboundMailbox

    init(limits: ConnectionLimits) {
        self.mailbox = InboundMailbox(limits: limits)
    }

    var peerClose: WebSocketCloseInfo? { closes.withLock { $0.peer } }
    var sentClose: WebSocketCloseInfo? { closes.withLock { $0.sent } }

    func recordPeerClose(_ info: WebSocketCloseInfo) {
        closes.withLock { $0.peer = info }
    }

    /// The first close frame this side sent wins.
    func recordSentClose(_ info: WebSocketCloseInfo) {
        closes.withLock { c in
            if c.sent == nil { c.sent = info }
        }
    }
}

extension WebSocketFrame {
    /// A close frame with `code` and a reason truncated to fit the 125-byte control-frame limit.
    static func close(code: UInt16, reason: String, masked: Bool, allocator: ByteBufferAllocator) -> WebSocketFrame {
        let text = CloseReason.truncated(reason)
        var data = allocator.buffer(capacity: 2 + text.utf8.count)
        data.writeInteger(code)
        data.writeString(text)
        return WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: masked ? .random() : nil, data: data)
    }

    /// Reads the code and reason of a close frame (already unmasked).
    static func closeInfo(from payload: ByteBuffer) -> WebSocketCloseInfo {
        var data = payload
        guard let code = data.readInteger(as: UInt16.self) else { return WebSocketCloseInfo(code: nil, reason: "") }
        let reason = data.readString(length: data.readableBytes) ?? ""
        return WebSocketCloseInfo(code: code, reason: reason)
    }
}
