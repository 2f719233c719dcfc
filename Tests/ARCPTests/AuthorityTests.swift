import ARCP
import ARCPTestSupport
import ARCPTesting
import Foundation
import Synchronization
import Testing

// MARK: - Helpers shared by the authority, credential and delegation tests

/// A thread-safe counter.
final class TestCounter: Sendable {
    private let state = Mutex(0)
    func add(_ n: Int = 1) { state.withLock { $0 += n } }
    var value: Int { state.withLock { $0 } }
}

/// A value an agent hands to the test.
final class TestBox<T: Sendable>: Sendable {
    private let state = Mutex<T?>(nil)
    func set(_ v: T) { state.withLock { $0 = v } }
    var value: T? { state.withLock { $0 } }
}

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Resumes a continuation once; later attempts are ignored.
final class ResumeOnce<T: Sendable>: Sendable {
    private let slot: Mutex<CheckedContinuation<T, any Error>?>
    init(_ c: CheckedContinuation<T, any Error>) { slot = Mutex(c) }

    /// Returns false when the continuation was already resumed.
    @discardableResult
    func resume(_ r: Result<T, any Error>) -> Bool {
        guard let c = slot.withLock({ s -> CheckedContinuation<T, any Error>? in
            let c = s
            s = nil
            return c
        }) else { return false }
        c.resume(with: r)
        return true
    }
}

/// Runs `body`, failing (instead of hanging) when it takes longer than `limit`. The body
/// runs in its own task, cancelled on timeout, and is not waited for, so even a body that
/// ignores cancellation cannot hang the test.
func within<T: Sendable>(_ limit: Duration = .seconds(5), _ what: String = "a condition", _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        let once = ResumeOnce(c)
        let work = Task {
            do {
                once.resume(.success(try await body()))
            } catch {
                once.resume(.failure(error))
            }
        }
        Task {
            try? await Task.sleep(for: limit)
            if once.resume(.failure(TimedOut(what: what))) { work.cancel() }
        }
    }
}

/// Collects a handle's events until its terminal frame.
func collect(_ job: JobHandle) async throws -> [EventBody] {
    try await within(.seconds(10), "the events of \(job.jobID)") {
        var out: [EventBody] = []
        for try await e in job.events { out.append(e.body) }
        return out
    }
}

