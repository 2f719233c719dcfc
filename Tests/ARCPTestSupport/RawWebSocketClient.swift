import ARCP
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A deliberately low-level WebSocket client for tests: sends arbitrary frames (binary,
/// fragments, unmasked, oversize) and shows the server's raw frames, close codes included.
public struct RawWebSocketClient: Sendable {
    public enum Upgrade: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused
    }

    public let channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>

    public static func connect(port: Int, path: String = "/arcp", headers: [(String, String)] = []) async throws -> RawWebSocketClient {
        let upgrade: EventLoopFuture<Upgrade> = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(
                        maxFrameSize: 1 << 26,
                        enableAutomaticErrorHandling: false,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                .websocket(try NIOAsyncChannel(wrappingChannelSynchronously: channel))
                            }
                        }
                    )
                    var h = HTTPHeaders([("Host", "127.0.0.1:\(port)")])
                    for (name, value) in headers { h.add(name: name, value: value) }
                    let config = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
                        upgradeRequestHead: HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: h),
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeSucceededFuture(.refused)
                        }
                    )
                    var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: config)
                    pipeline.leftOverBytesStrategy = .forwardBytes
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: pipeline)
                }
            }
        guard case .websocket(let channel) = try await upgrade.get() else {
            throw TransportError.connectFailed("refused")
        }
        return RawWebSocketClient(channel: channel)
    }

    /// Runs `body` with the frame streams, then closes the socket (without a close handshake
    /// unless `body` sent one).
    public func run<R: Sendable>(
        _ body: (NIOAsyncChannelInboundStream<WebSocketFrame>, NIOAsyncChannelOutboundWriter<WebSocketFrame>) async throws -> R
    ) async throws -> R {
        try await channel.executeThenClose { inbound, outbound in
            try await body(inbound, outbound)
        }
    }

    public static func frame(_ opcode: WebSocketOpcode, _ bytes: [UInt8], fin: Bool = true, masked: Bool = true) -> WebSocketFrame {
        WebSocketFrame(fin: fin, opcode: opcode, maskKey: masked ? .random() : nil, data: ByteBuffer(bytes: bytes))
    }

    public static func text(_ string: String, fin: Bool = true, masked: Bool = true) -> WebSocketFrame {
        frame(.text, Array(string.utf8), fin: fin, masked: masked)
    }

    /// The next text frame's string, skipping control frames; nil when the socket ends or closes.
    public static func nextText(_ iterator: inout NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator) async throws -> String? {
        while let frame = try await iterator.next() {
            switch frame.opcode {
            case .text:
                var data = frame.unmaskedData
                return data.readString(length: data.readableBytes)
            case .connectionClose:
                return nil
            default:
                continue
            }
        }
        return nil
    }

    /// The first close frame the server sends, skipping other frames; nil if the socket ends first.
    public static func awaitClose(_ inbound: NIOAsyncChannelInboundStream<WebSocketFrame>) async throws -> WebSocketCloseInfoLike? {
        for try await frame in inbound where frame.opcode == .connectionClose {
            var data = frame.unmaskedData
            let code = data.readInteger(as: UInt16.self)
            let reason = data.readString(length: data.readableBytes) ?? ""
            return WebSocketCloseInfoLike(code: code, reason: reason)
        }
        return nil
    }
}

/// A close frame as received: its code (nil when the frame had no body) and reason.
public struct WebSocketCloseInfoLike: Equatable, Sendable {
    public var code: UInt16?
    public var reason: String

    public init(code: UInt16?, reason: String) {
        self.code = code
        self.reason = reason
    }
}
