import ARCPGenerated

/// §6.6 job listing and §6.7 close.
extension ScenarioCatalog {
    /// Sends session.list_jobs and returns the session.jobs answer (failing on anything else).
    static func list(_ s: Session, _ payload: JSONValue = [:]) async throws -> WireFrame {
        let sent = try await s.send("session.list_jobs", payload)
        let reply = try await s.reply(to: sent, ["session.jobs"])
        guard reply.type == "session.jobs" else {
            throw ScenarioFailure("\(s.name): session.list_jobs was answered with \(reply.type ?? "?") \(reply.code ?? "")", evidence: [sent.frame, reply])
        }
        return reply
    }

    static func entries(_ reply: WireFrame) -> [JSONValue] { reply.payload("jobs")?.arrayValue ?? [] }
    static func ids(_ reply: WireFrame) -> [String] { entries(reply).compactMap { $0["job_id"]?.stringValue } }

    static let listJobs: [Scenario] = [
        Scenario(
            "list-jobs.answer", section: "6.6", level: .must,
            title: "session.list_jobs is answered by session.jobs with request_id and the session's jobs",
            requirement: "The runtime responds session.jobs {request_id, jobs: [...], next_cursor}.",
            features: ["list_jobs"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, _) = try await a.run("echo")
            let sent = try await a.send("session.list_jobs", [:])
            let reply = try await a.reply(to: sent, ["session.jobs"])
            try ctx.check(reply.type == "session.jobs", "answered with \(reply.type ?? "?")", evidence: [reply])
            try ctx.check(reply.requestID == sent.id, "session.jobs has request_id \(reply.requestID ?? "none"), not \(sent.id)", evidence: [sent.frame, reply])
            let entry = entries(reply).first { $0["job_id"]?.stringValue == job.id }
            try ctx.check(entry != nil, "the session's job \(job.id) is not listed", evidence: [reply])
            try ctx.check(entry?["status"]?.stringValue == "success", "the finished job is listed as \(entry?["status"].map(\.description) ?? "?")", evidence: [reply])
        },
        Scenario(
            "list-jobs.entry", section: "6.6", level: .must,
            title: "Listing entries carry job_id, agent, status, lease, created_at, trace_id, last_event_seq",
            requirement: "jobs: [{job_id, agent: \"name@version\", status, lease, parent_job_id, created_at, trace_id, last_event_seq}].",
            features: ["list_jobs"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, _) = try await a.run("echo", traceID: Checks.traceID())
            let reply = try await list(a)
            guard let e = entries(reply).first(where: { $0["job_id"]?.stringValue == job.id }) else {
                throw ctx.fail("job \(job.id) is not listed", evidence: [reply])
            }
            var missing: [String] = []
            if Checks.agentName(e["agent"]?.stringValue) != "echo" { missing.append("agent") }
            if e["status"]?.stringValue == nil { missing.append("status") }
            if !Checks.isObject(e["lease"]) { missing.append("lease") }
            if !Checks.isTimestamp(e["created_at"]) { missing.append("created_at") }
            if !Checks.isTraceID(e["trace_id"]) { missing.append("trace_id") }
            if e["last_event_seq"]?.int64Value == nil { missing.append("last_event_seq") }
            try ctx.check(missing.isEmpty, "the entry lacks \(missing.joined(separator: ", ")): \(e)", evidence: [reply])
        },
        Scenario(
            "list-jobs.filter-status", section: "6.6", level: .must,
            title: "filter.status returns only jobs in those states",
            requirement: "filter: {status: [\"running\", \"pending\"], agent, created_after}; all filter fields are optional.",
            features: ["list_jobs"], agents: ["echo", "slow"]
        ) { ctx in
            let a = try await ctx.session()
            let (done, _) = try await a.run("echo")
            let running = try await a.start("slow", input: ["seconds": 3, "tick": 0.5])
            _ = try await a.event(running.id)
            let reply = try await list(a, ["filter": ["status": ["running"]]])
            let listed = ids(reply)
            try ctx.check(listed.contains(running.id), "the running job is not listed under status running", evidence: [reply])
            try ctx.check(!listed.contains(done.id), "the finished job is listed under status running", evidence: [reply])
            for e in entries(reply) where e["status"]?.stringValue != "running" {
                throw ctx.fail("an entry with status \(e["status"].map(\.description) ?? "?") under filter running", evidence: [reply])
            }
        },
        Scenario(
            "list-jobs.filter-agent", section: "6.6", level: .must,
            title: "filter.agent returns only that agent's jobs",
            requirement: "filter: {status, agent: \"code-refactor\", created_after}.",
            features: ["list_jobs"], agents: ["echo", "versioned"]
        ) { ctx in
            let a = try await ctx.session()
            let (echo, _) = try await a.run("echo")
            let (other, _) = try await a.run("versioned")
            let reply = try await list(a, ["filter": ["agent": "echo"], "limit": 1000])
            let listed = ids(reply)
            try ctx.check(listed.contains(echo.id), "the echo job is not listed under agent echo", evidence: [reply])
            try ctx.check(!listed.contains(other.id), "a versioned job is listed under agent echo", evidence: [reply])
            for e in entries(reply) where Checks.agentName(e["agent"]?.stringValue) != "echo" {
                throw ctx.fail("an entry for agent \(e["agent"].map(\.description) ?? "?") under filter echo", evidence: [reply])
            }
        },
        Scenario(
            "list-jobs.filter-created-after", section: "6.6", level: .must,
            title: "filter.created_after excludes older jobs",
            requirement: "filter: {status, agent, created_after: \"2026-05-13T00:00:00Z\"}.",
            features: ["list_jobs"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, _) = try await a.run("echo")
            let before = try await list(a, ["filter": ["created_after": .string(Checks.timestamp(in: -3600))], "limit": 1000])
            try ctx.check(ids(before).contains(job.id), "a job created a moment ago is missing under created_after one hour ago", evidence: [before])
            let after = try await list(a, ["filter": ["created_after": .string(Checks.timestamp(in: 3600))]])
            try ctx.check(!ids(after).contains(job.id), "a job is listed under created_after one hour from now", evidence: [after])
        },
        Scenario(
            "list-jobs.pages", section: "6.6", level: .must,
            title: "limit and next_cursor page through every job exactly once",
            requirement: "session.list_jobs {filter, limit: 100, cursor}; session.jobs {jobs, next_cursor}.",
            features: ["list_jobs"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            var mine: Set<String> = []
            let since = Checks.timestamp(in: -1)
            for n in 0..<3 { mine.insert(try await a.run("echo", input: ["n": .int(Int64(n))]).job.id) }
            var seen: [String] = []
            var cursor: JSONValue = .null
            var pages = 0
            repeat {
                let reply = try await list(a, ["filter": ["agent": "echo", "created_after": .string(since)], "limit": 2, "cursor": cursor])
                let page = ids(reply)
                try ctx.check(page.count <= 2, "a page of \(page.count) entries for limit 2", evidence: [reply])
                seen += page
                cursor = reply.payload("next_cursor") ?? .null
                pages += 1
                if !cursor.isNull, page.isEmpty { throw ctx.fail("an empty page with a next_cursor", evidence: [reply]) }
            } while !cursor.isNull && pages < 500
            try ctx.check(Set(seen).count == seen.count, "a job appears on two pages", evidence: [])
            try ctx.check(mine.isSubset(of: Set(seen)), "paging with limit 2 missed \(mine.subtracting(seen).sorted()) (next_cursor absent?)")
        },
        Scenario(
            "list-jobs.principals", section: "6.6", level: .must,
            title: "Another principal's jobs are not listed",
            requirement: "Implementations MUST NOT leak job existence across principals not authorized to know about them (typically: jobs submitted by this principal).",
            features: ["list_jobs"], agents: ["echo"], needs: [.sharedRuntime, .otherPrincipal]
        ) { ctx in
            let a = try await ctx.session("A")
            let c = try await ctx.session("C", token: .other)
            let (mine, _) = try await a.run("echo")
            let (theirs, _) = try await c.run("echo")
            let seenByC = try await list(c, ["limit": 1000])
            try ctx.check(!ids(seenByC).contains(mine.id), "the other principal sees \(mine.id)", evidence: [seenByC])
            let seenByA = try await list(a, ["limit": 1000])
            try ctx.check(!ids(seenByA).contains(theirs.id), "the primary principal sees the other's \(theirs.id)", evidence: [seenByA])
        },
        Scenario(
            "list-jobs.no-subscription", section: "6.6", level: .must,
            title: "Listing a job does not subscribe to it",
            requirement: "session.list_jobs does not subscribe to events. To receive future events for a listed job, use job.subscribe.",
            features: ["list_jobs"], agents: ["slow"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session("A")
            let job = try await a.start("slow", input: ["seconds": 1.5, "tick": 0.25])
            let b = try await ctx.session("B")
            _ = try await list(b, ["limit": 1000])
            _ = try await a.terminal(job.id)
            try await b.barrier()
            let leaked = b.connection.received.filter { $0.jobID == job.id && $0.type != "session.jobs" }
            try ctx.check(leaked.isEmpty, "the listing session received \(leaked.count) frames of the job", evidence: Array(leaked.prefix(2)))
        },
        Scenario(
            "list-jobs.versions", section: "7.5", level: .must,
            title: "Listings show the resolved agent as name@version",
            requirement: "The resolved version appears in job.accepted.payload and in listings as agent: \"name@version\".",
            features: ["list_jobs", "agent_versions"], agents: ["versioned"]
        ) { ctx in
            let a = try await ctx.session()
            let (pinned, _) = try await a.run("versioned@2.0.0")
            let (bare, _) = try await a.run("versioned")
            let reply = try await list(a, ["limit": 1000])
            let byID = Dictionary(entries(reply).compactMap { e in e["job_id"]?.stringValue.map { ($0, e) } }, uniquingKeysWith: { a, _ in a })
            try ctx.check(byID[pinned.id]?["agent"]?.stringValue == "versioned@2.0.0", "the pinned job is listed as \(byID[pinned.id]?["agent"].map(\.description) ?? "nothing")", evidence: [reply])
            let def = ctx.profile.agents["versioned"]?.defaultVersion ?? "1.0.0"
            try ctx.check(byID[bare.id]?["agent"]?.stringValue == "versioned@\(def)", "the bare-name job is listed as \(byID[bare.id]?["agent"].map(\.description) ?? "nothing"), not versioned@\(def)", evidence: [reply])
        },
        Scenario(
            "close.closed", section: "6.7", level: .must,
            title: "session.close is acknowledged with session.closed",
            requirement: "The client sends session.close to terminate the session gracefully. The runtime acknowledges with session.closed."
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.send("session.close", ["reason": "kit"])
            let reply = try await a.reply(to: sent, ["session.closed"])
            try ctx.check(reply.type == "session.closed", "session.close was answered with \(reply.type ?? "?") \(reply.code ?? "")", evidence: [sent.frame, reply])
        },
        Scenario(
            "close.jobs-continue", section: "6.7", level: .must,
            title: "Jobs keep running after session.close",
            requirement: "In-flight jobs are not affected; they continue running and remain resumable within the resume window.",
            features: ["list_jobs"], agents: ["slow"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session()
            let job = try await a.start("slow", input: ["seconds": 1.5, "tick": 0.25])
            let sent = try await a.send("session.close", ["reason": "kit"])
            let reply = try await a.reply(to: sent, ["session.closed"])
            guard reply.type == "session.closed" else { throw ctx.skip("the runtime does not acknowledge session.close (see close.closed)") }
            await a.drop()
            let entry = try await awaitTerminalListing(ctx, jobID: job.id, timeout: ctx.options.jobTimeout)
            try ctx.check(entry["status"]?.stringValue == "success", "the job ended \(entry["status"].map(\.description) ?? "?") after session.close")
        },
        Scenario(
            "close.resumable", section: "6.7", level: .must,
            title: "After session.close the session's jobs remain resumable",
            requirement: "In-flight jobs ... continue running and remain resumable within the resume window.",
            agents: ["slow"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session()
            let job = try await a.start("slow", input: ["seconds": 1.5, "tick": 0.25])
            let sent = try await a.send("session.close", ["reason": "kit"])
            let reply = try await a.reply(to: sent, ["session.closed"])
            guard reply.type == "session.closed" else { throw ctx.skip("the runtime does not acknowledge session.close (see close.closed)") }
            await a.drop()
            let b = try await ctx.resume(a)
            let end = try await b.terminal(job.id)
            try ctx.check(end.finalStatus == "success", "the job ended \(end.finalStatus ?? "?")", evidence: [end])
        },
        Scenario(
            "close.bye", section: "6.4", draft: .v1_0, level: .must,
            title: "No frames follow session.bye",
            requirement: "Either party MAY initiate clean session closure with session.bye. After session.bye, no further ARCP messages MUST be sent on the transport."
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.send("session.bye", ["reason": "kit"])
            _ = await a.connection.waitEnded(timeout: .milliseconds(1500))
            let after = a.connection.received[sent.mark...].filter { !$0.isHeartbeat }
            try ctx.check(after.isEmpty, "\(after.first?.type ?? "a frame") after session.bye", evidence: Array(after.prefix(2)))
        },
    ]
}
