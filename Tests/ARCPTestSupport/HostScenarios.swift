import ARCP
import ARCPWebSocket
import Foundation
import Synchronization
import Testing

// The scenarios every web-framework host of ARCP must pass (ARCPHummingbird, ARCPVapor): one
// set, run by each host's test target through its `ARCPTestHost`.

/// The options of an ARCP route the scenarios need, in framework-neutral form; `nil` keeps the
/// host's test default.
public struct HostRouteOptions: Sendable {
    public var maxFrameSize: Int?
    public var maxFirstMessageSize: Int?
    public var allowedOrigins: Set<String>?
    public var allowedHosts: Set<String>?
    public var inboundCapacity: Int?
    public var inboundByteLimit: Int?

    public init(
        maxFrameSize: Int? = nil, maxFirstMessageSize: Int? = nil, allowedOrigins: Set<String>? = nil,
        allowedHosts: Set<String>? = nil, inboundCapacity: Int? = nil, inboundByteLimit: Int? = nil
    ) {
        self.maxFrameSize = maxFrameSize
        self.maxFirstMessageSize = maxFirstMessageSize
        self.allowedOrigins = allowedOrigins
        self.allowedHosts = allowedHosts
        self.inboundCapacity = inboundCapacity
        self.inboundByteLimit = inboundByteLimit
    }
}

/// What a route's handler gets, framework-neutral: the transport and what the scenarios read
/// of the host's transport type.
public struct HostedConnection: Sendable {
    public let transport: any Transport
    /// The close code this side sent, if any.
    public let sentCloseCode: @Sendable () -> UInt16?
    /// Messages and bytes received and not yet taken by `receive()`.
    public let queued: @Sendable () -> (messages: Int, bytes: Int)

    public init(
        transport: any Transport, sentCloseCode: @escaping @Sendable () -> UInt16?,
        queued: @escaping @Sendable () -> (messages: Int, bytes: Int)
    ) {
        self.transport = transport
        self.sentCloseCode = sentCloseCode
        self.queued = queued
    }
}

/// An extra ARCP route (the general form: a handler of one's own) at `path`, e.g. "/probe".
public struct HostRoute: Sendable {
    public var path: String
    public var options: HostRouteOptions
    public var handler: @Sendable (HostedConnection) async -> Void

    public init(path: String, options: HostRouteOptions = HostRouteOptions(), handler: @escaping @Sendable (HostedConnection) async -> Void) {
        self.path = path
        self.options = options
        self.handler = handler
    }
}

/// A real application of one web framework on 127.0.0.1, port 0: `GET /health` → "ok" beside
/// the ARCP route at `/arcp` (the demo agents; tokens `tok` and `tok2`), plus `routes`.
public protocol ARCPTestHost: Sendable {
    /// "Hummingbird", "Vapor".
    static var name: String { get }
    /// The HTTP status of a refused upgrade (Hummingbird answers every refusal with 400).
    static var refusedUpgradeStatus: Int { get }
    /// Whether that refusal's body says why.
    static var refusalSaysWhy: Bool { get }
    /// Whether the 426 for a plain request is a JSON error body.
    static var upgradeRequiredIsJSON: Bool { get }

    /// - Parameter serverFrameLimit: the framework's own WebSocket frame limit, where it has
    ///   one apart from the route's (`nil`: its test default).
    static func start(options: HostRouteOptions, serverFrameLimit: Int?, routes: [HostRoute]) async throws -> Self
    var port: Int { get }
    /// Graceful shutdown, the framework's way; returns once the server has stopped.
    func stop() async throws
}

extension ARCPTestHost {
    public var url: String { "ws://127.0.0.1:\(port)/arcp" }

    public static func start(
        options: HostRouteOptions = HostRouteOptions(), serverFrameLimit: Int? = nil, routes: [HostRoute] = []
    ) async throws -> Self {
        try await start(options: options, serverFrameLimit: serverFrameLimit, routes: routes)
    }

