import ARCP
import ARCPSubprocess
import ARCPWebSocket
import ArgumentParser
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Exit codes shared by the commands (documented in docs/CLI.md).
enum ExitCodes {
    /// The job ended with job.error, cancelled or timed out; `validate` found invalid frames.
    static let jobFailed: Int32 = 1
    /// Could not connect, the runtime refused the session or a request, or a file could not be read.
    static let failure: Int32 = 2
    /// Interrupted by a second Ctrl-C.
    static let interrupted: Int32 = 130
}

/// A one-line failure: printed as `arcp <command>: <message>` on stderr, then exit `code`.
struct CLIFailure: Error, CustomStringConvertible {
    var message: String
    var code: Int32 = ExitCodes.failure
    var description: String { message }
}

/// Prints `message` to stderr prefixed with the command, and returns the exit code to throw.
func report(_ command: String, _ error: any Error) -> ExitCode {
    let (message, code) = describe(error)
    writeStderr("arcp \(command): \(message)\n")
    return ExitCode(code)
}

/// One line for any error the commands can meet.
func describe(_ error: any Error) -> (String, Int32) {
    switch error {
    case let e as CLIFailure:
        return (e.message, e.code)
    case let e as TransportError:
        switch e {
        case .connectFailed(let why): return ("cannot connect: \(why)", ExitCodes.failure)
        case .closed: return ("the connection closed", ExitCodes.failure)
        default: return (e.description, ExitCodes.failure)
        }
    case let e as ARCPClientError:
        switch e.code {
        case .connectionLost:
            return ("lost the connection to the runtime: \(e.message)\(e.cause.map { " (\($0))" } ?? "")", ExitCodes.failure)
        default:
            return (e.description, ExitCodes.failure)
        }
    case let e as ARCPError:
        switch e.code {
        case .unauthenticated:
            return ("the runtime refused the session: \(e.code.rawValue): \(e.message)", ExitCodes.failure)
        case .heartbeatLost:
            return ("lost the connection to the runtime: \(e.message)", ExitCodes.failure)
        default:
            return ("\(e.code.rawValue): \(e.message)", ExitCodes.failure)
        }
    default:
        return ("\(error)", ExitCodes.failure)
    }
}

func writeStderr(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

/// Writes to stdout without buffering surprises (one `write` per call).
func writeStdout(_ text: String) {
    var remaining = Array(text.utf8)[...]
    while !remaining.isEmpty {
        let n = remaining.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return
        }
        remaining = remaining.dropFirst(n)
    }
}

var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

/// Log levels accepted by `--log-level`.
extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Routes swift-log to stderr at `level` (stdout carries frames or results).
func bootstrapLogging(_ level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// Parses a JSON option value.
func parseJSONOption(_ text: String, _ option: String) throws -> JSONValue {
    do {
        return try JSONParser.parse(text)
    } catch {
        throw ValidationError("\(option) is not valid JSON: \(error)")
    }
}

// MARK: - Connecting

/// Where a client command connects: `--url` or `--stdio -- CMD ARGS`.
struct ConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("WebSocket URL of the runtime (ws:// or wss://).", valueName: "url"))
    var url: String = "ws://127.0.0.1:7777/arcp"

    @Option(help: ArgumentHelp(
        "Bearer token for session.hello. Default: the ARCP_TOKEN environment variable.", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("Seconds to wait for the connection and the handshake.", valueName: "seconds"))
    var connectTimeout: Double = 10

    @Flag(help: "Spawn the runtime given after `--` and talk to it over its stdin/stdout instead of --url.")
    var stdio = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("With --stdio: the runtime command and its arguments.", valueName: "command"))
    var command: [String] = []

    func validate() throws {
        if stdio && command.isEmpty {
            throw ValidationError("--stdio needs the runtime command after `--`, e.g. --stdio -- arcp serve --stdio --token tok")
        }
        if !stdio && !command.isEmpty {
            throw ValidationError("a command after `--` is only used with --stdio")
        }
        if resolvedToken == nil {
            throw ValidationError("give --token (or set ARCP_TOKEN)")
        }
        // Bounded, so the conversions to Duration below cannot trap (issue 10).
        guard connectTimeout > 0, connectTimeout <= 86_400 else { throw ValidationError("--connect-timeout must be in (0, 86400] seconds") }
    }

    var resolvedToken: String? {
        token ?? ProcessInfo.processInfo.environment["ARCP_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// What the connection is called in messages.
    var endpoint: String { stdio ? "child runtime `\(command.joined(separator: " "))`" : url }

    /// Opens the transport (a WebSocket, or a spawned child).
    func openTransport() async throws -> any Transport {
        let timeout = Duration.milliseconds(Int64(connectTimeout * 1000))
        if stdio {
            guard let executable = command.first else { throw ValidationError("--stdio needs a command") }
            return try await ChildProcessTransport.spawn(executable: executable, arguments: Array(command.dropFirst()))
        }
        return try await WebSocketTransport.connect(to: url, timeout: timeout)
    }

    /// Connects and performs the handshake.
    func connect(logLevel: Logger.Level) async throws -> (ARCPClient, any Transport) {
        var options = ARCPClient.Options()
        options.logger = Logger(label: "arcp.client")
        options.logger.logLevel = logLevel
        options.requestTimeout = .milliseconds(Int64(max(connectTimeout, 30) * 1000))
        let client = ARCPClient(token: resolvedToken ?? "", options: options)
        let transport: any Transport
        do {
            transport = try await openTransport()
        } catch let e as TransportError {
            if case .connectFailed(let why) = e { throw CLIFailure(message: "cannot connect to \(endpoint): \(why)") }
            throw CLIFailure(message: "cannot connect to \(endpoint): \(e)")
        }
        do {
            try await client.connect(transport)
        } catch let e as ARCPError {
            await transport.close()
            if e.code == .unauthenticated {
                throw CLIFailure(message: "\(endpoint) refused the session: \(e.code.rawValue): \(e.message)")
            }
            throw CLIFailure(message: "handshake with \(endpoint) failed: \(e.code.rawValue): \(e.message)")
        } catch {
            await transport.close()
            throw CLIFailure(message: "handshake with \(endpoint) failed: \(error)")
        }
        return (client, transport)
    }
}

// MARK: - JSON text

/// Indented JSON with members in wire order (for results printed to a person).
func prettyJSON(_ value: JSONValue, indent: String = "") -> String {
    let inner = indent + "  "
    switch value {
    case .array(let items) where !items.isEmpty:
        return "[\n" + items.map { inner + prettyJSON($0, indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
    case .object(let object) where !object.isEmpty:
        let members = object.members.map { m in
            inner + JSONWriter.string(.string(m.key)) + ": " + prettyJSON(m.value, indent: inner)
        }
        return "{\n" + members.joined(separator: ",\n") + "\n\(indent)}"
    default:
        return JSONWriter.string(value)
    }
}

/// Compact JSON text.
func compactJSON(_ value: JSONValue) -> String { JSONWriter.string(value) }

/// A short one-line rendering of a JSON value, cut at `limit` characters.
func shortJSON(_ value: JSONValue?, limit: Int = 120) -> String {
    guard let value else { return "" }
    let text = JSONWriter.string(value)
    return text.count > limit ? String(text.prefix(limit - 1)) + "…" : text
}

/// `42` for integral values, `0.25` otherwise.
func formatNumber(_ d: Double) -> String {
    if d.isFinite, d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
    return String(d)
}
