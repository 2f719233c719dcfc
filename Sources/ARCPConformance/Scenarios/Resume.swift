import ARCPGenerated

/// §6.3 resume (and §7.7: resume carries cancel authority).
extension ScenarioCatalog {
    /// Opens a connection and sends a hello with a resume block; returns the connection and
    /// the runtime's first answer.
    static func attemptResume(
        _ ctx: ScenarioContext, sessionID: String, token: String, lastEventSeq: Int64, name: String = "R", as auth: Token = .primary
    ) async throws -> (Connection, WireFrame) {
        let block: JSONValue = ["session_id": .string(sessionID), "resume_token": .string(token), "last_event_seq": .int(lastEventSeq)]
        let c = try await ctx.open(name)
        try await c.send(Envelope.make("session.hello", payload: try ctx.helloPayload(token: auth, resume: block)).text)
        return (c, try await c.frame("an answer to the resume") { !$0.isHeartbeat })
    }

    static let resume: [Scenario] = [
        Scenario(
            "resume.replay", section: "6.3", level: .must,
            title: "Resume replays every event after last_event_seq, including those emitted while away",
            requirement: "The runtime replays buffered events from that sequence (§6.3); sequence numbers are gap-free across reconnects within the buffer window (§8.3); 02 §6.3: replays all job.event, job.result, job.error with event_seq > last_event_seq.",
            agents: ["slow"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session()
            let job = try await a.start("slow", input: ["seconds": 2, "tick": 0.25])
            _ = try await a.event(job.id, kind: "log")
            await a.drop()
            let last = a.lastSeq ?? 0
            try await ctx.pause(.milliseconds(800), "the job emits events while the client is away")
            let b = try await ctx.resume(a, name: "A", lastEventSeq: last)
            // The job ends about a second after the resume.
            let end = try await b.terminal(job.id, timeout: ctx.options.responseTimeout)
            let replayed = b.sequenced
            guard let first = replayed.first else { throw ctx.fail("nothing replayed") }
            try ctx.check(first.eventSeq == last + 1, "the first frame after the resume has event_seq \(first.eventSeq.map(String.init) ?? "none"), expected \(last + 1): events were lost", evidence: [first])
            if let (why, frames) = Checks.gap(in: replayed) { throw ctx.fail(why, evidence: frames) }
            try ctx.check(end.finalStatus == "success", "the job ended \(end.finalStatus ?? "?") after the resume", evidence: [end])
        },
        Scenario(
            "resume.same-session", section: "6.3", draft: .v1_0, level: .must,
            title: "The resumed welcome keeps the session_id",
            requirement: "Issues a new session.welcome reusing the original session_id and a fresh resume_token.",
            needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session()
            await a.drop()
            let b = try await ctx.resume(a)
            try ctx.check(b.id == a.id, "the resumed session is \(b.id), not \(a.id)", evidence: [a.welcome, b.welcome])
        },
        Scenario(
            "resume.token-rotates", section: "6.3", level: .must,
            title: "Every successful welcome has a new resume_token",
            requirement: "The resume token rotates on every successful welcome.",
            needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session()
            await a.drop()
            let b = try await ctx.resume(a)
            try ctx.check(!b.resumeToken.isEmpty && b.resumeToken != a.resumeToken, "the resumed welcome repeats the resume_token", evidence: [a.welcome, b.welcome])
        },
        Scenario(
            "resume.old-token", section: "6.3", level: .must,
            title: "A resume token stops working once it has been rotated",
            requirement: "The resume token rotates on every successful welcome; a client presents its most recent resume_token (the token is a credential, 02 §14).",
            needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session()
            await a.drop()
            let b = try await ctx.resume(a)
            try await b.barrier()
            await b.drop()
            let (_, reply) = try await attemptResume(ctx, sessionID: a.id, token: a.resumeToken, lastEventSeq: 0)
            try ctx.check(reply.type == "session.error", "the superseded token still resumes the session", evidence: [reply])
        },
        Scenario(
            "resume.wrong-token", section: "6.3", draft: .v1_0, level: .must,
            title: "A resume with a wrong token is refused",
            requirement: "The client MUST treat resume_token as a credential (02 §6.2); disclosure permits hijacking (02 §14): a wrong token must not resume.",
            needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session()
            await a.drop()
            let (_, reply) = try await attemptResume(ctx, sessionID: a.id, token: "rtk_" + ARCPID.ulid(), lastEventSeq: 0)
            try ctx.check(reply.type == "session.error", "a wrong resume_token was answered with \(reply.type ?? "?")", evidence: [reply])
        },
        Scenario(
            "resume.wrong-token-keeps-session", section: "6.3", draft: .v1_0, level: .should,
            title: "After a wrong-token attempt the right token still resumes",
            requirement: "The runtime MUST guarantee that a session can be resumed for at least resume_window_sec seconds (02 §6.2): a stranger's failed guess must not end it.",
            needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session()
            await a.drop()
            let (_, reply) = try await attemptResume(ctx, sessionID: a.id, token: "rtk_" + ARCPID.ulid(), lastEventSeq: 0)
            try ctx.check(reply.type == "session.error", "a wrong resume_token was answered with \(reply.type ?? "?")", evidence: [reply])
            let (_, second) = try await attemptResume(ctx, sessionID: a.id, token: a.resumeToken, lastEventSeq: 0, name: "A")
            try ctx.check(second.type == "session.welcome", "the right token no longer resumes: \(second.type ?? "?") \(second.code ?? "")", evidence: [reply, second])
        },
        Scenario(
            "resume.window-expired", section: "6.3", level: .must,
            title: "A resume the buffer no longer covers gets RESUME_WINDOW_EXPIRED, never a silent gap",
            requirement: "RESUME_WINDOW_EXPIRED is returned if the buffer no longer covers the requested last_event_seq (the runtime MAY free acknowledged events, §6.5).",
            features: ["ack"], agents: ["echo"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session()
            _ = try await a.run("echo", input: ["n": 1])
            _ = try await a.run("echo", input: ["n": 2])
            let firstSeq = a.sequenced.first?.eventSeq ?? 1
            let last = a.lastSeq ?? 0
            try await a.send("session.ack", ["last_processed_seq": .int(last)])
            try await a.barrier()
            await a.drop()
            let (c, reply) = try await attemptResume(ctx, sessionID: a.id, token: a.resumeToken, lastEventSeq: firstSeq - 1, name: "A")
            if reply.type == "session.error" {
                try ctx.check(reply.code == "RESUME_WINDOW_EXPIRED", "the resume was refused with \(reply.code ?? "no code"), not RESUME_WINDOW_EXPIRED", evidence: [reply])
                return
            }
            try ctx.check(reply.type == "session.welcome", "the resume was answered with \(reply.type ?? "?")", evidence: [reply])
            guard let replay = await c.frameIfAny(after: 1, within: ctx.options.responseTimeout, where: { $0.isSequenced }) else {
                throw ctx.fail("resuming from event_seq \(firstSeq - 1) replayed nothing and gave no RESUME_WINDOW_EXPIRED: events \(firstSeq)…\(last) are silently lost", evidence: [reply])
            }
            try ctx.check(replay.eventSeq == firstSeq, "the replay starts at event_seq \(replay.eventSeq.map(String.init) ?? "?") instead of \(firstSeq), without RESUME_WINDOW_EXPIRED: events 1…\((replay.eventSeq ?? 1) - 1) are silently lost", evidence: [reply, replay])
        },
        Scenario(
            "resume.unknown-session", section: "6.3", level: .must,
            title: "Resuming a session that does not exist is refused",
            requirement: "A client presents its session and resume_token to resume; RESUME_WINDOW_EXPIRED is returned when the buffer no longer covers it (an unknown session has nothing to resume)."
        ) { ctx in
            let (_, reply) = try await attemptResume(ctx, sessionID: "sess_" + ARCPID.ulid(), token: "rtk_" + ARCPID.ulid(), lastEventSeq: 0)
            try ctx.check(reply.type == "session.error", "resuming a made-up session was answered with \(reply.type ?? "?")", evidence: [reply])
        },
        Scenario(
            "resume.session-resume", section: "6.3", level: .must,
            title: "session.resume (the v1.1 form) resumes the session",
            requirement: "A client reconnecting after a transport drop presents last_event_seq and its most recent resume_token in session.resume.",
            agents: ["echo"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session()
            _ = try await a.run("echo")
            await a.drop()
            var payload = JSONObject()
            payload.append("session_id", .string(a.id))
            payload.append("resume_token", .string(a.resumeToken))
            payload.append("last_event_seq", .int(0))
            payload.append("auth", ["scheme": "bearer", "token": .string(ctx.options.token)])
            let c = try await ctx.open("A")
            try await c.send(Envelope.make("session.resume", payload: .object(payload)).text)
            let reply = try await c.frame("an answer to session.resume") { !$0.isHeartbeat }
            try ctx.check(reply.type == "session.welcome", "session.resume was answered with \(reply.type ?? "?") \(reply.code ?? "")", evidence: [reply])
            let sid = reply["session_id"]?.stringValue ?? reply.payload("session_id")?.stringValue
            try ctx.check(sid == a.id, "session.resume gave session \(sid ?? "none"), not \(a.id)", evidence: [reply])
            _ = try await c.frame("the replayed job.result", after: 1) { $0.type == "job.result" }
            let want = a.sequenced.compactMap(\.eventSeq)
            let got = c.received.filter(\.isSequenced).compactMap(\.eventSeq)
            try ctx.check(got == want, "session.resume from 0 replayed event_seq \(got), not \(want)", evidence: c.received.filter(\.isSequenced))
        },
        Scenario(
            "resume.cancel-authority", section: "7.7", level: .must,
            title: "A resumed session keeps the authority to cancel its jobs",
            requirement: "Resume: same session continues; carries cancel authority.",
            agents: ["slow"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session()
            let job = try await a.start("slow", input: ["seconds": 10, "tick": 0.2])
            _ = try await a.event(job.id)
            await a.drop()
            let b = try await ctx.resume(a)
            let mark = b.connection.mark
            try await b.send("job.cancel", ["job_id": .string(job.id), "reason": "kit"], jobID: job.id)
            let end = try await b.terminal(job.id, after: mark, timeout: .seconds(8))
            try ctx.check(end.finalStatus == "cancelled", "the job ended \(end.finalStatus ?? "?") instead of cancelled", evidence: [end])
        },
    ]
}
