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

/// `arcp serve --db` and `arcp replay`: the SQLite event log outlives the process.
@Suite("arcp serve --db and arcp replay", .timeLimit(.minutes(1)))
struct DatabaseTests {
    /// Starts `arcp serve --port 0 --db path`; returns the child and its URL.
    func serve(_ arcp: String, db: String) async throws -> (TestProcess, String) {
        let server = try TestProcess(arcp, ["serve", "--port", "0", "--token", "tok=me@example.com", "--db", db, "--log-level", "error"])
        let line = try #require(await server.line(startingWith: "LISTENING "), "no LISTENING line; stderr: \(server.stderr)")
        return (server, String(line.dropFirst("LISTENING ".count)))
    }

    /// Reads frames until `stop` says so; returns them decoded.
    func read(_ t: WebSocketTransport, until stop: (Envelope) -> Bool) async throws -> [Envelope] {
        var out: [Envelope] = []
        while let text = try await t.receive() {
            guard let env = Frames.decode(text) else { continue }
            out.append(env)
            if stop(env) { return out }
        }
        Issue.record("the connection ended early after \(out.map(\.message.type))")
        return out
    }

    @Test func eventsSurviveARestartForResumeAndReplay() async throws {
        let arcp = try CLI.require()
        let db = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-cli-\(ARCPID.ulid()).sqlite").path
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        }

        // First runtime: one progress job to its end (events 1…5 incl. job.result).
        let (first, url) = try await serve(arcp, db: db)
        let t = try await WebSocketTransport.connect(to: url)
        try await t.send(Frames.hello())
        let welcome = try #require(try await read(t) { _ in true }.first)
        guard case .sessionWelcome(let w) = welcome.message, let sid = welcome.sessionId else {
            Issue.record("expected session.welcome, got \(welcome.message.type)")
            return
        }
        try await t.send(Frames.submit("progress", ["steps": 3, "delay": 0.01], session: sid))
        let frames = try await read(t) { if case .jobResult = $0.message { return true } else { return false } }
        let seqs = frames.compactMap(\.eventSeq)
        #expect(seqs == [1, 2, 3, 4, 5], "\(frames.map(\.message.type))")
        first.signal(SIGTERM)
        #expect(await first.wait(timeout: .seconds(15)) == 0, "stderr: \(first.stderr)")
        await t.close()

        // Offline: `arcp replay` prints what a resume after seq 2 would send, verbatim.
        let list = try await CLI.run(["replay", "--db", db, "--list"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains(sid) && list.stdout.contains("me@example.com") && list.stdout.contains("last_event_seq 5"), "\(list.stdout)")
        let replay = try await CLI.run(["replay", "--db", db, "--session", sid, "--after-seq", "2", "--json"])
        #expect(replay.status == 0, "\(replay.stderr)")
        let replayed = replay.lines.compactMap { Frames.decode($0) }
        #expect(replayed.compactMap(\.eventSeq) == [3, 4, 5])
        #expect(replay.lines.count == 3)
        if case .jobResult(let r)? = replayed.last?.message { #expect(r.result == ["steps": 3]) } else { Issue.record("the last replayed frame is not job.result") }
        let checked = try await CLI.run(["validate", "-"], stdin: replay.stdout)
        #expect(checked.status == 0, "replayed frames validate: \(checked.stdout)")
        let human = try await CLI.run(["replay", "--db", db, "--session", sid])
        #expect(human.lines.count == 5 && human.lines.first?.hasPrefix("[1] job_") == true, "\(human.stdout)")
        let unknown = try await CLI.run(["replay", "--db", db, "--session", "sess_nope"])
        #expect(unknown.status == 2 && unknown.stderr.contains("no session sess_nope"), "\(unknown.stderr)")

        // A second runtime on the same file: the session resumes, and the events after seq 2 come back.
        let (second, url2) = try await serve(arcp, db: db)
        let t2 = try await WebSocketTransport.connect(to: url2)
        try await t2.send(Frames.resume(sid, token: w.resumeToken, after: 2))
        let resumed = try await read(t2) { $0.eventSeq == 5 }
        guard case .sessionWelcome? = resumed.first?.message else {
            Issue.record("expected session.welcome on resume, got \(resumed.map(\.message.type))")
            return
        }
        #expect(resumed.first?.sessionId == sid)
        #expect(resumed.compactMap(\.eventSeq) == [3, 4, 5])
        await t2.close()
        second.signal(SIGTERM)
        #expect(await second.wait(timeout: .seconds(15)) == 0)
    }

    @Test func replayRefusesWhatItCannotRead() async throws {
        let missing = try await CLI.run(["replay", "--db", "/nonexistent-dir/none.sqlite", "--list"])
        #expect(missing.status == 2 && missing.stderr.contains("no database at"), "\(missing.stderr)")
        let noSession = try await CLI.run(["replay", "--db", "x.sqlite"])
        #expect(noSession.status != 0 && noSession.stderr.contains("--session"), "\(noSession.stderr)")
        let notSQLite = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-notdb-\(ARCPID.ulid()).txt").path
        try Data("not a database".utf8).write(to: URL(fileURLWithPath: notSQLite))
        defer { try? FileManager.default.removeItem(atPath: notSQLite) }
        let garbage = try await CLI.run(["replay", "--db", notSQLite, "--list"])
        #expect(garbage.status == 2 && garbage.stderr.contains("cannot open"), "\(garbage.stderr)")
    }
}