/// The error a job ended with, or nil when it succeeded.
func failure(of job: JobHandle) async -> ARCPError? {
    do {
        _ = try await within(.seconds(10), "the result of \(job.jobID)") { try await job.result() }
        return nil
    } catch let e as ARCPError {
        return e
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

extension EventBody {
    var toolResultBody: ToolResultBody? { if case .toolResult(let t) = self { t } else { nil } }
    var metricBody: MetricBody? { if case .metric(let m) = self { m } else { nil } }
    var logBody: LogBody? { if case .log(let l) = self { l } else { nil } }
    var statusBody: StatusBody? { if case .status(let s) = self { s } else { nil } }
    var delegateBody: DelegateBody? { if case .delegate(let d) = self { d } else { nil } }
}

/// The error code inside a tool_result's error payload.
func errorCode(_ t: ToolResultBody) -> String? { t.error?["code"]?.stringValue }

/// Registers `probe`: runs `input.checks` ([[namespace, target], …]) through
/// `ctx.authorize` (with a tool call id per check when `input.calls` is true) and returns
/// "ok" or the error code for each, plus whether each error was retryable.
func registerProbe(_ runtime: ARCPRuntime) throws {
    try runtime.register("probe") { input, ctx in
        var out: [JSONValue] = []
        let calls = input["calls"]?.boolValue ?? false
        for (i, check) in (input["checks"]?.arrayValue ?? []).enumerated() {
            let ns = check.arrayValue?.first?.stringValue ?? ""
            let target = check.arrayValue?.last?.stringValue ?? ""
            do {
                try ctx.authorize(try LeaseNamespace(ns), target, toolCallID: calls ? "call_\(i)" : nil)
                out.append("ok")
            } catch let e as ARCPError {
                #expect(!e.retryable)
                out.append(.string(e.code.rawValue))
            }
        }
        return .array(out)
    }
}

// MARK: - Tests

@Suite("Authority: leases at runtime (§9.1–§9.7)")
struct AuthorityTests {
    static let lease: Lease = [
        "fs.read": ["/data/**"],
        "fs.write": ["/data/out/*"],
        "net.fetch": ["https://api.example.com/**"],
        "tool.call": ["search.*"],
        "agent.delegate": ["helper"],
        "model.use": ["tier-fast/*"],
    ]

    static let table: [(String, String, String)] = [
        ("fs.read", "/data/a/b.txt", "ok"),
        ("fs.read", "/data", "ok"),
        ("fs.read", "/etc/passwd", "PERMISSION_DENIED"),
        ("fs.read", "/data/../etc/passwd", "PERMISSION_DENIED"),
        ("fs.read", "/data/%2e%2e/etc/passwd", "PERMISSION_DENIED"),
        ("fs.read", "/database/x", "PERMISSION_DENIED"),
        ("fs.write", "/data/out/x.txt", "ok"),
        ("fs.write", "/data/out/sub/x.txt", "PERMISSION_DENIED"),
        ("fs.write", "/data/a.txt", "PERMISSION_DENIED"),
        ("net.fetch", "https://api.example.com/v1/x", "ok"),
        ("net.fetch", "https://API.EXAMPLE.COM:443/v1/x", "ok"),
        ("net.fetch", "https://api.example.com.evil.test/v1", "PERMISSION_DENIED"),
        ("net.fetch", "https://api.example.com@evil.test/v1", "PERMISSION_DENIED"),
        ("net.fetch", "http://api.example.com/v1", "PERMISSION_DENIED"),
        ("tool.call", "search.web", "ok"),
        ("tool.call", "search.web.deep", "PERMISSION_DENIED"),
        ("tool.call", "shell.exec", "PERMISSION_DENIED"),
        ("agent.delegate", "helper", "ok"),
        ("agent.delegate", "helper@1.2.0", "ok"),
        ("agent.delegate", "helpers", "PERMISSION_DENIED"),
        ("model.use", "tier-fast/x", "ok"),
        ("model.use", "tier-slow/x", "PERMISSION_DENIED"),
        ("cost.budget", "USD:1", "PERMISSION_DENIED"),
        ("x.unregistered", "anything", "PERMISSION_DENIED"),
    ]

    @Test("authorize through a running agent: allowed and denied in every namespace; denials are PERMISSION_DENIED, not retryable, and the job goes on")
    func authorizeTable() async throws {
        let h = try Harness()
        try registerProbe(h.runtime)
        let client = try await h.client()
        let checks: [JSONValue] = Self.table.map { [.string($0.0), .string($0.1)] }
        let job = try await client.submit(agent: "probe", input: ["checks": .array(checks)], leaseRequest: Self.lease)
        let events = try await collect(job)
        #expect(events.compactMap(\.toolResultBody).isEmpty)  // no tool call ids: no tool_result events
        let outcome = try await job.result()
        let got = outcome.result?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(got.count == Self.table.count)
        for (row, result) in zip(Self.table, got) {
            #expect(result == row.2, "\(row.0) \(row.1)")
        }
        await client.close()
    }

    @Test("a denial inside a tool call is also a tool_result error event for that call")
    func denialAsToolResult() async throws {
        let h = try Harness()
        try registerProbe(h.runtime)
        let client = try await h.client()
        let job = try await client.submit(
            agent: "probe", input: ["calls": true, "checks": [["tool.call", "search.web"], ["tool.call", "shell.exec"], ["fs.read", "/etc/shadow"]]],
            leaseRequest: Self.lease)
        let results = try await collect(job).compactMap(\.toolResultBody)
        #expect(results.map { $0.callId } == ["call_1", "call_2"])
        #expect(results.map(errorCode) == ["PERMISSION_DENIED", "PERMISSION_DENIED"])
        #expect(results.allSatisfy { $0.error?["retryable"]?.boolValue == false })
        #expect(try await job.result().result == ["ok", "PERMISSION_DENIED", "PERMISSION_DENIED"])
        await client.close()
    }

    @Test("callTool authorizes tool.call, emits tool_call then tool_result; a denied call never runs")
    func callTool() async throws {
        let h = try Harness()
        let ran = TestCounter()
        try h.runtime.register("tools") { _, ctx in
            let ok = try await ctx.callTool("search.web", args: ["q": "x"]) {
                ran.add()
                return ["hits": 1]
            }
            do {
                _ = try await ctx.callTool("shell.exec") {
                    ran.add(100)
                    return nil
                }
            } catch let e as ARCPError where e.code == .permissionDenied {
                return ["first": ok, "second": "denied"]
            }
            return nil
        }
        let client = try await h.client()
        let job = try await client.submit(agent: "tools", leaseRequest: ["tool.call": ["search.*"]])
        let events = try await collect(job)
        #expect(events.map(\.kind) == ["tool_call", "tool_result", "tool_call", "tool_result"])
        #expect(events[1].toolResultBody?.result == ["hits": 1])
        #expect(events[3].toolResultBody.map(errorCode) == "PERMISSION_DENIED")
        #expect(try await job.result().result == ["first": ["hits": 1], "second": "denied"])
        #expect(ran.value == 1)
        await client.close()
    }

    @Test("job.accepted echoes the effective lease: a policy may narrow the request but never widen it")
    func policy() async throws {
        struct Narrow: LeasePolicy {
            func effectiveLease(requested: ValidatedLease, principal: String?) -> ValidatedLease {
                // Drop fs.write, narrow fs.read, and (wrongly) try to add net.fetch and widen tool.call.
                (try? ValidatedLease(["fs.read": ["/data/public/**"], "net.fetch": ["https://**"], "tool.call": ["**"]])) ?? .empty
            }
        }
        let h = try Harness { $0.leasePolicy = Narrow() }
        try registerProbe(h.runtime)
        let client = try await h.client()
        let job = try await client.submit(
            agent: "probe", input: ["checks": [["fs.read", "/data/public/a"], ["fs.read", "/data/private/a"], ["fs.write", "/data/x"], ["tool.call", "search.web"]]],
            leaseRequest: ["fs.read": ["/data/**"], "fs.write": ["/data/**"], "tool.call": ["search.*"]])
        #expect(job.accepted?.lease == ["fs.read": ["/data/public/**"], "tool.call": []])
        #expect(try await job.result().result == ["ok", "PERMISSION_DENIED", "PERMISSION_DENIED", "PERMISSION_DENIED"])
        await client.close()
    }

    @Test("malformed leases are INVALID_REQUEST session errors carrying the request id")
    func invalidLeases() async throws {
        let h = try Harness()
        let peer = h.raw()
        let sid = try #require(try await peer.hello()).sessionId
        let bad: [(Lease, LeaseConstraints?)] = [
            (["bogus.cap": ["*"]], nil),
            (["Fs.Read": ["/x"]], nil),
            (["fs.read": ["relative/path"]], nil),
            (["fs.read": ["/a/../b"]], nil),
            (["cost.budget": ["USD:-1"]], nil),
            (["cost.budget": ["USD:1e3"]], nil),
            (["cost.budget": ["USD:1", "USD:2"]], nil),
            (["net.fetch": ["https://user:pw@example.com/**"]], nil),
            ([:], LeaseConstraints(expiresAt: "2999-01-01T00:00:00+00:00")),
            ([:], LeaseConstraints(expiresAt: "2000-01-01T00:00:00Z")),
        ]
        for (lease, constraints) in bad {
            let id = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "echo", leaseRequest: lease, leaseConstraints: constraints)), sessionID: sid)
            let e = try #require(try await peer.next())
            #expect(e.error?.code == .invalidRequest, "\(lease) \(String(describing: constraints))")
            #expect(e.error?.requestId == id)
            #expect(e.error?.retryable == false)
        }
    }

    @Test("budget, model.use and expires_at need their features negotiated")
    func featureGates() async throws {
        let h = try Harness()
        let peer = h.raw()
        let sid = try #require(try await peer.hello(features: [])).sessionId
        let cases: [(Lease, LeaseConstraints?, String)] = [
            (["cost.budget": ["USD:1"]], nil, "cost.budget"),
            (["model.use": ["tier-fast/*"]], nil, "model.use"),
            ([:], LeaseConstraints(expiresAt: "2999-01-01T00:00:00Z"), "lease_expires_at"),
        ]
        for (lease, c, feature) in cases {
            _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "echo", leaseRequest: lease, leaseConstraints: c)), sessionID: sid)
            #expect(try await peer.next()?.error?.message.contains(feature) == true)
        }
    }

    @Test("runtime-defined namespaces are accepted only when registered")
    func customNamespace() async throws {
        let registry = try LeaseNamespaceRegistry(custom: ["db.query": .name])
        let h = try Harness { $0.namespaceRegistry = registry }
        try registerProbe(h.runtime)
        let client = try await h.client()
        let job = try await client.submit(
            agent: "probe", input: ["checks": [["db.query", "orders.read"], ["db.query", "users.drop"]]], leaseRequest: ["db.query": ["orders.*"]])
        #expect(try await job.result().result == ["ok", "PERMISSION_DENIED"])
        await #expect(throws: ARCPError.self) { _ = try await client.submit(agent: "probe", leaseRequest: ["kv.get": ["*"]]) }
        await client.close()
    }

    // MARK: models (§9.7)

    @Test("model.use: globs; a lease without model.use forbids models by default, allows any under .allowAnyWhenAbsent")
    func models() async throws {
        let checks: JSONValue = ["checks": [["model.use", "tier-fast/x"], ["model.use", "tier-slow/x"], ["model.use", "gpt-4.1"]]]
        let strict = try Harness()
        try registerProbe(strict.runtime)
        let c1 = try await strict.client()
        let scoped = try await c1.submit(agent: "probe", input: checks, leaseRequest: ["model.use": ["tier-fast/*"]])
        #expect(try await scoped.result().result == ["ok", "PERMISSION_DENIED", "PERMISSION_DENIED"])
        let none = try await c1.submit(agent: "probe", input: checks)
        #expect(try await none.result().result == ["PERMISSION_DENIED", "PERMISSION_DENIED", "PERMISSION_DENIED"])
        await c1.close()

        let lax = try Harness { $0.modelPolicy = .allowAnyWhenAbsent }
        try registerProbe(lax.runtime)
        let c2 = try await lax.client()
        let any = try await c2.submit(agent: "probe", input: checks)
        #expect(try await any.result().result == ["ok", "ok", "ok"])
        let stillScoped = try await c2.submit(agent: "probe", input: checks, leaseRequest: ["model.use": ["tier-fast/*"]])
        #expect(try await stillScoped.result().result == ["ok", "PERMISSION_DENIED", "PERMISSION_DENIED"])
        await c2.close()
    }

    // MARK: expiry (§9.5)

    /// A harness on a manual clock, with an agent that authorizes `tool.call search.web`
    /// (as call c1) each time the test opens a gate.
    struct ExpiryRig {
        let h: Harness
        let clock: ManualLeaseClock
        let gates: [TestGate]

        init(swallow: Bool = false, watchInterval: Duration = .seconds(60)) throws {
            let clock = ManualLeaseClock(wall: Date(timeIntervalSince1970: 1_800_000_000))
            let gates = [TestGate(), TestGate()]
            self.clock = clock
            self.gates = gates
            h = try Harness {
                $0.leaseClock = clock
                $0.expiryCheckInterval = watchInterval
            }
            try h.runtime.register("expiring") { _, ctx in
                for (i, gate) in gates.enumerated() {
                    await ctx.status("waiting", "\(i)")
                    await gate.wait()
                    do {
                        try ctx.authorize(.toolCall, "search.web", toolCallID: "c\(i)")
                        await ctx.log("info", "authorized \(i)")
                    } catch let e as ARCPError {
                        await ctx.log("info", "denied \(i): \(e.code.rawValue)")
                        if !swallow { throw e }
                        return ["swallowed": true]
                    }
                }
                return ["done": true]
            }
        }

        func expiry(in seconds: TimeInterval) -> LeaseConstraints {
            LeaseConstraints(expiresAt: LeaseTimestamp(clock.now().addingTimeInterval(seconds)).text)
        }
    }

    @Test("expiry on the injected clock: allowed before expires_at and within the 1 s grace; after it LEASE_EXPIRED (tool_result) and the job ends job.error LEASE_EXPIRED, final_status error, retryable false")
    func expiryAfterAuthorize() async throws {
        let rig = try ExpiryRig()
        let client = try await rig.h.client()
        let job = try await client.submit(agent: "expiring", leaseRequest: ["tool.call": ["search.*"]], leaseConstraints: rig.expiry(in: 60))
        #expect(job.accepted?.leaseConstraints?.expiresAt == rig.expiry(in: 60).expiresAt)
        var it = job.events.makeAsyncIterator()
        #expect(try await it.next()?.body.statusBody?.phase == "waiting")
        rig.clock.advance(by: .seconds(60))  // at expires_at, inside the grace
        rig.gates[0].open()
        #expect(try await it.next()?.body.logBody?.message == "authorized 0")
        #expect(try await it.next()?.body.statusBody?.phase == "waiting")
        rig.clock.advance(by: .seconds(1))  // grace over
        rig.gates[1].open()
        let denied = try #require(try await it.next()?.body.toolResultBody)
        #expect(denied.callId == "c1")
        #expect(errorCode(denied) == "LEASE_EXPIRED")
        #expect(denied.error?["retryable"]?.boolValue == false)
        let e = try #require(await failure(of: job))
        #expect(e.code == .leaseExpired)
        #expect(e.finalStatus == .error)
        #expect(!e.retryable)
        #expect(rig.h.runtime.jobStatus(job.jobID) == .error)
        await client.close()
    }

    @Test("an agent that swallows LEASE_EXPIRED and returns still ends with job.error LEASE_EXPIRED")
    func expirySwallowed() async throws {
        let rig = try ExpiryRig(swallow: true)
        let client = try await rig.h.client()
        let job = try await client.submit(agent: "expiring", leaseRequest: ["tool.call": ["search.*"]], leaseConstraints: rig.expiry(in: 5))
        rig.clock.advance(by: .seconds(10))
        rig.gates[0].open()
        let e = try #require(await failure(of: job))
        #expect(e.code == .leaseExpired)
        #expect(e.finalStatus == .error)
        await client.close()
    }

    @Test("proactive expiry: the watchdog ends an idle job once the lease clock passes expires_at; enforceLeaseExpiry() does it on demand")
    func proactiveExpiry() async throws {
        let rig = try ExpiryRig(watchInterval: .milliseconds(5))
        let client = try await rig.h.client()
        let job = try await client.submit(agent: "expiring", leaseRequest: ["tool.call": ["search.*"]], leaseConstraints: rig.expiry(in: 30))
        var it = job.events.makeAsyncIterator()
        _ = try await it.next()
        #expect(rig.h.runtime.jobStatus(job.jobID) == .running)
        rig.clock.advance(by: .seconds(31))
        let e = try #require(await failure(of: job))  // the gate never opens: only the watchdog can end it
        #expect(e.code == .leaseExpired)
        #expect(e.finalStatus == .error)

        let slow = try ExpiryRig()  // watchdog asleep for 60 s real time
        let c2 = try await slow.h.client()
        let j2 = try await c2.submit(agent: "expiring", leaseRequest: ["tool.call": ["search.*"]], leaseConstraints: slow.expiry(in: 30))
        #expect(slow.h.runtime.enforceLeaseExpiry().isEmpty)
        slow.clock.advance(by: .seconds(31))
        #expect(slow.h.runtime.enforceLeaseExpiry() == [j2.jobID])
        #expect(await failure(of: j2)?.code == .leaseExpired)
        await client.close(); await c2.close()
    }

    @Test("expires_at is checked against the lease clock at submission")
    func expiryAtSubmission() async throws {
        let rig = try ExpiryRig()
        let client = try await rig.h.client()
        await #expect(throws: ARCPError.self) {
            _ = try await client.submit(agent: "echo", leaseConstraints: rig.expiry(in: -1))
        }
        let ok = try await client.submit(agent: "echo", leaseConstraints: rig.expiry(in: 1))
        _ = try await ok.result()
        await client.close()
    }

    // MARK: budget (§9.6)

    /// Registers `spender`: for each step either reports a cost metric
    /// (`{"cost": v, "unit": u}`), or authorizes a tool call (`{"call": "search.web"}`),
    /// recording "ok"/"rejected"/error codes.
    static func registerSpender(_ runtime: ARCPRuntime) throws {
        try runtime.register("spender") { input, ctx in
            var out: [JSONValue] = []
            for (i, step) in (input["steps"]?.arrayValue ?? []).enumerated() {
                if let cost = step["cost"]?.doubleValue {
                    let accepted = await ctx.metric(step["name"]?.stringValue ?? "cost.inference", cost, unit: step["unit"]?.stringValue ?? "USD")
                    out.append(accepted ? "ok" : "rejected")
                } else if let tool = step["call"]?.stringValue {
                    do {
                        try ctx.authorize(.toolCall, tool, toolCallID: "call_\(i)")
                        out.append("ok")
                    } catch let e as ARCPError {
                        out.append(.string(e.code.rawValue))
                    }
                }
            }
            return .array(out)
        }
    }

    @Test("budget arithmetic is exact at the boundaries: 0.1+0.2+0.7 spends USD:1.00 exactly; 0.99 leaves 0.01 (allowed); reaching 0 is BUDGET_EXHAUSTED")
    func budgetBoundaries() async throws {
        let h = try Harness()
        try Self.registerSpender(h.runtime)
        let client = try await h.client()
        let lease: Lease = ["cost.budget": ["USD:1.00", "credits:10"], "tool.call": ["search.*"]]
        let job = try await client.submit(
            agent: "spender",
            input: ["steps": [
                ["cost": 0.1], ["cost": 0.2], ["call": "search.web"], ["cost": 0.69], ["call": "search.web"],
                ["cost": 0.01], ["call": "search.web"], ["cost": 5, "unit": "credits"],
            ]],
            leaseRequest: lease)
        #expect(job.accepted?.budget == ["USD": .number(1.0), "credits": .number(10)])
        let events = try await collect(job)
        let remaining = events.compactMap(\.metricBody).filter { $0.name == "cost.budget.remaining" }
        #expect(remaining.map(\.value) == [0.9, 0.7, 0.01, 0, 5])
        #expect(remaining.map(\.unit) == ["USD", "USD", "USD", "USD", "credits"])
        let denied = events.compactMap(\.toolResultBody)
        #expect(denied.map(\.callId) == ["call_6"])
        #expect(denied.map(errorCode) == ["BUDGET_EXHAUSTED"])
        #expect(denied.first?.error?["retryable"]?.boolValue == false)
        #expect(try await job.result().result == ["ok", "ok", "ok", "ok", "ok", "ok", "BUDGET_EXHAUSTED", "ok"])
        #expect(h.runtime.budgetRemaining(job: job.jobID) == ["USD": 0, "credits": 5])
        await client.close()
    }

    @Test("negative and non-finite cost metrics are rejected (no decrement, a warn log instead); other units and non-cost metrics do not decrement")
    func budgetRejections() async throws {
        let h = try Harness()
        try Self.registerSpender(h.runtime)
        let client = try await h.client()
        let job = try await client.submit(
            agent: "spender",
            input: ["steps": [
                ["cost": -0.5], ["cost": 0.25, "unit": "EUR"], ["cost": 0.25, "name": "tokens.in"], ["cost": 0.25, "name": "cost.budget.remaining"],
                ["call": "search.web"],
            ]],
            leaseRequest: ["cost.budget": ["USD:0.50"], "tool.call": ["search.*"]])
        let events = try await collect(job)
        #expect(events.compactMap(\.logBody).contains { $0.level == "warn" && $0.message.contains("rejected") })
        #expect(!events.compactMap(\.metricBody).contains { $0.value < 0 })
        #expect(try await job.result().result == ["rejected", "ok", "ok", "ok", "ok"])
        #expect(h.runtime.budgetRemaining(job: job.jobID)?["USD"] == Decimal(string: "0.5"))
        await client.close()
    }

    @Test("BUDGET_EXHAUSTED is fatal when configured: job.error BUDGET_EXHAUSTED, final_status error, retryable false")
    func budgetFatal() async throws {
        let h = try Harness { $0.budgetExhaustionIsFatal = true }
        try Self.registerSpender(h.runtime)
        let client = try await h.client()
        let job = try await client.submit(
            agent: "spender", input: ["steps": [["cost": 1.5], ["call": "search.web"], ["cost": 0.1]]],
            leaseRequest: ["cost.budget": ["USD:1"], "tool.call": ["search.*"]])
        let e = try #require(await failure(of: job))
        #expect(e.code == .budgetExhausted)
        #expect(e.finalStatus == .error)
        #expect(!e.retryable)
        await client.close()
    }

    @Test("job.subscribed carries the current budget; .pythonReference echoes amount strings")
    func budgetOnSubscribe() async throws {
        let gate = TestGate()
        let h = try Harness()
        try h.runtime.register("spend-then-wait") { _, ctx in
            await ctx.metric("cost.inference", 0.25, unit: "USD")
            await gate.wait()
            return nil
        }
        let client = try await h.client()
        let job = try await client.submit(agent: "spend-then-wait", leaseRequest: ["cost.budget": ["USD:1.00"]])
        var it = job.events.makeAsyncIterator()
        _ = try await it.next()  // the cost metric
        let watcher = try await h.client()
        let sub = try await watcher.subscribe(jobID: job.jobID)
        #expect(sub.subscribed?.budget == ["USD": .number(0.75)])
        gate.open()
        _ = try await job.result()
        await client.close(); await watcher.close()

        let py = try Harness { $0.compatibility = .pythonReference }
        let c = try await py.client()
        let j = try await c.submit(agent: "echo", leaseRequest: ["cost.budget": ["USD:1.00"]])
        #expect(j.accepted?.budget == ["USD": .string("USD:1.00")])
        _ = try await j.result()
        await c.close()
    }
}
