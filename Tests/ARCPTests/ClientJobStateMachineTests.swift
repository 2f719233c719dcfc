import ARCP
import Foundation
import Testing

/// The per-job lifecycle on the client (streaming → finished), result-chunk assembly, and the
/// job table's routing (live, held for a subscription, retired), all without I/O.
@Suite("Client job state machine and job table")
struct ClientJobStateMachineTests {
    typealias Job = ClientJobStateMachine

    static func log(_ text: String) -> Job.Frame { .event(JobEventPayload(body: .log(LogBody(level: "info", message: text)))) }
    static func chunk(_ id: String, _ seq: Int, _ data: String, base64: Bool = false, more: Bool = true) -> Job.Frame {
        .event(JobEventPayload(body: .resultChunk(ResultChunkBody(resultId: id, chunkSeq: seq, data: data, encoding: base64 ? .base64 : .utf8, more: more))))
    }
    static let success = Job.Frame.result(JobResultPayload(finalStatus: .success, result: ["ok": true]))

    static func delivered(_ a: Job.OnFrame) -> JobEvent? {
        if case .deliver(let e) = a { return e }
        return nil
    }
    static func finished(_ a: Job.OnFrame) -> Result<JobOutcome, any Error>? {
        if case .finish(let r) = a { return r }
        return nil
    }

    @Test("events are delivered in order; a replayed event_seq is a duplicate; frames without seq pass")
    func dedup() {
        var m = Job(maxAssembledResult: 1 << 20)
        #expect(Self.delivered(m.receive(Self.log("a"), seq: 1))?.seq == 1)
        #expect(Self.delivered(m.receive(Self.log("b"), seq: 2))?.seq == 2)
        guard case .duplicate = m.receive(Self.log("a again"), seq: 1) else { Issue.record("replay delivered"); return }
        guard case .duplicate = m.receive(Self.log("b again"), seq: 2) else { Issue.record("replay delivered"); return }
        #expect(Self.delivered(m.receive(Self.log("no seq"), seq: nil)) != nil)
        #expect(Self.delivered(m.receive(Self.log("c"), seq: 5))?.seq == 5)
    }

    @Test("a subscriber's seqs restarting at 1 do not collide with another job's: de-dup is per job")
    func perJob() {
        var a = Job(maxAssembledResult: 1 << 20)
        var b = Job(maxAssembledResult: 1 << 20)
        _ = a.receive(Self.log("a"), seq: 40)
        #expect(Self.delivered(b.receive(Self.log("b"), seq: 1)) != nil)
    }

    @Test("job.result success → outcome; then finished: later frames have nowhere to go")
    func result() throws {
        var m = Job(maxAssembledResult: 1 << 20)
        let outcome = try #require(Self.finished(m.receive(Self.success, seq: 3))).get()
        #expect(outcome.result == ["ok": true])
        #expect(m.isFinished)
        guard case .alreadyFinished = m.receive(Self.log("late"), seq: 4) else { Issue.record("frame after terminal delivered"); return }
        guard case .alreadyFinished = m.receive(Self.success, seq: 5) else { Issue.record("second terminal taken"); return }
        let abandoned = m.abandon()
        #expect(!abandoned)
    }

    @Test("the reference's job.result cancelled / timed_out and job.error are the runtime's ARCPError")
    func failures() {
        for (status, code) in [(FinalStatus.cancelled, ErrorCode.cancelled), (.timedOut, .timeout)] {
            var m = Job(maxAssembledResult: 1 << 20)
            guard case .failure(let e)? = Self.finished(m.receive(.result(JobResultPayload(finalStatus: status)), seq: 1)) else {
                Issue.record("\(status) succeeded")
                continue
            }
            #expect((e as? ARCPError)?.code == code)
            #expect((e as? ARCPError)?.finalStatus == status)
        }
        var m = Job(maxAssembledResult: 1 << 20)
        let frame = Job.Frame.error(JobErrorPayload(code: .permissionDenied, message: "no", finalStatus: .error))
        guard case .failure(let e)? = Self.finished(m.receive(frame, seq: 1)) else { Issue.record("job.error succeeded"); return }
        #expect((e as? ARCPError)?.code == .permissionDenied)
    }

