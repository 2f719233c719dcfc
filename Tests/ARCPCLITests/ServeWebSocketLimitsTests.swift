import ARCP
import ARCPTestSupport
import ARCPWebSocket
import Foundation
import NIOCore
import NIOPosix
import NIOWebSocket
import Testing

/// `arcp serve`'s WebSocket-level limit flags reach the server: `--max-connections`,
/// `--max-first-message-bytes`, `--handshake-timeout-sec` (the limits themselves are tested in
/// `ARCPWebSocketTests`).
@Suite("arcp serve: WebSocket limits", .timeLimit(.minutes(1)))
struct ServeWebSocketLimitsTests {
    @Test func theLimitFlagsReachTheServer() async throws {
        let arcp = try CLI.require()
        let server = try TestProcess(arcp, [
            "serve", "--port", "0", "--token", "tok", "--token", "tok2=other@example.com", "--log-level", "error",
            "--max-connections", "2", "--max-connections-per-principal", "1",
            "--max-first-message-bytes", "2048", "--handshake-timeout-sec", "3",
            "--outbound-queue-bytes", "65536", "--max-unanswered-pings", "8", "--max-handshake-bytes", "512",
        ])
        let line = try #require(await server.line(startingWith: "LISTENING "))
        let url = String(line.dropFirst("LISTENING ".count))
        let port = try #require(Int(url.split(separator: ":").last?.split(separator: "/").first ?? ""))

        // --max-first-message-bytes: a 4 KiB first message is refused with 1009.
        let close = try await RawWebSocketClient.connect(port: port).run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text(String(repeating: "x", count: 4096)))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(close?.code == 1009)
        #expect(close?.reason.hasPrefix("first message larger than 2048 bytes") == true, "reason: \(close?.reason ?? "-")")

        // --max-connections-per-principal 1, --max-connections 2: a second session of the same
        // principal is refused at hello; another principal's is served; a third connection
        // gets 503.
        let options: ARCPClient.Options = {
            var o = ARCPClient.Options()
            o.logger.logLevel = .critical
            return o
        }()
        func connect(_ token: String) async throws -> ARCPClient {
            // 30 s: arcp serve shares 2 cores with the whole in-process suite.
            try await within(.seconds(30), "a connection for \(token)") { () -> ARCPClient in
                while true {  // a refused connection may still hold its place for a moment
                    do {
                        let c = ARCPClient(token: token, options: options)
                        try await c.connect(try await WebSocketTransport.connect(to: url))
                        return c
                    } catch let e as ARCPError {
                        throw e
                    } catch {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
            }
        }
        let client = try await connect("tok")
        let denied = await #expect(throws: ARCPError.self) { _ = try await connect("tok") }
        #expect(denied?.code == .internalError)
        let other = try await connect("tok2")
        let refused = await #expect(throws: TransportError.self) { _ = try await WebSocketTransport.connect(to: url) }
        #expect(refused?.description.contains("HTTP 503") == true, "\(String(describing: refused))")
        #expect(try await client.submit(agent: "echo", input: 1).result().result == ["echoed": 1])
        await client.close()
        await other.close()

        // --handshake-timeout-sec 3: half a request head is answered 408 (3 s, not less: every
        // handshake of this test must finish within it on a loaded machine).
        let reply = try await within(.seconds(10), "a 408") { () -> String in
            try await Self.exchange(port: port, "GET /arcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        }
        #expect(reply.hasPrefix("HTTP/1.1 408"), "got \(reply)")
        #expect(reply.contains("within 3 s"))

        // --max-handshake-bytes 512: a longer request head is answered 431.
        let long = try await within(.seconds(10), "a 431") { () -> String in
            try await Self.exchange(port: port, "GET /arcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: \(String(repeating: "p", count: 600))\r\n")
        }
        #expect(long.hasPrefix("HTTP/1.1 431"), "got \(long)")

        server.signal(SIGTERM)
        #expect(await server.wait(timeout: .seconds(15)) == 0)
    }

    @Test func badLimitValuesAreRefused() async throws {
        for (flag, value) in [
            ("--max-connections", "0"), ("--max-connections-per-principal", "0"), ("--max-first-message-bytes", "10"), ("--handshake-timeout-sec", "0"),
            ("--handshake-timeout-sec", "1e30"), ("--outbound-queue-bytes", "1"), ("--max-unanswered-pings", "0"),
            ("--max-handshake-bytes", "100"), ("--max-handshake-bytes", "2000000"),
        ] {
            let run = try await CLI.run(["serve", "--port", "0", "--token", "tok", flag, value])
            #expect(run.status != 0, "\(flag) \(value) was accepted")
            #expect(run.stderr.contains(flag), "\(flag) \(value): \(run.stderr)")
        }
    }

    /// Sends `request` (e.g. half an HTTP request head) and returns what comes back until the
    /// server closes.
    static func exchange(port: Int, _ request: String) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var data = ByteBuffer()
            for try await var chunk in inbound { data.writeBuffer(&chunk) }
            return String(buffer: data)
        }
    }
}