    /// The runtime a host's test application serves: the test tokens (`tok` for
    /// me@example.com, `tok2` for other@example.com), no runtime heartbeat, quiet logs. The
    /// caller registers the agents.
    public static func testRuntime(maxPendingFrames: Int? = nil) -> ARCPRuntime {
        var cfg = ARCPRuntime.Configuration()
        cfg.heartbeatInterval = nil
        if let maxPendingFrames { cfg.buffering.maxPendingFrames = maxPendingFrames }
        cfg.logger.logLevel = .critical
        return ARCPRuntime(configuration: cfg, verifier: StaticBearerVerifier(["tok": "me@example.com", "tok2": "other@example.com"]))
    }

    /// Checks that the application still serves a session: `echo` of `label` comes back.
    public func stillServes(_ label: String) async throws {
        let client = try await client()
        #expect(try await client.submit(agent: "echo", input: .string(label)).result().result == ["echoed": .string(label)])
        await client.close()
    }

    /// A connected client session over `ARCPWebSocket`'s NIO client.
    public func client(token: String = "tok", path: String = "/arcp") async throws -> ARCPClient {
        var options = ARCPClient.Options()
        options.requestTimeout = .seconds(10)
        options.logger.logLevel = .critical
        let client = ARCPClient(token: token, options: options)
        try await client.connect(try await WebSocketTransport.connect(to: "ws://127.0.0.1:\(port)\(path)"))
        return client
    }
}

/// The shared scenarios by name: a host's suite runs them all as one parameterized test,
/// `@Test(arguments: HostScenario.allCases) func shared(_ s: HostScenario) { try await s.run(on: MyHost.self) }`,
/// so a scenario added here runs against every host without a line in either suite.
public enum HostScenario: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case echoAndAStreamingJobBesideAnHTTPRoute
    case plainHTTPRequestForTheARCPPathGets426
    case malformedJSONGetsInvalidRequestAndTheSessionSurvives
    case theLastFramesOfASessionAreWrittenBeforeTheClose
    case binaryFrameClosesWith1003AndAReason
    case aViolationIsReportedOnceThenTheTransportEnds
    case oversizedMessagesCloseWith1009
    case originAllowListDecidesTheUpgrade
    case aSessionThatDoesNotReadBackPressuresTheSender
    case gracefulShutdownEndsTheSessions

    public var testDescription: String { rawValue }

    /// Runs the scenario against `host`.
    public func run<Host: ARCPTestHost>(on host: Host.Type) async throws {
        typealias S = HostScenarios<Host>
        switch self {
        case .echoAndAStreamingJobBesideAnHTTPRoute: try await S.echoAndAStreamingJobBesideAnHTTPRoute()
        case .plainHTTPRequestForTheARCPPathGets426: try await S.plainHTTPRequestForTheARCPPathGets426()
        case .malformedJSONGetsInvalidRequestAndTheSessionSurvives: try await S.malformedJSONGetsInvalidRequestAndTheSessionSurvives()
        case .theLastFramesOfASessionAreWrittenBeforeTheClose: try await S.theLastFramesOfASessionAreWrittenBeforeTheClose()
        case .binaryFrameClosesWith1003AndAReason: try await S.binaryFrameClosesWith1003AndAReason()
        case .aViolationIsReportedOnceThenTheTransportEnds: try await S.aViolationIsReportedOnceThenTheTransportEnds()
        case .oversizedMessagesCloseWith1009: try await S.oversizedMessagesCloseWith1009()
        case .originAllowListDecidesTheUpgrade: try await S.originAllowListDecidesTheUpgrade()
        case .aSessionThatDoesNotReadBackPressuresTheSender: try await S.aSessionThatDoesNotReadBackPressuresTheSender()
        case .gracefulShutdownEndsTheSessions: try await S.gracefulShutdownEndsTheSessions()
        }
    }
}

/// The scenarios, each one case of each host's `shared` test (`HostScenario`).
public enum HostScenarios<Host: ARCPTestHost> {
    public static func echoAndAStreamingJobBesideAnHTTPRoute() async throws {
        let app = try await Host.start()
        let client = try await app.client()

        let echo = try await client.submit(agent: "echo", input: ["hi": 1])
        #expect(try await echo.result().result == ["echoed": ["hi": 1]])

        // A stream of events, then a streamed result.
        let flood = try await client.submit(agent: "flood", input: ["n": 2000])
        var events = 0
        for try await _ in flood.events { events += 1 }
        #expect(events == 2000)
        #expect(try await flood.result().result == ["n": 2000])
        let text = String(repeating: "\(Host.name) carries ARCP. ", count: 40)
        let chunked = try await client.submit(agent: "chunked", input: ["text": .string(text), "chunk_size": 16])
        let outcome = try await chunked.result()
        #expect(outcome.streamedBytes.map { String(decoding: $0, as: UTF8.self) } == text)

        // The app's own route still answers, while the session is open.
        let health = try await httpGet(port: app.port, path: "/health")
        #expect(health.status == 200)
        #expect(health.body == "ok")

        await client.close()
        try await app.stop()
    }

