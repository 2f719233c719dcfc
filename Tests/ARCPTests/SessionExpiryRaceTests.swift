import ARCP
import Foundation
import Testing

@Suite("Resume racing the expiry of the resume window (issue 10 item 8)")
struct SessionExpiryRaceTests {
    /// Drops a session's connection, then resumes it around the moment its resume window
    /// passes, many times. Whichever wins, the outcome is consistent: a resumed session is in
    /// the session table and works; a refused one is `RESUME_WINDOW_EXPIRED` and gone. Never a
    /// deadlock (the old attach → welcome → registry against expiry → registry → session), and
    /// never an attached session outside the table.
    @Test("resume and expiry: one wins, the other is refused, nothing in between")
    func resumeRacingExpiry() async throws {
        let window = Duration.milliseconds(20)
        let h = try Harness { $0.resumeWindow = window }
        var resumed = 0
        var expired = 0
        for i in 0..<60 {
            let (c, r) = MemoryTransport.pair()
            Task { await h.runtime.accept(r) }
            let peer = RawPeer(transport: c)
            let welcome = try #require(try await peer.hello())
            guard case .sessionWelcome(let w) = welcome.message, let sid = welcome.sessionId else {
                Issue.record("expected a welcome")
                return
            }
            c.drop()
            // Resume somewhere between well before and just after the window passes.
            try await Task.sleep(for: .microseconds(Int64((i % 12) * 3_000)))
            let (c2, r2) = MemoryTransport.pair()
            Task { await h.runtime.accept(r2) }
            let peer2 = RawPeer(transport: c2)
            let answer = try #require(
                try await within(.seconds(10)) {
                    try await peer2.hello(resume: ResumeBlock(sessionId: sid, resumeToken: w.resumeToken, lastEventSeq: 0))
                })
            switch answer.message {
            case .sessionWelcome:
                resumed += 1
                // Attached: in the table, and it stays there (an attached session never expires).
                #expect(h.runtime.sessionIDs.contains(sid))
                _ = try await peer2.send(.jobSubmit(JobSubmitPayload(agent: "echo", input: ["i": .int(Int64(i))])), sessionID: sid)
                let done = try await peer2.next { if case .jobResult = $0.message { true } else { false } }
                #expect(done != nil)
                try await Task.sleep(for: window * 2)
                #expect(h.runtime.sessionIDs.contains(sid))
                await c2.close()
            case .sessionError(let e):
                expired += 1
                #expect(e.code == .resumeWindowExpired)
                try await waitUntil { !h.runtime.sessionIDs.contains(sid) }
            default:
                Issue.record("unexpected \(answer.message.type)")
            }
        }
        #expect(resumed + expired == 60)
    }

    func waitUntil(_ condition: @escaping () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not met within 10 s")
                return
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}
