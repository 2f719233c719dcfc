import ARCP
import ARCPTestSupport
import ARCPWebSocket
import Foundation
import Testing

/// Hostile peers against `arcp serve` over real WebSocket: numbers no conversion can represent,
/// in the demo agents' inputs. Before issue 10 each of these frames killed the process for every
/// client (a trapping `Int(Double)` or `Duration.seconds(Double)`). Each case asserts the typed
/// error, that the server is still up and answering, and that nothing leaked (the job ended, the
/// server's descriptors come back once the connection closes).
@Suite("Hostile peer: demo-agent inputs", .timeLimit(.minutes(2)))
struct HostileAgentInputTests {
    /// (agent, input, the field the error must name)
    static let rejected: [(String, JSONValue, String)] = [
        ("slow", ["seconds": 1e30, "tick": 1e30], "input.seconds"),
        ("slow", ["seconds": .double(Double(Int64.max)), "tick": 1], "input.seconds"),
        ("slow", ["seconds": 1e308], "input.seconds"),
        ("progress", ["steps": 1e19], "input.steps"),
        ("progress", ["steps": .int(.max)], "input.steps"),
        ("progress", ["delay": 1e30], "input.delay"),
        ("progress", ["steps": 1, "delay": 1e308], "input.delay"),
        ("flood", ["n": 1e19], "input.n"),
        ("flood", ["n": .int(.max)], "input.n"),
        ("slow", ["seconds": "forever"], "input.seconds"),
        ("progress", ["steps": ["many"]], "input.steps"),
    ]

    @Test("out-of-range numbers in agent inputs end the job with INVALID_REQUEST naming the field; the server lives on")
    func outOfRangeInputsAreInvalidRequest() async throws {
        let server = try await ServeProcess.start()
        try await server.expectAnswering("start")  // first-use resources are in the baseline
        let baseline = server.openDescriptors
        let (t, sid) = try await server.session()
        for (agent, input, field) in Self.rejected {
            try await t.send(HostileFrames.submit(agent, input, session: sid))
            let end = try await within(.seconds(20), "\(agent) \(input) ends") { try await terminal(t) }
            guard case .jobError(let e) = end.message else {
                Issue.record("\(agent) \(input): expected job.error, got \(end.message.type)")
                continue
            }
            #expect(e.code == .invalidRequest, "\(agent) \(input): \(e.code)")
            #expect(e.message.contains(field), "\(agent) \(input): the message names \(field): \(e.message)")
            #expect(e.finalStatus == .error)
            try await server.expectAnswering("\(agent) \(input)")
        }
        // Every job of the session ended: none is left sleeping for 10^30 seconds.
        try await t.send(HostileFrames.envelope("session.list_jobs", ["limit": 100], session: sid))
        let jobs = try await next(t, "session.jobs")
        if case .sessionJobs(let list) = jobs.message {
            let hostile = list.jobs.filter { $0.agent != "echo" }
            #expect(hostile.count == Self.rejected.count)
            #expect(hostile.allSatisfy { $0.status == .error }, "\(hostile.map(\.status))")
        }
        await t.close()
        await server.expectDescriptors(backTo: baseline)
        await server.stop()
    }

    @Test("a negative chunk_size of -1e19 means 1, as in the reference; the stream completes")
    func hugeNegativeChunkSizeIsClamped() async throws {
        let server = try await ServeProcess.start()
        let client = try await server.client()
        for size in [-1e19, 1e30, 0.5] {
            let job = try await client.submit(agent: "chunked", input: ["text": "abcdef", "chunk_size": .double(size)])
            var chunks = 0
            for try await event in job.events { if case .resultChunk = event.body { chunks += 1 } }
            let outcome = try await within(.seconds(20), "chunked with chunk_size \(size)") { try await job.result() }
            #expect(outcome.finalStatus == .success)
            #expect(outcome.streamedBytes.map { String(decoding: $0, as: UTF8.self) } == "abcdef", "chunk_size \(size)")
            #expect(chunks == (size > 1 ? 1 : 6), "chunk_size \(size): \(chunks) chunks")
        }
        await client.close()
        try await server.expectAnswering("chunked with chunk_size -1e19")
        await server.stop()
    }

