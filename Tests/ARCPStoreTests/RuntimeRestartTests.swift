import ARCP
import ARCPStore
import Foundation
import Testing

@Suite("Runtime on a durable event store")
struct RuntimeRestartTests {
    static func runtime(_ path: String) throws -> ARCPRuntime {
        var config = ARCPRuntime.Configuration()
        config.heartbeatInterval = nil
        config.store = try SQLiteRuntimeStore(path: path)
        let rt = ARCPRuntime(configuration: config, verifier: StaticBearerVerifier(["tok": "me@example.com"]))
        try rt.register("flood") { input, ctx in
            let n = input["n"]?.int64Value ?? 10
            for i in 0..<n { await ctx.log("info", "event \(i)") }
            return ["n": .int(n)]
        }
        try rt.register("stuck") { _, ctx in
            await ctx.log("info", "started")
            try await Task.sleep(for: .seconds(3600))
            return nil
        }
        return rt
    }

    static func frames(_ t: MemoryTransport) -> AsyncThrowingStream<Envelope, any Error> {
        AsyncThrowingStream {
            guard let text = try await t.receive() else { return nil }
            return try Envelope(jsonText: text)
        }
    }

    @Test("a runtime restarted on the same SQLite database serves resume and replay, and reports lost jobs honestly")
    func restartThenReplay() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-restart-\(ARCPID.ulid()).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try Self.runtime(path)
        let (c, r) = MemoryTransport.pair()
        Task { await first.accept(r) }
        func send(_ m: Message, _ sid: String? = nil) async throws {
            try await c.send(FrameCodec.encode(Envelope.make(m, sessionID: sid)))
        }
        var it = Self.frames(c).makeAsyncIterator()
        try await send(.sessionHello(SessionHelloPayload(auth: Auth(token: "tok"), capabilities: HelloCapabilities(features: Feature.allKnown))))
        let welcome = try #require(try await it.next())
        guard case .sessionWelcome(let w) = welcome.message, let sid = welcome.sessionId else { Issue.record("no welcome"); return }
        try await send(.jobSubmit(JobSubmitPayload(agent: "flood", input: ["n": 20])), sid)
        while let e = try await it.next() { if case .jobResult = e.message { break } }
        try await send(.jobSubmit(JobSubmitPayload(agent: "stuck")), sid)
        while let e = try await it.next() { if e.eventSeq == 22 { break } }
        await first.flushStore()
        #expect(first.storeFailures == 0)

        // "Restart": a new runtime on the same database; the first one is never used again.
        let second = try Self.runtime(path)
        let (c2, r2) = MemoryTransport.pair()
        Task { await second.accept(r2) }
        try await c2.send(FrameCodec.encode(Envelope.make(.sessionHello(SessionHelloPayload(
            auth: Auth(token: "tok"), resume: ResumeBlock(sessionId: sid, resumeToken: w.resumeToken, lastEventSeq: 5))))))
        var it2 = Self.frames(c2).makeAsyncIterator()
        let w2 = try #require(try await it2.next())
        guard case .sessionWelcome = w2.message else { Issue.record("expected welcome, got \(w2.message.type)"); return }
        #expect(w2.sessionId == sid)
        var seqs: [Int] = []
        var lost: JobErrorPayload? = nil
        while let e = try await it2.next() {
            if let s = e.eventSeq { seqs.append(s) }
            if case .jobError(let p) = e.message {
                lost = p
                break
            }
        }
        #expect(seqs == Array(6...23))
        #expect(lost?.code == .internalError)
        #expect(lost?.retryable == true)
        // A wrong token is refused even for a restored session.
        let third = try Self.runtime(path)
        let (c3, r3) = MemoryTransport.pair()
        Task { await third.accept(r3) }
        try await c3.send(FrameCodec.encode(Envelope.make(.sessionHello(SessionHelloPayload(
            auth: Auth(token: "tok"), resume: ResumeBlock(sessionId: sid, resumeToken: "rtk_WRONG", lastEventSeq: 5))))))
        var it3 = Self.frames(c3).makeAsyncIterator()
        let denied = try #require(try await it3.next())
        guard case .sessionError(let err) = denied.message else { Issue.record("expected error"); return }
        #expect(err.code == .unauthenticated)
    }
}