    @Test("streamed results: text and base64 chunks assembled in order")
    func chunks() throws {
        var text = Job(maxAssembledResult: 1 << 20)
        _ = text.receive(Self.chunk("r1", 0, "hello "), seq: 1)
        _ = text.receive(Self.chunk("r1", 1, "world", more: false), seq: 2)
        let t = try #require(Self.finished(text.receive(.result(JobResultPayload(finalStatus: .success, resultId: "r1")), seq: 3))).get()
        #expect(t.result == "hello world")
        #expect(t.streamedBytes == Data("hello world".utf8))

        var bin = Job(maxAssembledResult: 1 << 20)
        _ = bin.receive(Self.chunk("r2", 0, Data([1, 2]).base64EncodedString(), base64: true), seq: 1)
        _ = bin.receive(Self.chunk("r2", 1, Data([3]).base64EncodedString(), base64: true), seq: 2)
        let b = try #require(Self.finished(bin.receive(.result(JobResultPayload(finalStatus: .success, resultId: "r2")), seq: 3))).get()
        #expect(b.streamedBytes == Data([1, 2, 3]))
        #expect(b.result == ["encoding": "base64", "data": .string(Data([1, 2, 3]).base64EncodedString())])
    }

    @Test("a chunk out of order, not base64, or past the limit fails the job locally")
    func badChunks() {
        let cases: [([Job.Frame], ARCPClientError.Code)] = [
            ([Self.chunk("r", 1, "x")], .protocolViolation),
            ([Self.chunk("r", 0, "%%%", base64: true)], .protocolViolation),
            ([Self.chunk("r", 0, "12345"), Self.chunk("r", 1, "67890")], .resultTooLarge),
        ]
        for (frames, code) in cases {
            var m = Job(maxAssembledResult: 8)
            var last: Job.OnFrame = .duplicate
            for (i, f) in frames.enumerated() { last = m.receive(f, seq: i + 1) }
            guard case .failure(let e)? = Self.finished(last) else { Issue.record("accepted \(frames)"); continue }
            #expect((e as? ARCPClientError)?.code == code)
            #expect(m.isFinished)
        }
    }

    @Test("abandon (unsubscribe, session end) finishes the job once")
    func abandon() {
        var m = Job(maxAssembledResult: 1)
        let first = m.abandon()
        let second = m.abandon()
        #expect(first && !second)
        guard case .alreadyFinished = m.receive(Self.log("x"), seq: 1) else { Issue.record("frame after abandon"); return }
    }

    @Test("assembler: results are independent and taken once")
    func assembler() {
        var a = ResultAssembler(limit: 100)
        #expect(a.add(ResultChunkBody(resultId: "x", chunkSeq: 0, data: "ab", encoding: .utf8, more: true)) == nil)
        #expect(a.add(ResultChunkBody(resultId: "y", chunkSeq: 0, data: "cd", encoding: .utf8, more: true)) == nil)
        #expect(a.bytes == 4)
        #expect(a.take("x")?.value == "ab")
        #expect(a.take("x") == nil)
        #expect(a.take("y")?.value == "cd")
    }

    // MARK: job table

    static let client = ARCPClient(token: "t")

    static func handle(_ id: String) -> JobHandle {
        JobHandle(jobID: id, accepted: JobAcceptedPayload(jobId: id), subscribed: nil, client: client, buffer: 16, streamEvents: true)
    }

    static func env(_ job: String, _ seq: Int?, _ frame: Job.Frame) -> (Envelope, Job.Frame) {
        let message: Message
        switch frame {
        case .event(let p): message = .jobEvent(p)
        case .result(let p): message = .jobResult(p)
        case .error(let p): message = .jobError(p)
        }
        return (Envelope.make(message, jobID: job, eventSeq: seq), frame)
    }

    static func route(_ t: inout ClientJobTable, _ job: String, _ seq: Int?, _ frame: Job.Frame, subscribing: Bool = false) -> ClientJobTable.Route {
        let (e, f) = env(job, seq, frame)
        return t.route(e, f) { _ in subscribing }
    }

    @Test("a finished job leaves the table; its late frames are recognised, not reported as unknown")
    func retire() {
        var t = ClientJobTable()
        t.add(Self.handle("j1"), maxAssembledResult: 1 << 20)
        guard case .deliver = Self.route(&t, "j1", 1, Self.log("a")) else { Issue.record("not delivered"); return }
        guard case .finish = Self.route(&t, "j1", 2, Self.success) else { Issue.record("not finished"); return }
        #expect(t.count == 0)
        #expect(t.isRetired("j1"))
        #expect(!t.isNew("j1"))
        guard case .duplicate = Self.route(&t, "j1", 2, Self.success) else { Issue.record("replayed terminal not recognised"); return }
        guard case .unknownJob = Self.route(&t, "j2", 3, Self.log("?")) else { Issue.record("unknown job not reported"); return }
    }

    @Test("retired ids are bounded: the oldest are forgotten first")
    func retiredBounded() {
        var t = ClientJobTable(retiredCapacity: 3)
        for i in 0..<5 {
            t.add(Self.handle("j\(i)"), maxAssembledResult: 1)
            _ = Self.route(&t, "j\(i)", i + 1, Self.success)
        }
        #expect(!t.isRetired("j0") && !t.isRetired("j1"))
        #expect(t.isRetired("j2") && t.isRetired("j3") && t.isRetired("j4"))
    }

