import ARCP
import ARCPTestSupport
import ARCPTesting
import Foundation
import Testing

@Suite("Delegation (§9.4, §10)")
struct DelegationTests {
    /// root → mid → leaf, each spending from a shared budget.
    static func registerTree(_ runtime: ARCPRuntime) throws {
        try runtime.register("root") { input, ctx in
            await ctx.metric("cost.inference", 1.0, unit: "USD")
            let mid = try await ctx.delegate(
                agent: "mid", input: ["from": "root"], leaseRequest: ["tool.call": ["search.*"], "agent.delegate": ["leaf"]])
            let r = try await mid.result()
            return ["mid": r, "remaining": .string(LeaseDecimal.format(ctx.budgetRemaining["USD"] ?? -1))]
        }
        try runtime.register("mid") { _, ctx in
            await ctx.metric("cost.inference", 0.5, unit: "USD")
            let leaf = try await ctx.delegate(agent: "leaf", input: ["from": "mid"], leaseRequest: ["cost.budget": ["USD:2.00"], "tool.call": ["search.web"]])
            let r = try await leaf.result()
            return ["leaf": r, "remaining": .string(LeaseDecimal.format(ctx.budgetRemaining["USD"] ?? -1))]
        }
        try runtime.register("leaf") { input, ctx in
            await ctx.metric("cost.inference", 1.5, unit: "USD")
            try ctx.authorize(.toolCall, "search.web")
            #expect(throws: ARCPError.self) { try ctx.authorize(.toolCall, "search.news") }
            return ["from": input["from"] ?? nil, "remaining": .string(LeaseDecimal.format(ctx.budgetRemaining["USD"] ?? -1))]
        }
    }

