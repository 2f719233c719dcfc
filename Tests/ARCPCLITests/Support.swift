import ARCP
import ARCPTestSupport
import ARCPDemoAgents
import ARCPWebSocket
import Foundation
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `arcp serve` runs, in-process: the runtime with the demo agents behind a WebSocketServer.
struct ServedRuntime {
    let runtime: ARCPRuntime
    let server: WebSocketServer
    var port: Int { server.port ?? 0 }
    var url: String { "ws://127.0.0.1:\(port)/arcp" }

    static func start(maxFrameSize: Int = 64 * 1024, maxPendingFrames: Int? = nil) async throws -> ServedRuntime {
        var cfg = ARCPRuntime.Configuration()
        cfg.heartbeatInterval = nil
        if let maxPendingFrames { cfg.buffering.maxPendingFrames = maxPendingFrames }
        cfg.logger.logLevel = .critical
        let runtime = ARCPRuntime(configuration: cfg, verifier: StaticBearerVerifier(["tok": "me@example.com", "tok2": "other@example.com"]))
        try DemoAgents.register(on: runtime)
        var logger = Logger(label: "test.ws")
        logger.logLevel = .critical
        let server = WebSocketServer(
            configuration: .init(port: 0, maxFrameSize: maxFrameSize, shutdownGracePeriod: .seconds(2)), logger: logger,
            onShutdown: { await runtime.shutdown() },
            handler: { transport in await runtime.accept(transport) })
        try await server.start()
        return ServedRuntime(runtime: runtime, server: server)
    }

    func stop() async { await server.stop() }

    /// A connected client session.
    func client(token: String = "tok") async throws -> ARCPClient {
        var options = ARCPClient.Options()
        options.requestTimeout = .seconds(10)
        options.logger.logLevel = .critical
        let client = ARCPClient(token: token, options: options)
        try await client.connect(try await WebSocketTransport.connect(to: url))
        return client
    }
}



// MARK: - The arcp binary

enum CLI {
    static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try ArcpBinary.require(sourceLocation: sourceLocation)
    }

    struct Run: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    /// Runs `arcp ARGS` to completion (killed after `timeout`), feeding `stdin`.
    static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], timeout: Duration = .seconds(20)) async throws -> Run {
        let child = try TestProcess(try require(), arguments, environment: environment, label: "arcp")
        if let stdin { child.write(stdin) }
        child.closeStdin()
        let status = await child.wait(timeout: timeout)
        return Run(status: status, stdout: child.stdout, stderr: child.stderr)
    }
}