    @Test("frames ahead of job.subscribed are held, in order, bounded, and handed back once")
    func held() {
        var t = ClientJobTable(heldCapacity: 2)
        guard case .held = Self.route(&t, "j", 1, Self.log("1"), subscribing: true) else { Issue.record("not held"); return }
        guard case .held = Self.route(&t, "j", 2, Self.log("2"), subscribing: true) else { Issue.record("not held"); return }
        guard case .overflow = Self.route(&t, "j", 3, Self.log("3"), subscribing: true) else { Issue.record("held past the bound"); return }
        #expect(t.heldCount == 2)
        #expect(t.takeHeld("j").map(\.eventSeq) == [1, 2])
        #expect(t.takeHeld("j").isEmpty)
        #expect(t.heldCount == 0)
    }

    @Test("subscribing again to a finished job follows it afresh")
    func resubscribe() {
        var t = ClientJobTable()
        t.add(Self.handle("j"), maxAssembledResult: 1)
        _ = Self.route(&t, "j", 5, Self.success)
        #expect(t.isRetired("j"))
        let again = Self.handle("j")
        #expect(t.add(again, maxAssembledResult: 1) == nil)
        #expect(!t.isRetired("j"))
        // Its own numbering: seqs restart.
        guard case .deliver = Self.route(&t, "j", 1, Self.log("history")) else { Issue.record("resubscribed job's frame dropped"); return }
    }

    @Test("unsubscribe and session end give jobs up and drop what they held")
    func removal() {
        var t = ClientJobTable()
        t.add(Self.handle("a"), maxAssembledResult: 1)
        t.add(Self.handle("b"), maxAssembledResult: 1)
        _ = Self.route(&t, "c", 1, Self.log("x"), subscribing: true)
        #expect(t.remove("a")?.jobID == "a")
        #expect(t.remove("a") == nil)
        #expect(t.isRetired("a"))
        guard case .duplicate = Self.route(&t, "a", 9, Self.log("in flight")) else { Issue.record("frame after unsubscribe reported"); return }
        #expect(t.removeAll().map(\.jobID) == ["b"])
        #expect(t.count == 0 && t.heldCount == 0)
    }
}

@Suite("Auto-ack state machine")
struct AutoAckStateMachineTests {
    static let t0 = ContinuousClock.now

    @Test("by count")
    func byCount() {
        var m = AutoAckStateMachine(.init(every: 3, interval: nil, minimumSpacing: .zero), now: Self.t0)
        #expect(m.processed(seq: 1, at: Self.t0 + .seconds(1)) == .none)
        #expect(m.processed(seq: 2, at: Self.t0 + .seconds(1)) == .none)
        #expect(m.processed(seq: 3, at: Self.t0 + .seconds(1)) == .ack(through: 3))
        #expect(m.processed(seq: 4, at: Self.t0 + .seconds(1)) == .none)
    }

    @Test("by time since the last ack, when an event arrives")
    func byTime() {
        var m = AutoAckStateMachine(.init(every: nil, interval: .milliseconds(250), minimumSpacing: .zero), now: Self.t0)
        #expect(m.processed(seq: 1, at: Self.t0 + .milliseconds(100)) == .none)
        #expect(m.processed(seq: 2, at: Self.t0 + .milliseconds(250)) == .ack(through: 2))
        #expect(m.processed(seq: 3, at: Self.t0 + .milliseconds(400)) == .none)
        #expect(m.processed(seq: 4, at: Self.t0 + .milliseconds(500)) == .ack(through: 4))
    }

    @Test("too soon: one trailing ack, covering what arrived meanwhile")
    func trailing() {
        var m = AutoAckStateMachine(.init(every: 1, interval: nil, minimumSpacing: .milliseconds(20)), now: Self.t0)
        #expect(m.processed(seq: 1, at: Self.t0 + .milliseconds(50)) == .ack(through: 1))
        #expect(m.processed(seq: 2, at: Self.t0 + .milliseconds(55)) == .scheduleTrailing(after: .milliseconds(15)))
        #expect(m.processed(seq: 3, at: Self.t0 + .milliseconds(60)) == .none)
        #expect(m.trailingScheduled)
        #expect(m.trailingTimerFired(at: Self.t0 + .milliseconds(70)) == .ack(through: 3))
        // Illegal: a timer that fires again, or with nothing new, sends nothing.
        #expect(m.trailingTimerFired(at: Self.t0 + .milliseconds(80)) == .none)
    }

    @Test("nothing configured: never acks")
    func never() {
        var m = AutoAckStateMachine(.init(every: nil, interval: nil, minimumSpacing: .zero), now: Self.t0)
        for i in 1...1_000 { #expect(m.processed(seq: i, at: Self.t0 + .seconds(i)) == .none) }
    }
}
