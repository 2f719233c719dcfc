#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ARCP
import ARCPHummingbird
import ARCPSubprocess
import ARCPWebSocket
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import ServiceLifecycle
import UnixSignals

// Glue shared by the two-process examples: what `serve` and `client` read from the
// environment (the reference's variables), how `serve` hosts a runtime, and how a client
// connects. None of this is SDK API.

/// The reference's environment variables.
enum DemoEnvironment {
    static var values: [String: String] { ProcessInfo.processInfo.environment }

    /// `ARCP_DEMO_TOKEN`, else `demo-token`.
    static var token: String { values["ARCP_DEMO_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } ?? "demo-token" }

    /// `ARCP_DEMO_PORT`, else `fallback`.
    static func port(default fallback: Int) -> Int {
        values["ARCP_DEMO_PORT"].flatMap { Int($0) } ?? fallback
    }

    /// `ARCP_DEMO_URL`, else `ws://127.0.0.1:<ARCP_DEMO_PORT>/arcp`.
    static func url(defaultPort: Int) -> String {
        values["ARCP_DEMO_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "ws://127.0.0.1:\(port(default: defaultPort))/arcp"
    }
}

// MARK: - The server side

/// What `arcp-examples serve <name>` gives an example to build its runtime.
struct ServerSetup: Sendable {
    /// The port to listen on (`--port`, else `ARCP_DEMO_PORT`, else the reference's default); 0 picks one.
    var port: Int
    /// The bearer token the reference's server accepts (`ARCP_DEMO_TOKEN`, else `demo-token`).
    var token: String
    /// Wire forms: the spec's (default) or those the Python reference client needs.
    var compatibility: ARCPRuntime.Configuration.Compatibility
    var logLevel: Logger.Level
    /// For a `host_*` example: the framework `--framework` asked for (nil: the example's).
    var framework: WebFramework? = nil

    /// The reference's `StaticBearerVerifier({TOKEN: "demo-principal"})`.
    var verifier: StaticBearerVerifier { StaticBearerVerifier([token: "demo-principal"]) }

    /// A runtime configuration named like the reference's server (`RuntimeInfo(name=…)`),
    /// with the compatibility mode and log level of this run.
    func configuration(name: String, version: String = "1.0.0") -> ARCPRuntime.Configuration {
        var config = ARCPRuntime.Configuration()
        config.runtime = PeerInfo(name: name, version: version)
        config.compatibility = compatibility
        var logger = Logger(label: "arcp.runtime")
        logger.logLevel = logLevel
        config.logger = logger
        return config
    }
}

/// Runs an example's runtime until SIGINT/SIGTERM (or, with `stopOnEOF`, the end of stdin).
enum WireServer {
    static func run(_ example: any WireExample.Type, _ setup: ServerSetup, stopOnEOF: Bool) async throws {
        let runtime = try example.makeRuntime(setup)
        switch example.hosting {
        case .webSocket:
            try await serveWebSocket(runtime, setup, stopOnEOF: stopOnEOF)
        case .http(let health, let framework):
            switch setup.framework ?? framework {
            case .hummingbird: try await serveHTTP(runtime, setup, health: health, name: example.name, stopOnEOF: stopOnEOF)
            case .vapor: try await VaporHost.serve(runtime, setup, health: health, name: example.name, stopOnEOF: stopOnEOF)
            }
        case .stdio:
            await serveStdio(runtime)
        }
    }

    /// The reference's `serve_websocket(runtime.accept, host="127.0.0.1", port=PORT, path="/arcp")`.
    static func serveWebSocket(_ runtime: ARCPRuntime, _ setup: ServerSetup, stopOnEOF: Bool) async throws {
        var logger = Logger(label: "arcp.websocket")
        logger.logLevel = setup.logLevel
        let server = WebSocketServer(
            runtime: runtime, configuration: .init(host: "127.0.0.1", port: setup.port, path: "/arcp"), logger: logger)
        try await server.start()
        // The reference prints this line too; with port 0 it names the port picked.
        printLine("listening on ws://127.0.0.1:\(server.port ?? setup.port)/arcp")
        _ = await waitForStop(stopOnEOF: stopOnEOF)
        await server.stop()
    }

    /// The reference's aiohttp / Starlette app: `GET /health` beside ARCP at `/arcp`, here
    /// a Hummingbird application (`ARCPHummingbird`); `VaporHost.serve` is the Vapor one.
    static func serveHTTP(
        _ runtime: ARCPRuntime, _ setup: ServerSetup, health: @escaping @Sendable () -> JSONValue, name: String, stopOnEOF: Bool
    ) async throws {
        var logger = Logger(label: "arcp.hummingbird")
        logger.logLevel = setup.logLevel
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.get("/health") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: JSONWriter.string(health()))))
        }
        // The reference passes allowed_hosts=["localhost", "127.0.0.1"] (checked without the port).
        router.addARCP(runtime, path: "/arcp", options: .init(allowedHosts: ["localhost", "127.0.0.1"]))
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(ws: .arcp())),
            configuration: .init(address: .hostname("127.0.0.1", port: setup.port), serverName: name),
            onServerRunning: { channel in
                printLine("listening on http://127.0.0.1:\(channel.localAddress?.port ?? setup.port)")
                printLine("web framework: Hummingbird 2 (ARCPHummingbird, router.addARCP(runtime, path: \"/arcp\"))")
            },
            logger: logger)
        let group = ServiceGroup(services: [app, ARCPRuntimeService(runtime)], gracefulShutdownSignals: [], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                _ = await waitForStop(stopOnEOF: stopOnEOF)
                await group.triggerGracefulShutdown()
            }
            try await tasks.next()
            tasks.cancelAll()
        }
    }

    /// The reference's `runtime.accept(await StdioTransport.from_std_streams())`: one session
    /// on stdin/stdout; nothing else may be written to stdout.
    static func serveStdio(_ runtime: ARCPRuntime) async {
        FileHandle.standardError.write(Data("stdio-server: handshake awaiting on stdin\n".utf8))
        let transport = StdioTransport.standardIO()
        await runtime.accept(transport)
        await runtime.shutdown()
        await transport.close()
    }

    /// Waits for SIGINT or SIGTERM, or the end of stdin when `stopOnEOF` (for a parent
    /// process that owns this server and may die without signalling it).
    static func waitForStop(stopOnEOF: Bool) async -> String {
        await withTaskGroup(of: String.self) { group in
            group.addTask {
                for await signal in await UnixSignalsSequence(trapping: .sigint, .sigterm) { return "\(signal)" }
                return "cancelled"
            }
            if stopOnEOF {
                group.addTask {
                    await waitForStdinEOF()
                    return "end of stdin"
                }
            }
            let why = await group.next() ?? "stop"
            group.cancelAll()
            return why
        }
    }

    /// Returns when standard input reaches end of file (read on a dedicated thread, which is
    /// left blocked in `read` if the caller stops waiting first; the process is ending then).
    static func waitForStdinEOF() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                    if n == 0 || (n < 0 && errno != EINTR) { break }
                }
                done.resume()
            }
            thread.start()
        }
    }
}

