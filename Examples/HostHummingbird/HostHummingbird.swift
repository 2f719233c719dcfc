import ARCP
import ARCPDemoAgents
import ARCPHummingbird
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import ServiceLifecycle
import UnixSignals

/// `swift run arcp-host-hummingbird [--host H] [--port P] [--token TOKEN[=PRINCIPAL]]…`
///
/// An ARCP runtime mounted in an ordinary Hummingbird 2 application: `GET /health` is the
/// app's own route, and `/arcp` serves the demo agents (`echo`, `slow`, `progress`, `chunked`,
/// …) over WebSocket. The counterpart of the Python SDK's `host-asgi` / `host-aiohttp` examples.
///
/// Prints `LISTENING ws://HOST:PORT/arcp` once the server runs (`--port 0` picks a free port).
/// SIGINT/SIGTERM shut it down gracefully: every session gets `session.bye`, then the HTTP
/// server stops.
///
/// Try it: `arcp submit --url ws://127.0.0.1:8080/arcp --token tok echo '{"hi": 1}'`, or
/// `curl -i http://127.0.0.1:8080/health`, or `curl -i http://127.0.0.1:8080/arcp` (426).
@main
enum HostHummingbird {
    static let usage = """
        usage: arcp-host-hummingbird [--host HOST] [--port PORT] [--token TOKEN[=PRINCIPAL]]...
          --host   address to bind (default 127.0.0.1)
          --port   port to bind, 0 picks a free one (default 8080)
          --token  a bearer token the runtime accepts, with its principal (default tok=demo@example.com)
        """

    struct Arguments {
        var host = "127.0.0.1"
        var port = 8080
        var tokens: [String: String] = [:]
    }

    struct UsageError: Error {
        var message: String
    }

    static func parse(_ args: [String]) -> Result<Arguments, UsageError> {
        var parsed = Arguments()
        var rest = args[...]
        while let flag = rest.popFirst() {
            guard ["--host", "--port", "--token"].contains(flag) else { return .failure(UsageError(message: "unknown argument \(flag)")) }
            guard let value = rest.popFirst() else { return .failure(UsageError(message: "\(flag) needs a value")) }
            switch flag {
            case "--host":
                parsed.host = value
            case "--port":
                guard let port = Int(value), (0...65535).contains(port) else { return .failure(UsageError(message: "--port must be 0…65535")) }
                parsed.port = port
            default:
                let parts = value.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let token = parts.first, !token.isEmpty else { return .failure(UsageError(message: "--token \(value): the token is empty")) }
                parsed.tokens[String(token)] = parts.count > 1 && !parts[1].isEmpty ? String(parts[1]) : "demo@example.com"
            }
        }
        if parsed.tokens.isEmpty { parsed.tokens = ["tok": "demo@example.com"] }
        return .success(parsed)
    }

    static func main() async throws {
        let arguments: Arguments
        switch parse(Array(CommandLine.arguments.dropFirst())) {
        case .success(let a):
            arguments = a
        case .failure(let why):
            FileHandle.standardError.write(Data("arcp-host-hummingbird: \(why.message)\n\(usage)\n".utf8))
            exit(2)
        }
        var logger = Logger(label: "arcp-host-hummingbird")
        logger.logLevel = .info

        // 1. The runtime and its agents: plain ARCP, nothing Hummingbird-specific.
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(arguments.tokens))
        try DemoAgents.register(on: runtime)

        // 2. The app's router: its own routes, and ARCP at /arcp (one line). `ARCPRequestContext`
        //    (a WebSocket request context that keeps the connection's event loop) lets each
        //    session handle its frames on its connection's event loop.
        let router = Router(context: ARCPRequestContext.self)
        router.get("/health") { _, _ in "ok" }
        router.addARCP(runtime, path: "/arcp")

        // 3. The application: HTTP/1 with WebSocket upgrades through the same router, with a
        //    frame limit big enough for ARCP envelopes (`.arcp()`: 16 MiB).
        let host = arguments.host
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(ws: .arcp())),
            configuration: .init(address: .hostname(host, port: arguments.port), serverName: "arcp-host-hummingbird"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let shown = host.contains(":") ? "[\(host)]" : host
                // Unbuffered, so that a parent process sees the line at once.
                FileHandle.standardOutput.write(Data("LISTENING ws://\(shown):\(port)/arcp\nhealth: http://\(shown):\(port)/health\n".utf8))
            },
            logger: logger)

        // 4. ServiceLifecycle: on SIGINT/SIGTERM the runtime (listed last) says goodbye to its
        //    sessions first, then the HTTP server stops.
        let group = ServiceGroup(
            services: [app, ARCPRuntimeService(runtime)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        try await group.run()
    }
}
