import ARCP
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where things are, and whether the Python reference can run here.
enum Interop {
    /// The package root (this file is Tests/ARCPInteropTests/InteropSupport.swift).
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let python = root.appendingPathComponent(".venv/bin/python").path
    static let pyClient = root.appendingPathComponent("Tests/Interop/py_client.py").path
    static let pyRuntime = root.appendingPathComponent("Tests/Interop/py_runtime.py").path

    /// Why the Python reference cannot be used, or nil when it can: the venv
    /// `Scripts/setup-python.sh` makes must exist and import `arcp` and `websockets`.
    static let pythonUnavailableReason: String? = {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return "no Python reference venv at \(python): run Scripts/setup-python.sh (Scripts/test.sh does) to run the interop tests"
        }
        let (status, _, err) = runSync(python, ["-c", "import arcp, websockets, importlib.metadata as m; assert m.version('agentruntimecontrolprotocol') == '1.1.3'"])
        guard status == 0 else {
            let why = err.split(separator: "\n").last.map(String.init) ?? "exit \(status)"
            return "the venv at \(python) lacks agentruntimecontrolprotocol==1.1.3 (\(why)): run Scripts/setup-python.sh"
        }
        return nil
    }()

    static var pythonAvailable: Bool { pythonUnavailableReason == nil }

    /// The trait every Python-dependent suite carries: skipped (never passed) without the venv.
    static var needsPython: ConditionTrait {
        .enabled(if: pythonAvailable, Comment(rawValue: pythonUnavailableReason ?? "Python reference available"))
    }

    /// The built `arcp` executable: `ARCP_BIN`, else next to the test binary (the build
    /// products folder), else `.build/debug/arcp`.
    static let arcpBinary: String = {
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

    /// Fails the test with a clear message when the `arcp` binary is missing.
    static func requireArcp(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try #require(
            FileManager.default.isExecutableFile(atPath: arcpBinary),
            "the arcp executable is not at \(arcpBinary): build it (swift build --product arcp) or set ARCP_BIN",
            sourceLocation: sourceLocation)
        return arcpBinary
    }
}

/// Runs a command to completion (blocking; for quick checks only).
func runSync(_ executable: String, _ arguments: [String]) -> (Int32, String, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    do { try p.run() } catch { return (-1, "", "\(error)") }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// A child process whose stdout is collected line by line and whose stdin is a pipe kept open
/// until `stop()` (so a server started with "stop on stdin EOF" dies with the test process).
///
/// `@unchecked Sendable`: `Process` and the pipes are configured before `run()` and afterwards
/// only used through thread-safe calls (`terminate`, `waitUntilExit`, `processIdentifier`,
/// closing a file handle); the collected output lives in a `Mutex`.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let stdinPipe = Pipe()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let collectors: (out: PipeCollector, err: PipeCollector)
    let label: String

    init(_ executable: String, _ arguments: [String], label: String) throws {
        self.label = label
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        collectors = (PipeCollector(stdoutPipe.fileHandleForReading), PipeCollector(stderrPipe.fileHandleForReading))
        try process.run()
    }

    var stdout: String { collectors.out.text }
    var stderr: String { collectors.err.text }
    /// Both output pipes reached end of file.
    var outputFinished: Bool { collectors.out.finished && collectors.err.finished }
    var pid: Int32 { process.processIdentifier }

    /// The first stdout line starting with `prefix`, waiting up to `timeout`.
    func line(startingWith prefix: String, timeout: Duration = .seconds(20)) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let l = stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(l) }
            if !process.isRunning {
                // One last look: the line may have arrived with the exit.
                try? await Task.sleep(for: .milliseconds(50))
                return stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }).map(String.init)
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Waits for the process to exit (up to `timeout`, then kills it); returns its status.
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(60)) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline {
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

    /// Closes stdin, sends SIGTERM and waits for the exit.
    @discardableResult
    func stop() async -> Int32 {
        try? stdinPipe.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        return await waitForExit(timeout: .seconds(10))
    }

    func closeStdin() {
        try? stdinPipe.fileHandleForWriting.close()
    }
}

/// A WebSocket server process started once per test process and shared by its tests. It
/// exits when this process does (its stdin reaches EOF).
actor SharedServer {
    private var started: Task<(ChildProcess, String), any Error>?
    private let make: @Sendable () async throws -> (ChildProcess, String)

    init(_ make: @escaping @Sendable () async throws -> (ChildProcess, String)) {
        self.make = make
    }

    /// The server's `ws://` URL, starting it on first use.
    func url() async throws -> String {
        if started == nil { started = Task { try await make() } }
        guard let started else { throw CancellationError() }
        return try await started.value.1
    }
}

/// Starts `executable arguments` and waits for its `LISTENING ws://…` line.
func startListening(_ executable: String, _ arguments: [String], label: String) async throws -> (ChildProcess, String) {
    let child = try ChildProcess(executable, arguments, label: label)
    guard let line = await child.line(startingWith: "LISTENING ") else {
        await child.stop()
        Issue.record("\(label) printed no LISTENING line; stderr: \(child.stderr.suffix(2000))")
        throw CancellationError()
    }
    return (child, String(line.dropFirst("LISTENING ".count)))
}

/// One JSON line of py_client.py, by scenario.
struct ScenarioLine: Sendable {
    var object: JSONObject
    var ok: Bool { object["ok"]?.boolValue ?? false }
    var error: String { object["error"]?.stringValue ?? "" }
    subscript(_ key: String) -> JSONValue? { object[key] }
    var text: String { JSONWriter.string(.object(object)) }
}

/// Runs `py_client.py ARGS all` once and keeps its lines by scenario.
actor PyClientRun {
    private var run: Task<[String: ScenarioLine], any Error>?
    private let arguments: @Sendable () throws -> [String]

    init(_ arguments: @escaping @Sendable () throws -> [String]) {
        self.arguments = arguments
    }

    func line(_ scenario: String) async throws -> ScenarioLine {
        if run == nil {
            let args = arguments
            run = Task {
                let child = try ChildProcess(Interop.python, [Interop.pyClient] + (try args()), label: "py_client")
                child.closeStdin()
                let status = await child.waitForExit(timeout: .seconds(90))
                var lines: [String: ScenarioLine] = [:]
                for l in child.stdout.split(separator: "\n") {
                    guard case .object(let o)? = try? JSONParser.parse(String(l)), let name = o["scenario"]?.stringValue else { continue }
                    lines[name] = ScenarioLine(object: o)
                }
                if lines.isEmpty {
                    Issue.record("py_client produced no scenario lines (exit \(status)); stderr: \(child.stderr.suffix(3000))")
                }
                return lines
            }
        }
        guard let run else { throw CancellationError() }
        let lines = try await run.value
        return try #require(lines[scenario], "py_client printed no line for scenario \(scenario)")
    }
}

/// The interop scenarios the issue names, as py_client.py calls them.
let requiredScenarios = ["echo", "all_event_kinds", "job_error", "cancel", "versions", "idempotent", "bad_token", "list_jobs"]
/// Further py_client.py scenarios that must pass too.
let extraScenarios = ["progress", "chunked"]

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
