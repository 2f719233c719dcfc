@testable import ARCP
import Foundation
import Testing

/// The store must end with the token of the latest welcome: a resume on another node of a
/// cluster checks the stored token. A session's record is queued under its lock
/// (`RuntimeSession.storeRecord`), so a record read before a rotation (the detach of the
/// connection the client just left) can never land after the rotation's own.
@Suite("Stored resume token order")
struct StoredTokenOrderTests {
    @Test("after each of 200 quick drop-and-resume rounds the store holds the token of the latest welcome")
    func storedTokenIsTheLatest() async throws {
        let store = InMemoryRuntimeStore()
        let h = try Harness { $0.store = store }
        var peer = h.raw()
        let first = try #require(try await peer.hello())
        guard case .sessionWelcome(var welcome) = first.message else {
            Issue.record("expected a welcome, got \(first.message)")
            return
        }
        let sid = try #require(welcome.sessionId)
        for round in 0..<200 {
            await peer.transport.close()
            peer = h.raw()
            let reply = try #require(try await peer.hello(resume: ResumeBlock(sessionId: sid, resumeToken: welcome.resumeToken, lastEventSeq: 0)))
            guard case .sessionWelcome(let next) = reply.message else {
                Issue.record("round \(round): expected a welcome, got \(reply.message)")
                return
            }
            welcome = next
            // What the previous connection's end queues may come after this welcome: wait
            // until the writer took everything, then the stored token must be the new one.
            try await Task.sleep(for: .milliseconds(1))
            await h.runtime.flushStore()
            let record = try #require(await store.session(sid))
            #expect(ResumeTokenHasher.verify(welcome.resumeToken, against: record.resumeTokenHash), "round \(round): the store holds an older token")
        }
        await peer.transport.close()
    }
}
