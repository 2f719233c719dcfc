import ARCP
import ARCPSubprocess
import ARCPWebSocket
import Foundation
import Testing

/// The Swift client (`ARCPClient`) against the Python reference *runtime*
/// (Tests/Interop/py_runtime.py: agentruntimecontrolprotocol 1.1.3 with the test agents of
/// shared/reference/python-1.1.3/server.py), over WebSocket (one shared `--port 0` runtime)
/// and over stdio (`ChildProcessTransport` spawning `py_runtime.py --stdio` per session).
///
/// Where the reference runtime is off-spec (shared/reference/python-1.1.3/NOTES.md) the test
/// says so and checks that the Swift client still surfaces the right outcome.
private let pythonRuntimeWS = SharedServer {
    try await startListening(Interop.python, [Interop.pyRuntime, "--port", "0"], label: "py_runtime.py --port 0")
}

@Suite("Interop: Swift client ↔ Python runtime", Interop.needsPython, .timeLimit(.minutes(1)))
struct SwiftClientPythonRuntimeTests {
    static let eventKinds = ["log", "thought", "tool_call", "tool_result", "status", "metric", "artifact_ref", "delegate", "progress"]

    func transport(_ carrier: Carrier) async throws -> any Transport {
        switch carrier {
        case .webSocket:
            return try await WebSocketTransport.connect(to: try await pythonRuntimeWS.url())
        case .stdio:
            return try await ChildProcessTransport.spawn(executable: Interop.python, arguments: [Interop.pyRuntime, "--stdio"])
        }
    }

    /// Connects, runs `body`, and closes the session (and the stdio child) whatever happens.
    func withSession(_ carrier: Carrier, token: String = "tok", autoAck: Bool = true, _ body: (ARCPClient) async throws -> Void) async throws {
        var options = ARCPClient.Options()
        if !autoAck {
            options.autoAckEvery = nil
            options.autoAckInterval = nil
        }
        options.requestTimeout = .seconds(10)
        options.logger.logLevel = .error
        let client = ARCPClient(token: token, options: options)
        let t = try await transport(carrier)
        do {
            try await client.connect(t)
        } catch {
            await t.close()
            throw error
        }
        do {
            try await body(client)
        } catch {
            await client.close()
            await t.close()
            throw error
        }
        await client.close()
        await t.close()
    }

    func events(_ job: JobHandle) async throws -> [JobEvent] {
        var out: [JobEvent] = []
        for try await e in job.events { out.append(e) }
        return out
    }