    public static func plainHTTPRequestForTheARCPPathGets426() async throws {
        let app = try await Host.start()
        let reply = try await httpGet(port: app.port, path: "/arcp")
        #expect(reply.status == 426)
        #expect(reply.body.contains("upgrade required"), "body: \(reply.body)")
        #expect(reply.head.lowercased().contains("upgrade: websocket"), "head: \(reply.head)")
        if Host.upgradeRequiredIsJSON {
            #expect(reply.head.lowercased().contains("content-type: application/json"), "head: \(reply.head)")
        }
        #expect(try await httpGet(port: app.port, path: "/elsewhere").status == 404)
        // The refusal did not disturb ARCP.
        let client = try await app.client()
        #expect(try await client.submit(agent: "echo", input: 1).result().result == ["echoed": 1])
        await client.close()
        try await app.stop()
    }

    public static func malformedJSONGetsInvalidRequestAndTheSessionSurvives() async throws {
        let app = try await Host.start()
        let t = try await WebSocketTransport.connect(to: app.url)
        let sid = try await handshake(t)
        for bad in ["{not json", "[1,2,3]", "\"just a string\""] {
            try await t.send(bad)
            let err = try await next(t, "session.error")
            guard case .sessionError(let e) = err.message else { continue }
            #expect(e.code == .invalidRequest, "for \(bad): \(e)")
        }
        try await t.send(Frames.ping("still-here", session: sid))
        let pong = try await next(t, "session.pong")
        if case .sessionPong(let p) = pong.message { #expect(p.pingNonce == "still-here") }
        try await t.send(Frames.submit("echo", ["after": "garbage"], session: sid))
        let result = try await next(t, "job.result")
        if case .jobResult(let r) = result.message { #expect(r.result == ["echoed": ["after": "garbage"]]) }
        await t.close()
        try await app.stop()
    }

    /// `session.close`: the runtime answers `session.closed` and ends the session; that last
    /// frame is written although the session's writer is cancelled right after queueing it,
    /// and the close frame (1000) follows it.
    public static func theLastFramesOfASessionAreWrittenBeforeTheClose() async throws {
        let app = try await Host.start()
        let t = try await WebSocketTransport.connect(to: app.url)
        let sid = try await handshake(t)
        try await t.send(FrameCodec.encode(Envelope.make(.sessionClose(SessionClosePayload(reason: "done")), sessionID: sid)))
        let closed = try await next(t, "session.closed")
        if case .sessionClosed(let c) = closed.message { #expect(c.reason == "done") }
        #expect(try await within(.seconds(10), "the end of the connection") { try await t.receive() == nil })
        #expect(t.peerCloseFrame?.code == 1000)
        // ARCPClient.close does the same, and the server's close frame follows.
        var options = ARCPClient.Options()
        options.logger.logLevel = .critical
        let client = ARCPClient(token: "tok", options: options)
        let t2 = try await WebSocketTransport.connect(to: app.url, closeTimeout: .seconds(15))
        try await client.connect(t2)
        await client.close()
        #expect(t2.peerCloseFrame?.code == 1000)
        try await app.stop()
    }

    public static func binaryFrameClosesWith1003AndAReason() async throws {
        let app = try await Host.start()
        let raw = try await RawWebSocketClient.connect(port: app.port)
        let close = try await raw.run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text(Frames.hello()))
            try await outbound.write(RawWebSocketClient.frame(.binary, [0x7B, 0x7D]))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(close?.code == 1003)
        #expect(close?.reason.contains("binary") == true, "reason: \(close?.reason ?? "-")")
        // Other sessions are unaffected.
        let client = try await app.client()
        #expect(try await client.submit(agent: "echo", input: 2).result().result == ["echoed": 2])
        await client.close()
        try await app.stop()
    }

    /// What a session sees of a violation: the messages before it, the `TransportError` once,
    /// then `nil`; the connection is closed with the violation's code.
    public static func aViolationIsReportedOnceThenTheTransportEnds() async throws {
        let seen = Mutex<[String]>([])
        let sentCode = Mutex<UInt16?>(nil)
        let done = Latch()
        let probe = HostRoute(path: "/probe") { connection in
            let transport = connection.transport
            while true {
                do {
                    guard let message = try await transport.receive() else {
                        seen.withLock { $0.append("nil") }
                        break
                    }
                    seen.withLock { $0.append(message) }
                } catch {
                    seen.withLock { $0.append("error: \(error)") }
                }
            }
            sentCode.withLock { $0 = connection.sentCloseCode() }
            done.open()
        }
        let app = try await Host.start(routes: [probe])
        let close = try await RawWebSocketClient.connect(port: app.port, path: "/probe").run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text("first"))
            try await outbound.write(RawWebSocketClient.frame(.binary, [1, 2, 3]))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        try await within(.seconds(5), "the handler to finish") { await done.wait() }
        #expect(close?.code == 1003)
        #expect(seen.withLock { $0 } == ["first", "error: invalid frame: binary frame", "nil"])
        #expect(sentCode.withLock { $0 } == 1003)
        try await app.stop()
    }

    public static func oversizedMessagesCloseWith1009() async throws {
        // The route allows 64 KiB messages; the framework (where it has a limit of its own)
        // 128 KiB frames.
        let app = try await Host.start(options: HostRouteOptions(maxFrameSize: 64 * 1024), serverFrameLimit: 128 * 1024)
        let big = Frames.submit("echo", ["blob": .string(String(repeating: "x", count: 100 * 1024))])
        // One frame over the route's limit: the transport closes with 1009 and a reason.
        let single = try await RawWebSocketClient.connect(port: app.port).run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text(Frames.hello()))
            try await outbound.write(RawWebSocketClient.text(big))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(single?.code == 1009)
        #expect(single?.reason.contains("65536") == true, "reason: \(single?.reason ?? "-")")
        // A message fragmented into frames under the limit, over it in total.
        let bytes = Array(big.utf8)
        let fragmented = try await RawWebSocketClient.connect(port: app.port).run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text(Frames.hello()))
            try await outbound.write(RawWebSocketClient.frame(.text, Array(bytes[..<50_000]), fin: false))
            try await outbound.write(RawWebSocketClient.frame(.continuation, Array(bytes[50_000...]), fin: true))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(fragmented?.code == 1009)
        #expect(fragmented?.reason.contains("65536") == true, "reason: \(fragmented?.reason ?? "-")")
        // Many small fragments: bounded the same way (no message grows past the limit).
        let chunks = stride(from: 0, to: bytes.count, by: 1000).map { Array(bytes[$0..<min($0 + 1000, bytes.count)]) }
        let many = try await RawWebSocketClient.connect(port: app.port).run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text(Frames.hello()))
            for (i, chunk) in chunks.enumerated() {
                try? await outbound.write(RawWebSocketClient.frame(i == 0 ? .text : .continuation, chunk, fin: i == chunks.count - 1))
            }
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(many?.code == 1009)
        // One frame over the framework's own frame limit too: 1009.
        let huge = Frames.submit("echo", ["blob": .string(String(repeating: "y", count: 200 * 1024))])
        let overServer = try await RawWebSocketClient.connect(port: app.port).run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text(Frames.hello()))
            try await outbound.write(RawWebSocketClient.text(huge))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(overServer?.code == 1009)
        // A message under the limit, fragmented, is reassembled into one envelope.
        let hello = Array(Frames.hello().utf8)
        let welcome = try await RawWebSocketClient.connect(port: app.port).run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.frame(.text, Array(hello[..<10]), fin: false))
            try await outbound.write(RawWebSocketClient.frame(.continuation, Array(hello[10..<20]), fin: false))
            try await outbound.write(RawWebSocketClient.frame(.continuation, Array(hello[20...]), fin: true))
            var iterator = inbound.makeAsyncIterator()
            return try await RawWebSocketClient.nextText(&iterator)
        }
        #expect(welcome?.contains("session.welcome") == true, "got \(welcome ?? "nothing")")
        try await app.stop()
    }

    public static func originAllowListDecidesTheUpgrade() async throws {
        let app = try await Host.start(options: HostRouteOptions(allowedOrigins: ["https://App.Example.com"]))
        await #expect(throws: TransportError.self) {
            _ = try await RawWebSocketClient.connect(port: app.port, headers: [("Origin", "https://evil.example")])
        }
        // On the wire: the framework's refusal status (and, where it says why, the reason).
        let refused = try await httpGet(port: app.port, path: "/arcp", headers: [
            "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Origin: https://evil.example",
        ])
        #expect(refused.status == Host.refusedUpgradeStatus)
        if Host.refusalSaysWhy {
            #expect(refused.body.contains("origin not allowed"), "body: \(refused.body)")
        }
        for headers in [[("Origin", "https://app.example.com")], []] {
            let raw = try await RawWebSocketClient.connect(port: app.port, headers: headers)
            let welcome = try await raw.run { inbound, outbound in
                try await outbound.write(RawWebSocketClient.text(Frames.hello()))
                var iterator = inbound.makeAsyncIterator()
                let text = try await RawWebSocketClient.nextText(&iterator)
                try await outbound.write(RawWebSocketClient.frame(.connectionClose, [0x03, 0xE8]))
                return text
            }
            #expect(welcome?.contains("session.welcome") == true, "with \(headers): \(welcome ?? "nothing")")
        }
        try await app.stop()

        // Host allow-list (against DNS rebinding): the raw client sends Host 127.0.0.1:PORT.
        let hosts = try await Host.start(options: HostRouteOptions(allowedHosts: ["localhost"]))
        await #expect(throws: TransportError.self) { _ = try await RawWebSocketClient.connect(port: hosts.port) }
        try await hosts.stop()
        let ip = try await Host.start(options: HostRouteOptions(allowedHosts: ["127.0.0.1"]))
        let client = try await ip.client()
        await client.close()
        try await ip.stop()
    }

    /// A session that does not read: the transport's bounded inbox fills (4 messages, 256 KiB),
    /// it stops taking frames, the framework stops reading the socket, and the sender's `send`
    /// stalls once the socket buffers are full. Once the session reads, every message arrives,
    /// in order.
    public static func aSessionThatDoesNotReadBackPressuresTheSender() async throws {
        let total = 256
        let connections = Mutex<[HostedConnection]>([])
        let go = Latch()
        let received = Mutex<[Int]>([])
        let allReceived = Latch()
        // (The first message, 64 KiB + 2 bytes, is over the default first-message cap: raised.)
        let limits = HostRouteOptions(
            maxFrameSize: 1 << 20, maxFirstMessageSize: 1 << 20, inboundCapacity: 4, inboundByteLimit: 256 * 1024)
        let sink = HostRoute(path: "/sink", options: limits) { connection in
            connections.withLock { $0.append(connection) }
            await go.wait()
            while let message = try? await connection.transport.receive() {
                let index = Int(message.prefix { $0 != ":" }) ?? -1
                let count = received.withLock { r -> Int in
                    r.append(index)
                    return r.count
                }
                if count == total { allReceived.open() }
            }
        }
        let app = try await Host.start(serverFrameLimit: 1 << 20, routes: [sink])
        let t = try await WebSocketTransport.connect(to: "ws://127.0.0.1:\(app.port)/sink", inboundByteLimit: 64 * 1024)
        // 16 MiB in all: well over what the loopback socket buffers held here (about 6 MiB).
        let padding = String(repeating: "p", count: 64 * 1024)
        let sent = Atomic<Int>(0)
        let sender = Task {
            for i in 0..<total {
                try await t.send("\(i):\(padding)")
                sent.add(1, ordering: .relaxed)
            }
        }
        // Wait until the sender stalls: no progress for half a second.
        var last = -1
        var stableSince = ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let now = sent.load(ordering: .relaxed)
            if now == total { break }
            if now != last {
                last = now
                stableSince = .now
            } else if ContinuousClock.now - stableSince > .milliseconds(500) {
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(sent.load(ordering: .relaxed) < total, "the sender was never slowed down")
        let server = try #require(connections.withLock { $0.first })
        let queued = server.queued()
        #expect(queued.messages <= 4)
        // The inbox limit, plus the one message that may cross it.
        #expect(queued.bytes <= 256 * 1024 + 65 * 1024, "queued \(queued.bytes) bytes")
        // Now the session reads: everything arrives, in order, nothing dropped.
        go.open()
        // 16 MiB through a debug build's masking and UTF-8 checks: a second alone, many on a
        // saturated 2-core machine. A stall shows as no progress, named in the message.
        try await within(.seconds(90), "the sender to finish (\(sent.load(ordering: .relaxed)) of \(total) sent, \(received.withLock { $0.count }) received)") {
            try await sender.value
        }
        try await within(.seconds(90), "every message to arrive (\(received.withLock { $0.count }) of \(total))") { await allReceived.wait() }
        #expect(received.withLock { $0 } == Array(0..<total))
        await t.close()
        try await app.stop()
    }

    /// Graceful shutdown of the application: the runtime says goodbye to every session, the
    /// connections close, and the server stops.
    public static func gracefulShutdownEndsTheSessions() async throws {
        let app = try await Host.start()
        let raw = try await WebSocketTransport.connect(to: app.url)
        _ = try await handshake(raw)
        let client = try await app.client()
        let slow = try await client.submit(agent: "slow", input: ["seconds": 30, "tick": 0.05])
        // The job is running (its first event arrived) before the shutdown starts.
        var iterator = slow.events.makeAsyncIterator()
        _ = try await iterator.next()

        let clock = ContinuousClock()
        let start = clock.now
        async let stopped: Void = app.stop()
        let sawBye = try await within(.seconds(20), "the connection to close") { () -> Bool in
            var sawBye = false
            while let frame = try await raw.receive() {
                if frame.contains("session.bye") { sawBye = true }
            }
            return sawBye
        }
        try await stopped
        #expect(sawBye, "the runtime said goodbye before the connection closed")
        #expect(raw.peerCloseFrame?.code == 1000)
        // The running job was stopped by the shutdown (job.error, or a non-success result).
        let ended = try await within(.seconds(5), "the slow job's end") { () -> Bool in
            do { return try await slow.result().finalStatus != .success } catch { return true }
        }
        #expect(ended)
        #expect(clock.now - start < .seconds(10))
        await client.close()
        await raw.close()
    }

    // MARK: The Python reference client

    static var python: String { PackagePaths.root.appendingPathComponent(".venv/bin/python").path }
    static var pyClient: String { PackagePaths.root.appendingPathComponent("Tests/Interop/py_client.py").path }

    /// The Python reference client (agentruntimecontrolprotocol 1.1.3, Tests/Interop/py_client.py)
    /// runs `echo` against the runtime mounted in the host.
    public static func pythonClientRunsEcho() async throws {
        let app = try await Host.start()
        let child = try TestProcess(python, [pyClient, "--url", app.url, "echo"], label: "py_client")
        child.closeStdin()
        let status = await child.wait(timeout: .seconds(40))
        let line = child.stdout.split(separator: "\n").first { $0.contains("\"scenario\"") }.map(String.init) ?? ""
        let object = try? JSONParser.parse(line)
        #expect(status == 0, "py_client exit \(status); stdout: \(child.stdout.suffix(2000)); stderr: \(child.stderr.suffix(2000))")
        #expect(object?["scenario"]?.stringValue == "echo")
        #expect(object?["ok"]?.boolValue == true, "line: \(line)")
        #expect(object?["transport"]?.stringValue == "ws")
        try await app.stop()
    }
}

/// Why the Python reference client cannot be used, or nil when it can.
public let pythonReferenceUnavailableReason: String? = {
    let python = PackagePaths.root.appendingPathComponent(".venv/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: python) else {
        return "no Python reference venv at \(python): run Scripts/setup-python.sh to run this test"
    }
    let (status, _, err) = runSync(python, ["-c", "import arcp, websockets, importlib.metadata as m; assert m.version('agentruntimecontrolprotocol') == '1.1.3'"])
    guard status == 0 else {
        let why = err.split(separator: "\n").last.map(String.init) ?? "exit \(status)"
        return "the venv at \(python) lacks agentruntimecontrolprotocol==1.1.3 (\(why)): run Scripts/setup-python.sh"
    }
    return nil
}()
