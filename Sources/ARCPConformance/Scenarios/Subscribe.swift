import ARCPGenerated

/// §7.6 subscription (and §13.3, §14 subscription scope).
extension ScenarioCatalog {
    /// Sends job.subscribe.
    static func subscribe(_ s: Session, _ jobID: String, history: Bool, from: Int64? = nil) async throws -> Sent {
        var p = JSONObject()
        p.append("job_id", .string(jobID))
        if let from { p.append("from_event_seq", .int(from)) }
        p.append("history", .bool(history))
        return try await s.send("job.subscribe", .object(p))
    }

    /// Subscribes and waits for job.subscribed (failing on anything else).
    static func subscribed(_ s: Session, _ jobID: String, history: Bool, from: Int64? = nil) async throws -> (Sent, WireFrame) {
        let sent = try await subscribe(s, jobID, history: history, from: from)
        let reply = try await s.reply(to: sent, ["job.subscribed"])
        guard reply.type == "job.subscribed" else {
            throw ScenarioFailure("\(s.name): job.subscribe was answered with \(reply.type ?? "?") \(reply.code ?? "")", evidence: [sent.frame, reply])
        }
        return (sent, reply)
    }

    /// An event's content, for comparing what two sessions saw.
    static func content(_ f: WireFrame) -> String { "\(f.type ?? "")|\(f.kind ?? "")|\((f.body ?? f.payload("result") ?? f.payload("code") ?? .null).description)" }

