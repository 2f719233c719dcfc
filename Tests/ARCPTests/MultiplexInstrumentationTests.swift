import ARCP
import ARCPTestSupport
import Foundation
import Synchronization
import Testing

/// The instrumentations whose `run` the current task is inside, outermost first.
enum RunStack {
    @TaskLocal static var names: [String] = []
}

/// An instrumentation that writes down every call it gets, under its name.
final class RecordingInstrumentation: RuntimeInstrumentation {
    let name: String
    /// Agents whose jobs it observes (nil: all).
    let observes: Set<String>?
    let log: Mutex<[String]>

    init(_ name: String, observes: Set<String>? = nil) {
        self.name = name
        self.observes = observes
        self.log = Mutex([])
    }

    var calls: [String] { log.withLock { $0 } }
    func note(_ s: String) { log.withLock { $0.append(s) } }

    func sessionEvent(_ session: InstrumentedSession, _ event: SessionLifecycleEvent) { note("session \(event)") }

    func startJob(_ job: InstrumentedJob, parent: (any JobInstrumentation)?) -> (any JobInstrumentation)? {
        guard observes?.contains(job.agent) ?? true else { return nil }
        let parentName = (parent as? RecordingJob).map { "\($0.owner):\($0.agent)" } ?? "none"
        note("start \(job.agent) parent=\(parentName)")
        return RecordingJob(owner: name, agent: job.agent, instrumentation: self)
    }

    func errorSent(_ error: ARCPError, session: String?) { note("error \(error.code.rawValue) \(session ?? "-")") }
    func backPressure(session: String, _ kind: BackPressureKind) { note("backPressure \(session) \(kind)") }
    func outboundDrained(session: String, frames: Int) { note("drained \(session) \(frames)") }
}

struct RecordingJob: JobInstrumentation {
    let owner: String
    let agent: String
    let instrumentation: RecordingInstrumentation

    func run(_ agent: () async throws -> JSONValue) async throws -> JSONValue {
        try await RunStack.$names.withValue(RunStack.names + [owner]) { try await agent() }
    }

    func event(_ body: EventBody) { instrumentation.note("event \(self.agent) \(body.kind)") }

    func ended(_ outcome: InstrumentedJobOutcome) { instrumentation.note("ended \(agent) \(outcome.status.rawValue)") }
}

@Suite("MultiplexInstrumentation: several instrumentations at once")
struct MultiplexInstrumentationTests {
    @Test("every call reaches every instrumentation; agents run inside each run, the first outermost; each gets its own parent")
    func forwardsAndNests() async throws {
        let a = RecordingInstrumentation("a")
        // b does not observe the root job: its child job gets no parent from b.
        let b = RecordingInstrumentation("b", observes: ["child"])
        let h = try Harness { $0.instrumentation = MultiplexInstrumentation([a, b]) }
        try h.runtime.register("child") { _, _ in
            .array(RunStack.names.map { .string($0) })
        }
        try h.runtime.register("root") { _, ctx in
            await ctx.log("info", "delegating")
            let child = try await ctx.delegate(agent: "child", input: [:], leaseRequest: [:])
            let r = try await child.result()
            return ["root": .array(RunStack.names.map { .string($0) }), "child": r]
        }
        let client = try await h.client()
        let out = try await client.submit(agent: "root", leaseRequest: ["agent.delegate": ["child"]]).result()
        // The root ran inside a only; the child, started from the root's task (whose
        // task-locals it inherits, a's included), inside a, then b.
        #expect(out.result == ["root": ["a"], "child": ["a", "a", "b"]])
        await client.close()
        // Each instrumentation was told of everything, and got its own observer as parent.
        try await within(.seconds(5), "the session's end to be reported") {
            while !a.calls.contains("session closed") || !b.calls.contains("session closed") { await Task.yield() }
        }
        #expect(a.calls.contains("start root parent=none"))
        #expect(a.calls.contains("start child parent=a:root"))
        #expect(b.calls.contains("start child parent=none"))
        #expect(!b.calls.contains { $0.hasPrefix("start root") })
        #expect(a.calls.contains("event root log"))
        #expect(a.calls.contains("ended root success") && a.calls.contains("ended child success"))
        #expect(b.calls.contains("ended child success") && !b.calls.contains("ended root success"))
        for r in [a, b] {
            #expect(r.calls.first == "session opened")
            #expect(r.calls.contains { $0.hasPrefix("drained ") })
        }
    }

    @Test("error frames, back-pressure and drains go to each, in order")
    func plainCalls() {
        let a = RecordingInstrumentation("a")
        let b = RecordingInstrumentation("b", observes: [])
        let m = MultiplexInstrumentation([a, b])
        m.errorSent(ARCPError(.unauthenticated, "no"), session: nil)
        m.errorSent(ARCPError(.jobNotFound, "gone"), session: "sess_1")
        m.backPressure(session: "sess_1", .reader)
        m.outboundDrained(session: "sess_1", frames: 3)
        let expected = ["error UNAUTHENTICATED -", "error JOB_NOT_FOUND sess_1", "backPressure sess_1 reader", "drained sess_1 3"]
        #expect(a.calls == expected)
        #expect(b.calls == expected)
        #expect(MultiplexInstrumentation([b]).instrumentations.count == 1)
        #expect(MultiplexInstrumentation([]).instrumentations.isEmpty)
    }
}
