import ARCP
import Foundation
import Synchronization

/// Heartbeats: with `heartbeat` negotiated, a side that has sent nothing for an interval
/// pings, and the other answers with a pong, so something flows both ways. (Whichever side
/// is idle first pings; an answered ping keeps the other side busy enough not to.) A side
/// that hears nothing for two intervals, despite a ping, declares the connection lost: the
/// runtime sends `session.error HEARTBEAT_LOST` and closes it. Jobs are never ended by a
/// lost heartbeat; a client with a reconnect policy resumes the session on a fresh connection.
public enum Heartbeat: Example {
    public static let name = "heartbeat"
    public static let summary = "The runtime pings an idle client, which answers; a frozen link is HEARTBEAT_LOST; the client resumes."
    public static let spec = "§6.4, §6.3, §13.1"

    public static func run() async throws {
        // A short runtime interval so the example runs in about a second. (The wire carries
        // whole seconds, so the welcome says 1; the client keeps that slower pace, which
        // makes the runtime the side that pings.)
        var config = ARCPRuntime.Configuration()
        config.heartbeatInterval = .milliseconds(200)
        let runtime = ARCPRuntime(configuration: config, verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        let finish = Gate()
        try runtime.register("quiet") { _, ctx in
            await ctx.status("running", "thinking quietly")
            await finish.wait()
            return ["answer": 42]
        }

        // Every connection goes through a FrameTap, so the example can watch the heartbeat
        // frames and freeze the link.
        let watch = FrameWatch()
        let link = Mutex<FrameTap?>(nil)
        let client = ARCPClient(token: "demo-token")
        try await client.connect(
            using: {
                let (clientEnd, runtimeEnd) = MemoryTransport.pair()
                Task { await runtime.accept(runtimeEnd) }
                let tap = FrameTap(clientEnd) { direction, type, frame in watch.record(direction, type, frame) }
                link.withLock { $0 = tap }
                return tap
            },
            reconnect: .init(maxAttempts: 5, initialBackoff: .milliseconds(10)))
        say("welcome: heartbeat_interval_sec \(client.welcome?.heartbeatIntervalSec ?? 0)")
        say("heartbeat negotiated: \(client.negotiatedFeatures.contains(.heartbeat))")

        let job = try await client.submit(agent: "quiet")
        var events = job.events.makeAsyncIterator()
        if let first = try await events.next() { say(describe(first)) }

        step("an idle session: the runtime pings, the client answers")
        await watch.wait(for: .received, "session.ping")
        say("← session.ping from the runtime")
        await watch.wait(for: .sent, "session.pong")
        say("→ session.pong (answered by the client automatically)")
        // The client pings the same way when it is the idle side; it can also ask now.
        let rtt = try await client.ping()
        say("→ session.ping ← session.pong: client.ping() round trip \(rtt.formatted(.units(allowed: [.microseconds])))")

        step("the link freezes: nothing the client sends gets through")
        link.withLock { $0 }?.muteOutbound(true)
        let lost = await watch.wait(for: .received, "session.error", containing: "HEARTBEAT_LOST")
        if case .sessionError(let e)? = (try? Envelope(jsonText: lost))?.message {
            say("← session.error \(e.code.rawValue): \(e.message)")
        }
        say("runtime job status: \(runtime.jobStatus(job.jobID)?.rawValue ?? "?") (heartbeats never end jobs)")

        step("the client reconnects and resumes; the job carries on")
        await watch.wait(for: .received, "session.welcome", count: 2)
        say("← session.welcome on a new connection, same session \(client.sessionID ?? "?")")
        finish.open()
        while let event = try await events.next() { say(describe(event)) }
        let outcome = try await job.result()
        say("result: \(outcome.result ?? .null)")

        try check(outcome.result == ["answer": 42], "the job survived the lost connection")

        await client.close()
        await runtime.shutdown()
    }
}

/// Records the frames seen by `FrameTap`s and lets the example await one.
final class FrameWatch: Sendable {
    private struct Seen {
        var direction: FrameTap.Direction
        var type: String
        var frame: String
    }
    private struct Waiter {
        var direction: FrameTap.Direction
        var type: String
        var containing: String?
        var count: Int
        var continuation: CheckedContinuation<String, Never>
    }
    private let state = Mutex<(seen: [Seen], waiters: [Waiter])>(([], []))

    /// Called by the tap for each frame.
    func record(_ direction: FrameTap.Direction, _ type: String, _ frame: String) {
        let ready: [(CheckedContinuation<String, Never>, String)] = state.withLock { s in
            s.seen.append(Seen(direction: direction, type: type, frame: frame))
            if s.seen.count > 1000 { s.seen.removeFirst(s.seen.count - 1000) }  // bounded
            var out: [(CheckedContinuation<String, Never>, String)] = []
            s.waiters.removeAll { w in
                guard let hit = Self.match(s.seen, w.direction, w.type, w.containing, w.count) else { return false }
                out.append((w.continuation, hit))
                return true
            }
            return out
        }
        for (c, frame) in ready { c.resume(returning: frame) }
    }

    /// Waits until `count` frames of message `type` went in `direction` (and contain
    /// `containing`, if given); returns the last of them.
    @discardableResult
    func wait(for direction: FrameTap.Direction, _ type: String, containing: String? = nil, count: Int = 1) async -> String {
        await withCheckedContinuation { (c: CheckedContinuation<String, Never>) in
            let hit: String? = state.withLock { s in
                if let hit = Self.match(s.seen, direction, type, containing, count) { return hit }
                s.waiters.append(Waiter(direction: direction, type: type, containing: containing, count: count, continuation: c))
                return nil
            }
            if let hit { c.resume(returning: hit) }
        }
    }

    private static func match(
        _ seen: [Seen], _ direction: FrameTap.Direction, _ type: String, _ containing: String?, _ count: Int
    ) -> String? {
        let hits = seen.filter { $0.direction == direction && $0.type == type && (containing.map($0.frame.contains) ?? true) }
        return hits.count >= count ? hits.last?.frame : nil
    }
}
