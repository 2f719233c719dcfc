import ARCP
import ARCPTestSupport
@testable import ARCPVapor
import ARCPWebSocket
import Foundation
import NIOCore
import NIOWebSocket
import Synchronization
import Testing
import Vapor

/// ARCP mounted in a real Vapor 4 application (`app.arcp(runtime, at: "arcp")`) beside an
/// ordinary HTTP route, driven over loopback by `ARCPWebSocket`'s NIO client, a raw WebSocket
/// client and the Python reference client: the scenarios of the Hummingbird host's tests.
@Suite("ARCP in a Vapor app", .timeLimit(.minutes(1)))
struct VaporHostTests {
    @Test func echoAndAStreamingJobBesideAnHTTPRoute() async throws {
        let app = try await VaporApp.start()
        let client = try await app.client()

        let echo = try await client.submit(agent: "echo", input: ["hi": 1])
        #expect(try await echo.result().result == ["echoed": ["hi": 1]])

        // A stream of events, then a streamed result.
        let flood = try await client.submit(agent: "flood", input: ["n": 2000])
        var events = 0
        for try await _ in flood.events { events += 1 }
        #expect(events == 2000)
        #expect(try await flood.result().result == ["n": 2000])
        let text = String(repeating: "Vapor carries ARCP. ", count: 40)
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

    @Test func plainHTTPRequestForTheARCPPathGets426() async throws {
        let app = try await VaporApp.start()
        let reply = try await httpGet(port: app.port, path: "/arcp")
        #expect(reply.status == 426)
        #expect(reply.body.contains("upgrade required"), "body: \(reply.body)")
        #expect(reply.head.lowercased().contains("content-type: application/json"), "head: \(reply.head)")
        #expect(reply.head.lowercased().contains("upgrade: websocket"), "head: \(reply.head)")
        #expect(try await httpGet(port: app.port, path: "/elsewhere").status == 404)
        // The refusal did not disturb ARCP.
        let client = try await app.client()
        #expect(try await client.submit(agent: "echo", input: 1).result().result == ["echoed": 1])
        await client.close()
        try await app.stop()
    }

    @Test func malformedJSONGetsInvalidRequestAndTheSessionSurvives() async throws {
        let app = try await VaporApp.start()
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
    @Test func theLastFramesOfASessionAreWrittenBeforeTheClose() async throws {
        let app = try await VaporApp.start()
        let t = try await WebSocketTransport.connect(to: app.url)
        let sid = try await handshake(t)
        try await t.send(FrameCodec.encode(Envelope.make(.sessionClose(SessionClosePayload(reason: "done")), sessionID: sid)))
        let closed = try await next(t, "session.closed")
        if case .sessionClosed(let c) = closed.message { #expect(c.reason == "done") }
        #expect(try await t.receive() == nil)
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

    @Test func binaryFrameClosesWith1003AndAReason() async throws {
        let app = try await VaporApp.start()
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
    @Test func aViolationIsReportedOnceThenTheTransportEnds() async throws {
        let seen = Mutex<[String]>([])
        let sentCode = Mutex<UInt16?>(nil)
        let done = Latch()
        let app = try await VaporApp.start { app, _ in
            app.arcp(at: ["probe"]) { transport, _ in
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
                sentCode.withLock { $0 = transport.sentCloseCode }
                done.open()
            }
        }
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

    @Test func oversizedMessagesCloseWith1009() async throws {
        // The route allows 64 KiB messages and frames.
        let app = try await VaporApp.start(options: ARCPVaporOptions(maxFrameSize: 64 * 1024, pingInterval: nil))
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

    @Test func originAllowListDecidesTheUpgrade() async throws {
        let app = try await VaporApp.start(options: ARCPVaporOptions(allowedOrigins: ["https://App.Example.com"], pingInterval: nil))
        await #expect(throws: TransportError.self) {
            _ = try await RawWebSocketClient.connect(port: app.port, headers: [("Origin", "https://evil.example")])
        }
        // On the wire: a refused upgrade gets 403 and says why.
        let refused = try await httpGet(port: app.port, path: "/arcp", headers: [
            "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Origin: https://evil.example",
        ])
        #expect(refused.status == 403)
        #expect(refused.body.contains("origin not allowed"), "body: \(refused.body)")
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
        let hosts = try await VaporApp.start(options: ARCPVaporOptions(allowedHosts: ["localhost"], pingInterval: nil))
        await #expect(throws: TransportError.self) { _ = try await RawWebSocketClient.connect(port: hosts.port) }
        try await hosts.stop()
        let ip = try await VaporApp.start(options: ARCPVaporOptions(allowedHosts: ["127.0.0.1"], pingInterval: nil))
        let client = try await ip.client()
        await client.close()
        try await ip.stop()
    }

    /// `arcp(at:options:onConnection:)` on a route group: the handler sees the upgrade
    /// request, and closing the transport closes the connection with 1000.
    @Test func theGeneralFormSeesTheUpgradeRequest() async throws {
        let seen = Mutex<[String]>([])
        let app = try await VaporApp.start { app, runtime in
            app.grouped("v1").arcp(at: ["tenant"]) { transport, request in
                seen.withLock { $0.append(request.headers.first(name: "X-Tenant") ?? "none") }
                await runtime.accept(transport)
            }
            app.grouped("v2").arcp(runtime, at: "arcp")
        }
        // A close timeout far above the close handshake's time even under a loaded parallel suite.
        let t = try await WebSocketTransport.connect(
            to: "ws://127.0.0.1:\(app.port)/v1/tenant", headers: ["X-Tenant": "acme"], closeTimeout: .seconds(15))
        _ = try await handshake(t)
        await t.close()
        #expect(t.peerCloseFrame?.code == 1000)
        #expect(seen.withLock { $0 } == ["acme"])

        let client = try await app.client(path: "/v2/arcp")
        #expect(try await client.submit(agent: "echo", input: "grouped").result().result == ["echoed": "grouped"])
        await client.close()
        try await app.stop()
    }

    /// A session that does not read: the transport's bounded inbox fills (4 messages, 256 KiB),
    /// the connection stops reading the socket, and the sender's `send`
    /// stalls once the socket buffers are full. Once the session reads, every message arrives,
    /// in order.
    @Test func aSessionThatDoesNotReadBackPressuresTheSender() async throws {
        let total = 256
        let transports = Mutex<[VaporWebSocketTransport]>([])
        let go = Latch()
        let received = Mutex<[Int]>([])
        let allReceived = Latch()
        let limits = ARCPVaporOptions(maxFrameSize: 1 << 20, inboundCapacity: 4, inboundByteLimit: 256 * 1024, pingInterval: nil)
        let app = try await VaporApp.start { app, _ in
            app.arcp(at: ["sink"], options: limits) { transport, _ in
                transports.withLock { $0.append(transport) }
                await go.wait()
                while let message = try? await transport.receive() {
                    let index = Int(message.prefix { $0 != ":" }) ?? -1
                    let count = received.withLock { r -> Int in
                        r.append(index)
                        return r.count
                    }
                    if count == total { allReceived.open() }
                }
            }
        }
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
        let server = try #require(transports.withLock { $0.first })
        #expect(server.queuedMessages <= 4)
        // The inbox limit, plus what one socket read (at most 4 × 64 KiB) completed.
        #expect(server.queuedBytes <= 256 * 1024 + 4 * 65 * 1024, "queued \(server.queuedBytes) bytes")
        // Now the session reads: everything arrives, in order, nothing dropped.
        go.open()
        try await within(.seconds(20), "the sender to finish") { try await sender.value }
        try await within(.seconds(20), "every message to arrive") { await allReceived.wait() }
        #expect(received.withLock { $0 } == Array(0..<total))
        await t.close()
        try await app.stop()
    }

    /// Graceful shutdown of the application (`app.asyncShutdown()`, then the HTTP server): the
    /// runtime says goodbye to every session, the connections close.
    @Test func gracefulShutdownEndsTheSessions() async throws {
        let app = try await VaporApp.start()
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
        var sawBye = false
        while let frame = try await raw.receive() {
            if frame.contains("session.bye") { sawBye = true }
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
}

/// The Python reference client (agentruntimecontrolprotocol 1.1.3, Tests/Interop/py_client.py)
/// against the runtime mounted in Vapor.
@Suite("ARCP in a Vapor app: Python reference client", .timeLimit(.minutes(1)))
struct VaporPythonClientTests {
    static let root = PackagePaths.root
    static let python = root.appendingPathComponent(".venv/bin/python").path
    static let pyClient = root.appendingPathComponent("Tests/Interop/py_client.py").path

    /// Why the Python reference cannot be used here, or nil when it can.
    static let unavailableReason: String? = {
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

    @Test(.enabled(if: unavailableReason == nil, Comment(rawValue: unavailableReason ?? "Python reference available")))
    func pythonClientRunsEcho() async throws {
        let app = try await VaporApp.start()
        let child = try TestProcess(Self.python, [Self.pyClient, "--url", app.url, "echo"], label: "py_client")
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
