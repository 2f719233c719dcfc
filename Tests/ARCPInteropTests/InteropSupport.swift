import ARCP
import ARCPTestSupport
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
    static let root = PackagePaths.root

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

    /// The built `arcp` executable; fails the test with a clear message when it is missing.
    static func requireArcp(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try ArcpBinary.require(sourceLocation: sourceLocation)
    }
}

/// A WebSocket server process started once per test process and shared by its tests. It
/// exits when this process does (its stdin reaches EOF).
actor SharedServer {
    private var started: Task<(TestProcess, String), any Error>?
    private let make: @Sendable () async throws -> (TestProcess, String)

    init(_ make: @escaping @Sendable () async throws -> (TestProcess, String)) {
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
func startListening(_ executable: String, _ arguments: [String], label: String) async throws -> (TestProcess, String) {
    let child = try TestProcess(executable, arguments, label: label)
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
                let child = try TestProcess(Interop.python, [Interop.pyClient] + (try args()), label: "py_client")
                child.closeStdin()
                let status = await child.wait(timeout: .seconds(90))
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
