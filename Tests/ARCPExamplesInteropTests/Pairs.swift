import ARCPTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Who plays which side of an example.
enum Direction: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// The reference's `client.py` (unmodified) against `arcp-examples serve` sending the spec's forms.
    case referenceClient = "reference client → Swift runtime"
    /// The same with `serve --compat python-reference`: the forms the reference client needs.
    case referenceClientCompat = "reference client → Swift runtime (--compat python-reference)"
    /// `arcp-examples client` against the reference's `server.py` (unmodified).
    case swiftClient = "Swift client → reference runtime"
    /// `arcp-examples client` against `arcp-examples serve`.
    case swiftPair = "Swift client → Swift runtime"

    var testDescription: String { rawValue }
}

/// How one run of an example went.
struct PairRun: Sendable {
    var status: Int32
    /// The client's stdout and stderr.
    var client: String
    /// The server's stdout and stderr (empty for stdio, where the client owns the child).
    var server: String
    var elapsed: Duration

    var passed: Bool { status == 0 }
    /// The end of both outputs, for a failure message.
    var transcript: String {
        "client (exit \(status)):\n\(client.suffix(4000))\nserver:\n\(server.suffix(2000))"
    }
}

/// Runs the two sides of an example as processes.
enum Pairs {
    static let clientTimeout: Duration = .seconds(90)

    /// Runs `name` in `direction`. With `evidence` (a failure the matrix expects), a client
    /// that has printed it is given 2 s to exit and then stopped: some failures hang (the
    /// reference client's read pump dies on a frame it rejects and its handles never resolve).
    /// With `framework` (host_aiohttp, host_asgi), our side serves on that web framework
    /// (`serve --framework`) instead of the example's default.
    static func run(_ name: String, _ direction: Direction, framework: String? = nil, evidence: String? = nil) async throws -> PairRun {
        try await Limiter.pairs.run {
            let start = ContinuousClock.now
            var run: PairRun
            switch (direction, name) {
            case (.referenceClient, "stdio"), (.referenceClientCompat, "stdio"):
                run = try await referenceRunner(compat: direction == .referenceClientCompat, evidence: evidence)
            case (.referenceClient, _), (.referenceClientCompat, _):
                run = try await withSwiftServer(name, compat: direction == .referenceClientCompat, framework: framework) { port in
                    try await referenceClient(name, port: port, evidence: evidence)
                }
            case (.swiftClient, "stdio"):
                run = try await swiftClient(
                    "stdio", ["--", ExamplesInterop.python, ExamplesInterop.file("stdio", "server.py")], evidence: evidence)
            case (.swiftClient, _):
                run = try await withReferenceServer(name) { port in
                    try await swiftClient(name, ["--url", "ws://127.0.0.1:\(port)/arcp"], evidence: evidence)
                }
            case (.swiftPair, "stdio"):
                run = try await swiftClient("stdio", [], evidence: evidence)
            case (.swiftPair, _):
                run = try await withSwiftServer(name, compat: false, framework: framework) { port in
                    try await swiftClient(name, ["--url", "ws://127.0.0.1:\(port)/arcp"], evidence: evidence)
                }
            }
            run.elapsed = ContinuousClock.now - start
            return run
        }
    }

    // MARK: clients

    /// The reference's `client.py` with `ARCP_DEMO_PORT` / `ARCP_DEMO_URL` pointing at `port`.
    static func referenceClient(_ name: String, port: Int, evidence: String?) async throws -> PairRun {
        let child = try TestProcess(
            ExamplesInterop.python, [ExamplesInterop.file(name, "client.py")],
            environment: ExamplesInterop.pythonEnvironment(port: port), label: "\(name)/client.py")
        return await finish(child, evidence: evidence)
    }

    /// `arcp-examples client NAME ARGS`.
    static func swiftClient(_ name: String, _ arguments: [String], evidence: String?) async throws -> PairRun {
        let binary = try ExamplesInterop.requireBinary()
        let child = try TestProcess(binary, ["client", name] + arguments, label: "arcp-examples client \(name)")
        return await finish(child, evidence: evidence)
    }

