@testable import ARCP
import ARCPTestSupport
import Foundation
import Synchronization
import Testing

/// A resume rotates the session's token; the store must end with the new one and never be
/// given the previous one after it (a resume elsewhere, or after a crash, checks the stored
/// token).
@Suite("Durability: a resume's token in the store")
struct ResumeTokenRecordTests {
    /// Records every token hash a session record is saved with, in order; the first save of
    /// a hash other than `gateOthersThan` waits at a gate the test opens.
    final class RecordingStore: StoreOverMemory {
        let inner = InMemoryRuntimeStore()
        let hashes = Mutex<[String]>([])
        let gateOthersThan = Mutex<String?>(nil)
        let saveStarted = Latch()
        let gate = Latch()

        func saveSession(_ record: SessionRecord) async throws {
            let gated = gateOthersThan.withLock { g -> Bool in
                guard let kept = g, kept != record.resumeTokenHash else { return false }
                g = nil
                return true
            }
            if gated {
                saveStarted.open()
                await gate.wait()
            }
            await inner.saveSession(record)
            hashes.withLock { $0.append(record.resumeTokenHash) }
        }
    }

    /// The resume's record of the new token is held in the store while the client's previous
    /// connection ends: that connection's record, queued meanwhile, carries the new token too
    /// (it was taken after the rotation), so the store never goes back to the previous one.
    @Test("a resume's new token is never followed in the store by the previous one")
    func previousTokenNeverStoredAfterTheNewOne() async throws {
        let store = RecordingStore()
        let h = try Harness { $0.store = store }
        let writer = try #require(h.runtime.storeWriter)
        let raw1 = h.raw()
        let (sid, w) = try await raw1.welcomed()
        let first = w.resumeToken
        await h.runtime.flushStore()
        store.gateOthersThan.withLock { $0 = ResumeTokenHasher.hash(first) }
        // A second connection resumes while the first is still attached; the new token's
        // record waits in the store.
        let raw2 = h.raw()
        try await raw2.send(Frames.resume(sid, token: first, after: 0))
        try await within(.seconds(10), "the new token's record reaching the store") { await store.saveStarted.wait() }
        // Meanwhile the first connection ends: its record is queued behind the new token's.
        await raw1.transport.close()
        try await within(.seconds(10), "the record of the first connection's end") {
            while writer.pending < 2 { await Task.yield() }
        }
        store.gate.open()
        let resumed = try #require(try await within(.seconds(10), "the resume's welcome") {
            try await raw2.next(where: { if case .sessionWelcome = $0.message { true } else { false } })
        })
        guard case .sessionWelcome(let w2) = resumed.message else { return }
        await h.runtime.flushStore()
        let history = store.hashes.withLock { $0 }
        let stored = try #require(history.firstIndex(of: ResumeTokenHasher.hash(w2.resumeToken)), "the new token was never stored")
        #expect(!history[stored...].contains(ResumeTokenHasher.hash(first)), "the previous token was stored after the new one")
        #expect(try await store.session(sid)?.resumeTokenHash == ResumeTokenHasher.hash(w2.resumeToken))
        await raw2.transport.close()
        await h.runtime.shutdown()
    }

    /// The resume's welcome is sent only once the new token is stored (a crash after the
    /// welcome must not leave the store with a token the client no longer has).
    @Test("a resume's welcome waits for its new token's record")
    func welcomeWaitsForTheNewTokensRecord() async throws {
        let store = RecordingStore()
        let h = try Harness { $0.store = store }
        let raw1 = h.raw()
        let (sid, w) = try await raw1.welcomed()
        await raw1.transport.close()
        await h.runtime.flushStore()
        store.gateOthersThan.withLock { $0 = ResumeTokenHasher.hash(w.resumeToken) }
        let raw2 = h.raw()
        try await raw2.send(Frames.resume(sid, token: w.resumeToken, after: 0))
        try await within(.seconds(10), "the new token's record reaching the store") { await store.saveStarted.wait() }
        // The record is held; once it is written, the welcome comes, and the store held its
        // token by then.
        store.gate.open()
        let resumed = try #require(try await within(.seconds(10), "the resume's welcome") { try await raw2.next() })
        guard case .sessionWelcome(let w2) = resumed.message else {
            Issue.record("expected session.welcome, got \(resumed.message.type)")
            return
        }
        #expect(store.hashes.withLock { $0 }.contains(ResumeTokenHasher.hash(w2.resumeToken)), "the welcome came before its token was stored")
        await raw2.transport.close()
        await h.runtime.shutdown()
    }
}
