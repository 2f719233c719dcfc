@testable import ARCP
import Foundation
import Testing

/// Every connection's heartbeat, and every detached session's resume window, is an entry of a
/// `DeadlineScheduler` of the runtime (not a task per connection or per session).
@Suite("Deadline schedulers: heartbeats and resume windows")
struct DeadlineSchedulerTests {
    @Test("each detached session's resume window is an entry of the runtime's expiries scheduler; it expires the session and leaves")
    func sessionExpiries() async throws {
        /// Opens `n` sessions on `h` and drops their connections; their ids.
        func openAndDrop(_ n: Int, on h: Harness) async throws -> [String] {
            var opened: [String] = []
            for _ in 0..<n {
                let peer = h.raw()
                let welcome = try #require(try await peer.hello())
                opened.append(try #require(welcome.sessionId))
                peer.transport.drop()
            }
            return opened
        }
        // A window no loaded machine outlasts: one entry per detached session, each kept.
        let long = try Harness { $0.resumeWindow = .seconds(600) }
        let kept = try await openAndDrop(10, on: long)
        #expect(await eventually { long.runtime.expiries.scheduled == 10 }, "one entry per detached session")
        #expect(kept.allSatisfy { long.runtime.sessionIDs.contains($0) }, "within the window, every session is kept")
        await long.runtime.shutdown()
        // A short one: the entries fire, the sessions leave the table, the entries the heap.
        let short = try Harness { $0.resumeWindow = .milliseconds(200) }
        let expired = try await openAndDrop(10, on: short)
        #expect(await eventually(.seconds(30)) { expired.allSatisfy { !short.runtime.sessionIDs.contains($0) } })
        #expect(await eventually { short.runtime.expiries.scheduled == 0 })
        await short.runtime.shutdown()
    }

    @Test("one scheduler pings every connection; a closed connection's heartbeat leaves it, and its task ends with the last")
    func manyConnections() async throws {
        // Pings every 1.5 s, told as 2 s: a peer that answers nothing is lost after 4 s, time
        // enough to open all twenty on a loaded machine (with 100 ms, told as 1 s, a peer
        // opened first could be lost before the last was open).
        let h = try Harness { $0.heartbeatInterval = .milliseconds(1500) }
        var peers: [RawPeer] = []
        for _ in 0..<20 {
            let peer = h.raw()
            let welcome = try #require(try await peer.hello(features: [.heartbeat]))
            guard case .sessionWelcome = welcome.message else {
                Issue.record("expected a welcome, got \(welcome.message)")
                return
            }
            peers.append(peer)
        }
        // One entry per connection (scheduled once its welcome is out; briefly out of the heap
        // while it fires).
        #expect(await eventually { h.runtime.heartbeats.scheduled == 20 })
        // Each connection is pinged (and answers, so none is lost).
        for peer in peers {
            let ping = try #require(try await peer.next { if case .sessionPing = $0.message { true } else { false } })
            guard case .sessionPing(let p) = ping.message else { continue }
            _ = try await peer.send(.sessionPong(SessionPongPayload(pingNonce: p.nonce)), sessionID: ping.sessionId)
        }
        // Closed connections: their heartbeats leave the heap when they next come due.
        for peer in peers { await peer.transport.close() }
        #expect(await eventually(.seconds(30)) { h.runtime.heartbeats.scheduled == 0 })
        // A new connection is watched again (the task that ended is started anew).
        let late = h.raw()
        _ = try #require(try await late.hello(features: [.heartbeat]))
        let ping = try await late.next { if case .sessionPing = $0.message { true } else { false } }
        #expect(ping != nil, "a connection opened after the scheduler went idle is pinged")
        await late.transport.close()
        await h.runtime.shutdown()
        #expect(h.runtime.heartbeats.scheduled == 0)
    }
}
