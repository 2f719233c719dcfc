@testable import ARCP
import Foundation
import Testing

/// The client hands a burst of events (what one read brought) to each job's stream together
/// (`EventBatch`): one wake-up of the consumer per burst. These pin what must not change with
/// it: every job sees all its events, in order, and its outcome only after them.
@Suite("Client: events of a burst")
struct ClientEventBatchTests {
    static let sid = "sess_01J9Z6ZK3M8Q4P2V7W1X5Y0A2C"

    static func frame(_ message: Message, job: String? = nil, seq: Int? = nil) -> String {
        FrameCodec.encode(Envelope.make(message, sessionID: sid, jobID: job, eventSeq: seq))
    }

    static func log(_ text: String) -> Message { .jobEvent(JobEventPayload(body: .log(LogBody(level: "info", message: text)))) }

    /// Submits a job on `client` and answers it with `job.accepted` for `jobID`.
    static func accepted(_ client: ARCPClient, _ r: MemoryTransport, jobID: String) async throws -> JobHandle {
        async let handle = client.submit(agent: "echo")
        let submitText = try #require(try await r.receive())
        let submit = try Envelope(jsonText: submitText)
        try await r.send(frame(.jobAccepted(JobAcceptedPayload(jobId: jobID, requestId: submit.id))))
        return try await handle
    }

    @Test("a burst interleaving two jobs' events, their results inside it: every event, in order, before the outcome")
    func interleavedBurst() async throws {
        let (c, r) = MemoryTransport.pair()
        let client = ARCPClient(token: "tok")
        async let connected: Void = client.connect(c)
        _ = try #require(try await r.receive())
        try await r.send(Self.frame(.sessionWelcome(SessionWelcomePayload(sessionId: Self.sid, resumeToken: "rtk_x", capabilities: WelcomeCapabilities(features: [])))))
        try await connected
        let a = try await Self.accepted(client, r, jobID: "job_a")
        let b = try await Self.accepted(client, r, jobID: "job_b")

        // One burst, queued before anyone reads: runs of one job longer than the batch limit,
        // single alternations, job A's result in the middle, then the rest of B.
        var frames: [String] = []
        var seq = 0
        var expectedA: [String] = []
        var expectedB: [String] = []
        func add(_ job: String, _ text: String) {
            seq += 1
            frames.append(Self.frame(Self.log(text), job: job, seq: seq))
            if job == "job_a" { expectedA.append(text) } else { expectedB.append(text) }
        }
        for i in 0..<(EventBatch.limit * 2 + 5) { add("job_a", "a\(i)") }
        for i in 0..<50 { add(i.isMultiple(of: 2) ? "job_a" : "job_b", "x\(i)") }
        for i in 0..<3 { add("job_b", "b\(i)") }
        seq += 1
        frames.append(Self.frame(.jobResult(JobResultPayload(finalStatus: .success)), job: "job_a", seq: seq))
        for i in 0..<(EventBatch.limit + 1) { add("job_b", "c\(i)") }
        seq += 1
        frames.append(Self.frame(.jobResult(JobResultPayload(finalStatus: .success)), job: "job_b", seq: seq))
        let burst = frames
        let writer = Task { try await r.send(batch: burst) }

        for (handle, expected) in [(a, expectedA), (b, expectedB)] {
            var seen: [String] = []
            var lastSeq = 0
            for try await event in handle.events {
                #expect(event.seq > lastSeq, "events of \(handle.jobID) in order")
                lastSeq = event.seq
                if case .log(let body) = event.body { seen.append(body.message) }
            }
            #expect(seen == expected, "every event of \(handle.jobID), in order")
            let outcome = try await handle.result()
            #expect(outcome.finalStatus == .success)
        }
        try await writer.value
        await client.close()
    }
}
