import ARCP
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A deliberately low-level WebSocket client for tests: sends arbitrary frames (binary,
/// oversize, …) and shows the server's raw frames, close codes included. (A copy of the one
/// in ARCPWebSocketTests: test targets cannot share files.)
struct RawWebSocketClient {
    enum Upgrade: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused
    }

    let channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>

    static func connect(port: Int, path: String = "/arcp") async throws -> RawWebSocketClient {
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
                    let h = HTTPHeaders([("Host", "127.0.0.1:\(port)")])
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

    /// Runs `body` with the frame streams, then closes the socket (no close handshake).
    func run<R: Sendable>(
        _ body: (NIOAsyncChannelInboundStream<WebSocketFrame>, NIOAsyncChannelOutboundWriter<WebSocketFrame>) async throws -> R
    ) async throws -> R {
        try await channel.executeThenClose { inbound, outbound in
            try await body(inbound, outbound)
        }
    }

    static func frame(_ opcode: WebSocketOpcode, _ bytes: [UInt8], fin: Bool = true) -> WebSocketFrame {
        WebSocketFrame(fin: fin, opcode: opcode, maskKey: .random(), data: ByteBuffer(bytes: bytes))
    }

    static func text(_ string: String) -> WebSocketFrame {
        frame(.text, Array(string.utf8))
    }

    /// The next text frame's string, skipping control frames; nil when the socket ends or closes.
    static func nextText(_ iterator: inout NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator) async throws -> String? {
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
    static func awaitClose(_ inbound: NIOAsyncChannelInboundStream<WebSocketFrame>) async throws -> (code: UInt16?, reason: String)? {
        for try await frame in inbound where frame.opcode == .connectionClose {
            var data = frame.unmaskedData
            let code = data.readInteger(as: UInt16.self)
            let reason = data.readString(length: data.readableBytes) ?? ""
            return (code, reason)
        }
        return nil
    }
}
