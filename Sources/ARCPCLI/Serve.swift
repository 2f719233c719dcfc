import ARCP
import ARCPDemoAgents
import ARCPStore
import ARCPWebSocket
import ArgumentParser
import Foundation
import Logging
import NIOSSL
import UnixSignals

/// `arcp serve`: a runtime with the demo agents, on WebSocket or on stdio.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an ARCP runtime with the demo agents (WebSocket, or one session on stdio).",
        discussion: """
            Agents: echo, slow, progress, chunked, fails, kitchen, versioned@1.0.0 (default) and \
            versioned@2.0.0, with the same names, inputs and results as the Python reference's \
            test agents, plus flood {"n": N} (N log events, for benchmarks).

            On WebSocket the first line on stdout is `LISTENING ws://HOST:PORT/PATH` once the \
            socket is bound (with --port 0, the port picked). Logs go to stderr. SIGINT or \
            SIGTERM shut down gracefully: every session gets session.bye, running jobs are \
            cancelled, connections are closed.

            With --db the event log is a SQLite database: a client can resume (and replay \
            its missed events) from a runtime restarted on the same file, jobs that did not \
            survive the restart are reported with job.error, and `arcp replay` prints a \
            session's events offline.

            With --stdio the runtime serves one session over its own stdin/stdout \
            (newline-delimited JSON) and exits when it ends; nothing but frames goes to stdout.

            Examples:
              arcp serve --token tok=me@example.com
              arcp serve --port 0 --token tok=me@example.com \\
                  --token tok2=other@example.com
              arcp serve --host 0.0.0.0 --token s3cret --principal ops@example.com
              arcp serve --stdio --token tok
              arcp serve --compat python-reference --token tok
              arcp serve --tls-cert cert.pem --tls-key key.pem --token tok
              arcp serve --db arcp.sqlite --token tok=me@example.com
            """)

    enum Compat: String, ExpressibleByArgument, CaseIterable {
        case spec
        case pythonReference = "python-reference"
    }

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one; the LISTENING line tells which).")
    var port = 7777

    @Option(help: "The WebSocket path; other paths get HTTP 404.")
    var path = "/arcp"

    @Option(
        name: .customLong("token"),
        help: ArgumentHelp(
            "An accepted bearer token, TOKEN or TOKEN=PRINCIPAL (repeatable; at least one).",
            valueName: "token[=principal]"))
    var tokens: [String] = []

    @Option(help: "The principal for a --token given without =PRINCIPAL.")
    var principal = "cli-user"

    @Flag(help: "Serve one session on stdin/stdout (newline-delimited JSON) instead of WebSocket.")
    var stdio = false

    @Option(help: ArgumentHelp(
        "Wire forms: spec (default), or python-reference: job.result cancelled for a cancelled job, budgets as \"USD:1.00\" strings and session.jobs submitted_at, which the Python reference client 1.1.3 needs.",
        valueName: "mode"))
    var compat: Compat = .spec

    @Option(help: "Runtime heartbeat interval in seconds (0 disables runtime pings).")
    var heartbeatSec = 30

    @Option(help: "Resume window in seconds.")
    var resumeWindowSec = 600

    @Option(help: ArgumentHelp(
        "SQLite event log: session events, resume records, jobs and idempotency keys survive a restart (created if missing; `arcp replay` reads it).",
        valueName: "path"))
    var db: String?

    @Option(help: "Largest accepted WebSocket message in bytes (bigger ones close with 1009).")
    var maxFrameBytes = WebSocketTransport.defaultMaxFrameSize

    @Option(help: "Largest first WebSocket message in bytes, before the session is established (bigger ones close with 1009).")
    var maxFirstMessageBytes = WebSocketServer.Configuration().maxFirstMessageSize

    @Option(help: "Open WebSocket connections at most; a handshake beyond it gets HTTP 503.")
    var maxConnections = WebSocketServer.Configuration().maxConnections

    @Option(help: "Connections one principal may hold at once; a hello beyond it gets PERMISSION_DENIED (retryable).")
    var maxConnectionsPerPrincipal = ARCPRuntime.Configuration().maxConnectionsPerPrincipal

    @Option(help: "Seconds a new connection may take for its WebSocket handshake (then 408 or a close).")
    var handshakeTimeoutSec: Double = 10

    @Option(help: "Bytes a connection may have accepted for sending and not yet written before its sender waits.")
    var outboundQueueBytes = WebSocketServer.Configuration().outboundByteLimit

    @Option(help: "Pings a peer may send while not reading the pongs before its connection is closed with 1008.")
    var maxUnansweredPings = WebSocketServer.Configuration().maxUnansweredPings

    @Option(help: ArgumentHelp("An allowed Origin header value (repeatable; default: any).", valueName: "origin"))
    var allowedOrigin: [String] = []

    @Option(help: ArgumentHelp("An allowed Host header value (repeatable; default: any).", valueName: "host"))
    var allowedHost: [String] = []

    @Option(help: ArgumentHelp("PEM certificate chain: serve wss:// (with --tls-key).", valueName: "path"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("PEM private key for --tls-cert.", valueName: "path"))
    var tlsKey: String?

    @Flag(help: "Stop (gracefully) when stdin reaches end of file: for a parent process that owns this server.")
    var stopOnEof = false

    @Option(help: "Log level on stderr (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .info

    func validate() throws {
        if tokens.isEmpty { throw ValidationError("give at least one --token TOKEN[=PRINCIPAL]") }
        for t in tokens where t.isEmpty || t.hasPrefix("=") { throw ValidationError("--token \(t): the token is empty") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        guard path.hasPrefix("/") else { throw ValidationError("--path must start with /") }
        guard heartbeatSec >= 0 else { throw ValidationError("--heartbeat-sec must be ≥ 0") }
        guard resumeWindowSec >= 0 else { throw ValidationError("--resume-window-sec must be ≥ 0") }
        guard maxFrameBytes >= 1024 else { throw ValidationError("--max-frame-bytes must be ≥ 1024") }
        guard maxFirstMessageBytes >= 1024 else { throw ValidationError("--max-first-message-bytes must be ≥ 1024") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be ≥ 1") }
        guard maxConnectionsPerPrincipal >= 1 else { throw ValidationError("--max-connections-per-principal must be ≥ 1") }
        guard handshakeTimeoutSec > 0, handshakeTimeoutSec <= 86_400 else {
            throw ValidationError("--handshake-timeout-sec must be > 0 and ≤ 86400")
        }
        guard outboundQueueBytes >= 1024 else { throw ValidationError("--outbound-queue-bytes must be ≥ 1024") }
        guard maxUnansweredPings >= 1 else { throw ValidationError("--max-unanswered-pings must be ≥ 1") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if stdio && tlsCert != nil { throw ValidationError("--tls-cert has no meaning with --stdio") }
    }

    /// TOKEN or TOKEN=PRINCIPAL → the verifier's table.
    var tokenTable: [String: String] {
        var table: [String: String] = [:]
        for spec in tokens {
            if let eq = spec.firstIndex(of: "=") {
                let p = String(spec[spec.index(after: eq)...])
                table[String(spec[..<eq])] = p.isEmpty ? principal : p
            } else {
                table[spec] = principal
            }
        }
        return table
    }

    func makeRuntime() throws -> ARCPRuntime {
        var cfg = ARCPRuntime.Configuration()
        cfg.logger = Logger(label: "arcp.runtime")
        cfg.heartbeatInterval = heartbeatSec > 0 ? .seconds(heartbeatSec) : nil
        cfg.resumeWindow = .seconds(resumeWindowSec)
        cfg.maxConnectionsPerPrincipal = maxConnectionsPerPrincipal
        cfg.compatibility = compat == .pythonReference ? .pythonReference : .spec
        if let db {
            do {
                cfg.store = try SQLiteRuntimeStore(path: db)
            } catch {
                throw CLIFailure(message: "cannot open the event log \(db): \(error)")
            }
        }
        let runtime = ARCPRuntime(configuration: cfg, verifier: StaticBearerVerifier(tokenTable))
        try DemoAgents.register(on: runtime)
        return runtime
    }

    func run() async throws {
        bootstrapLogging(logLevel)
        do {
            let runtime = try makeRuntime()
            if stdio {
                try await serveStdio(runtime)
            } else {
                try await serveWebSocket(runtime)
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            throw report("serve", error)
        }
    }

    // MARK: WebSocket

    func serveWebSocket(_ runtime: ARCPRuntime) async throws {
        let logger = Logger(label: "arcp.serve")
        var wsConfig = WebSocketServer.Configuration(host: host, port: port, path: path, maxFrameSize: maxFrameBytes)
        wsConfig.maxFirstMessageSize = maxFirstMessageBytes
        wsConfig.maxConnections = maxConnections
        wsConfig.handshakeTimeout = .milliseconds(Int64((handshakeTimeoutSec * 1000).rounded()))
        wsConfig.outboundByteLimit = outboundQueueBytes
        wsConfig.maxUnansweredPings = maxUnansweredPings
        if !allowedOrigin.isEmpty { wsConfig.allowedOrigins = Set(allowedOrigin) }
        if !allowedHost.isEmpty { wsConfig.allowedHosts = Set(allowedHost) }
        if let tlsCert, let tlsKey {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(tlsCert).map { NIOSSLCertificateSource.certificate($0) }
                let key = try NIOSSLPrivateKey(file: tlsKey, format: .pem)
                wsConfig.tlsConfiguration = .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            } catch {
                throw CLIFailure(message: "cannot load --tls-cert/--tls-key: \(error)")
            }
        }
        let server = WebSocketServer(
            configuration: wsConfig, logger: Logger(label: "arcp.websocket"),
            onShutdown: { await runtime.shutdown() },
            handler: { transport in await runtime.accept(transport) })
        do {
            try await server.start()
        } catch {
            throw CLIFailure(message: describe(error).0)
        }
        let scheme = tlsCert == nil ? "ws" : "wss"
        let shownHost = host.contains(":") ? "[\(host)]" : host
        writeStdout("LISTENING \(scheme)://\(shownHost):\(server.port ?? port)\(path)\n")
        logger.info("serving agents \(DemoAgents.names.joined(separator: ", ")) on \(scheme)://\(shownHost):\(server.port ?? port)\(path)")
        let why = await waitForStop()
        logger.info("shutting down (\(why))")
        await server.stop()
        logger.info("stopped")
    }

    // MARK: stdio

    func serveStdio(_ runtime: ARCPRuntime) async throws {
        let logger = Logger(label: "arcp.serve")
        let transport = StdioTransport.standardIO()
        logger.info("serving one session on stdio")
        let session = Task { await runtime.accept(transport) }
        let why = await firstOf([
            { await session.value; return "session ended" },
            { await Self.signal() },
        ])
        logger.info("shutting down (\(why))")
        await runtime.shutdown()
        await transport.close()
    }

    // MARK: stopping

    /// Waits for SIGINT/SIGTERM (or stdin EOF with --stop-on-eof); returns why.
    func waitForStop() async -> String {
        var waits: [@Sendable () async -> String] = [{ await Self.signal() }]
        if stopOnEof {
            waits.append {
                await waitForStdinEOF()
                return "end of stdin"
            }
        }
        return await firstOf(waits)
    }

    static func signal() async -> String {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        for await s in signals { return "\(s)" }
        return "cancelled"
    }
}

/// Runs every body in its own task and returns the first answer; the others are cancelled
/// (and not waited for).
func firstOf(_ bodies: [@Sendable () async -> String]) async -> String {
    let (stream, continuation) = AsyncStream.makeStream(of: String.self)
    let tasks = bodies.map { body in Task { continuation.yield(await body()) } }
    var iterator = stream.makeAsyncIterator()
    let first = await iterator.next() ?? "stop"
    for t in tasks { t.cancel() }
    continuation.finish()
    return first
}

/// Returns when standard input reaches end of file (read on a dedicated thread).
func waitForStdinEOF() async {
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                if n == 0 { break }
                if n < 0 && errno != EINTR { break }
            }
            done.resume()
        }
        thread.start()
    }
}
