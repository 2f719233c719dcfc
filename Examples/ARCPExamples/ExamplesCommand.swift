import ARCP
import ArgumentParser
import Foundation
import Logging

// `swift run arcp-examples`                  lists the examples
// `swift run arcp-examples <name>`           runs one in-process example
// `swift run arcp-examples all`              runs every in-process example in turn
// `swift run arcp-examples serve <name>`     the server side of one of the Python reference's examples
// `swift run arcp-examples client <name>`    the client side of one of them
// Each in-process example lives in its own file next to this one; the two-process ones in Wire/.

@main
struct ExamplesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "arcp-examples",
        abstract: "Small ARCP programs: one per feature in one process, and the Python reference's 22 examples as two processes.",
        subcommands: [RunExample.self, ServeCommand.self, ClientCommand.self],
        defaultSubcommand: RunExample.self)
}

/// `arcp-examples [run] [<name> | all | list]`: the in-process examples.
struct RunExample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run an in-process example (runtime and client in one process), all of them, or list them.")

    @Argument(help: "An example's name, `all`, or nothing (or `list`) to list the examples.")
    var name: String?

    func run() async throws {
        switch name {
        case nil, "list":
            list()
        case "all":
            var failed: [String] = []
            for example in Gallery.all where !(await runOne(example)) { failed.append(example.name) }
            if !failed.isEmpty {
                print("failed: \(failed.joined(separator: ", "))")
                throw ExitCode(1)
            }
        case let name?:
            guard let example = Gallery.named(name.replacingOccurrences(of: "_", with: "-")) else {
                print("unknown example '\(name)'\n")
                list()
                throw ExitCode(2)
            }
            if !(await runOne(example)) { throw ExitCode(1) }
        }
    }

    func list() {
        print("usage: arcp-examples <name> | all")
        print("       arcp-examples serve <name> | client <name> [--url URL]   (the Python reference's examples, two processes)\n")
        let width = Gallery.all.map { $0.name.count }.max() ?? 0
        for example in Gallery.all {
            print("  \(example.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(example.summary)")
        }
        print("\ntwo-process (serve / client):\n")
        let wireWidth = WireGallery.all.map { $0.name.count }.max() ?? 0
        for example in WireGallery.all {
            print("  \(example.name.padding(toLength: wireWidth, withPad: " ", startingAt: 0))  \(example.summary)")
        }
    }

    func runOne(_ example: any Example.Type) async -> Bool {
        print("### \(example.name) — \(example.summary) (\(example.spec))")
        do {
            try await example.run()
            print("\n✓ \(example.name)\n")
            return true
        } catch {
            print("\n✗ \(example.name): \(error)\n")
            return false
        }
    }
}

/// Wire forms of `serve --compat`.
extension WebFramework: ExpressibleByArgument {}

enum CompatMode: String, ExpressibleByArgument, CaseIterable {
    case spec
    case pythonReference = "python-reference"
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Finds a two-process example by name, or fails with the list.
func wireExample(_ name: String) throws -> any WireExample.Type {
    guard let example = WireGallery.named(name) else {
        throw ValidationError("unknown example '\(name)'; one of: \(WireGallery.all.map { $0.name }.joined(separator: ", "))")
    }
    return example
}

/// Routes swift-log to stderr at `level` (stdout carries the listening line, or frames for stdio).
func bootstrapLogging(_ level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// `arcp-examples serve <name>`: the reference's `server.py` for that example, in Swift.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve one of the Python reference's examples: the same agents, tokens and path as its server.py.",
        discussion: """
            Reads the reference's variables: ARCP_DEMO_PORT (else the example's port in the reference) and \
            ARCP_DEMO_TOKEN (else demo-token). Prints `listening on ws://127.0.0.1:PORT/arcp` (host_* examples: \
            `listening on http://127.0.0.1:PORT`) once it listens; `stdio` serves one session on stdin/stdout. \
            Stops on SIGINT/SIGTERM.

            host_asgi and host_aiohttp mount the runtime in a web application beside GET /health: \
            host_asgi on Hummingbird, host_aiohttp on Vapor, or either with --framework hummingbird|vapor.

            Example: ARCP_DEMO_PORT=7886 arcp-examples serve ack_backpressure &
                     ARCP_DEMO_PORT=7886 python examples/ack_backpressure/client.py
                     arcp-examples serve host_asgi --framework vapor
            """)

