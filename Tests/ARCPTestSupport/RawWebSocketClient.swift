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

    /// - Parameters:
    ///   - receiveBufferSize: the socket's `SO_RCVBUF`, e.g. small for a peer that does not read
    ///     (the kernel then stops accepting the server's data early).
    ///   - sendBufferSize: the socket's `SO_SNDBUF`, e.g. small to see soon when the server
    ///     stops reading.
    public static func connect(
        port: Int, path: String = "/arcp", headers: [(String, String)] = [], receiveBufferSize: Int? = nil,
        sendBufferSize: Int? = nil
    ) async throws -> RawWebSocketClient {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let receiveBufferSize {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBufferSize))
        }
        if let sendBufferSize {
            bootstrap = bootstrap.channelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(sendBufferSize))
        }
        let upgrade: EventLoopFuture<Upgrade> = try await bootstrap
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

    /// Writes `bytes` to the socket as they are, past the frame encoder: a partial frame, a
    /// frame header announcing more than follows, garbage.
    public func writeRaw(_ bytes: [UInt8]) async throws {
        let channel = self.channel.channel
        try await channel.eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
            do {
                let encoder = try channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
                return encoder.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes)))
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }.get()
    }

    /// The header of a masked client text frame announcing `length` payload bytes, with the
    /// mask key (0 0 0 0, so the payload bytes that follow go on the wire as they are).
    public static func textFrameHeader(length: Int, fin: Bool = true) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0x00) | 0x01]
        if length < 126 {
            bytes.append(0x80 | UInt8(length))
        } else if length <= 0xFFFF {
            bytes.append(0x80 | 126)
            bytes += [UInt8(length >> 8), UInt8(length & 0xFF)]
        } else {
            bytes.append(0x80 | 127)
            bytes += (0..<8).reversed().map { UInt8((UInt64(length) >> (UInt64($0) * 8)) & 0xFF) }
        }
        return bytes + [0, 0, 0, 0]
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
