import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// `arcp-bench ws-floor-server`: the server half of `arcp-bench ws-floor`, a raw swift-nio
/// WebSocket peer with no ARCP in it. It answers each text frame on the event loop that read it:
///
/// - `E…` (an echo job's `job.submit`): the frames the runtime sends back for one echo job,
///   with the same sizes (`--echo-replies`), written together and flushed once;
/// - `S<n>…` (a flood job's `job.submit`): `n` frames of a `log` event's size (`--event`), then
///   the frames that end the job (`--stream-tail`), flushed every 64 frames;
/// - a close frame: the close reply, then the socket is closed.
///
/// Prints `LISTENING ws://127.0.0.1:PORT/` once bound; stops on SIGTERM or end of stdin.
enum WebSocketFloorServer: BenchCommand {
    static let name = "ws-floor-server"
    static let summary = "the raw swift-nio WebSocket echo server `ws-floor` runs as its child process"

    static let help = """
        usage: arcp-bench ws-floor-server --echo-replies B[,B…] --event B --stream-tail B[,B…]

        Run by `arcp-bench ws-floor`; see its help.
        """

    static func run(arguments: [String]) async throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let a = try BenchArguments(arguments, valueFlags: ["--echo-replies", "--event", "--stream-tail"], switchFlags: [])
        let replies = try sizes(a.string("--echo-replies") ?? "", flag: "--echo-replies")
        let event = try a.int("--event", default: 200)
        let tail = try sizes(a.string("--stream-tail") ?? "", flag: "--stream-tail")
        let script = FloorScript(echoReplies: replies, event: event, streamTail: tail)

        // The classic bind, not the async one: the async bind hands accepted connections to a
        // sequence that must be consumed, and stops accepting (back-pressure) once about ten
        // wait unconsumed. This server never consumes them (everything happens in the
        // handlers), so the concurrent phase's 11th connection used to wait forever in the
        // listen backlog: the "ws-floor hangs in its concurrent phase" of sessions 5 and 6.
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 4096)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketServerUpgrader<Void>(
                        maxFrameSize: 1 << 24,
                        shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(FloorServerHandler(script: script))
                            }
                        })
                    _ = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                        configuration: .init(upgradeConfiguration: .init(
                            upgraders: [upgrader],
                            notUpgradingCompletionHandler: { channel in
                                channel.close(promise: nil)
                                return channel.eventLoop.makeSucceededVoidFuture()
                            })))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = server.localAddress?.port ?? 0
        FileHandle.standardOutput.write(Data("LISTENING ws://127.0.0.1:\(port)/\n".utf8))
        // Until SIGTERM (the default action ends the process) or the parent closes stdin.
        await waitForEndOfStandardInput()
        try? await server.close()
    }

    static func sizes(_ text: String, flag: String) throws -> [Int] {
        let values = text.split(separator: ",").compactMap { Int($0) }
        guard !values.isEmpty, values.allSatisfy({ $0 > 0 }) else { throw BenchError("\(flag) takes positive byte counts, e.g. 300,450") }
        return values
    }

    /// Returns when stdin reaches end of file (read on a thread of its own).
    static func waitForEndOfStandardInput() async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                var byte: UInt8 = 0
                while read(0, &byte, 1) > 0 {}
                cont.resume()
            }
        }
    }
}

/// What the floor server answers, prepared once.
struct FloorScript: Sendable {
    var echoReplies: [ByteBuffer]
    var event: ByteBuffer
    var streamTail: [ByteBuffer]

    init(echoReplies: [Int], event: Int, streamTail: [Int]) {
        self.echoReplies = echoReplies.map { Self.payload($0, "R") }
        self.event = Self.payload(event, "L")
        self.streamTail = streamTail.map { Self.payload($0, "T") }
    }

    /// `bytes` bytes of text starting with `tag`.
    static func payload(_ bytes: Int, _ tag: Character) -> ByteBuffer {
        ByteBuffer(string: String(tag) + String(repeating: "x", count: max(0, bytes - 1)))
    }
}

/// The floor server's connection handler: everything happens on the channel's event loop.
final class FloorServerHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let script: FloorScript

    init(script: FloorScript) {
        self.script = script
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            let payload = frame.unmaskedData
            switch payload.getInteger(at: payload.readerIndex, as: UInt8.self) {
            case UInt8(ascii: "E"):
                for reply in script.echoReplies { write(context, reply) }
                context.flush()
            case UInt8(ascii: "S"):
                var digits = payload
                digits.moveReaderIndex(forwardBy: 1)
                var n = 0
                while let d = digits.readInteger(as: UInt8.self), d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") {
                    n = n * 10 + Int(d - UInt8(ascii: "0"))
                }
                for i in 0..<n {
                    write(context, script.event)
                    if i % 64 == 63 { context.flush() }
                }
                for frame in script.streamTail { write(context, frame) }
                context.flush()
            default:
                write(context, payload)
                context.flush()
            }
        case .connectionClose:
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: frame.unmaskedData)
            let channel = context.channel
            context.writeAndFlush(Self.wrapOutboundOut(reply)).whenComplete { _ in channel.close(promise: nil) }
        case .ping:
            context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        default:
            break
        }
    }

    private func write(_ context: ChannelHandlerContext, _ payload: ByteBuffer) {
        context.write(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: payload)), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension FloorServerHandler: Sendable {}
