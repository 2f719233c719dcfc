import ARCPGenerated

/// §6.4 heartbeats, §6.5 acknowledgement and back-pressure.
extension ScenarioCatalog {
    /// The runtime's heartbeat interval when the options allow waiting `multiple` of it (plus a
    /// second); otherwise the scenario is skipped.
    static func heartbeatWait(_ ctx: ScenarioContext, multiple: Double) throws -> (interval: Int, wait: Duration) {
        guard let interval = ctx.profile.heartbeatIntervalSec, interval > 0 else {
            throw ctx.skip("the welcome gives no heartbeat_interval_sec")
        }
        let wait = Duration.milliseconds(Int64(Double(interval) * multiple * 1000) + 1000)
        guard wait <= ctx.options.heartbeatBudget else {
            throw ctx.skip("heartbeat_interval_sec \(interval) is too long to wait for (run the runtime with a 1–2 s interval to check this)")
        }
        return (interval, wait)
    }

    /// Polls session.list_jobs from a fresh session until `jobID` is terminal; returns its entry.
    static func awaitTerminalListing(_ ctx: ScenarioContext, jobID: String, timeout: Duration) async throws -> JSONValue {
        let b = try await ctx.session("B")
        let deadline = ContinuousClock.now + timeout
        var last: JSONValue?
        while ContinuousClock.now < deadline {
            let sent = try await b.send("session.list_jobs", ["limit": 1000])
            let reply = try await b.reply(to: sent, ["session.jobs"])
            guard reply.type == "session.jobs" else { throw ctx.fail("session.list_jobs failed: \(reply.code ?? "?")", evidence: [reply]) }
            last = reply.payload("jobs")?.arrayValue?.first { $0["job_id"]?.stringValue == jobID }
            if let status = last?["status"]?.stringValue, ["success", "error", "cancelled", "timed_out"].contains(status) {
                return last!
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw ctx.fail("job \(jobID) did not end within \(Connection.format(timeout)); last listing: \(last.map(\.description) ?? "not listed")")
    }

    static let heartbeat: [Scenario] = [
        Scenario(
            "heartbeat.pong", section: "6.4", level: .must,
            title: "session.ping is answered promptly by session.pong with the nonce",
            requirement: "The receiver MUST respond promptly (within heartbeat_interval_sec) with session.pong {ping_nonce, received_at}.",
            features: ["heartbeat"]
        ) { ctx in
            let a = try await ctx.session()
            let nonce = "p_" + ARCPID.ulid()
            let sent = try await a.send("session.ping", ["nonce": .string(nonce), "sent_at": .string(ARCPTimestamp.string())])
            let limit = Duration.seconds(max(1, min(Int64(ctx.profile.heartbeatIntervalSec ?? 5), 5)))
            let pong = try await a.connection.frame("session.pong", after: sent.mark, timeout: limit) { $0.type == "session.pong" }
            try ctx.check(pong.payload("ping_nonce")?.stringValue == nonce, "the pong's ping_nonce is \(pong.payload("ping_nonce").map(\.description) ?? "missing")", evidence: [sent.frame, pong])
            try ctx.check(Checks.isTimestamp(pong.payload("received_at")), "the pong has no received_at timestamp", evidence: [pong])
        },
        Scenario(
            "heartbeat.runtime-pings", section: "6.4", level: .should,
            title: "An idle runtime sends session.ping within the heartbeat interval",
            requirement: "When negotiated, both peers SHOULD ensure at least one message flows in each direction per heartbeat_interval_sec. An idle peer sends session.ping.",
            features: ["heartbeat"]
        ) { ctx in
            let (interval, wait) = try heartbeatWait(ctx, multiple: 1.5)
            let a = try await ctx.session()
            a.connection.goSilent()
            let f = await a.connection.frameIfAny(after: 1, within: wait) { _ in true }
            try ctx.check(f != nil, "nothing from the runtime for \(Connection.format(wait)) (heartbeat_interval_sec \(interval))", evidence: [a.welcome])
        },
        Scenario(
            "heartbeat.not-sequenced", section: "6.4", level: .must,
            title: "Pings and pongs carry no event_seq and take no sequence number",
            requirement: "Heartbeats are NOT included in event_seq. They are session control messages, not job events.",
            features: ["heartbeat"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            _ = try await a.run("echo")
            try await a.barrier()
            _ = try await a.run("echo")
            for f in a.connection.received where f.isHeartbeat {
                try ctx.check(f.eventSeq == nil && f["event_seq"] == nil, "\(f.type!) carries event_seq", evidence: [f])
            }
            if let (why, frames) = Checks.gap(in: a.sequenced) { throw ctx.fail(why, evidence: frames) }
        },
        Scenario(
            "heartbeat.loss-keeps-jobs", section: "6.4", level: .must,
            title: "A job keeps running when its session's heartbeats stop",
            requirement: "The runtime MUST NOT terminate jobs on heartbeat loss; the session continues to exist for the resume window.",
            features: ["heartbeat", "list_jobs"], agents: ["slow"], needs: [.sharedRuntime]
        ) { ctx in
            let (interval, wait) = try heartbeatWait(ctx, multiple: 3)
            let a = try await ctx.session()
            let job = try await a.start("slow", input: ["seconds": .double(Double(interval) * 3 + 1.5), "tick": 0.5])
            a.connection.goSilent()
            _ = await a.connection.waitEnded(timeout: wait)
            await a.drop()
            let entry = try await awaitTerminalListing(ctx, jobID: job.id, timeout: ctx.options.jobTimeout)
            try ctx.check(entry["status"]?.stringValue == "success", "the job ended \(entry["status"].map(\.description) ?? "?") after heartbeat loss")
        },
        Scenario(
            "heartbeat.loss-error", section: "6.4", level: .should,
            title: "A runtime that closes a silent session first sends HEARTBEAT_LOST",
            requirement: "A peer that observes no messages for two consecutive intervals MAY treat the connection as dead, close the transport, and surface HEARTBEAT_LOST.",
            features: ["heartbeat"]
        ) { ctx in
            let (_, wait) = try heartbeatWait(ctx, multiple: 3)
            let a = try await ctx.session()
            a.connection.goSilent()
            guard await a.connection.waitEnded(timeout: wait) != nil else {
                throw ctx.skip("the runtime kept the silent session open (acting on heartbeat loss is optional)")
            }
            let lost = a.connection.received.first { $0.type == "session.error" && $0.code == "HEARTBEAT_LOST" }
            try ctx.check(lost != nil, "the runtime closed the silent session without session.error HEARTBEAT_LOST", evidence: Array(a.connection.received.suffix(3)))
        },
        Scenario(
            "ack.not-sequenced", section: "6.5", level: .must,
            title: "session.ack takes no sequence number and gets no error",
            requirement: "session.ack messages are not included in event_seq.",
            features: ["ack"], agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            _ = try await a.run("echo")
            let ack = try await a.send("session.ack", ["last_processed_seq": .int(a.lastSeq ?? 0)])
            try await a.barrier()
            _ = try await a.run("echo")
            let error = a.connection.received[ack.mark...].first { $0.type == "session.error" }
            try ctx.check(error == nil, "session.ack was answered with an error", evidence: error.map { [ack.frame, $0] } ?? [])
            if let (why, frames) = Checks.gap(in: a.sequenced) { throw ctx.fail(why, evidence: frames) }
        },
        Scenario(
            "ack.keeps-unacknowledged", section: "6.5", level: .must,
            title: "Events after the acknowledged seq are still replayed on resume",
            requirement: "The runtime MUST NOT free events the client has not yet acknowledged, even if the resume window has elapsed, unless memory or buffer-count limits force eviction.",
            features: ["ack"], agents: ["echo"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session()
            _ = try await a.run("echo", input: ["n": 1])
            _ = try await a.run("echo", input: ["n": 2])
            let all = a.sequenced
            guard let first = all.first?.eventSeq, let last = all.last?.eventSeq else { throw ctx.fail("no events") }
            try await a.send("session.ack", ["last_processed_seq": .int(first)])
            try await a.barrier()
            await a.drop()
            let b = try await ctx.resume(a, lastEventSeq: first)
            _ = try await b.connection.frame("the replay of event_seq \(last)", after: 1) { $0.eventSeq == last }
            let replayed = b.sequenced
            try ctx.check(replayed.first?.eventSeq == first + 1, "the replay starts at \(replayed.first?.eventSeq.map(String.init) ?? "?"), not \(first + 1)", evidence: Array(replayed.prefix(1)))
            if let (why, frames) = Checks.gap(in: replayed) { throw ctx.fail(why, evidence: frames) }
        },
        Scenario(
            "ack.advisory", section: "6.5", level: .must,
            title: "Resume follows last_event_seq, not the last acknowledgement",
            requirement: "session.ack is purely advisory. Resume continues to require the client to present last_event_seq independently.",
            features: ["ack"], agents: ["echo"], needs: [.sharedRuntime]
        ) { ctx in
            let a = try await ctx.session()
            _ = try await a.run("echo", input: ["n": 1])
            _ = try await a.run("echo", input: ["n": 2])
            guard let first = a.sequenced.first?.eventSeq, let last = a.lastSeq else { throw ctx.fail("no events") }
            try await a.send("session.ack", ["last_processed_seq": .int(first)])
            try await a.barrier()
            await a.drop()
            let b = try await ctx.resume(a, lastEventSeq: last)
            try await b.barrier()
            let again = b.sequenced.filter { ($0.eventSeq ?? 0) <= last }
            try ctx.check(again.isEmpty, "events up to last_event_seq \(last) were sent again (the runtime went by the ack)", evidence: Array(again.prefix(2)))
        },
        Scenario(
            "backpressure.slow-reader", section: "8.3", level: .must,
            title: "A client that stops reading loses nothing: every event arrives, gap-free",
            requirement: "Sequence numbers are session-scoped, strictly monotonic, and gap-free (§8.3); a slow consumer is back-pressured (§6.5, §13.2), never silently truncated (02 §14).",
            features: ["progress"], agents: ["progress"], timeLimit: .seconds(90)
        ) { ctx in
            let a = try await ctx.session()
            let steps = 2000
            let sent = try await a.submit("progress", input: ["steps": .int(Int64(steps)), "delay": 0])
            a.connection.pauseReading()
            try await ctx.pause(.milliseconds(1500), "the client does not read while the job streams \(steps + 1) events")
            a.connection.resumeReading()
            let job = try await a.accepted(sent)
            let end = try await a.terminal(job.id, timeout: .seconds(60))
            try ctx.check(end.finalStatus == "success", "the job ended \(end.finalStatus ?? "?")", evidence: [end])
            let currents = a.events(job.id).filter { $0.kind == "progress" }.compactMap { $0.body?["current"]?.int64Value }
            try ctx.check(currents == (0...Int64(steps)).map { $0 }, "\(currents.count) of \(steps + 1) progress events arrived in order", evidence: [end])
            if let (why, frames) = Checks.gap(in: a.sequenced) { throw ctx.fail(why, evidence: frames) }
        },
    ]
}
