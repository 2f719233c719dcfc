import ARCP
import ARCPWebSocket
import Foundation
import Synchronization

/// `resume`: the client sees two events of a slow job, then its connection drops without a
/// goodbye; it reconnects, presents `session_id`, `resume_token` and the last `event_seq`,
/// and the runtime resumes the session with a fresh resume token (spec §6.3).
///
/// The reference's client does the resume by hand with a second client; ours is the SDK's
/// `connect(using:reconnect:)`, which reconnects and resumes by itself after a drop.
enum WireResume: WireExample {
    static let name = "resume"
    static let defaultPort = 7880
    static let summary = "Drop the connection mid-job; the client resumes the session and the resume token rotates."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        var config = setup.configuration(name: "resume-server")
        // Wide resume window so the client has time to reconnect.
        config.resumeWindow = .seconds(60)
        let runtime = ARCPRuntime(configuration: config, verifier: setup.verifier)
        try runtime.register("slow") { _, ctx in
            for i in 0..<10 {
                await ctx.log("info", "step \(i)", attributes: ["i": .int(Int64(i))])
                try await Task.sleep(for: .milliseconds(500))
            }
            return ["steps": 10]
        }
        return runtime
    }

    /// The connections the client opened, so the example can cut the live one.
    final class Connections: Sendable {
        let opened = Mutex<[WebSocketTransport]>([])
        func add(_ t: WebSocketTransport) { opened.withLock { $0.append(t) } }
        var current: WebSocketTransport? { opened.withLock { $0.last } }
        var count: Int { opened.withLock { $0.count } }
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let connections = Connections()
        let client = ARCPClient(token: setup.token, options: setup.options(name: "resume-client", features: []))
        try await client.connect(
            using: {
                let t = try await setup.openWebSocket()
                connections.add(t)
                return t
            }, reconnect: .init(maxAttempts: 5, initialBackoff: .milliseconds(50)))
        let firstToken = client.welcome?.resumeToken ?? ""
        let session = client.sessionID

        let job = try await client.submit(agent: "slow")
        var seen = 0
        var events = job.events.makeAsyncIterator()
        while seen < 2, try await events.next() != nil { seen += 1 }
        // Drop the transport without session.close: the client reconnects and resumes.
        await connections.current?.close()
        say("first connection observed \(seen) events (last event_seq \(client.lastEventSeq)); resume_token=\(firstToken.prefix(8))...")

        let resumed = try await waitUntil(.seconds(10)) { client.resumeCount >= 1 }
        let secondToken = client.welcome?.resumeToken ?? ""
        say("resumed=\(resumed) session \(client.sessionID ?? "-"); new resume_token=\(secondToken.prefix(8))...")
        try check(resumed, "the client resumed after the drop")
        try check(client.sessionID == session, "the same session continues")
        try check(secondToken != firstToken, "resume_token MUST rotate on every welcome")
        await client.close()
        say("ok")
    }
}
