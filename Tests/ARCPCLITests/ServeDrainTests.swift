import ARCP
import ARCPTestSupport
import ARCPWebSocket
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `arcp serve --drain-timeout-sec` in one process (without `--postgres` the default is 0:
/// SIGTERM cancels running jobs at once, `CLITests.serveListensAndShutsDownGracefullyOnSIGTERM`).
@Suite("arcp serve drains on SIGTERM", .timeLimit(.minutes(1)))
struct ServeDrainTests {
    @Test func aRunningJobFinishesWithinTheDrainAndANewSubmitIsRefused() async throws {
        let arcp = try ArcpBinary.require()
        let server = try TestProcess(arcp, ["serve", "--port", "0", "--token", "tok=me@example.com", "--drain-timeout-sec", "30", "--log-level", "error"])
        let line = try #require(await server.line(startingWith: "LISTENING "), "no LISTENING line; stderr: \(server.stderr)")
        let t = try await WebSocketTransport.connect(to: String(line.dropFirst("LISTENING ".count)))
        let sid = try await handshake(t)
        try await t.send(Frames.submit("slow", ["seconds": 2, "tick": 0.5], session: sid))
        var frames: [Envelope] = []
        func read(until stop: (Envelope) -> Bool) async throws {
            while let text = try await t.receive() {
                guard let env = Frames.decode(text) else { continue }
                frames.append(env)
                if stop(env) { return }
            }
            Issue.record("the connection ended after \(frames.map(\.message.type))")
            throw CancellationError()
        }
        try await read { if case .jobEvent = $0.message { true } else { false } }
        server.signal(SIGTERM)
        try await Task.sleep(for: .milliseconds(200))
        try await t.send(Frames.submit("echo", 1, session: sid))
        try await read { if case .sessionError = $0.message { true } else { false } }
        guard case .sessionError(let e)? = frames.last?.message else { throw CancellationError() }
        #expect(e.code == .internalError && e.retryable == true && e.details?["reason"]?.stringValue == "shutting_down", "\(e)")
        #expect(e.details?["node"] == nil, "one process has no node id")
        try await read { $0.message.type == "session.bye" }
        guard case .jobResult(let r)? = frames.last(where: { $0.message.type == "job.result" || $0.message.type == "job.error" })?.message else {
            Issue.record("the running job did not finish: \(frames.map(\.message.type))")
            throw CancellationError()
        }
        #expect(r.result == ["slept": 2.0])
        #expect(await server.wait(timeout: .seconds(20)) == 0)
        await t.close()
    }
}
