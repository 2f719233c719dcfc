import ARCPGenerated

/// §7.1–§7.5: submission, idempotency, lifecycle, timeout, cancellation, versions.
extension ScenarioCatalog {
    /// Sends job.cancel for `jobID` (job_id on the envelope and in the payload).
    @discardableResult
    static func cancel(_ s: Session, _ jobID: String) async throws -> Sent {
        try await s.send("job.cancel", ["job_id": .string(jobID), "reason": "conformance kit"], jobID: jobID)
    }

    /// Fails if a job.event of `jobID` arrived after its terminal frame (checked after `settle`
    /// and a round trip).
    static func checkQuietAfterTerminal(_ ctx: ScenarioContext, _ s: Session, _ jobID: String, terminal: WireFrame, settle: Duration) async throws {
        try await ctx.pause(settle, "the job must emit nothing after its terminal frame")
        try await s.barrier()
        let late = s.connection.received.filter { $0.index > terminal.index && $0.jobID == jobID && $0.type == "job.event" }
        try ctx.check(late.isEmpty, "\(late.count) job.event frames after the terminal \(terminal.type ?? "")", evidence: [terminal] + late.prefix(2))
    }

    static let jobs: [Scenario] = [
        Scenario(
            "submit.accepted", section: "7.1", level: .must,
            title: "job.accepted carries job_id, the effective lease and accepted_at",
            requirement: "job.accepted {job_id, lease (effective), lease_constraints, budget, credentials, accepted_at, trace_id}.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, end) = try await a.run("echo", input: ["hi": 1])
            let p = job.accepted
            try ctx.check(job.id.isEmpty == false, "no job_id", evidence: [p])
            try ctx.check(Checks.isObject(p.payload("lease")), "no lease object", evidence: [p])
            try ctx.check(Checks.isTimestamp(p.payload("accepted_at")), "no accepted_at timestamp", evidence: [p])
            if let envelopeJob = p["job_id"]?.stringValue {
                try ctx.check(envelopeJob == job.id, "the envelope's job_id differs from the payload's", evidence: [p])
            }
            try ctx.check(end.type == "job.result" && end.payload("result")?["echoed"]?["hi"]?.int64Value == 1, "echo did not return {\"echoed\": input}", evidence: [end])
        },
        Scenario(
            "submit.request-id", section: "7.1", level: .should,
            title: "job.accepted names the job.submit it answers (request_id)",
            requirement: "An answer is matched to its request by request_id (as session.jobs.request_id, §6.6); job.accepted carries request_id (both known runtimes).",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let job = try await a.start("echo")
            try ctx.check(job.accepted.requestID == job.submitted.id, "job.accepted has request_id \(job.accepted.requestID ?? "none"), not \(job.submitted.id)", evidence: [job.submitted.frame, job.accepted])
        },
        Scenario(
            "submit.lease-not-expanded", section: "7.1", draft: .v1_0, level: .must,
            title: "The effective lease is the request or a subset, never more",
            requirement: "The runtime MAY reduce the requested lease but MUST NOT silently expand it. The effective lease appears in job.accepted.payload.lease.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let requested: JSONValue = ["tool.call": ["search.*"], "agent.delegate": ["echo"]]
            let (job, _) = try await a.run("echo", lease: requested)
            for member in job.accepted.payload("lease")?.objectValue ?? [:] {
                let allowed = requested[member.key]?.arrayValue ?? []
                for pattern in member.value.arrayValue ?? [member.value] {
                    try ctx.check(allowed.contains(pattern), "the effective lease grants \(member.key) \(pattern), which was not requested", evidence: [job.submitted.frame, job.accepted])
                }
            }
        },
        Scenario(
            "submit.lease-constraints", section: "7.1", level: .must,
            title: "job.accepted echoes lease_constraints.expires_at",
            requirement: "job.accepted echoes the effective lease and constraints.",
            features: ["lease_expires_at"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let expires = Checks.timestamp(in: 3600)
            let (job, _) = try await a.run("echo", constraints: ["expires_at": .string(expires)])
            let echoed = job.accepted.payload("lease_constraints")?["expires_at"]?.stringValue
            let same = echoed.flatMap(ARCPTimestamp.parse).map { abs($0.timeIntervalSince(ARCPTimestamp.parse(expires)!)) < 0.001 } ?? false
            try ctx.check(same, "job.accepted has lease_constraints.expires_at \(echoed ?? "none"), not \(expires)", evidence: [job.accepted])
        },
        Scenario(
            "submit.unknown-agent", section: "12", level: .must,
            title: "An unregistered agent gets AGENT_NOT_AVAILABLE",
            requirement: "AGENT_NOT_AVAILABLE: Requested agent is not registered."
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.submit("no-such-agent-\(ARCPID.ulid().lowercased())")
            try await a.expectError(sent, codes: ["AGENT_NOT_AVAILABLE"], "submit to an unknown agent")
        },
        Scenario(
            "submit.invalid-agent", section: "7.5", level: .must,
            title: "An agent reference outside the grammar gets INVALID_REQUEST",
            requirement: "agent ::= name | name \"@\" version; name ::= [a-z0-9][a-z0-9._-]*. INVALID_REQUEST: malformed envelope or schema violation (§12)."
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.submit("1bad name!")
            try await a.expectError(sent, codes: ["INVALID_REQUEST"], "submit with agent \"1bad name!\"")
        },
        Scenario(
            "submit.missing-agent", section: "12", level: .must,
            title: "A job.submit without agent gets INVALID_REQUEST",
            requirement: "INVALID_REQUEST: Malformed envelope or schema violation."
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.send("job.submit", ["input": ["x": 1]])
            try await a.expectError(sent, codes: ["INVALID_REQUEST"], "submit without agent")
        },
        Scenario(
            "idempotency.same-accepted", section: "7.2", level: .must,
            title: "A repeated key with identical parameters gets the same job.accepted",
            requirement: "If idempotency_key is present, the runtime MUST return the same job.accepted payload for any subsequent submission with the same key and identical parameters.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let key = ctx.unique("idem")
            let (first, _) = try await a.run("echo", input: ["n": 1], idempotencyKey: key)
            let second = try await a.start("echo", input: ["n": 1], idempotencyKey: key)
            try ctx.check(second.id == first.id, "the repeat got job \(second.id), not \(first.id)", evidence: [first.accepted, second.accepted])
            try ctx.check(Checks.withoutRequestID(second.accepted.payload).semanticallyEquals(Checks.withoutRequestID(first.accepted.payload)),
                "the repeat's job.accepted payload differs", evidence: [first.accepted, second.accepted])
        },
        Scenario(
            "idempotency.conflict", section: "7.2", level: .must,
            title: "A repeated key with different input or agent gets DUPLICATE_KEY",
            requirement: "A reused key with conflicting parameters returns DUPLICATE_KEY (02 §7.2: a different agent or materially different input MUST result in DUPLICATE_KEY).",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let key = ctx.unique("idem")
            _ = try await a.run("echo", input: ["n": 1], idempotencyKey: key)
            let input = try await a.submit("echo", input: ["n": 2], idempotencyKey: key)
            try await a.expectError(input, codes: ["DUPLICATE_KEY"], "the same key with different input")
            if ctx.profile.agents["versioned"] != nil {
                let agent = try await a.submit("versioned", input: ["n": 1], idempotencyKey: key)
                try await a.expectError(agent, codes: ["DUPLICATE_KEY"], "the same key with a different agent")
            }
        },
        Scenario(
            "idempotency.running", section: "7.2", draft: .v1_0, level: .must,
            title: "Repeating a running job's key returns it, without a second run",
            requirement: "If the prior job is still running, the runtime MUST return the existing job_id and begin streaming current events.",
            agents: ["slow"]
        ) { ctx in
            let a = try await ctx.session()
            let key = ctx.unique("idem")
            let first = try await a.start("slow", input: ["seconds": 1.2, "tick": 0.3], idempotencyKey: key)
            _ = try await a.event(first.id)
            let second = try await a.start("slow", input: ["seconds": 1.2, "tick": 0.3], idempotencyKey: key)
            try ctx.check(second.id == first.id, "the repeat started job \(second.id) beside \(first.id)", evidence: [first.accepted, second.accepted])
            let end = try await a.terminal(first.id)
            try await a.barrier()
            let terminals = a.frames(first.id).filter(\.isTerminal)
            try ctx.check(terminals.count == 1, "\(terminals.count) terminal frames for one job", evidence: terminals)
            if let (why, frames) = Checks.gap(in: a.sequenced) { throw ctx.fail(why, evidence: frames) }
            try ctx.check(end.finalStatus == "success", "the job ended \(end.finalStatus ?? "?")", evidence: [end])
        },
        Scenario(
            "idempotency.terminal", section: "7.2", draft: .v1_0, level: .must,
            title: "Repeating a finished job's key from another session returns it and replays its end",
            requirement: "Two job.submit with the same (principal, idempotency_key) MUST resolve to the same job_id. If terminal, the runtime MUST return the existing job_id and replay the terminal event.",
            agents: ["echo"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session("A")
            let key = ctx.unique("idem")
            let (first, _) = try await a.run("echo", input: ["n": 7], idempotencyKey: key)
            let b = try await ctx.session("B")
            let again = try await b.start("echo", input: ["n": 7], idempotencyKey: key)
            try ctx.check(again.id == first.id, "another session of the same principal got job \(again.id), not \(first.id)", evidence: [first.accepted, again.accepted])
            let end = try await b.terminal(again.id, after: again.submitted.mark, timeout: ctx.options.responseTimeout)
            try ctx.check(end.finalStatus == "success", "the replayed terminal is \(end.finalStatus ?? "?")", evidence: [end])
        },
        Scenario(
            "idempotency.concurrent", section: "7.2", draft: .v1_0, level: .must,
            title: "Two submits with one key sent at once resolve to one job",
            requirement: "Two job.submit messages with the same (session.auth.principal, idempotency_key) ... MUST resolve to the same job_id.",
            agents: ["slow"]
        ) { ctx in
            let a = try await ctx.session()
            let key = ctx.unique("idem")
            let input: JSONValue = ["seconds": 0.5, "tick": 0.25]
            let one = try await a.submit("slow", input: input, idempotencyKey: key)
            let two = try await a.submit("slow", input: input, idempotencyKey: key)
            let first = try await a.accepted(one)
            let second = try await a.accepted(two)
            try ctx.check(first.id == second.id, "two jobs, \(first.id) and \(second.id), for one idempotency key", evidence: [first.accepted, second.accepted])
        },
        Scenario(
            "idempotency.principals", section: "7.2", draft: .v1_0, level: .must,
            title: "Idempotency keys are per principal",
            requirement: "Idempotency is keyed by (session.auth.principal, idempotency_key); job existence MUST NOT leak across principals (§6.6).",
            agents: ["echo"], needs: [.sharedRuntime, .otherPrincipal]
        ) { ctx in
            let a = try await ctx.session("A")
            let key = ctx.unique("idem")
            let (mine, _) = try await a.run("echo", input: ["n": 3], idempotencyKey: key)
            let c = try await ctx.session("C", token: .other)
            let sent = try await c.submit("echo", input: ["n": 3], idempotencyKey: key)
            let reply = try await c.reply(to: sent, ["job.accepted"])
            try ctx.check(reply.type == "job.accepted", "the other principal's submit with the same key got \(reply.type ?? "?") \(reply.code ?? "")", evidence: [reply])
            try ctx.check(reply.jobID != mine.id, "the other principal got the primary principal's job \(mine.id)", evidence: [mine.accepted, reply])
        },
        Scenario(
            "lifecycle.success", section: "7.3", level: .must,
            title: "A successful job ends with one job.result final_status success",
            requirement: "Terminal states are success, error, cancelled, and timed_out; the job terminates with job.result or job.error (§3).",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let (_, end) = try await a.run("echo", input: ["ok": true])
            try ctx.check(end.type == "job.result" && end.finalStatus == "success", "the job ended with \(end.type ?? "?") \(end.finalStatus ?? "")", evidence: [end])
        },
        Scenario(
            "lifecycle.failure", section: "7.3", level: .must,
            title: "An agent failure ends with job.error INTERNAL_ERROR, final_status error, retryable",
            requirement: "job.error carries final_status; INTERNAL_ERROR: Unrecoverable runtime fault. Always retryable (§12).",
            agents: ["fails"]
        ) { ctx in
            let a = try await ctx.session()
            let (_, end) = try await a.run("fails", input: ["message": "boom"])
            try ctx.check(end.type == "job.error", "the failing job ended with \(end.type ?? "?")", evidence: [end])
            try ctx.check(end.finalStatus == "error", "final_status \(end.finalStatus ?? "none"), not error", evidence: [end])
            try ctx.check(end.code == "INTERNAL_ERROR", "code \(end.code ?? "none"), not INTERNAL_ERROR", evidence: [end])
            try ctx.check(end.payload("retryable")?.boolValue == true, "INTERNAL_ERROR with retryable \(end.payload("retryable").map(\.description) ?? "missing")", evidence: [end])
        },
        Scenario(
            "lifecycle.typed-failure", section: "12", level: .must,
            title: "An agent's typed error keeps its code; PERMISSION_DENIED is not retryable",
            requirement: "Error payloads carry a retryable boolean; only the codes of §12 are protocol-canonical.",
            agents: ["fails"]
        ) { ctx in
            let a = try await ctx.session()
            let (_, end) = try await a.run("fails", input: ["message": "not allowed", "code": "PERMISSION_DENIED"])
            try ctx.check(end.type == "job.error" && end.code == "PERMISSION_DENIED", "ended with \(end.type ?? "?") \(end.code ?? "")", evidence: [end])
            try ctx.check(end.finalStatus == "error", "final_status \(end.finalStatus ?? "none")", evidence: [end])
            try ctx.check(end.payload("retryable")?.boolValue == false, "retryable is \(end.payload("retryable").map(\.description) ?? "missing")", evidence: [end])
        },
        Scenario(
            "lifecycle.one-terminal", section: "7.3", level: .must,
            title: "Each job ends exactly once and sends nothing after its end",
            requirement: "Terminal states are success, error, cancelled, and timed_out (a terminal state is final).",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            var jobs = [try await a.run("echo").job.id]
            if ctx.profile.agents["fails"] != nil { jobs.append(try await a.run("fails").job.id) }
            if ctx.profile.agents["progress"] != nil { jobs.append(try await a.run("progress", input: ["steps": 2, "delay": 0]).job.id) }
            if ctx.profile.agents["chunked"] != nil { jobs.append(try await a.run("chunked", input: ["text": "abcdef", "chunk_size": 2]).job.id) }
            try await a.barrier()
            for id in jobs {
                let frames = a.frames(id)
                let terminals = frames.filter(\.isTerminal)
                try ctx.check(terminals.count == 1, "job \(id) has \(terminals.count) terminal frames", evidence: terminals)
                let late = frames.filter { $0.index > terminals[0].index && $0.type == "job.event" }
                try ctx.check(late.isEmpty, "job \(id) sent events after its end", evidence: [terminals[0]] + late.prefix(2))
            }
        },
        Scenario(
            "timeout.timed-out", section: "7.3", level: .must,
            title: "A job past max_runtime_sec ends with final_status timed_out and stops",
            requirement: "Terminal states are success, error, cancelled, and timed_out. TIMEOUT: Job exceeded max_runtime_sec (§12).",
            agents: ["slow"]
        ) { ctx in
            let a = try await ctx.session()
            let (_, end) = try await a.run("slow", input: ["seconds": 10, "tick": 0.3], maxRuntimeSec: 1)
            try ctx.check(end.finalStatus == "timed_out", "the job ended \(end.finalStatus ?? "?") instead of timed_out", evidence: [end])
            try await checkQuietAfterTerminal(ctx, a, end.jobID ?? "", terminal: end, settle: .milliseconds(700))
        },
        Scenario(
            "timeout.error", section: "12", level: .must,
            title: "A timed-out job ends with job.error TIMEOUT",
            requirement: "TIMEOUT: Job exceeded max_runtime_sec (§12); job.error reports failure/cancelled/timed_out (02 §7.3).",
            agents: ["slow"]
        ) { ctx in
            let a = try await ctx.session()
            let (_, end) = try await a.run("slow", input: ["seconds": 10, "tick": 0.3], maxRuntimeSec: 1)
            try ctx.check(end.type == "job.error" && end.code == "TIMEOUT", "the job ended with \(end.type ?? "?") \(end.code ?? end.finalStatus ?? "") instead of job.error TIMEOUT", evidence: [end])
        },
        Scenario(
            "cancel.cancelled", section: "7.4", level: .must,
            title: "job.cancel is acknowledged with job.cancelled",
            requirement: "The submitting session MAY send job.cancel at any time for a non-terminal job. The runtime acknowledges with job.cancelled.",
            agents: ["slow"]
        ) { ctx in
            let a = try await ctx.session()
            let job = try await a.start("slow", input: ["seconds": 10, "tick": 0.2])
            _ = try await a.event(job.id)
            let sent = try await cancel(a, job.id)
            let ack = try await a.connection.frame("job.cancelled", after: sent.mark, timeout: ctx.options.responseTimeout) {
                ($0.type == "job.cancelled" && $0.jobID == job.id) || ($0.type == "session.error")
            }
            try ctx.check(ack.type == "job.cancelled", "job.cancel was answered with \(ack.type ?? "?") \(ack.code ?? "")", evidence: [sent.frame, ack])
        },
        Scenario(
            "cancel.error", section: "7.4", level: .must,
            title: "A cancelled job ends with job.error CANCELLED, final_status cancelled",
            requirement: "The runtime acknowledges with job.cancelled and emits job.error with code CANCELLED and final_status: \"cancelled\".",
            agents: ["slow"]
        ) { ctx in
            let a = try await ctx.session()
            let job = try await a.start("slow", input: ["seconds": 10, "tick": 0.2])
            _ = try await a.event(job.id)
            let sent = try await cancel(a, job.id)
            let end = try await a.terminal(job.id, after: sent.mark)
            try ctx.check(end.type == "job.error" && end.code == "CANCELLED" && end.finalStatus == "cancelled",
                "the cancelled job ended with \(end.type ?? "?") \(end.code ?? "") final_status \(end.finalStatus ?? "none")", evidence: [end])
        },
        Scenario(
            "cancel.stops", section: "7.4", draft: .v1_0, level: .must,
            title: "Cancellation ends the job (final_status cancelled) in the grace period and stops the agent",
            requirement: "The runtime MUST signal the agent to stop, MUST emit a job.error with final_status: \"cancelled\" within a bounded grace period (default 30 seconds).",
            agents: ["slow"]
        ) { ctx in
            let a = try await ctx.session()
            let job = try await a.start("slow", input: ["seconds": 10, "tick": 0.2])
            _ = try await a.event(job.id)
            let sent = try await cancel(a, job.id)
            let end = try await a.terminal(job.id, after: sent.mark, timeout: .seconds(30))
            try ctx.check(end.finalStatus == "cancelled", "the job ended \(end.finalStatus ?? "?") instead of cancelled", evidence: [end])
            try await checkQuietAfterTerminal(ctx, a, job.id, terminal: end, settle: .milliseconds(600))
        },
        Scenario(
            "cancel.twice", section: "7.3", level: .must,
            title: "Cancelling twice ends the job once",
            requirement: "Terminal states are success, error, cancelled, and timed_out; job.cancel is for a non-terminal job (§7.4): a second cancel must not end the job again.",
            agents: ["slow"]
        ) { ctx in
            let a = try await ctx.session()
            let job = try await a.start("slow", input: ["seconds": 10, "tick": 0.2])
            _ = try await a.event(job.id)
            try await cancel(a, job.id)
            try await cancel(a, job.id)
            let end = try await a.terminal(job.id)
            try await checkQuietAfterTerminal(ctx, a, job.id, terminal: end, settle: .milliseconds(300))
            let terminals = a.frames(job.id).filter(\.isTerminal)
            try ctx.check(terminals.count == 1, "\(terminals.count) terminal frames after two cancels", evidence: terminals)
        },
        Scenario(
            "cancel.unknown-job", section: "12", level: .must,
            title: "Cancelling an unknown job gets JOB_NOT_FOUND",
            requirement: "JOB_NOT_FOUND: Referenced job_id does not exist or is not visible."
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await cancel(a, "job_" + ARCPID.ulid())
            try await a.expectError(sent, codes: ["JOB_NOT_FOUND"], "cancelling a made-up job")
        },
        Scenario(
            "cancel.other-session", section: "7.6", level: .must,
            title: "Another session of the same principal cannot cancel the job",
            requirement: "Cancellation is reserved for the session that submitted the job.",
            agents: ["slow"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session("A")
            let job = try await a.start("slow", input: ["seconds": 1.5, "tick": 0.25])
            let b = try await ctx.session("B")
            let sent = try await cancel(b, job.id)
            let end = try await a.terminal(job.id)
            try ctx.check(end.finalStatus == "success", "a job.cancel from another session ended the job (\(end.finalStatus ?? "?"))", evidence: [sent.frame, end])
        },
        Scenario(
            "cancel.other-principal", section: "14", level: .must,
            title: "Another principal cannot cancel the job",
            requirement: "Cancellation is reserved for the session that submitted the job (§7.6); job existence MUST NOT leak across principals (§6.6).",
            agents: ["slow"], needs: [.sharedRuntime, .otherPrincipal]
        ) { ctx in
            let a = try await ctx.session("A")
            let job = try await a.start("slow", input: ["seconds": 1.5, "tick": 0.25])
            let c = try await ctx.session("C", token: .other)
            let sent = try await cancel(c, job.id)
            let end = try await a.terminal(job.id)
            try ctx.check(end.finalStatus == "success", "another principal's job.cancel ended the job (\(end.finalStatus ?? "?"))", evidence: [sent.frame, end])
        },
        Scenario(
            "versions.default", section: "7.5", level: .must,
            title: "A bare name runs the advertised default version",
            requirement: "A bare name resolves to the default version advertised in session.welcome.payload.capabilities.agents. The resolved version appears in job.accepted.payload.",
            features: ["agent_versions"], agents: ["versioned"]
        ) { ctx in
            guard let def = ctx.profile.agents["versioned"]?.defaultVersion else { throw ctx.skip("the inventory names no default for versioned") }
            let a = try await ctx.session()
            let (job, end) = try await a.run("versioned")
            try ctx.check(job.accepted.payload("agent")?.stringValue == "versioned@\(def)", "job.accepted has agent \(job.accepted.payload("agent").map(\.description) ?? "none"), not versioned@\(def)", evidence: [job.accepted])
            try ctx.check(end.payload("result")?["version"]?.stringValue == def, "the default version did not run", evidence: [end])
        },
        Scenario(
            "versions.pinned", section: "7.5", level: .must,
            title: "name@version runs exactly that version",
            requirement: "name@version requests an exact version. Once resolved, a job's agent version is fixed.",
            features: ["agent_versions"], agents: ["versioned"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, end) = try await a.run("versioned@2.0.0")
            try ctx.check(job.accepted.payload("agent")?.stringValue == "versioned@2.0.0", "job.accepted has agent \(job.accepted.payload("agent").map(\.description) ?? "none")", evidence: [job.accepted])
            try ctx.check(end.payload("result")?["version"]?.stringValue == "2.0.0", "version 2.0.0 did not run", evidence: [end])
        },
        Scenario(
            "versions.unavailable", section: "7.5", level: .must,
            title: "An unknown version gets AGENT_VERSION_NOT_AVAILABLE",
            requirement: "name@version requests an exact version. If unavailable, the runtime returns AGENT_VERSION_NOT_AVAILABLE.",
            features: ["agent_versions"], agents: ["versioned"]
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.submit("versioned@9.9.9")
            try await a.expectError(sent, codes: ["AGENT_VERSION_NOT_AVAILABLE"], "submit versioned@9.9.9")
        },
    ]
}
