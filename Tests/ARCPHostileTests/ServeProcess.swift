import ARCP
import ARCPTestSupport
import ARCPWebSocket
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `arcp serve` as a child process on a free loopback port, for the hostile-peer suite: a peer
/// that crashes the runtime kills this process (not the test runner), and the suite sees it.
///
/// Tokens: `tok` → me@example.com, `tok2` → other@example.com. Runtime pings are off (the tests
/// do not answer them). The server stops when the test closes its stdin (`--stop-on-eof`), so it
/// never outlives the test process.
final class ServeProcess: Sendable {
    let process: TestProcess
    let url: String
    let port: Int

    private init(process: TestProcess, url: String, port: Int) {
        self.process = process
        self.url = url
        self.port = port
    }

    /// Starts `arcp serve` with `arguments` added to the defaults.
    static func start(_ arguments: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) async throws -> ServeProcess {
        let binary = try ArcpBinary.require(sourceLocation: sourceLocation)
        let process = try TestProcess(
            binary,
            ["serve", "--port", "0", "--token", "tok=me@example.com", "--token", "tok2=other@example.com",
             "--heartbeat-sec", "0", "--stop-on-eof", "--log-level", "warning"] + arguments,
            label: "arcp serve")
        guard let line = await process.line(startingWith: "LISTENING "),
            let url = line.split(separator: " ").last.map(String.init),
            let port = URL(string: url)?.port
        else {
            Issue.record("arcp serve did not start: \(process.stderr.suffix(2000))", sourceLocation: sourceLocation)
            await process.stop()
            throw CancellationError()
        }
        return ServeProcess(process: process, url: url, port: port)
    }

    var isRunning: Bool { process.process.isRunning }

    /// Resident set size of the server, from /proc (Linux), in KiB.
    var residentKiB: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    /// Open file descriptors of the server (sockets included), from /proc (Linux).
    var openDescriptors: Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.pid)/fd"))?.count
    }

    /// What the server's descriptors are (sockets, pipes, files), for a failure message.
    var descriptorTargets: [String] {
        let dir = "/proc/\(process.pid)/fd"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
            .map { "\($0) → \((try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\($0)")) ?? "?")" }
    }

    /// A raw connection that has said hello; returns the transport and the session id.
    func session(token: String = "tok") async throws -> (any Transport, String) {
        let t = try await WebSocketTransport.connect(to: url)
        let sid = try await handshake(t, token: token)
        return (t, sid)
    }

    /// A connected client session.
    func client(token: String = "tok") async throws -> ARCPClient {
        var options = ARCPClient.Options()
        options.requestTimeout = .seconds(10)
        options.logger.logLevel = .critical
        let client = ARCPClient(token: token, options: options)
        try await client.connect(try await WebSocketTransport.connect(to: url))
        return client
    }

    /// The runtime is still up and answering: the process runs, and a fresh session gets a
    /// pong and runs an echo job to its result.
    func expectAnswering(_ after: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(isRunning, "arcp serve died after \(after): \(process.stderr.suffix(2000))", sourceLocation: sourceLocation)
        guard isRunning else { throw CancellationError() }
        try await within(.seconds(20), "a fresh session is served after \(after)", sourceLocation: sourceLocation) {
            let client = try await self.client()
            _ = try await client.ping()
            let job = try await client.submit(agent: "echo", input: ["after": .string(after)])
            let outcome = try await job.result()
            #expect(outcome.result == ["echoed": ["after": .string(after)]], sourceLocation: sourceLocation)
            await client.close()
        }
    }

    /// Nothing leaked on the connection level: once every test connection is closed, the
    /// server's descriptor count comes back to `baseline` (awaited, not slept for).
    func expectDescriptors(backTo baseline: Int?, sourceLocation: SourceLocation = #_sourceLocation) async {
        guard let baseline else { return }
        // 30 s: close handshakes and timers of a server sharing 2 cores with the other suites.
        let deadline = ContinuousClock.now + .seconds(30)
        var now = openDescriptors ?? 0
        while now > baseline, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
            now = openDescriptors ?? 0
        }
        #expect(
            now <= baseline, "the server holds \(now - baseline) more descriptors than before: \(descriptorTargets)",
            sourceLocation: sourceLocation)
    }

    /// Stops the server; it must exit cleanly (status 0), not by a signal.
    func stop(sourceLocation: SourceLocation = #_sourceLocation) async {
        let status = await process.stop()
        #expect(status == 0, "arcp serve exited with \(status): \(process.stderr.suffix(2000))", sourceLocation: sourceLocation)
    }
}

/// Frames a hostile peer sends, written by hand (any JSON, out-of-range numbers included).
enum HostileFrames {
    /// An envelope of `type` with `payload`, as compact JSON text.
    static func envelope(_ type: String, _ payload: JSONValue, session: String? = nil, extra: JSONObject = [:]) -> String {
        var o: JSONObject = ["arcp": "1.1", "id": .string(ARCPID.ulid()), "type": .string(type)]
        if let session { o.append("session_id", .string(session)) }
        for m in extra { o.append(m.key, m.value) }
        o.append("payload", payload)
        return JSONWriter.string(.object(o))
    }

    /// `job.submit` of `agent` with `input` (and more payload members).
    static func submit(_ agent: String, _ input: JSONValue, session: String, extra: JSONObject = [:]) -> String {
        var p: JSONObject = ["agent": .string(agent), "input": input]
        for m in extra { p.append(m.key, m.value) }
        return envelope("job.submit", .object(p), session: session)
    }
}

/// Receives until the frame that ends `jobID` (or answers the request `requestID` with an error)
/// and returns it: `job.result`, `job.error`, or `session.error`.
func terminal(_ t: any Transport, requestID: String? = nil) async throws -> Envelope {
    while let text = try await t.receive() {
        guard let env = Frames.decode(text) else { continue }
        switch env.message {
        case .jobResult, .jobError: return env
        case .sessionError(let e) where requestID == nil || e.requestId == requestID: return env
        default: continue
        }
    }
    Issue.record("the connection ended before the job did")
    throw CancellationError()
}

/// The next frame on `t`, decoded; fails the test when the connection ends or the frame is not
/// an envelope.
func receiveEnvelope(_ t: any Transport, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Envelope {
    let text = try #require(try await t.receive(), "the connection ended", sourceLocation: sourceLocation)
    return try #require(Frames.decode(text), "not an envelope: \(text.prefix(200))", sourceLocation: sourceLocation)
}