    @Argument(help: "The example, as the reference's directory (ack_backpressure) or with dashes (ack-backpressure).")
    var name: String

    @Option(help: "Port to listen on (default: ARCP_DEMO_PORT, else the reference's; 0 picks a free one).")
    var port: Int?

    @Option(help: ArgumentHelp(
        "Wire forms: spec (default), or python-reference: the forms the Python reference client 1.1.3 needs where it rejects the spec's (see docs/INTEROP.md).",
        valueName: "mode"))
    var compat: CompatMode = .spec

    @Option(help: ArgumentHelp(
        "For host_aiohttp and host_asgi: the web framework, hummingbird or vapor (default: host_asgi on Hummingbird, host_aiohttp on Vapor).",
        valueName: "framework"))
    var framework: WebFramework?

    @Flag(help: "Stop when stdin reaches end of file (for a parent process that owns this server).")
    var stopOnEof = false

    @Option(help: "Log level on stderr (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .info

    func validate() throws {
        let example = try wireExample(name)
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be 0…65535") }
        if framework != nil {
            guard case .http = example.hosting else { throw ValidationError("--framework is for host_aiohttp and host_asgi") }
        }
    }

    func run() async throws {
        let example = try wireExample(name)
        bootstrapLogging(logLevel)
        let setup = ServerSetup(
            port: port ?? DemoEnvironment.port(default: example.defaultPort), token: DemoEnvironment.token,
            compatibility: compat == .pythonReference ? .pythonReference : .spec, logLevel: logLevel, framework: framework)
        do {
            try await WireServer.run(example, setup, stopOnEOF: stopOnEof)
        } catch {
            FileHandle.standardError.write(Data("arcp-examples serve \(example.name): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// `arcp-examples client <name>`: the reference's `client.py` for that example, in Swift.
struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Run the client of one of the Python reference's examples: what its client.py does, with the same checks.",
        discussion: """
            Connects to --url (default: ARCP_DEMO_URL, else ws://127.0.0.1:ARCP_DEMO_PORT/arcp) with ARCP_DEMO_TOKEN \
            (else demo-token). Exits 0 when every check holds, 1 when one fails. `stdio` starts the runtime given \
            after `--` as a child (default: this program's `serve stdio`).

            Examples: arcp-examples client ack_backpressure --url ws://127.0.0.1:7886/arcp
                      arcp-examples client stdio -- python examples/stdio/server.py
            """)

    @Argument(help: "The example, as the reference's directory (ack_backpressure) or with dashes (ack-backpressure).")
    var name: String

    @Option(help: "The runtime's WebSocket URL.")
    var url: String?

    @Option(help: "The bearer token (default: ARCP_DEMO_TOKEN, else demo-token).")
    var token: String?

    @Option(help: "Log level on stderr.")
    var logLevel: Logger.Level = .warning

    @Argument(parsing: .postTerminator, help: "For stdio: the runtime command to start as a child.")
    var command: [String] = []

    func validate() throws {
        _ = try wireExample(name)
    }

    func run() async throws {
        let example = try wireExample(name)
        bootstrapLogging(logLevel)
        let setup = ClientSetup(
            url: url ?? DemoEnvironment.url(defaultPort: example.defaultPort), token: token ?? DemoEnvironment.token, command: command)
        do {
            try await example.runClient(setup)
            say("✓ \(example.name)")
        } catch {
            say("✗ \(example.name): \(error)")
            throw ExitCode(1)
        }
    }
}