    @Test("echo: result and the log event", arguments: Carrier.allCases)
    func echo(_ carrier: Carrier) async throws {
        try await withSession(carrier) { client in
            #expect(client.welcome?.runtime?.name == "arcp-pyref")
            let job = try await client.submit(agent: "echo", input: ["hello": "world", "n": 1])
            let evs = try await events(job)
            let outcome = try await job.result()
            #expect(outcome.finalStatus == .success)
            #expect(outcome.result == ["echoed": ["hello": "world", "n": 1]])
            #expect(evs.map(\.body.kind) == ["log"])
            if case .log(let l)? = evs.first?.body { #expect(l.message == "echo started") }
            #expect(job.accepted?.agent == "echo")
        }
    }

    @Test("every event kind decodes (reference body forms included)", arguments: Carrier.allCases)
    func everyEventKind(_ carrier: Carrier) async throws {
        try await withSession(carrier) { client in
            let job = try await client.submit(agent: "kitchen", input: [:])
            let evs = try await events(job)
            let outcome = try await job.result()
            #expect(outcome.result?["ok"] == true)
            // Each of the nine kinds once, with two metrics.
            #expect(Set(evs.map(\.body.kind)) == Set(Self.eventKinds))
            #expect(evs.filter { $0.body.kind == "metric" }.count == 2)
            #expect(evs.map(\.seq) == evs.map(\.seq).sorted())
            for e in evs {
                switch e.body {
                case .toolCall(let c):
                    // Reference off-spec: tool_call_id/name/arguments (spec: call_id/tool/args).
                    #expect(c.name == "search.web" && c.toolCallId == "tc_1" && c.arguments?["q"] == "arcp")
                case .toolResult(let r):
                    #expect(r.toolCallId == "tc_1" && r.output?["hits"] == 3)
                case .artifactRef(let a):
                    // Reference off-spec: media_type/size_bytes (spec: content_type/byte_size).
                    #expect(a.uri == "arcp://artifacts/art_1.txt" && a.mediaType == "text/plain" && a.sizeBytes == 5)
                case .metric(let m) where m.name == "cost.usd":
                    #expect(m.value == 0.25 && m.unit == "USD")
                case .delegate(let d):
                    #expect(d.agent == "echo" && d.childJobId == "job_child")
                case .progress(let p):
                    #expect(p.current == 1 && p.total == 1 && p.units == "items")
                default:
                    break
                }
            }
        }
    }

    @Test("job.error: INTERNAL_ERROR retryable, and a typed code", arguments: Carrier.allCases)
    func jobError(_ carrier: Carrier) async throws {
        try await withSession(carrier) { client in
            let plain = try await client.submit(agent: "fails", input: ["message": "boom"])
            let evs = try await events(plain)
            let e1 = await #expect(throws: ARCPError.self) { try await plain.result() }
            #expect(e1?.code == .internalError && e1?.retryable == true && e1?.message.contains("boom") == true)
            #expect(e1?.finalStatus == .error)
            #expect(evs.map(\.body.kind) == ["log"])
            let typed = try await client.submit(agent: "fails", input: ["message": "nope", "code": "PERMISSION_DENIED"])
            let e2 = await #expect(throws: ARCPError.self) { try await typed.result() }
            #expect(e2?.code == .permissionDenied && e2?.message.contains("nope") == true)
        }
    }

    /// Reference off-spec: no `job.cancelled` ack, and the job ends with
    /// `job.result {final_status: "cancelled"}` instead of `job.error CANCELLED`. The client
    /// surfaces that as an `ARCPError` CANCELLED with `finalStatus == .cancelled`, the same
    /// as for the spec's form.
    @Test("cancel: the client surfaces the reference's job.result cancelled as CANCELLED", arguments: Carrier.allCases)
    func cancel(_ carrier: Carrier) async throws {
        try await withSession(carrier) { client in
            let job = try await client.submit(agent: "slow", input: ["seconds": 30, "tick": 0.2])
            var events = job.events.makeAsyncIterator()
            let first = try await events.next()
            #expect(first != nil)
            let started = ContinuousClock.now
            // `cancel()` waits for the spec's job.cancelled ack, which the reference never sends:
            // do not wait for it; the outcome arrives through result().
            let cancelling = Task { try? await job.cancel(reason: "interop test") }
            let error = await #expect(throws: ARCPError.self) { try await job.result() }
            #expect(error?.code == .cancelled)
            #expect(error?.finalStatus == .cancelled)
            #expect(ContinuousClock.now - started < .seconds(5))
            cancelling.cancel()
        }
    }

    @Test("agent versions: inventory, default, explicit, missing", arguments: Carrier.allCases)
    func versions(_ carrier: Carrier) async throws {
        try await withSession(carrier) { client in
            let info = client.welcome?.capabilities?.agents?.compactMap { entry -> AgentInfo? in
                if case .info(let i) = entry, i.name == "versioned" { return i }
                return nil
            }.first
            #expect(info?.versions == ["1.0.0", "2.0.0"])
            #expect(info?.default == "1.0.0")
            let bare = try await client.submit(agent: "versioned", input: [:])
            #expect(bare.accepted?.agent == "versioned@1.0.0")
            #expect(try await bare.result().result == ["version": "1.0.0"])
            let v2 = try await client.submit(agent: "versioned@2.0.0", input: [:])
            #expect(v2.accepted?.agent == "versioned@2.0.0")
            #expect(try await v2.result().result == ["version": "2.0.0"])
            // The reference answers with a session.error that has no request id; the client
            // matches it to the oldest pending submit.
            let missing = await #expect(throws: ARCPError.self) { try await client.submit(agent: "versioned@9.9.9", input: [:]) }
            #expect(missing?.code == .agentVersionNotAvailable)
        }
    }

    @Test("idempotent resubmit: same job and result; a conflicting reuse is DUPLICATE_KEY", arguments: Carrier.allCases)
    func idempotent(_ carrier: Carrier) async throws {
        try await withSession(carrier) { client in
            let key = "interop-\(UUID().uuidString)"
            let first = try await client.submit(agent: "echo", input: ["n": 1], idempotencyKey: key)
            let r1 = try await first.result()
            let second = try await client.submit(agent: "echo", input: ["n": 1], idempotencyKey: key)
            #expect(second.jobID == first.jobID)
            #expect(try await second.result().result == r1.result)
            let conflict = await #expect(throws: ARCPError.self) {
                try await client.submit(agent: "echo", input: ["n": 2], idempotencyKey: key)
            }
            #expect(conflict?.code == .duplicateKey)
        }
    }

