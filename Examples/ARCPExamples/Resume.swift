import ARCP
import Foundation
import Synchronization

/// The connection drops in the middle of a job. The client, connected with a transport
/// factory and a reconnect policy, opens a new connection, presents its resume token and
/// the last `event_seq` it processed, and the runtime replays what it missed. The job
/// handle's event stream carries on with no gap and no duplicate.
public enum Resume: Example {
    public static let name = "resume"
    public static let summary = "Drop the connection mid-job; the client resumes the session and replays the missed events."
    public static let spec = "§6.3, §8.3"

    /// Opens in-memory connections to the runtime and remembers the latest client end,
    /// so the example can cut it.
    final class Link: Sendable {
        let runtime: ARCPRuntime
        private let current = Mutex<(transport: MemoryTransport?, opened: Int)>((nil, 0))

        init(runtime: ARCPRuntime) { self.runtime = runtime }

        /// The transport factory given to `connect(using:reconnect:)`.
        func open() -> any Transport {
            let (clientEnd, runtimeEnd) = MemoryTransport.pair()
            let runtime = self.runtime
            Task { await runtime.accept(runtimeEnd) }
            current.withLock { $0 = (clientEnd, $0.opened + 1) }
            return clientEnd
        }

        /// Cuts the live connection abruptly (no session.close).
        func drop() { current.withLock { $0.transport }?.drop() }

        var connectionsOpened: Int { current.withLock { $0.opened } }
    }

    public static func run() async throws {
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        let halfway = Gate()
        // Three ticks, a pause (while the example cuts the line), three more ticks.
        try runtime.register("ticker") { _, ctx in
            for i in 1...3 { await ctx.log("info", "tick \(i)") }
            await halfway.wait()
            for i in 4...6 { await ctx.log("info", "tick \(i)") }
            return ["ticks": 6]
        }

        // connect(using:reconnect:) keeps the factory: after a drop it reconnects with
        // backoff and resumes the same session.
        let link = Link(runtime: runtime)
        let client = ARCPClient(token: "demo-token")
        try await client.connect(using: { link.open() }, reconnect: .init(maxAttempts: 5, initialBackoff: .milliseconds(10)))
        let session = client.sessionID
        say("connected: session \(session ?? "?")")

        let job = try await client.submit(agent: "ticker")
        var seqs: [Int] = []
        for try await event in job.events {
            say(describe(event))
            seqs.append(event.seq)
            if seqs.count == 3 {
                say("-- dropping the connection after event_seq \(event.seq)")
                link.drop()
                // The job goes on while the client is away; the runtime buffers its events.
                halfway.open()
            }
        }
        let outcome = try await job.result()
        say("result: \(outcome.result ?? .null)")
        say("resumed \(client.resumeCount) time(s); session \(client.sessionID ?? "?"); connections opened: \(link.connectionsOpened)")

        try check(client.sessionID == session, "the same session continued")
        try check(link.connectionsOpened >= 2, "a second connection was opened")
        try check(seqs == Array(1...seqs.count) && seqs.count == 6, "events 1…6 with no gap and no duplicate, got \(seqs)")

        await client.close()
        await runtime.shutdown()
    }
}