/// Writes one line to stdout at once (a parent reading a pipe sees it without a flush).
func printLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

// MARK: - The client side

/// What `arcp-examples client <name>` gives an example.
struct ClientSetup: Sendable {
    /// `--url`, else `ARCP_DEMO_URL`, else `ws://127.0.0.1:<ARCP_DEMO_PORT>/arcp`.
    var url: String
    /// `--token`, else `ARCP_DEMO_TOKEN`, else `demo-token`.
    var token: String
    /// For `stdio`: the runtime to start as a child (default: this program's `serve stdio`).
    var command: [String]

    /// Client options named like the reference's `ClientInfo(name=…)`, requesting exactly
    /// `features` (the reference's `features=(…)`; an empty list requests none).
    func options(name: String, version: String = "1.0.0", features: [Feature]) -> ARCPClient.Options {
        var options = ARCPClient.Options()
        options.client = PeerInfo(name: name, version: version)
        options.features = features
        return options
    }

    /// Opens a WebSocket to `url` and performs the handshake (the reference's
    /// `client.connect(await WebSocketTransport.connect(URL))`).
    func connect(_ client: ARCPClient) async throws {
        try await client.connect(try await openWebSocket())
    }

    /// A new WebSocket connection to `url`.
    func openWebSocket() async throws -> WebSocketTransport {
        try await WebSocketTransport.connect(to: url)
    }

    /// `http://HOST:PORT` of `url` (for the hosts' `GET /health`).
    var httpBase: String {
        guard var parts = URLComponents(string: url) else { return url }
        parts.scheme = parts.scheme == "wss" ? "https" : "http"
        parts.path = ""
        return parts.string ?? url
    }
}

/// Drains a job's events (the reference's `async for _ in handle.events(): pass`).
func drain(_ job: JobHandle) async throws {
    for try await _ in job.events {}
}

/// Waits until `condition` holds, checking every 10 ms, for at most `limit`.
func waitUntil(_ limit: Duration, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        if ContinuousClock.now >= deadline { return false }
        try await Task.sleep(for: .milliseconds(10))
    }
    return true
}

/// `body` as the reference prints a dict: compact JSON.
func compact(_ value: JSONValue?) -> String {
    JSONWriter.string(value ?? .null)
}