    static let subscription: [Scenario] = [
        Scenario(
            "subscribe.subscribed-first", section: "7.6", level: .must,
            title: "job.subscribed comes before the replayed history",
            requirement: "The runtime responds with job.subscribed; with history: true it replays buffered events before resuming live streaming; without, the client sees events emitted after the subscription is acknowledged.",
            features: ["subscribe"], agents: ["progress"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session("A")
            let (job, _) = try await a.run("progress", input: ["steps": 2, "delay": 0])
            let b = try await ctx.session("B")
            let sent = try await subscribe(b, job.id, history: true, from: 0)
            let first = try await b.connection.frame("the answer to job.subscribe", after: sent.mark) { $0.jobID == job.id || $0.type == "session.error" }
            try ctx.check(first.type == "job.subscribed", "the first frame about the job is \(first.type ?? "?"), before job.subscribed", evidence: [sent.frame, first])
        },
        Scenario(
            "subscribe.descriptor", section: "7.6", level: .must,
            title: "job.subscribed is the authority descriptor: status, agent, lease, constraints, budget, trace, seqs",
            requirement: "job.subscribed {job_id, current_status, agent, lease, lease_constraints (echoed when present), budget (current counters, when cost.budget is in the lease), parent_job_id, trace_id, subscribed_from, replayed: false}.",
            features: ["subscribe"], agents: ["slow"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session("A")
            let budget = ctx.offers("cost.budget")
            let expiry = ctx.offers("lease_expires_at")
            let job = try await a.start(
                "slow", input: ["seconds": 1.5, "tick": 0.25], lease: budget ? ["cost.budget": ["USD:2.00"]] : nil,
                constraints: expiry ? ["expires_at": .string(Checks.timestamp(in: 3600))] : nil, traceID: Checks.traceID())
            let b = try await ctx.session("B")
            let (_, d) = try await subscribed(b, job.id, history: false)
            var wrong: [String] = []
            if d.payload("job_id")?.stringValue != job.id { wrong.append("job_id") }
            if !["running", "pending"].contains(d.payload("current_status")?.stringValue ?? "") { wrong.append("current_status") }
            if Checks.agentName(d.payload("agent")?.stringValue) != "slow" { wrong.append("agent") }
            if !Checks.isObject(d.payload("lease")) { wrong.append("lease") }
            if !Checks.isTraceID(d.payload("trace_id")) { wrong.append("trace_id") }
            if d.payload("subscribed_from")?.int64Value == nil { wrong.append("subscribed_from") }
            if d.payload("replayed")?.boolValue == nil { wrong.append("replayed (a boolean)") }
            if expiry, d.payload("lease_constraints")?["expires_at"]?.stringValue == nil { wrong.append("lease_constraints.expires_at") }
            if budget, d.payload("budget")?["USD"]?.doubleValue == nil { wrong.append("budget {USD: number}") }
            try ctx.check(wrong.isEmpty, "job.subscribed lacks or misstates \(wrong.joined(separator: ", "))", evidence: [job.accepted, d])
        },
        Scenario(
            "subscribe.history", section: "7.6", level: .must,
            title: "history: true from 0 replays every event and the end of a finished job",
            requirement: "If from_event_seq is specified along with history: true, the runtime replays buffered events with seq > from_event_seq before resuming live streaming.",
            features: ["subscribe"], agents: ["progress"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session("A")
            let (job, _) = try await a.run("progress", input: ["steps": 3, "delay": 0])
            let b = try await ctx.session("B")
            let (sent, _) = try await subscribed(b, job.id, history: true, from: 0)
            _ = try await b.terminal(job.id, after: sent.mark)
            let want = a.frames(job.id).filter(\.isSequenced).map(content)
            let got = b.frames(job.id).filter(\.isSequenced).map(content)
            try ctx.check(got == want, "the subscriber saw \(got.count) events, the submitter \(want.count), or in another order", evidence: b.frames(job.id))
        },
        Scenario(
            "subscribe.from-seq", section: "7.6", level: .must,
            title: "from_event_seq skips the events up to it",
            requirement: "The runtime replays buffered events with seq > from_event_seq before resuming live streaming.",
            features: ["subscribe"], agents: ["progress"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session("A")
            let (job, _) = try await a.run("progress", input: ["steps": 3, "delay": 0])
            let mine = a.frames(job.id).filter(\.isSequenced)
            guard mine.count >= 3, let from = mine[1].eventSeq else { throw ctx.fail("the progress job sent too few events", evidence: mine) }
            let b = try await ctx.session("B")
            let (sent, _) = try await subscribed(b, job.id, history: true, from: from)
            _ = try await b.terminal(job.id, after: sent.mark)
            let want = mine.filter { ($0.eventSeq ?? 0) > from }.map(content)
            let got = b.frames(job.id).filter(\.isSequenced).map(content)
            try ctx.check(got == want, "from_event_seq \(from): the subscriber saw \(got.count) events, expected the \(want.count) after it", evidence: b.frames(job.id))
        },
        Scenario(
            "subscribe.history-then-live", section: "7.6", level: .must,
            title: "Subscribing with history to a running job loses and repeats nothing at the seam",
            requirement: "With history: true the runtime replays buffered events with seq > from_event_seq before resuming live streaming.",
            features: ["subscribe"], agents: ["slow"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session("A")
            let job = try await a.start("slow", input: ["seconds": 1.2, "tick": 0.1])
            _ = try await a.event(job.id, kind: "log")
            let b = try await ctx.session("B")
            let (sent, _) = try await subscribed(b, job.id, history: true, from: 0)
            _ = try await b.terminal(job.id, after: sent.mark)
            _ = try await a.terminal(job.id)
            let want = a.frames(job.id).filter(\.isSequenced).map(content)
            let got = b.frames(job.id).filter(\.isSequenced).map(content)
            try ctx.check(got == want, "the subscriber saw \(got.count) events, the submitter \(want.count): \(Set(want).subtracting(got).count) missing, \(got.count - Set(got).count) repeated", evidence: b.frames(job.id))
        },
        Scenario(
            "subscribe.own-job", section: "7.6", level: .should,
            title: "Subscribing to a job of the same session does not deliver its events twice",
            requirement: "A client MAY attach to a job submitted ... earlier in the same session; its events appear in the session's stream (once: §8.3 numbers each event once).",
            features: ["subscribe"], agents: ["slow"]
        ) { ctx in
            let a = try await ctx.session()
            let job = try await a.start("slow", input: ["seconds": 0.8, "tick": 0.1])
            let sent = try await subscribe(a, job.id, history: false)
            let reply = try await a.reply(to: sent, ["job.subscribed"])
            try ctx.check(reply.type == "job.subscribed", "subscribing to a job of the same session was answered with \(reply.type ?? "?") \(reply.code ?? "")", evidence: [sent.frame, reply])
            _ = try await a.terminal(job.id)
            try await a.barrier()
            let contents = a.frames(job.id).filter(\.isSequenced).map(content)
            try ctx.check(Set(contents).count == contents.count, "\(contents.count - Set(contents).count) events of the job arrived twice after subscribing to it in its own session", evidence: [reply] + a.frames(job.id).filter(\.isSequenced).suffix(4))
        },
        Scenario(
            "subscribe.live", section: "7.6", level: .must,
            title: "history: false delivers only later events, then the end",
            requirement: "history (default false): If false, the client only sees events emitted after subscription is acknowledged.",
            features: ["subscribe"], agents: ["slow"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session("A")
            let job = try await a.start("slow", input: ["seconds": 1.5, "tick": 0.25])
            _ = try await a.event(job.id, kind: "log")
            let b = try await ctx.session("B")
            let (sent, _) = try await subscribed(b, job.id, history: false)
            let end = try await b.terminal(job.id, after: sent.mark)
            try ctx.check(end.finalStatus == "success", "the subscriber saw the end as \(end.finalStatus ?? "?")", evidence: [end])
            // Events the submitter had before the kit even asked to subscribe.
            let earlier = Set(a.frames(job.id).filter { $0.index < sent.frame.index && $0.isSequenced }.map(content))
            let old = b.frames(job.id).filter { $0.isSequenced && earlier.contains(content($0)) }
            try ctx.check(old.isEmpty, "with history: false the subscriber got \(old.count) events from before its subscription", evidence: Array(old.prefix(2)))
        },
        Scenario(
            "subscribe.seq-space", section: "7.6", level: .must,
            title: "Subscribed events use the subscriber session's own gap-free event_seq space",
            requirement: "job.event messages for the subscribed job appear in the session's stream interleaved with other jobs' events, using the session's normal event_seq space (§8.3: strictly monotonic, gap-free).",
            features: ["subscribe"], agents: ["progress", "echo"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session("A")
            let (job, _) = try await a.run("progress", input: ["steps": 2, "delay": 0])
            let b = try await ctx.session("B")
            _ = try await b.run("echo", input: ["own": 1])
            let (sent, _) = try await subscribed(b, job.id, history: true, from: 0)
            _ = try await b.terminal(job.id, after: sent.mark)
            _ = try await b.run("echo", input: ["own": 2])
            if let (why, frames) = Checks.gap(in: b.sequenced) { throw ctx.fail("in the subscriber's session: " + why, evidence: frames) }
        },
        Scenario(
            "subscribe.no-cancel", section: "7.6", level: .must,
            title: "A subscriber cannot cancel the job",
            requirement: "Subscription does NOT grant the subscriber authority to cancel the job (§7.6); Subscription MUST NOT confer cancel authority (§14).",
            features: ["subscribe"], agents: ["slow"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session("A")
            let job = try await a.start("slow", input: ["seconds": 1.5, "tick": 0.25])
            let b = try await ctx.session("B")
            _ = try await subscribed(b, job.id, history: false)
            let sent = try await cancel(b, job.id)
            let end = try await a.terminal(job.id)
            try ctx.check(end.finalStatus == "success", "the subscriber's job.cancel ended the job (\(end.finalStatus ?? "?"))", evidence: [sent.frame, end])
        },
        Scenario(
            "subscribe.other-principal", section: "14", level: .must,
            title: "Another principal cannot subscribe (default: same principal only)",
            requirement: "Runtimes MUST default to \"same principal only\" (§14). Unauthorized subscription returns PERMISSION_DENIED (§7.6).",
            features: ["subscribe"], agents: ["slow"], needs: [.sharedRuntime, .otherPrincipal]
        ) { ctx in
            let a = try await ctx.session("A")
            let job = try await a.start("slow", input: ["seconds": 1.5, "tick": 0.25])
            let c = try await ctx.session("C", token: .other)
            let sent = try await subscribe(c, job.id, history: true, from: 0)
            try await c.expectError(sent, codes: ["PERMISSION_DENIED", "JOB_NOT_FOUND"], "another principal's job.subscribe")
            _ = try await a.terminal(job.id)
            try await c.barrier()
            let leaked = c.frames(job.id).filter { $0.type != "session.error" }
            try ctx.check(leaked.isEmpty, "the other principal received \(leaked.count) frames of the job", evidence: Array(leaked.prefix(2)))
        },
        Scenario(
            "subscribe.unknown-job", section: "12", level: .must,
            title: "Subscribing to an unknown job gets JOB_NOT_FOUND",
            requirement: "JOB_NOT_FOUND: Referenced job_id does not exist or is not visible.",
            features: ["subscribe"]
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await subscribe(a, "job_" + ARCPID.ulid(), history: true)
            try await a.expectError(sent, codes: ["JOB_NOT_FOUND"], "subscribing to a made-up job")
        },
        Scenario(
            "subscribe.unsubscribe", section: "7.6", level: .must,
            title: "After job.unsubscribe no more events of the job arrive",
            requirement: "A subscriber MAY cancel a subscription: job.unsubscribe {job_id}.",
            features: ["subscribe"], agents: ["slow"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session("A")
            let job = try await a.start("slow", input: ["seconds": 1.5, "tick": 0.2])
            let b = try await ctx.session("B")
            let (sent, _) = try await subscribed(b, job.id, history: false)
            _ = try await b.event(job.id, after: sent.mark)
            try await b.send("job.unsubscribe", ["job_id": .string(job.id)])
            try await b.barrier()
            let cut = b.connection.mark
            _ = try await a.terminal(job.id)
            try await b.barrier()
            let late = b.connection.received[cut...].filter { $0.jobID == job.id }
            try ctx.check(late.isEmpty, "\(late.count) frames of the job after job.unsubscribe", evidence: Array(late.prefix(2)))
        },
        Scenario(
            "subscribe.survives-submitter", section: "13.3", level: .must,
            title: "A subscriber keeps observing when the submitter's transport drops",
            requirement: "If sess_A1's transport drops, the job keeps running and sess_B2 keeps observing without interruption (§13.3); the runtime MUST NOT terminate jobs on a lost connection (§6.4).",
            features: ["subscribe"], agents: ["slow"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session("A")
            let job = try await a.start("slow", input: ["seconds": 1.5, "tick": 0.25])
            let b = try await ctx.session("B")
            let (sent, _) = try await subscribed(b, job.id, history: false)
            await a.drop()
            let end = try await b.terminal(job.id, after: sent.mark)
            try ctx.check(end.finalStatus == "success", "the job ended \(end.finalStatus ?? "?") after its submitter dropped", evidence: [end])
        },
    ]
}