    /// Waits for a client to exit: at most `clientTimeout`, or 2 s after it printed `evidence`;
    /// then it is killed (and a timeout is a failure in its own right).
    static func finish(_ child: TestProcess, evidence: String?) async -> PairRun {
        child.closeStdin()
        let deadline = ContinuousClock.now + clientTimeout
        var evidenceSeen: ContinuousClock.Instant? = nil
        var note = ""
        while child.process.isRunning {
            let now = ContinuousClock.now
            if let evidence, evidenceSeen == nil, (child.stdout + child.stderr).contains(evidence) { evidenceSeen = now }
            if let seen = evidenceSeen, now - seen > .seconds(2) {
                note = "\n[still running 2 s after printing the expected failure; stopped]"
                child.signal(SIGKILL)
                break
            }
            if now >= deadline {
                note = "\n[timed out after \(clientTimeout); killed]"
                child.signal(SIGKILL)
                break
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        var status = await child.wait()
        if !note.isEmpty && status == 0 { status = -1 }
        return PairRun(status: status, client: child.stdout + child.stderr + note, server: "", elapsed: .zero)
    }

    /// The reference's stdio `runner.py` → `client.py`, unmodified, copied beside a `server.py`
    /// that replaces itself with `arcp-examples serve stdio` (the client starts
    /// `sys.executable server.py` from its own directory).
    static func referenceRunner(compat: Bool, evidence: String?) async throws -> PairRun {
        let binary = try ExamplesInterop.requireBinary()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-stdio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for file in ["client.py", "runner.py"] {
            try FileManager.default.copyItem(
                atPath: ExamplesInterop.file("stdio", file), toPath: dir.appendingPathComponent(file).path)
        }
        let arguments = ["serve", "stdio", "--log-level", "warning"] + (compat ? ["--compat", "python-reference"] : [])
        let argv = ([binary] + arguments).map { "'\($0)'" }.joined(separator: ", ")
        let shim = "import os\nos.execv('\(binary)', [\(argv)])\n"
        try shim.write(to: dir.appendingPathComponent("server.py"), atomically: true, encoding: .utf8)
        let child = try TestProcess(
            ExamplesInterop.python, [dir.appendingPathComponent("runner.py").path],
            environment: ExamplesInterop.pythonEnvironment(port: nil), label: "stdio/runner.py")
        return await finish(child, evidence: evidence)
    }

    // MARK: servers

    /// Runs `body` against `arcp-examples serve NAME --port 0 [--framework F]`, then stops the server.
    static func withSwiftServer(
        _ name: String, compat: Bool, framework: String? = nil, _ body: (Int) async throws -> PairRun
    ) async throws -> PairRun {
        let binary = try ExamplesInterop.requireBinary()
        let arguments =
            ["serve", name, "--port", "0", "--stop-on-eof", "--log-level", "warning"] + (compat ? ["--compat", "python-reference"] : [])
            + (framework.map { ["--framework", $0] } ?? [])
        let server = try TestProcess(binary, arguments, label: "arcp-examples serve \(name)")
        guard let line = await server.line(startingWith: "listening on ", timeout: .seconds(30)),
            let port = line.split(separator: ":").last.flatMap({ Int($0.split(separator: "/").first ?? "") })
        else {
            await server.stop()
            throw PairFailure(message: "arcp-examples serve \(name) did not start listening: \(server.stderr.suffix(2000))")
        }
        var run = try await body(port)
        await server.stop()
        run.server = server.stdout + server.stderr
        return run
    }

    /// Runs `body` against the reference's `server.py` on a free port, then stops it.
    static func withReferenceServer(_ name: String, _ body: (Int) async throws -> PairRun) async throws -> PairRun {
        let port = try freePort()
        let server = try TestProcess(
            ExamplesInterop.python, ["-c", ExamplesInterop.serverGuard, ExamplesInterop.file(name, "server.py")],
            environment: ExamplesInterop.pythonEnvironment(port: port), label: "\(name)/server.py")
        // Some servers print their line before binding (host_asgi), so wait for the port itself.
        let deadline = ContinuousClock.now + .seconds(30)
        while !accepts(port: port) {
            guard server.process.isRunning, ContinuousClock.now < deadline else {
                await server.stop()
                throw PairFailure(message: "\(name)/server.py did not listen on \(port): \(server.stderr.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        var run = try await body(port)
        if name == "host_tracing" {
            // Its BatchSpanProcessor exports every 100 ms (OTEL_BSP_SCHEDULE_DELAY): wait for the
            // span of the submit it received before stopping it (stopping it loses unexported spans).
            let until = ContinuousClock.now + .seconds(5)
            while !server.stdout.contains("arcp.recv job.submit"), ContinuousClock.now < until {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        await server.stop()
        run.server = server.stdout + server.stderr
        return run
    }
}

struct PairFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