    @Test("bad token: UNAUTHENTICATED from connect", arguments: Carrier.allCases)
    func badToken(_ carrier: Carrier) async throws {
        var options = ARCPClient.Options()
        options.requestTimeout = .seconds(10)
        options.logger.logLevel = .error
        let client = ARCPClient(token: "WRONG-token", options: options)
        let t = try await transport(carrier)
        let error = await #expect(throws: ARCPError.self) { try await client.connect(t) }
        #expect(error?.code == .unauthenticated)
        await t.close()
    }

    @Test("list_jobs: statuses, status and agent filters, paging", arguments: Carrier.allCases)
    func listJobs(_ carrier: Carrier) async throws {
        try await withSession(carrier) { client in
            let done = try await client.submit(agent: "echo", input: ["list": 1])
            _ = try await done.result()
            let slow = try await client.submit(agent: "slow", input: ["seconds": 30, "tick": 0.2])
            var slowEvents = slow.events.makeAsyncIterator()
            _ = try await slowEvents.next()
            let all = try await client.listJobs()
            let status = Dictionary(all.jobs.map { ($0.jobId, $0.status) }, uniquingKeysWith: { a, _ in a })
            #expect(status[done.jobID] == .success)
            #expect(status[slow.jobID] == .running)
            // Reference off-spec: entries carry submitted_at instead of created_at.
            #expect(all.jobs.allSatisfy { $0.submittedAt != nil || $0.createdAt != nil })
            let running = try await client.listJobs(filter: ListJobsFilter(status: [.running]))
            #expect(!running.jobs.isEmpty && running.jobs.allSatisfy { $0.status == .running })
            #expect(running.jobs.contains { $0.jobId == slow.jobID })
            let echoes = try await client.listJobs(filter: ListJobsFilter(agent: "echo"))
            #expect(!echoes.jobs.isEmpty && echoes.jobs.allSatisfy { $0.agent == "echo" })
            let page1 = try await client.listJobs(limit: 1)
            #expect(page1.jobs.count == 1)
            let cursor = try #require(page1.nextCursor)
            let page2 = try await client.listJobs(limit: 1, cursor: cursor)
            #expect(page2.jobs.first?.jobId != page1.jobs.first?.jobId)
            // Reference off-spec: its JobCancelPayload requires `reason` (optional in the spec).
            let cancelling = Task { try? await slow.cancel(reason: "interop cleanup") }
            _ = try? await slow.result()
            cancelling.cancel()
        }
    }

    /// Reference off-spec (NOTES.md §4): it sends the history *before* `job.subscribed`, and
    /// numbers a subscriber's events from 1 again, below the session's own `event_seq`s. The
    /// client holds what precedes the answer and de-duplicates per job, so nothing is lost.
    @Test("subscribe with history: an ended job and a running one, from a second session", arguments: Carrier.allCases)
    func subscribeWithHistory(_ carrier: Carrier) async throws {
        guard carrier == .webSocket else { return }  // one stdio child per session: no second session on it
        // The owner does not ack: the reference serves history from the owner's buffer, which acks free.
        try await withSession(carrier, autoAck: false) { owner in
            let ended = try await owner.submit(agent: "progress", input: ["steps": 3, "delay": 0.01])
            _ = try await ended.result()
            let running = try await owner.submit(agent: "slow", input: ["seconds": 30, "tick": 0.05])
            var runningEvents = running.events.makeAsyncIterator()
            _ = try await runningEvents.next()
            try await withSession(carrier) { observer in
                // The observer's own events take seqs 1…2 first.
                let own = try await observer.submit(agent: "echo", input: ["own": true])
                _ = try await own.result()
                let sub = try await observer.subscribe(jobID: ended.jobID, history: true)
                let evs = try await events(sub)
                #expect(evs.map(\.body.kind) == ["progress", "progress", "progress", "progress"], "history of the ended job: \(evs)")
                #expect(try await sub.result().result == ["steps": 3])
                let live = try await observer.subscribe(jobID: running.jobID, history: true)
                var ticks = 0
                for try await e in live.events where e.body.kind == "log" {
                    ticks += 1
                    if ticks == 3 { break }
                }
                #expect(ticks == 3)
            }
            let cancelling = Task { try? await running.cancel(reason: "interop cleanup") }
            _ = try? await running.result()
            cancelling.cancel()
        }
    }
}
