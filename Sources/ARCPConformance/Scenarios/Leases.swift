import ARCPGenerated

/// §9 leases (grammar, enforcement, expiry, budget, credentials) and §10 delegation.
extension ScenarioCatalog {
    /// Whether every capability pattern of `child` is one of `parent`'s for the same capability.
    static func isSubLease(_ child: JSONValue?, of parent: JSONValue?) -> Bool {
        for m in child?.objectValue ?? [:] {
            let allowed = parent?[m.key]?.arrayValue ?? []
            for p in m.value.arrayValue ?? [m.value] where !allowed.contains(p) { return false }
        }
        return true
    }

    /// The tool_result events of `jobID` that carry an error with one of `codes`.
    static func toolErrors(_ s: Session, _ jobID: String, _ codes: Set<String>) -> [WireFrame] {
        s.events(jobID).filter { $0.kind == "tool_result" && codes.contains($0.body?["error"]?["code"]?.stringValue ?? "") }
    }

    static let leases: [Scenario] = [
        Scenario(
            "lease.unknown-namespace", section: "9.2", level: .should,
            title: "A lease request in an unknown namespace gets INVALID_REQUEST",
            requirement: "Capability patterns are namespace-prefixed; the reserved namespaces are fs.read, fs.write, net.fetch, tool.call, agent.delegate, cost.budget, model.use.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.submit("echo", lease: ["bogus.cap": ["*"]])
            try await a.expectError(sent, codes: ["INVALID_REQUEST"], "lease_request {\"bogus.cap\": [\"*\"]}")
        },
        Scenario(
            "lease.malformed", section: "12", level: .must,
            title: "A lease request whose patterns are not a list gets INVALID_REQUEST",
            requirement: "A lease is a JSON object mapping capability names to lists of pattern constraints (02 §9.1); INVALID_REQUEST: schema violation (§12).",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.submit("echo", lease: ["fs.read": "/not/a/list"])
            try await a.expectError(sent, codes: ["INVALID_REQUEST"], "lease_request {\"fs.read\": \"/not/a/list\"}")
        },
        Scenario(
            "lease.enforced", section: "9.3", level: .must,
            title: "An operation outside the lease is refused (delegation without agent.delegate), as a tool_result",
            requirement: "An operation not covered by the lease MUST fail with PERMISSION_DENIED (§9.3); a refused delegation is a tool_result error on the parent, not a session error (02 §10.2).",
            agents: ["kitchen"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, end) = try await a.run("kitchen", lease: [:])
            try await a.barrier()
            let refused = toolErrors(a, job.id, ["PERMISSION_DENIED", "LEASE_SUBSET_VIOLATION"])
            try ctx.check(!refused.isEmpty, "kitchen's delegation to echo without agent.delegate was not refused with a tool_result PERMISSION_DENIED", evidence: a.events(job.id))
            let child = a.connection.received.first { $0.type == "job.accepted" && $0.payload("parent_job_id")?.stringValue == job.id }
            try ctx.check(child == nil, "a child job started without agent.delegate", evidence: child.map { [$0] } ?? [])
            let sessionError = a.connection.received.first { $0.type == "session.error" }
            try ctx.check(sessionError == nil, "the refusal came as a session.error", evidence: sessionError.map { [$0] } ?? [])
            try ctx.check(end.finalStatus == "success", "kitchen ended \(end.finalStatus ?? "?")", evidence: [end])
        },
        Scenario(
            "delegation.child", section: "10.1", draft: .v1_0, level: .must,
            title: "A delegation starts a child job announced by job.accepted with parent_job_id and delegate_id",
            requirement: "The runtime responds within the same session by creating a new job and emitting a job.accepted carrying both the new job_id and a back-reference: parent_job_id, delegate_id, lease.",
            agents: ["kitchen", "echo"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, _) = try await a.run("kitchen", lease: ["agent.delegate": ["echo"]])
            guard let delegate = a.events(job.id).first(where: { $0.kind == "delegate" }) else { throw ctx.fail("no delegate event", evidence: a.events(job.id)) }
            let child = try await a.connection.frame("the child's job.accepted") { $0.type == "job.accepted" && $0.payload("parent_job_id")?.stringValue == job.id }
            try ctx.check(child.payload("delegate_id") == delegate.body?["delegate_id"] && delegate.body?["delegate_id"]?.stringValue != nil,
                "the child's delegate_id \(child.payload("delegate_id").map(\.description) ?? "none") does not name the delegate event's", evidence: [delegate, child])
            let end = try await a.terminal(child.jobID ?? "")
            try ctx.check(end.finalStatus == "success", "the child ended \(end.finalStatus ?? "?")", evidence: [end])
        },
        Scenario(
            "delegation.trace", section: "10.3", draft: .v1_0, level: .must,
            title: "A delegated job inherits its parent's trace_id",
            requirement: "Delegated jobs MUST inherit the parent's trace_id.",
            agents: ["kitchen", "echo"]
        ) { ctx in
            let a = try await ctx.session()
            let trace = Checks.traceID()
            let (job, _) = try await a.run("kitchen", lease: ["agent.delegate": ["echo"]], traceID: trace)
            let child = try await a.connection.frame("the child's job.accepted") { $0.type == "job.accepted" && $0.payload("parent_job_id")?.stringValue == job.id }
            let childTrace = child.payload("trace_id")?.stringValue ?? child.traceID
            try ctx.check(childTrace == trace, "the child's trace_id is \(childTrace ?? "none"), not the parent's \(trace)", evidence: [job.accepted, child])
        },
        Scenario(
            "delegation.lease-subset", section: "9.4", level: .must,
            title: "A delegated job's lease is within its parent's",
            requirement: "A delegated lease MUST be a strict subset of the delegating lease. No delegated grant may name a resource or capability the parent lease does not cover.",
            agents: ["kitchen", "echo"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, _) = try await a.run("kitchen", lease: ["agent.delegate": ["echo"], "tool.call": ["search.*"]])
            let child = try await a.connection.frame("the child's job.accepted") { $0.type == "job.accepted" && $0.payload("parent_job_id")?.stringValue == job.id }
            try ctx.check(isSubLease(child.payload("lease"), of: job.accepted.payload("lease")), "the child's lease \(child.payload("lease").map(\.description) ?? "none") exceeds the parent's", evidence: [job.accepted, child])
        },
        Scenario(
            "expiry.past", section: "9.5", level: .must,
            title: "An expires_at in the past gets INVALID_REQUEST",
            requirement: "expires_at ... MUST be in the future at submission time. Past or invalid values are rejected with INVALID_REQUEST.",
            features: ["lease_expires_at"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.submit("echo", constraints: ["expires_at": "2000-01-01T00:00:00Z"])
            try await a.expectError(sent, codes: ["INVALID_REQUEST"], "expires_at in 2000")
        },
        Scenario(
            "expiry.utc", section: "9.5", level: .must,
            title: "An expires_at that is not UTC (Z) gets INVALID_REQUEST",
            requirement: "expires_at is ISO 8601 with timezone, MUST be UTC (Z suffix). Past or invalid values are rejected with INVALID_REQUEST.",
            features: ["lease_expires_at"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.submit("echo", constraints: ["expires_at": "2099-01-01T00:00:00+02:00"])
            try await a.expectError(sent, codes: ["INVALID_REQUEST"], "expires_at with +02:00")
        },
        Scenario(
            "expiry.invalid", section: "9.5", level: .must,
            title: "An expires_at that is not a timestamp gets INVALID_REQUEST",
            requirement: "Past or invalid values are rejected with INVALID_REQUEST.",
            features: ["lease_expires_at"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.submit("echo", constraints: ["expires_at": "next tuesday"])
            try await a.expectError(sent, codes: ["INVALID_REQUEST"], "expires_at \"next tuesday\"")
        },
        Scenario(
            "expiry.ends-job", section: "9.5", level: .must,
            title: "A job whose lease expires ends with job.error LEASE_EXPIRED, final_status error, not retryable",
            requirement: "The runtime MUST emit job.error with code LEASE_EXPIRED and final_status: \"error\" if the job is still active when its lease expires (§9.5); LEASE_EXPIRED MUST be returned with retryable: false (§12).",
            features: ["lease_expires_at"], agents: ["slow"]
        ) { ctx in
            let a = try await ctx.session()
            let (_, end) = try await a.run("slow", input: ["seconds": 6, "tick": 0.3], constraints: ["expires_at": .string(Checks.timestamp(in: 1.5))])
            if end.finalStatus == "success" {
                throw ctx.skip("the runtime let the job finish: slow performs no authority-bearing operation and proactive termination is optional")
            }
            try ctx.check(end.type == "job.error" && end.code == "LEASE_EXPIRED", "the job ended with \(end.type ?? "?") \(end.code ?? "")", evidence: [end])
            try ctx.check(end.finalStatus == "error", "final_status \(end.finalStatus ?? "none"), not error", evidence: [end])
            try ctx.check(end.payload("retryable")?.boolValue == false, "LEASE_EXPIRED with retryable \(end.payload("retryable").map(\.description) ?? "missing")", evidence: [end])
        },
        Scenario(
            "budget.counters", section: "7.1", level: .must,
            title: "job.accepted initialises the budget counters as numbers",
            requirement: "job.accepted echoes ... plus initial budget counters if cost.budget is in the lease: \"budget\": { \"USD\": 5.0 }.",
            features: ["cost.budget"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, _) = try await a.run("echo", lease: ["cost.budget": ["USD:5.00"]])
            let usd = job.accepted.payload("budget")?["USD"]
            try ctx.check(usd?.doubleValue == 5, "budget.USD is \(usd.map(\.description) ?? "missing"), not the number 5.0", evidence: [job.accepted])
        },
        Scenario(
            "budget.currencies", section: "9.6", level: .must,
            title: "Each budgeted currency is its own counter",
            requirement: "Multiple currencies are tracked independently. Each is a separate counter, initialized at the budgeted value at job acceptance.",
            features: ["cost.budget"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, _) = try await a.run("echo", lease: ["cost.budget": ["USD:1.50", "credits:1000"]])
            let b = job.accepted.payload("budget")
            try ctx.check(b?["USD"]?.doubleValue == 1.5 && b?["credits"]?.doubleValue == 1000,
                "budget is \(b.map(\.description) ?? "missing"), not {USD: 1.5, credits: 1000}", evidence: [job.accepted])
        },
        Scenario(
            "budget.decrement", section: "9.6", level: .must,
            title: "A cost metric decrements the matching counter",
            requirement: "The runtime MUST decrement the matching counter by value on each such metric event (name beginning cost., unit a budgeted currency).",
            features: ["cost.budget"], agents: ["kitchen"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, end) = try await a.run("kitchen", lease: ["cost.budget": ["USD:1.00"], "agent.delegate": ["echo"]])
            let remaining = a.events(job.id).first { $0.kind == "metric" && $0.body?["name"]?.stringValue == "cost.budget.remaining" }
            let left = Checks.amount(end.payload("result")?["budget_left"]?["USD"])
            let ok = Checks.same(left, 0.75) || Checks.same(remaining?.body?["value"]?.doubleValue, 0.75)
            try ctx.check(ok, "after a 0.25 USD cost on USD:1.00 the runtime reports \(left.map { "\($0)" } ?? "no") remaining (kitchen's budget_left) and \(remaining.map { $0.body?["value"]?.description ?? "?" } ?? "no") cost.budget.remaining metric, not 0.75", evidence: [end] + (remaining.map { [$0] } ?? []))
        },
        Scenario(
            "budget.exhausted", section: "9.6", level: .must,
            title: "An operation with the budget spent fails with BUDGET_EXHAUSTED, not retryable",
            requirement: "If any counter is ≤ 0, the operation MUST fail with BUDGET_EXHAUSTED (as a tool_result error or job.error final_status error) (§9.6); BUDGET_EXHAUSTED MUST be returned with retryable: false (§12).",
            features: ["cost.budget"], agents: ["kitchen"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, end) = try await a.run("kitchen", lease: ["cost.budget": ["USD:0.10"], "agent.delegate": ["echo"]])
            try await a.barrier()
            if let refusal = toolErrors(a, job.id, ["BUDGET_EXHAUSTED"]).first {
                try ctx.check(refusal.body?["error"]?["retryable"]?.boolValue == false, "BUDGET_EXHAUSTED with retryable \(refusal.body?["error"]?["retryable"].map(\.description) ?? "missing")", evidence: [refusal])
            } else if end.type == "job.error", end.code == "BUDGET_EXHAUSTED" {
                try ctx.check(end.finalStatus == "error" && end.payload("retryable")?.boolValue == false, "BUDGET_EXHAUSTED with final_status \(end.finalStatus ?? "?"), retryable \(end.payload("retryable").map(\.description) ?? "missing")", evidence: [end])
            } else {
                throw ctx.fail("kitchen delegated after spending 0.25 of USD:0.10 and nothing failed with BUDGET_EXHAUSTED", evidence: a.events(job.id) + [end])
            }
        },
        Scenario(
            "budget.malformed", section: "9.6", level: .must,
            title: "A cost.budget amount outside the grammar gets INVALID_REQUEST",
            requirement: "amount ::= currency \":\" decimal (§9.6); INVALID_REQUEST: Malformed envelope or schema violation (§12).",
            features: ["cost.budget"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.submit("echo", lease: ["cost.budget": ["dollars"]])
            try await a.expectError(sent, codes: ["INVALID_REQUEST"], "cost.budget [\"dollars\"]")
        },
        Scenario(
            "credentials.issued", section: "9.8.2", level: .must,
            title: "Provisioned credentials come with job.accepted, each with id, scheme, value, endpoint",
            requirement: "The runtime MUST issue credentials no later than job.accepted; id, scheme, value, endpoint are REQUIRED.",
            features: ["provisioned_credentials"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, _) = try await a.run("echo", lease: ["model.use": ["*"]])
            guard let creds = job.accepted.payload("credentials")?.arrayValue, !creds.isEmpty else {
                throw ctx.skip("the runtime issued no credentials for a model.use lease")
            }
            for c in creds {
                let ok = ["id", "scheme", "value", "endpoint"].allSatisfy { c[$0]?.stringValue != nil }
                try ctx.check(ok, "a credential lacks id, scheme, value or endpoint", evidence: [job.accepted])
            }
        },
        Scenario(
            "credentials.per-job", section: "9.8.2", level: .must,
            title: "No credential value is reused across jobs",
            requirement: "Credentials are scoped to a single job. The runtime MUST NOT reuse a credential value across jobs.",
            features: ["provisioned_credentials"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let (one, _) = try await a.run("echo", lease: ["model.use": ["*"]])
            let (two, _) = try await a.run("echo", lease: ["model.use": ["*"]])
            let v1 = Set(one.accepted.payload("credentials")?.arrayValue?.compactMap { $0["value"]?.stringValue } ?? [])
            let v2 = Set(two.accepted.payload("credentials")?.arrayValue?.compactMap { $0["value"]?.stringValue } ?? [])
            guard !v1.isEmpty else { throw ctx.skip("the runtime issued no credentials for a model.use lease") }
            try ctx.check(v1.isDisjoint(with: v2), "two jobs got the same credential value", evidence: [one.accepted, two.accepted])
        },
        Scenario(
            "credentials.redacted", section: "14", level: .must,
            title: "Credentials never reach a principal that did not submit the job",
            requirement: "Subscribers MUST NOT receive credentials from job.accepted they did not submit; runtimes MUST redact the field from any introspection surface presented to a principal that is not the job's submitter.",
            features: ["provisioned_credentials"], agents: ["slow"], needs: [.sharedRuntime, .otherPrincipal]
        ) { ctx in
            let a = try await ctx.session("A")
            let job = try await a.start("slow", input: ["seconds": 1, "tick": 0.25], lease: ["model.use": ["*"]])
            let values = job.accepted.payload("credentials")?.arrayValue?.compactMap { $0["value"]?.stringValue } ?? []
            guard !values.isEmpty else { throw ctx.skip("the runtime issued no credentials for a model.use lease") }
            let c = try await ctx.session("C", token: .other)
            if c.features.contains("list_jobs") { _ = try await list(c, ["limit": 1000]) }
            if c.features.contains("subscribe") { _ = try await subscribe(c, job.id, history: true, from: 0) }
            try await c.barrier()
            let leaked = c.connection.received.filter { f in values.contains { f.text.contains($0) } }
            try ctx.check(leaked.isEmpty, "another principal received the job's credential value", evidence: leaked)
        },
    ]
}
