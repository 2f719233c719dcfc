@testable import ARCP
import Foundation
import Testing

@Suite("Client request timeout")
struct ClientRequestTimeoutTests {
    static let sid = "sess_01J9Z6ZK3M8Q4P2V7W1X5Y0A2B"

    /// A client connected to a hand-driven runtime stand-in.
    static func connected(timeout: Duration) async throws -> (ARCPClient, MemoryTransport) {
        var options = ARCPClient.Options()
        options.requestTimeout = timeout
        return try await StandInRuntime.connected(options)
    }

    @Test("an unanswered request fails after requestTimeout; later requests still get their answers")
    func unansweredRequestTimesOut() async throws {
        // 1 s: long enough that the answered request below is in time even when the whole suite
        // runs in parallel on 2 cores, short enough to keep the test quick.
        let (client, r) = try await Self.connected(timeout: .seconds(1))
        // Should the timeout never fire, closing the link after 60 s ends the wait with another
        // error. (5 s was exceeded once on a loaded run: the timer fired at 5.2 s.)
        let guardTask = Task {
            try await Task.sleep(for: .seconds(60))
            await r.close()
        }
        defer { guardTask.cancel() }
        let start = ContinuousClock.now
        do {
            _ = try await client.ping()
            Issue.record("the unanswered ping returned")
        } catch let e as ARCPClientError {
            #expect(e.code == .timedOut)
            #expect(e.message.contains("no answer to session.ping"))
        }
        let waited = ContinuousClock.now - start
        #expect(waited >= .seconds(1))
        #expect(waited < .seconds(60), "the timeout fired after \(waited)")
        _ = try #require(try await r.receive())  // the ping nobody answered

        // The next request is answered: the timed-out one no longer claims the pong. (It gets a
        // generous deadline of its own, so a starved test process cannot time it out too.)
        async let pong = client.request(.sessionPing(SessionPingPayload(nonce: ARCPID.make("p"), sentAt: ARCPTimestamp.string())), timeout: .seconds(60))
        let pingText = try #require(try await r.receive())
        guard case .sessionPing(let p) = try Envelope(jsonText: pingText).message else {
            Issue.record("expected session.ping")
            return
        }
        try await r.send(FrameCodec.encode(Envelope.make(.sessionPong(SessionPongPayload(pingNonce: p.nonce)), sessionID: Self.sid)))
        _ = try await pong
        await r.close()
    }

    @Test("many concurrent unanswered requests all time out")
    func concurrentRequestsTimeOut() async throws {
        let (client, r) = try await Self.connected(timeout: .milliseconds(150))
        let guardTask = Task {
            try await Task.sleep(for: .seconds(5))
            await r.close()
        }
        defer { guardTask.cancel() }
        let failures = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    do {
                        _ = try await client.ping()
                        return false
                    } catch {
                        return (error as? ARCPClientError)?.message.contains("no answer to session.ping") == true
                    }
                }
            }
            var n = 0
            for await timedOut in group where timedOut { n += 1 }
            return n
        }
        #expect(failures == 20)
        await r.close()
    }
}
