import ARCPGenerated

/// §6.1–§6.2: authentication, hello/welcome, feature negotiation.
extension ScenarioCatalog {
    static let sessions: [Scenario] = [
        Scenario(
            "auth.bad-token", section: "6.1", draft: .v1_0, level: .must,
            title: "An invalid token gets session.error UNAUTHENTICATED and the transport closes",
            requirement: "Runtimes MUST reject session.hello messages missing or presenting an invalid token with session.error and immediate transport close."
        ) { ctx in
            let c = try await ctx.open()
            try await c.send(Envelope.make("session.hello", payload: try ctx.helloPayload(token: .literal("not-a-valid-token-\(ctx.unique("t"))"))).text)
            let reply = try await c.frame("session.error") { !$0.isHeartbeat }
            try ctx.check(reply.type == "session.error", "answered with \(reply.type ?? "?")", evidence: [reply])
            try ctx.check(reply.code == "UNAUTHENTICATED", "code \(reply.code ?? "none"), not UNAUTHENTICATED", evidence: [reply])
            let ended = await c.waitEnded(timeout: ctx.options.responseTimeout)
            try ctx.check(ended != nil, "the transport is still open \(Connection.format(ctx.options.responseTimeout)) after the rejection", evidence: [reply])
        },
        Scenario(
            "auth.missing-token", section: "6.1", draft: .v1_0, level: .must,
            title: "A hello without auth is rejected with session.error and the transport closes",
            requirement: "Runtimes MUST reject session.hello messages missing or presenting an invalid token with session.error and immediate transport close."
        ) { ctx in
            let c = try await ctx.open()
            try await c.send(Envelope.make("session.hello", payload: try ctx.helloPayload(token: .none)).text)
            let reply = try await c.frame("session.error") { !$0.isHeartbeat }
            try ctx.check(reply.type == "session.error", "answered with \(reply.type ?? "?")", evidence: [reply])
            try ctx.check(["UNAUTHENTICATED", "INVALID_REQUEST"].contains(reply.code ?? ""), "code \(reply.code ?? "none"), not UNAUTHENTICATED (or INVALID_REQUEST)", evidence: [reply])
            let ended = await c.waitEnded(timeout: ctx.options.responseTimeout)
            try ctx.check(ended != nil, "the transport is still open after the rejection", evidence: [reply])
        },
        Scenario(
            "auth.hello-first", section: "6.1", draft: .v1_0, level: .must,
            title: "A first frame other than session.hello is rejected and nothing runs",
            requirement: "Authentication uses a bearer token passed in session.hello (a session begins with an authenticated hello); missing authentication is rejected with session.error and transport close.",
            agents: ["echo"]
        ) { ctx in
            let c = try await ctx.open()
            try await c.send(Envelope.make("job.submit", payload: Session.submitPayload("echo")).text)
            let reply = try await c.frame("session.error") { !$0.isHeartbeat }
            try ctx.check(reply.type == "session.error", "a job.submit before the hello was answered with \(reply.type ?? "?")", evidence: [reply])
            try ctx.check(["INVALID_REQUEST", "UNAUTHENTICATED"].contains(reply.code ?? ""), "code \(reply.code ?? "none")", evidence: [reply])
            _ = await c.waitEnded(timeout: ctx.options.responseTimeout)
            try ctx.check(!c.received.contains { $0.type == "job.accepted" }, "the job was accepted without a hello", evidence: c.received)
        },
        Scenario(
            "hello.welcome", section: "6.2", level: .must,
            title: "The welcome carries session_id, resume_token, resume_window_sec, features and agents",
            requirement: "session.welcome responds with session_id, resume_token, heartbeat_interval_sec, and runtime capabilities including an agent inventory (§3); the runtime MUST issue a resume_token (02 §6.2)."
        ) { ctx in
            let a = try await ctx.session()
            let w = a.welcome
            try ctx.check(!a.id.isEmpty, "no session_id", evidence: [w])
            try ctx.check(!a.resumeToken.isEmpty, "no resume_token", evidence: [w])
            try ctx.check((w.payload("resume_window_sec")?.int64Value ?? -1) >= 0, "no integer resume_window_sec", evidence: [w])
            try ctx.check(w.payload("capabilities")?["features"]?.arrayValue != nil, "no capabilities.features list", evidence: [w])
            try ctx.check(w.payload("capabilities")?["agents"]?.arrayValue != nil, "no capabilities.agents inventory", evidence: [w])
        },
        Scenario(
            "hello.heartbeat-interval", section: "6.4", level: .must,
            title: "With heartbeat negotiated the welcome gives heartbeat_interval_sec",
            requirement: "session.welcome responds with ... a heartbeat interval; peers send a message at least every heartbeat_interval_sec.",
            features: ["heartbeat"]
        ) { ctx in
            let a = try await ctx.session()
            let v = a.welcome.payload("heartbeat_interval_sec")?.int64Value
            try ctx.check((v ?? 0) > 0, "heartbeat_interval_sec is \(a.welcome.payload("heartbeat_interval_sec").map(\.description) ?? "missing")", evidence: [a.welcome])
        },
        Scenario(
            "hello.agent-versions", section: "7.5", level: .must,
            title: "The inventory lists versioned with versions 1.0.0, 2.0.0 and default 1.0.0",
            requirement: "session.welcome responds with ... an agent inventory enriched with version information (§6.2); a bare name resolves to the default advertised in capabilities.agents (§7.5).",
            features: ["agent_versions"], agents: ["versioned"]
        ) { ctx in
            let a = try await ctx.session()
            let entry = a.welcome.payload("capabilities")?["agents"]?.arrayValue?.first { $0["name"]?.stringValue == "versioned" }
            try ctx.check(entry != nil, "no {name: \"versioned\", versions, default} entry", evidence: [a.welcome])
            let versions = Set(entry?["versions"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            try ctx.check(versions.isSuperset(of: ["1.0.0", "2.0.0"]), "versions are \(versions.sorted())", evidence: [a.welcome])
            try ctx.check(entry?["default"]?.stringValue == "1.0.0", "default is \(entry?["default"].map(\.description) ?? "missing")", evidence: [a.welcome])
        },
        Scenario(
            "hello.unknown-feature", section: "6.2", level: .must,
            title: "An unknown feature in the hello is ignored, not echoed",
            requirement: "The effective feature set is the intersection of session.hello features and session.welcome features."
        ) { ctx in
            let a = try await ctx.session(features: ["x-vendor.acme.future", "list_jobs"])
            let features = a.welcome.payload("capabilities")?["features"]?.arrayValue?.compactMap(\.stringValue) ?? []
            try ctx.check(!features.contains("x-vendor.acme.future"), "the welcome offers the made-up feature", evidence: [a.welcome])
        },
        Scenario(
            "features.progress", section: "6.2", level: .must,
            title: "No progress events to a session that did not negotiate progress",
            requirement: "Either peer MUST NOT use a feature outside that intersection.",
            features: ["progress"], agents: ["progress"]
        ) { ctx in
            let a = try await ctx.session(features: ["heartbeat"])
            let job = try await a.start("progress", input: ["steps": 2, "delay": 0])
            _ = try await a.terminal(job.id)
            let used = a.events(job.id).filter { $0.kind == "progress" }
            try ctx.check(used.isEmpty, "\(used.count) progress events without the progress feature", evidence: Array(used.prefix(2)))
        },
        Scenario(
            "features.result-chunk", section: "6.2", level: .must,
            title: "No result_chunk events to a session that did not negotiate result_chunk",
            requirement: "Either peer MUST NOT use a feature outside that intersection.",
            features: ["result_chunk"], agents: ["chunked"]
        ) { ctx in
            let a = try await ctx.session(features: ["heartbeat"])
            let sent = try await a.submit("chunked", input: ["text": "abcdefgh", "chunk_size": 4])
            let reply = try await a.reply(to: sent, ["job.accepted"])
            guard reply.type == "job.accepted", let jobID = reply.jobID else { return }  // refusing the job is fine
            _ = try await a.terminal(jobID)
            let used = a.events(jobID).filter { $0.kind == "result_chunk" }
            try ctx.check(used.isEmpty, "\(used.count) result_chunk events without the result_chunk feature", evidence: Array(used.prefix(2)))
        },
        Scenario(
            "features.cost-budget", section: "6.2", level: .must,
            title: "A cost.budget lease without the cost.budget feature is refused or not enforced",
            requirement: "Either peer MUST NOT use a feature outside that intersection.",
            features: ["cost.budget"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session(features: ["heartbeat"])
            let sent = try await a.submit("echo", lease: ["cost.budget": ["USD:1.00"]])
            let reply = try await a.reply(to: sent, ["job.accepted"])
            if reply.type == "job.accepted" {
                try ctx.check(reply.payload("budget") == nil || reply.payload("budget")?.isNull == true,
                    "job.accepted has budget counters although cost.budget was not negotiated", evidence: [sent.frame, reply])
            }
        },
        Scenario(
            "features.lease-expires-at", section: "6.2", level: .must,
            title: "lease_constraints.expires_at without the lease_expires_at feature is refused or not applied",
            requirement: "Either peer MUST NOT use a feature outside that intersection.",
            features: ["lease_expires_at"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session(features: ["heartbeat"])
            let sent = try await a.submit("echo", constraints: ["expires_at": .string(Checks.timestamp(in: 3600))])
            let reply = try await a.reply(to: sent, ["job.accepted"])
            if reply.type == "job.accepted" {
                try ctx.check(reply.payload("lease_constraints")?["expires_at"] == nil,
                    "job.accepted echoes expires_at although lease_expires_at was not negotiated", evidence: [sent.frame, reply])
            }
        },
        Scenario(
            "features.list-jobs", section: "6.2", level: .must,
            title: "session.list_jobs without the list_jobs feature is refused",
            requirement: "Either peer MUST NOT use a feature outside that intersection.",
            features: ["list_jobs"]
        ) { ctx in
            let a = try await ctx.session(features: ["heartbeat"])
            let sent = try await a.send("session.list_jobs", [:])
            try await a.expectError(sent, "session.list_jobs without list_jobs")
        },
        Scenario(
            "features.subscribe", section: "6.2", level: .must,
            title: "job.subscribe without the subscribe feature is refused",
            requirement: "Either peer MUST NOT use a feature outside that intersection.",
            features: ["subscribe"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session(features: ["heartbeat"])
            let job = try await a.start("echo")
            _ = try await a.terminal(job.id)
            let sent = try await a.send("job.subscribe", ["job_id": .string(job.id), "history": true])
            try await a.expectError(sent, "job.subscribe without subscribe")
        },
        Scenario(
            "features.heartbeat", section: "6.2", level: .must,
            title: "No session.ping to a session that did not negotiate heartbeat",
            requirement: "Either peer MUST NOT use a feature outside that intersection.",
            features: ["heartbeat"]
        ) { ctx in
            guard let interval = ctx.profile.heartbeatIntervalSec, interval > 0 else {
                throw ctx.skip("the runtime gives no heartbeat_interval_sec")
            }
            let wait = Duration.milliseconds(interval * 2500)
            guard wait <= ctx.options.heartbeatBudget else {
                throw ctx.skip("heartbeat_interval_sec \(interval) is too long to wait for (run the runtime with 1–2 s)")
            }
            let a = try await ctx.session(features: ["list_jobs"])
            let ping = await a.connection.frameIfAny(after: 1, within: wait) { $0.type == "session.ping" }
            try ctx.check(ping == nil, "a session.ping although heartbeat was not negotiated", evidence: ping.map { [$0] } ?? [])
        },
    ]
}