    @Test("in-range inputs behave as before (negative durations mean zero)")
    func inRangeInputsStillWork() async throws {
        let server = try await ServeProcess.start()
        let client = try await server.client()
        let cases: [(String, JSONValue, JSONValue)] = [
            ("slow", ["seconds": -5, "tick": 0], ["slept": 0.0]),
            ("slow", ["seconds": 0.05, "tick": 1e30], ["slept": 0.05]),
            ("progress", ["steps": 2.9, "delay": -1], ["steps": 2]),
            ("progress", ["steps": -3, "delay": 0], ["steps": 0]),
            ("flood", ["n": -1e19], ["n": 0]),
            ("flood", ["n": 3.5], ["n": 3]),
        ]
        for (agent, input, expected) in cases {
            let job = try await client.submit(agent: agent, input: input)
            let outcome = try await within(.seconds(20), "\(agent) \(input)") { try await job.result() }
            #expect(outcome.result?.semanticallyEquals(expected) == true, "\(agent) \(input): \(String(describing: outcome.result))")
        }
        await client.close()
        await server.stop()
    }
}

/// Numbers above the schema's ceilings (docs/SECURITY.md), in the frames where issue 10 found
/// them: before the ceilings, `job.submit {"max_runtime_sec": 9223372036854775807}` was accepted
/// and then killed the runtime (sleeping `.seconds(Int64.max)` traps). Each is now refused by the
/// validator with INVALID_REQUEST before any code converts it, and the session lives on.
@Suite("Hostile peer: schema ceilings", .timeLimit(.minutes(2)))
struct HostileSchemaCeilingTests {
    @Test("out-of-range numbers in frames are INVALID_REQUEST; the session and the server live on")
    func outOfRangeFrames() async throws {
        let server = try await ServeProcess.start()
        try await server.expectAnswering("start")
        let baseline = server.openDescriptors
        let (t, sid) = try await server.session()
        let huge: JSONValue = .int(.max)
        let frames: [(String, String)] = [
            ("max_runtime_sec", HostileFrames.submit("echo", [:], session: sid, extra: ["max_runtime_sec": huge])),
            ("max_runtime_sec", HostileFrames.submit("slow", ["seconds": 1], session: sid, extra: ["max_runtime_sec": 2_678_401])),
            ("max_runtime_sec", HostileFrames.submit("echo", [:], session: sid, extra: ["max_runtime_sec": 1e30])),
            ("last_processed_seq", HostileFrames.envelope("session.ack", ["last_processed_seq": huge], session: sid)),
            ("limit", HostileFrames.envelope("session.list_jobs", ["limit": huge], session: sid)),
            ("from_event_seq", HostileFrames.envelope("job.subscribe", ["job_id": "job_x", "from_event_seq": huge], session: sid)),
            ("event_seq", HostileFrames.envelope("session.ping", ["nonce": "n"], session: sid, extra: ["event_seq": huge])),
        ]
        for (field, text) in frames {
            try await t.send(text)
            let reply = try await within(.seconds(10), "the answer to \(field)") { try await next(t, "session.error") }
            guard case .sessionError(let e) = reply.message else { continue }
            #expect(e.code == .invalidRequest, "\(field): \(e)")
            #expect(e.message.contains(field), "\(field): \(e.message)")
            // The same session still works.
            try await t.send(Frames.ping(field, session: sid))
            let pong = try await next(t, "session.pong")
            if case .sessionPong(let p) = pong.message { #expect(p.pingNonce == field) }
        }
        try await server.expectAnswering("out-of-range frames")
        // A resume with a huge last_event_seq, on a fresh connection.
        let r = try await WebSocketTransport.connect(to: server.url)
        try await r.send(HostileFrames.envelope("session.hello", [
            "auth": ["scheme": "bearer", "token": "tok"],
            "resume": ["session_id": .string(sid), "resume_token": "rtk_x", "last_event_seq": huge],
        ]))
        let refused = try await receiveEnvelope(r)
        if case .sessionError(let e) = refused.message {
            #expect(e.code == .invalidRequest, "\(e)")
        } else {
            Issue.record("expected session.error, got \(refused.message.type)")
        }
        await r.close()
        await t.close()
        try await server.expectAnswering("a resume with last_event_seq 2^63-1")
        await server.expectDescriptors(backTo: baseline)
        await server.stop()
    }
}
