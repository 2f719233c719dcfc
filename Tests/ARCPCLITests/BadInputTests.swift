import ARCP
import ARCPTestSupport
import ARCPWebSocket
import Foundation
import NIOCore
import NIOWebSocket
import Synchronization
import Testing

/// Bad input over WebSocket against what `arcp serve` runs (WebSocketServer + ARCPRuntime +
/// the demo agents): it gets an error frame or a close with a reason, and never takes the
/// server, other sessions or running jobs down.
@Suite("Bad input over WebSocket", .timeLimit(.minutes(1)))
struct BadInputTests {
    /// An echo job on a separate, well-behaved session completes promptly.
    func otherSessionWorks(_ served: ServedRuntime, _ label: String) async throws {
        try await within(.seconds(60), "echo on another session while \(label)") {
            let client = try await served.client()
            let job = try await client.submit(agent: "echo", input: ["other": true])
            let outcome = try await job.result()
            #expect(outcome.result == ["echoed": ["other": true]])
            await client.close()
        }
    }

    @Test func malformedJSONGetsAnErrorFrameAndTheSessionSurvives() async throws {
        let served = try await ServedRuntime.start()
        let t = try await WebSocketTransport.connect(to: served.url)
        let sid = try await handshake(t)
        for bad in ["{not json", "[1,2,3]", "\"just a string\"", #"{"arcp":"1.1","id":"01M8876EHRZFYBWW8NAFTYKXP3","type":"job.submit","payload":{"agent":7}}"#] {
            try await t.send(bad)
            let err = try await next(t, "session.error")
            guard case .sessionError(let e) = err.message else { continue }
            #expect(e.code == .invalidRequest, "for \(bad): \(e)")
        }
        // Still the same, working session.
        try await t.send(Frames.ping("still-here", session: sid))
        let pong = try await next(t, "session.pong")
        if case .sessionPong(let p) = pong.message { #expect(p.pingNonce == "still-here") }
        try await t.send(Frames.submit("echo", ["after": "garbage"], session: sid))
        let result = try await next(t, "job.result")
        if case .jobResult(let r) = result.message { #expect(r.result == ["echoed": ["after": "garbage"]]) }
        await t.close()
        await served.stop()
    }

    @Test func malformedFirstFrameIsAnsweredThenClosed() async throws {
        let served = try await ServedRuntime.start()
        let t = try await WebSocketTransport.connect(to: served.url)
        try await t.send("hello?")
        let reply = try #require(try await t.receive())
        guard case .sessionError(let e)? = Frames.decode(reply)?.message else {
            Issue.record("expected session.error, got \(reply)")
            return
        }
        #expect(e.code == .invalidRequest)
        #expect(try await t.receive() == nil, "the connection closes after the error")
        try await otherSessionWorks(served, "a peer sent garbage first")
        await served.stop()
    }

    @Test func binaryFrameClosesWith1003AndAReason() async throws {
        let served = try await ServedRuntime.start()
        let raw = try await RawWebSocketClient.connect(port: served.port)
        let close = try await raw.run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text(Frames.hello()))
            try await outbound.write(RawWebSocketClient.frame(.binary, [0x7B, 0x7D]))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(close?.code == 1003)
        #expect(close?.reason.isEmpty == false)
        try await otherSessionWorks(served, "a peer sent a binary frame")
        await served.stop()
    }

    @Test func oversizedFrameClosesWith1009() async throws {
        let served = try await ServedRuntime.start(maxFrameSize: 64 * 1024)
        let raw = try await RawWebSocketClient.connect(port: served.port)
        let big = Frames.submit("echo", ["blob": .string(String(repeating: "x", count: 100 * 1024))])
        let close = try await raw.run { inbound, outbound in
            try await outbound.write(RawWebSocketClient.text(Frames.hello()))
            try await outbound.write(RawWebSocketClient.text(big))
            return try await RawWebSocketClient.awaitClose(inbound)
        }
        #expect(close?.code == 1009)
        #expect(close?.reason.isEmpty == false)
        try await otherSessionWorks(served, "a peer sent an oversized frame")
        await served.stop()
    }

    /// A client that floods pings without reading the pongs: the runtime stops reading it once
    /// its answers back up (bounded queue → WebSocket inbound queue → TCP), so the flooder's
    /// own sends stall; another session is served meanwhile; once the flooder reads, every
    /// answer arrives (nothing dropped).
    @Test func floodIsBackPressuredNothingIsLostAndOthersAreServed() async throws {
        let served = try await ServedRuntime.start(maxFrameSize: 1 << 20, maxPendingFrames: 16)
        let t = try await WebSocketTransport.connect(to: served.url)
        let sid = try await handshake(t)
        // 24 MiB in all: more than the kernel's loopback socket buffers in both directions hold.
        let total = 3000
        let padding = String(repeating: "p", count: 8 * 1024)
        let sent = Atomic<Int>(0)
        let flooder = Task {
            for i in 0..<total {
                try await t.send(Frames.ping("\(i)-\(padding)", session: sid))
                sent.add(1, ordering: .relaxed)
            }
        }
        // Wait until the flooder stalls: no progress for half a second (or it finished).
        var last = -1
        var stableSince = ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(30)
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
        let stalledAt = sent.load(ordering: .relaxed)
        #expect(stalledAt < total, "all \(total) pings (\(total * 8) KiB) went out without the runtime pushing back")
        try await otherSessionWorks(served, "another client floods")
        // Drain: every ping gets its pong, in order.
        let received = Atomic<Int>(0)
        let drainStart = ContinuousClock.now
        let pongs = try await within(.seconds(30), "draining \(total) pongs (stalled at \(stalledAt))") {
            var expected = 0
            while expected < total, let frame = try await t.receive() {
                // A substring check: decoding every 8 KiB pong is what would make this test slow.
                guard frame.contains("\"session.pong\"") else { continue }
                #expect(frame.contains("\"\(expected)-ppp"), "pong \(expected) out of order")
                expected += 1
                received.add(1, ordering: .relaxed)
            }
            return expected
        }
        print("flood: stalled at \(stalledAt) of \(total); drained in \(ContinuousClock.now - drainStart)")
        #expect(pongs == total)
        try await flooder.value
        await t.close()
        await served.stop()
    }

    /// The client's TCP connection drops (no close frame) while its job runs: the job goes on
    /// to the end, and the principal can see its result from a new session.
    @Test func droppedConnectionNeverLosesARunningJob() async throws {
        let served = try await ServedRuntime.start()
        let raw = try await RawWebSocketClient.connect(port: served.port)
        let jobID: String = try await raw.run { inbound, outbound in
            var frames = inbound.makeAsyncIterator()
            try await outbound.write(RawWebSocketClient.text(Frames.hello()))
            let welcome = try #require(try await RawWebSocketClient.nextText(&frames))
            let sid = Frames.decode(welcome)?.sessionId
            try await outbound.write(RawWebSocketClient.text(Frames.submit("slow", ["seconds": 0.6, "tick": 0.2], session: sid)))
            while let text = try await RawWebSocketClient.nextText(&frames) {
                if case .jobAccepted(let a)? = Frames.decode(text)?.message { return a.jobId }
            }
            throw CancellationError()
        }  // run() closes the socket here without a close handshake
        #expect(served.runtime.jobStatus(jobID) != nil)
        try await within(.seconds(20), "the job runs to its end") { await served.runtime.waitForJob(jobID) }
        #expect(served.runtime.jobStatus(jobID) == .success)
        let client = try await served.client()
        let job = try await client.subscribe(jobID: jobID, history: true)
        let outcome = try await within(.seconds(20), "the ended job's result") { try await job.result() }
        #expect(outcome.result == ["slept": 0.6])
        await client.close()
        await served.stop()
    }
}
