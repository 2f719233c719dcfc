import ARCP
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

/// Frame-level helpers for driving a session by hand.
enum Frames {
    static func hello(token: String = "tok") -> String {
        FrameCodec.encode(Envelope.make(.sessionHello(SessionHelloPayload(
            client: PeerInfo(name: "bad-input-test", version: "1"), auth: Auth(scheme: "bearer", token: token),
            capabilities: HelloCapabilities(encodings: ["json"], features: [.listJobs, .subscribe, .progress])))))
    }

    static func ping(_ nonce: String, session: String? = nil) -> String {
        FrameCodec.encode(Envelope.make(.sessionPing(SessionPingPayload(nonce: nonce)), sessionID: session))
    }

    static func submit(_ agent: String, _ input: JSONValue, session: String? = nil) -> String {
        FrameCodec.encode(Envelope.make(.jobSubmit(JobSubmitPayload(agent: agent, input: input)), sessionID: session))
    }

    static func decode(_ text: String) -> Envelope? {
        if case .success(let e) = FrameCodec.decode(text, validate: false) { return e }
        return nil
    }
}

/// Runs `body`, failing with a clear message instead of hanging when it takes longer than `limit`.
func within<T: Sendable>(
    _ limit: Duration, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            Issue.record("timed out after \(limit): \(what)", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        return value
    }
}

// MARK: - The arcp binary

enum CLI {
    /// The package root (this file is Tests/ARCPCLITests/Support.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `ARCP_BIN`, else the `arcp` next to the test binary, else `.build/debug/arcp`.
    static let binary: String = {
        if let env = ProcessInfo.processInfo.environment["ARCP_BIN"], !env.isEmpty { return env }
        var candidates: [URL] = []
        #if os(Linux)
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("arcp"))
        }
        #endif
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("arcp"))
        }
        candidates.append(root.appendingPathComponent(".build/debug/arcp"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }?.path ?? candidates[0].path
    }()

    static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try #require(
            FileManager.default.isExecutableFile(atPath: binary),
            "the arcp executable is not at \(binary): build it (swift build --product arcp) or set ARCP_BIN",
            sourceLocation: sourceLocation)
        return binary
    }

    struct Run: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    /// Runs `arcp ARGS` to completion (killed after `timeout`), feeding `stdin`.
    static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], timeout: Duration = .seconds(20)) async throws -> Run {
        let child = try Child(try require(), arguments, environment: environment)
        if let stdin { child.write(stdin) }
        child.closeStdin()
        let status = await child.wait(timeout: timeout)
        return Run(status: status, stdout: child.stdout, stderr: child.stderr)
    }
}

/// A child process with collected output.
///
/// `@unchecked Sendable`: `Process` and the pipes are configured before `run()` and later only
/// used through thread-safe calls (`isRunning`, `terminate`, `waitUntilExit`, closing or
/// writing a file handle); the collected output lives in a `Mutex`.
final class Child: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let out = Pipe()
    private let err = Pipe()
    private let collectors: (out: PipeCollector, err: PipeCollector)

    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.standardInput = input
        process.standardOutput = out
        process.standardError = err
        collectors = (PipeCollector(out.fileHandleForReading), PipeCollector(err.fileHandleForReading))
        try process.run()
    }

    var stdout: String { collectors.out.text }
    var stderr: String { collectors.err.text }
    /// Both output pipes reached end of file.
    var outputFinished: Bool { collectors.out.finished && collectors.err.finished }
    var pid: Int32 { process.processIdentifier }

    func write(_ text: String) { try? input.fileHandleForWriting.write(contentsOf: Data(text.utf8)) }
    func closeStdin() { try? input.fileHandleForWriting.close() }
    func signal(_ sig: Int32) { kill(pid, sig) }

    /// The first stdout line starting with `prefix`, waiting up to `timeout`.
    func line(startingWith prefix: String, timeout: Duration = .seconds(20)) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let l = stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(l) }
            if !process.isRunning { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }).map(String.init)
    }

    /// Waits for the exit (SIGKILL after `timeout`) and returns the status.
    func wait(timeout: Duration = .seconds(20)) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                Issue.record("\(process.arguments ?? []) still running after \(timeout); killed")
                kill(pid, SIGKILL)
                break
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        process.waitUntilExit()
        // The output is complete once both pipes reach end of file (bounded: a grandchild may hold them).
        let drainDeadline = ContinuousClock.now + .seconds(2)
        while !outputFinished && ContinuousClock.now < drainDeadline { try? await Task.sleep(for: .milliseconds(5)) }
        return process.terminationStatus
    }
}

/// Reads a pipe to its end on a dedicated thread and keeps what it read.
final class PipeCollector: Sendable {
    private let state = Mutex((data: Data(), finished: false))

    init(_ handle: FileHandle) {
        let thread = Thread { [self] in
            while true {
                let chunk = handle.availableData  // blocks; empty at end of file
                if chunk.isEmpty { break }
                self.state.withLock { $0.data.append(chunk) }
            }
            self.state.withLock { $0.finished = true }
        }
        thread.start()
    }

    var text: String { state.withLock { String(decoding: $0.data, as: UTF8.self) } }
    var finished: Bool { state.withLock { $0.finished } }
}