    @Test("a tree three deep: delegate events, job.accepted with parent_job_id and delegate_id, trace id inherited, budgets shared, client follows the tree")
    func threeDeep() async throws {
        let h = try Harness()
        try Self.registerTree(h.runtime)
        let client = try await h.client()
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        let root = try await client.submit(
            agent: "root", leaseRequest: ["agent.delegate": ["mid", "leaf"], "tool.call": ["search.*"], "cost.budget": ["USD:5.00"]], traceID: trace)
        let (mid, leaf) = try await within(.seconds(5), "the job tree") {
            var r = root.children.makeAsyncIterator()
            let mid = try #require(try await r.next())
            var m = mid.children.makeAsyncIterator()
            let leaf = try #require(try await m.next())
            return (mid, leaf)
        }
        let outcome = try await root.result()
        #expect(outcome.result == [
            "mid": ["leaf": ["from": "mid", "remaining": "0.5"], "remaining": "2"],
            "remaining": "2",
        ])
        // Acceptance back-references and inheritance.
        let ma = try #require(mid.accepted)
        let la = try #require(leaf.accepted)
        #expect(ma.parentJobId == root.jobID)
        #expect(la.parentJobId == mid.jobID)
        #expect(mid.parentJobID == root.jobID && leaf.parentJobID == mid.jobID)
        #expect([root.accepted?.traceId, ma.traceId, la.traceId] == [trace, trace, trace])
        #expect(ma.delegateId?.hasPrefix("del_") == true)
        #expect(ma.agent == "mid")
        #expect(ma.lease == ["tool.call": ["search.*"], "agent.delegate": ["leaf"], "cost.budget": ["USD:4"]])
        #expect(ma.budget == ["USD": .number(4)])
        #expect(la.budget == ["USD": .number(2)])
        #expect(la.lease == ["tool.call": ["search.web"], "cost.budget": ["USD:2.00"]])
        // The delegate events name the child.
        let rootDelegates = try await collect(root).compactMap(\.delegateBody)
        #expect(rootDelegates.count == 1)
        #expect(rootDelegates.first?.delegateId == ma.delegateId)
        #expect(rootDelegates.first?.childJobId == mid.jobID)
        #expect(rootDelegates.first?.agent == "mid")
        #expect(rootDelegates.first?.input == ["from": "root"])
        #expect(rootDelegates.first?.leaseRequest == ["tool.call": ["search.*"], "agent.delegate": ["leaf"]])
        let midEvents = try await collect(mid)
        #expect(midEvents.compactMap(\.delegateBody).first?.delegateId == la.delegateId)
        // Costs were counted once per job and propagated up.
        let leafEvents = try await collect(leaf)
        #expect(leafEvents.compactMap(\.metricBody).filter { $0.name == "cost.budget.remaining" }.map(\.value) == [0.5])
        #expect(h.runtime.budgetRemaining(job: root.jobID) == ["USD": 2])
        #expect(h.runtime.budgetRemaining(job: mid.jobID) == ["USD": 2])
        #expect(h.runtime.budgetRemaining(job: leaf.jobID) == ["USD": Decimal(string: "0.5") ?? -1])
        #expect(root.childJobs.map(\.jobID) == [mid.jobID])
        // Listings show the tree too.
        let listed = try await client.listJobs().jobs
        #expect(listed.first { $0.jobId == leaf.jobID }?.parentJobId == mid.jobID)
        await client.close()
    }

    @Test("subset violations and other refusals are tool_result errors on the parent (not session errors); the parent decides and goes on")
    func refusals() async throws {
        let h = try Harness()
        let expiry = LeaseTimestamp(Date().addingTimeInterval(3600)).text
        let later = LeaseTimestamp(Date().addingTimeInterval(7200)).text
        try h.runtime.register("greedy") { _, ctx in
            let attempts: [(String, Lease, LeaseConstraints?)] = [
                ("echo", ["fs.read": ["/**"]], nil),
                ("echo", ["fs.read": ["/data/../etc/**"]], nil),
                ("echo", ["cost.budget": ["USD:2.00"]], nil),
                ("echo", ["cost.budget": ["EUR:1"]], nil),
                ("echo", [:], LeaseConstraints(expiresAt: later)),
                ("echo", ["model.use": ["tier-slow/*"]], nil),
                ("echo", ["net.fetch": ["https://example.com/**"]], nil),
                ("other", [:], nil),
                ("ghost", [:], nil),
                ("echo", ["fs.read": ["/data/x/**"]], nil),
            ]
            var out: [JSONValue] = []
            for (agent, lease, constraints) in attempts {
                do {
                    let child = try await ctx.delegate(agent: agent, input: ["n": 1], leaseRequest: lease, leaseConstraints: constraints)
                    _ = try await child.result()
                    out.append("ok")
                } catch let e as ARCPError {
                    #expect(!e.retryable)
                    out.append(.string(e.code.rawValue))
                }
            }
            return .array(out)
        }
        let client = try await h.client()
        let job = try await client.submit(
            agent: "greedy",
            leaseRequest: ["agent.delegate": ["echo", "ghost"], "fs.read": ["/data/**"], "cost.budget": ["USD:1.00"], "model.use": ["tier-fast/*"]],
            leaseConstraints: LeaseConstraints(expiresAt: expiry))
        let events = try await collect(job)
        let expected = [
            "LEASE_SUBSET_VIOLATION", "INVALID_REQUEST", "LEASE_SUBSET_VIOLATION", "LEASE_SUBSET_VIOLATION", "LEASE_SUBSET_VIOLATION",
            "LEASE_SUBSET_VIOLATION", "LEASE_SUBSET_VIOLATION", "PERMISSION_DENIED", "AGENT_NOT_AVAILABLE", "ok",
        ]
        #expect(try await job.result().result == .array(expected.map { .string($0) }))
        let delegates = events.compactMap(\.delegateBody)
        let errors = events.compactMap(\.toolResultBody)
        #expect(delegates.count == 10)
        #expect(errors.count == 9)
        #expect(errors.map(errorCode) == Array(expected.dropLast()))
        #expect(errors.map(\.callId) == delegates.prefix(9).map(\.delegateId))
        #expect(delegates.prefix(9).allSatisfy { $0.childJobId == nil })
        #expect(delegates.last?.childJobId != nil)
        #expect(job.childJobs.count == 1)
        await client.close()
    }

    @Test("a child's expiry is inherited when omitted, may be earlier, never later")
    func expiryInheritance() async throws {
        let h = try Harness()
        let parentExpiry = LeaseTimestamp(Date().addingTimeInterval(3600)).text
        let earlier = LeaseTimestamp(Date().addingTimeInterval(1800)).text
        try h.runtime.register("spawner") { input, ctx in
            let constraints = input["expires_at"]?.stringValue.map { LeaseConstraints(expiresAt: $0) }
            let child = try await ctx.delegate(agent: "echo", leaseConstraints: constraints)
            _ = try await child.result()
            return .string(child.leaseConstraints?.expiresAt ?? "none")
        }
        let client = try await h.client()
        let lease: Lease = ["agent.delegate": ["echo"]]
        let inherit = try await client.submit(agent: "spawner", leaseRequest: lease, leaseConstraints: LeaseConstraints(expiresAt: parentExpiry))
        #expect(try await inherit.result().result == .string(parentExpiry))
        #expect(inherit.childJobs.first?.accepted?.leaseConstraints?.expiresAt == parentExpiry)
        let sooner = try await client.submit(
            agent: "spawner", input: ["expires_at": .string(earlier)], leaseRequest: lease, leaseConstraints: LeaseConstraints(expiresAt: parentExpiry))
        #expect(try await sooner.result().result == .string(earlier))
        let unbounded = try await client.submit(agent: "spawner", leaseRequest: lease)
        #expect(try await unbounded.result().result == "none")
        await client.close()
    }

    @Test("a child's lease expires with its parent's: LEASE_EXPIRED on the injected clock")
    func childExpiresWithParent() async throws {
        let clock = ManualLeaseClock(wall: Date(timeIntervalSince1970: 1_800_000_000))
        let gate = TestGate()
        let h = try Harness { $0.leaseClock = clock }
        try h.runtime.register("late-leaf") { _, ctx in
            await ctx.status("ready")
            await gate.wait()
            try ctx.authorize(.toolCall, "search.web", toolCallID: "c1")
            return nil
        }
        try h.runtime.register("waits-for-leaf") { _, ctx in
            let child = try await ctx.delegate(agent: "late-leaf", leaseRequest: ["tool.call": ["search.*"]])
            return try await child.result()
        }
        let client = try await h.client()
        let parent = try await client.submit(
            agent: "waits-for-leaf", leaseRequest: ["agent.delegate": ["late-leaf"], "tool.call": ["**"]],
            leaseConstraints: LeaseConstraints(expiresAt: LeaseTimestamp(clock.now().addingTimeInterval(60)).text))
        let child = try await within(.seconds(5), "the child") {
            var it = parent.children.makeAsyncIterator()
            return try #require(try await it.next())
        }
        var ci = child.events.makeAsyncIterator()
        #expect(try await ci.next()?.body.statusBody?.phase == "ready")
        clock.advance(by: .seconds(62))
        gate.open()
        let childError = try #require(await failure(of: child))
        #expect(childError.code == .leaseExpired)
        #expect(childError.finalStatus == .error)
        // The parent rethrew the child's error: also LEASE_EXPIRED / error.
        #expect(await failure(of: parent)?.code == .leaseExpired)
        await client.close()
    }

    @Test("cancelling the parent cancels the whole tree; a parent that ends leaves no child running")
    func cancellation() async throws {
        let h = try Harness()
        try h.runtime.register("holder") { _, ctx in
            await ctx.status("holding")
            try await Task.sleep(for: .seconds(60))
            return nil
        }
        try h.runtime.register("relay") { input, ctx in
            let next = input["next"]?.stringValue ?? "holder"
            let child = try await ctx.delegate(agent: next, input: ["next": "holder"], leaseRequest: ["agent.delegate": ["holder"]])
            if input["detach"]?.boolValue == true { return "detached" }
            return try await child.result()
        }
        let client = try await h.client()
        let root = try await client.submit(agent: "relay", input: ["next": "relay"], leaseRequest: ["agent.delegate": ["relay", "holder"]])
        let (mid, leaf) = try await within(.seconds(5), "the job tree") {
            var r = root.children.makeAsyncIterator()
            let mid = try #require(try await r.next())
            var m = mid.children.makeAsyncIterator()
            let leaf = try #require(try await m.next())
            var l = leaf.events.makeAsyncIterator()
            _ = try await l.next()
            return (mid, leaf)
        }
        try await root.cancel(reason: "stop")
        for job in [root, mid, leaf] {
            let e = try #require(await failure(of: job))
            #expect(e.code == .cancelled)
            #expect(e.finalStatus == .cancelled)
        }

        let detached = try await client.submit(agent: "relay", input: ["detach": true], leaseRequest: ["agent.delegate": ["holder"]])
        #expect(try await detached.result().result == "detached")
        let orphan = try #require(detached.childJobs.first)
        #expect(await failure(of: orphan)?.code == .cancelled)
        await client.close()
    }

    @Test("delegation depth is bounded (PERMISSION_DENIED beyond maxDelegationDepth)")
    func depthLimit() async throws {
        let h = try Harness { $0.maxDelegationDepth = 2 }
        try h.runtime.register("chain") { input, ctx in
            let n = input["n"]?.int64Value ?? 0
            guard n > 0 else { return "bottom" }
            do {
                let child = try await ctx.delegate(agent: "chain", input: ["n": .int(n - 1)], leaseRequest: ["agent.delegate": ["chain"]])
                return try await child.result()
            } catch let e as ARCPError {
                return .string("refused at \(n): \(e.code.rawValue)")
            }
        }
        let client = try await h.client()
        let job = try await client.submit(agent: "chain", input: ["n": 5], leaseRequest: ["agent.delegate": ["chain"]])
        #expect(try await job.result().result == "refused at 3: PERMISSION_DENIED")
        await client.close()
    }

    /// A child's `job.accepted` carries no `event_seq`, so the replay alone would miss it:
    /// a client away while its job delegates gets the acceptance again on resume, in its
    /// place before the child's first replayed event; one that already saw it does not.
    @Test("a delegated job's job.accepted reaches a client that was away, in order, on resume")
    func childAcceptanceSurvivesResume() async throws {
        let gate = Gate()
        let h = try Harness()
        try h.runtime.register("parent") { _, ctx in
            await ctx.log("info", "before")
            await gate.wait()
            let child = try await ctx.delegate(agent: "kid", input: [:])
            return ["kid": try await child.result()]
        }
        try h.runtime.register("kid") { _, ctx in
            for i in 0..<3 { await ctx.log("info", "kid \(i)") }
            return ["kid": true]
        }
        let peer = h.raw()
        let w = try #require(try await peer.hello())
        guard case .sessionWelcome(let welcome) = w.message, let sid = w.sessionId else { Issue.record("no welcome"); return }
        _ = try await peer.send(.jobSubmit(JobSubmitPayload(agent: "parent", leaseRequest: ["agent.delegate": ["kid"]])), sessionID: sid)
        let first = try #require(try await peer.next(where: { $0.eventSeq != nil }))
        #expect(first.eventSeq == 1)
        peer.transport.drop()
        gate.release()
        let parentID = try #require(first.jobId)
        await #expect(eventually { h.runtime.jobStatus(parentID) == .success })

        let peer2 = h.raw()
        let w2 = try #require(try await peer2.hello(resume: ResumeBlock(sessionId: sid, resumeToken: welcome.resumeToken, lastEventSeq: 1)))
        guard case .sessionWelcome(let welcome2) = w2.message else { Issue.record("expected welcome, got \(w2.message.type)"); return }
        var order: [String] = []
        var childID: String?
        while let e = try await peer2.next() {
            switch e.message {
            case .jobAccepted(let a):
                #expect(a.parentJobId == parentID)
                childID = a.jobId
                order.append("accepted")
            case .jobEvent(let ev):
                order.append(e.jobId == parentID ? "parent.\(ev.body.kind)" : "kid.\(ev.body.kind)")
            case .jobResult:
                order.append(e.jobId == parentID ? "parent.result" : "kid.result")
            default:
                order.append(e.message.type)
            }
            if e.jobId == parentID, case .jobResult = e.message { break }
        }
        // The parent's delegate event, the acceptance, then the child's events.
        #expect(order == ["parent.delegate", "accepted", "kid.log", "kid.log", "kid.log", "kid.result", "parent.result"], "\(order)")
        #expect(childID != nil)

        // A client that resumes from after the acceptance does not get it again.
        _ = try await peer2.send(.sessionPing(SessionPingPayload(nonce: "n")), sessionID: sid)
        _ = try await peer2.next(where: { if case .sessionPong = $0.message { true } else { false } })
        peer2.transport.drop()
        let peer3 = h.raw()
        let w3 = try #require(try await peer3.hello(resume: ResumeBlock(sessionId: sid, resumeToken: welcome2.resumeToken, lastEventSeq: 3)))
        guard case .sessionWelcome = w3.message else { Issue.record("expected welcome, got \(w3.message.type)"); return }
        var types: [String] = []
        while let e = try await peer3.next() {
            types.append(e.message.type)
            if e.jobId == parentID, case .jobResult = e.message { break }
        }
        #expect(!types.contains("job.accepted"), "\(types)")
        #expect(types.count == 4, "events 4…7: \(types)")
    }
}
