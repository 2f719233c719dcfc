import ARCP
import Foundation
import Synchronization
import Testing

/// A transport factory over MemoryTransport that remembers the current client end so a test
/// can drop it at will.
final class DroppableLink: Sendable {
    let runtime: ARCPRuntime
    private let current = Mutex<MemoryTransport?>(nil)
    private let connects = Mutex(0)

    init(runtime: ARCPRuntime) { self.runtime = runtime }

    var connections: Int { connects.withLock { $0 } }

    func make() -> any Transport {
        let (c, r) = MemoryTransport.pair()
        let rt = runtime
        Task { await rt.accept(r) }
        current.withLock { $0 = c }
        connects.withLock { $0 += 1 }
        return c
    }

    func drop() { current.withLock { $0 }?.drop() }
}

@Suite("Client auto-resume and heartbeats")
struct ClientResumeTests {
    @Test("drop test: 10,000 events, 100 random drops, auto-resume; the stream is exactly 1..N")
    func dropHundredTimes() async throws {
        let h = try Harness()
        let link = DroppableLink(runtime: h.runtime)
        var options = ARCPClient.Options()
        options.autoAckEvery = nil
        let client = ARCPClient(token: "tok", options: options)
        try await client.connect(using: { link.make() }, reconnect: .init(maxAttempts: 50, initialBackoff: .milliseconds(1)))
        let n = 10_000
        let job = try await client.submit(agent: "flood", input: ["n": .int(Int64(n))])
        // A dropper drops the live connection 100 times at random moments, each time waiting
        // until the client has resumed, while the consumer keeps reading.
        let dropper = Task {
            for i in 0..<100 {
                try? await Task.sleep(for: .microseconds(Int.random(in: 0...3000)))
                link.drop()
                guard await eventually(.seconds(10), { client.resumeCount > i }) else { return false }
            }
            return true
        }
        var messages: [String] = []
        var seqs: [Int] = []
        for try await event in job.events {
            seqs.append(event.seq)
            if case .log(let l) = event.body { messages.append(l.message) }
        }
        #expect(await dropper.value)
        let outcome = try await job.result()
        #expect(outcome.result == ["n": .int(Int64(n))])
        #expect(messages.count == n)
        let firstBadMessage = messages.indices.first { messages[$0] != "event \($0)" }
        #expect(firstBadMessage == nil, "first out-of-place message at \(firstBadMessage ?? -1)")
        let firstBadSeq = seqs.indices.first { seqs[$0] != $0 + 1 }
        #expect(firstBadSeq == nil, "seq gap/duplicate at index \(firstBadSeq ?? -1): \(firstBadSeq.map { Array(seqs[max(0, $0 - 3)..<min(seqs.count, $0 + 3)]) } ?? [])")
        #expect(client.resumeCount == 100, "resumed \(client.resumeCount) times")
        #expect(link.connections >= client.resumeCount + 1)
        await client.close()
    }

    @Test("the client pings an idle runtime when heartbeat is negotiated")
    func clientPings() async throws {
        let h = try Harness { $0.heartbeatInterval = .seconds(30) }
        let peerRuntime = h.runtime
        _ = peerRuntime
        // A raw runtime stand-in: accept the hello, answer welcome with heartbeat, then watch for a ping.
        let (c, r) = MemoryTransport.pair()
        var options = ARCPClient.Options()
        options.heartbeatInterval = .milliseconds(100)
        let client = ARCPClient(token: "tok", options: options)
        async let connected: Void = client.connect(c)
        let helloText = try #require(try await r.receive())
        let hello = try Envelope(jsonText: helloText)
        #expect(hello.message.type == "session.hello")
        let welcome = SessionWelcomePayload(
            runtime: PeerInfo(name: "fake", version: "0"), sessionId: "sess_01J9Z6ZK3M8Q4P2V7W1X5Y0A2B", resumeToken: "rtk_x",
            resumeWindowSec: 600, heartbeatIntervalSec: 30, capabilities: WelcomeCapabilities(features: [.heartbeat]))
        try await r.send(FrameCodec.encode(Envelope.make(.sessionWelcome(welcome), sessionID: "sess_01J9Z6ZK3M8Q4P2V7W1X5Y0A2B")))
        try await connected
        let next = try #require(try await r.receive())
        #expect(try Envelope(jsonText: next).message.type == "session.ping")
        await r.close()
    }
}

@Suite("Client robustness")
struct ClientRobustnessTests {
    @Test("a frame the client cannot parse is reported and the client keeps going")
    func unparseableFrame() async throws {
        let reports = Mutex<[String]>([])
        let (c, r) = MemoryTransport.pair()
        var options = ARCPClient.Options()
        options.onDiagnostic = { text in reports.withLock { $0.append(text) } }
        let client = ARCPClient(token: "tok", options: options)
        async let connected: Void = client.connect(c)
        _ = try await r.receive()
        let sid = "sess_01J9Z6ZK3M8Q4P2V7W1X5Y0A2B"
        try await r.send(FrameCodec.encode(Envelope.make(
            .sessionWelcome(SessionWelcomePayload(sessionId: sid, resumeToken: "rtk_x", capabilities: WelcomeCapabilities(features: []))),
            sessionID: sid)))
        try await connected
        try await r.send("{ this is not json")
        try await r.send(#"{"arcp":"1.1","id":"01J9Z6ZK3M8Q4P2V7W1X5Y0A2C","type":"x-acme.custom","payload":{}}"#)
        async let pong = client.ping()
        let pingText = try #require(try await r.receive())
        let ping = try Envelope(jsonText: pingText)
        guard case .sessionPing(let p) = ping.message else { Issue.record("expected ping"); return }
        try await r.send(FrameCodec.encode(Envelope.make(.sessionPong(SessionPongPayload(pingNonce: p.nonce)), sessionID: sid)))
        _ = try await pong
        let seen = reports.withLock { $0 }
        #expect(seen.count == 2)
        #expect(seen.first?.contains("unreadable frame") == true)
        #expect(seen.last?.contains("x-acme.custom") == true)
    }
}
