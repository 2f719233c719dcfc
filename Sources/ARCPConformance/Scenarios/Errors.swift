import ARCPGenerated
import Foundation

/// §11 trace ids, §12 errors, malformed input, and the §14 items a peer can observe.
extension ScenarioCatalog {
    /// Three requests that must fail, each sent once the previous one was answered (a
    /// runtime that names no request in its errors is still understood), with their errors.
    static func failingRequests(_ a: Session) async throws -> [(sent: Sent, error: WireFrame)] {
        var out: [(Sent, WireFrame)] = []
        let requests: [(String, @Sendable () async throws -> Sent)] = [
            ("AGENT_NOT_AVAILABLE", { try await a.submit("no-such-agent-\(ARCPID.ulid().lowercased())") }),
            ("JOB_NOT_FOUND", { try await cancel(a, "job_" + ARCPID.ulid()) }),
            ("INVALID_REQUEST", { try await a.send("job.frobnicate", [:]) }),
        ]
        for (code, request) in requests {
            let sent = try await request()
            out.append((sent, try await a.expectError(sent, codes: [code], sent.frame.type ?? "request")))
        }
        return out
    }

    /// A JSON value nested `depth` arrays deep.
    static func nested(_ depth: Int) -> String { String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }

    /// Fails unless a new session can be opened: the runtime survived what came before.
    static func checkStillServing(_ ctx: ScenarioContext) async throws {
        let s = try await ctx.session("after")
        try await s.barrier()
    }

    static let errors: [Scenario] = [
        Scenario(
            "trace.generated", section: "11", draft: .v1_0, level: .must,
            title: "A job submitted without trace_id gets one in job.accepted",
            requirement: "Clients SHOULD include the active trace_id. If absent, the runtime MUST generate one and include it in job.accepted.payload.trace_id.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let job = try await a.start("echo")
            let trace = job.accepted.payload("trace_id") ?? job.accepted["trace_id"]
            try ctx.check(Checks.isTraceID(trace), "job.accepted has trace_id \(trace.map(\.description) ?? "none")", evidence: [job.submitted.frame, job.accepted])
        },
        Scenario(
            "trace.propagated", section: "11", level: .must,
            title: "The submitted trace_id is on job.accepted and on every frame of the job",
            requirement: "ARCP propagates W3C Trace Context. The trace_id envelope field carries the traceparent value for the operation.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let trace = Checks.traceID()
            let (job, _) = try await a.run("echo", traceID: trace)
            let accepted = job.accepted.payload("trace_id")?.stringValue ?? job.accepted.traceID
            try ctx.check(accepted == trace, "job.accepted has trace_id \(accepted ?? "none"), not \(trace)", evidence: [job.accepted])
            for f in a.frames(job.id) where f.isSequenced {
                try ctx.check(f.traceID == trace, "\(f.type!) has trace_id \(f.traceID ?? "none"), not \(trace)", evidence: [f])
            }
        },
        Scenario(
            "trace.invalid", section: "11", draft: .v1_0, level: .must,
            title: "A malformed trace_id is refused or replaced, never propagated",
            requirement: "The trace_id envelope field carries the 16-byte trace identifier encoded as 32 lowercase hex characters.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.submit("echo", traceID: "ABCDEF")
            let reply = try await a.reply(to: sent, ["job.accepted"])
            if reply.type == "session.error" {
                try ctx.check(reply.code == "INVALID_REQUEST", "refused with \(reply.code ?? "no code"), not INVALID_REQUEST", evidence: [reply])
                return
            }
            let trace = reply.payload("trace_id") ?? reply["trace_id"]
            try ctx.check(trace?.stringValue != "ABCDEF" && (trace == nil || Checks.isTraceID(trace)), "the malformed trace_id was propagated: \(trace.map(\.description) ?? "")", evidence: [sent.frame, reply])
        },
        Scenario(
            "errors.shape", section: "12", level: .must,
            title: "Errors carry code, message and a retryable boolean",
            requirement: "Error payloads carry a retryable boolean (§12); 02 §12: {code, message, retryable, details}.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            for (_, e) in try await failingRequests(a) {
                let code = e.code ?? "?"
                try ctx.check(e.payload("message")?.stringValue != nil, "\(code) without a message", evidence: [e])
                try ctx.check(e.payload("retryable")?.boolValue != nil, "\(code) without a retryable boolean", evidence: [e])
            }
        },
        Scenario(
            "errors.request-id", section: "12", level: .should,
            title: "An error names the request it answers (request_id)",
            requirement: "An answer names its request (request_id, as session.jobs does in §6.6), so a client can tell which request failed.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            for (sent, e) in try await failingRequests(a) {
                let code = e.code ?? "?"
                try ctx.check(e.requestID == sent.id, "\(code) for \(sent.frame.type ?? "?") names request \(e.requestID ?? "none"), not \(sent.id)", evidence: [sent.frame, e])
            }
        },
        Scenario(
            "errors.session-survives", section: "13.4", draft: .v1_0, level: .must,
            title: "The session goes on after request errors",
            requirement: "Lease violations are not session-fatal; they're routine error handling (02 §13.4); an error answers a request, the session continues.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            _ = try await failingRequests(a)
            let (_, end) = try await a.run("echo", input: ["still": "alive"])
            try ctx.check(end.finalStatus == "success", "echo after the errors ended \(end.finalStatus ?? "?")", evidence: [end])
        },
        Scenario(
            "bad-input.malformed-json", section: "12", level: .must,
            title: "A frame that is not JSON gets session.error INVALID_REQUEST",
            requirement: "INVALID_REQUEST: Malformed envelope or schema violation."
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.sendRaw("this is not json {")
            let reply = try await a.connection.frame("session.error INVALID_REQUEST", after: sent.mark) { $0.type == "session.error" }
            try ctx.check(reply.code == "INVALID_REQUEST", "answered with \(reply.code ?? "no code")", evidence: [sent.frame, reply])
        },
        Scenario(
            "bad-input.session-survives", section: "12", level: .should,
            title: "The session goes on after a frame that is not JSON",
            requirement: "INVALID_REQUEST answers a malformed frame; nothing in §12 makes it session-fatal.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let bad = try await a.sendRaw("this is not json {")
            // Its error (if any) names no request: let it arrive before the next request.
            _ = await a.connection.frameIfAny(after: bad.mark, within: ctx.options.responseTimeout) { $0.type == "session.error" }
            let (_, end) = try await a.run("echo", input: ["still": "alive"])
            try ctx.check(end.finalStatus == "success", "echo after the bad frame ended \(end.finalStatus ?? "?")", evidence: [end])
        },
        Scenario(
            "bad-input.not-an-object", section: "12", level: .must,
            title: "JSON that is not an object gets INVALID_REQUEST",
            requirement: "Every ARCP message is a JSON object (02 §5.1); INVALID_REQUEST: Malformed envelope."
        ) { ctx in
            let a = try await ctx.session()
            for text in ["[1,2,3]", "42", "\"session.ping\""] {
                let sent = try await a.sendRaw(text)
                let reply = try await a.connection.frame("session.error for \(text)", after: sent.mark) { $0.type == "session.error" }
                try ctx.check(reply.code == "INVALID_REQUEST", "\(text) was answered with \(reply.code ?? "no code")", evidence: [sent.frame, reply])
            }
        },
        Scenario(
            "bad-input.wrong-types", section: "12", level: .must,
            title: "Fields of the wrong JSON type get INVALID_REQUEST",
            requirement: "INVALID_REQUEST: Malformed envelope or schema violation."
        ) { ctx in
            let a = try await ctx.session()
            let agent = try await a.send("job.submit", ["agent": 42, "input": [:]])
            try await a.expectError(agent, codes: ["INVALID_REQUEST"], "job.submit with agent 42")
            let payload = try await a.send("job.submit", "not an object")
            try await a.expectError(payload, codes: ["INVALID_REQUEST"], "job.submit with a string payload")
            if a.features.contains("list_jobs") {
                let limit = try await a.send("session.list_jobs", ["limit": "ten"])
                try await a.expectError(limit, codes: ["INVALID_REQUEST"], "session.list_jobs with limit \"ten\"")
            }
        },
        Scenario(
            "bad-input.unknown-type", section: "12", level: .must,
            title: "An unknown message type gets INVALID_REQUEST",
            requirement: "INVALID_REQUEST: Malformed envelope or schema violation."
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.send("job.frobnicate", [:])
            try await a.expectError(sent, codes: ["INVALID_REQUEST"], "job.frobnicate")
        },
        Scenario(
            "bad-input.missing-type", section: "12", level: .must,
            title: "An envelope without type gets INVALID_REQUEST",
            requirement: "type (string, REQUIRED): The message type (02 §5.1); INVALID_REQUEST: Malformed envelope."
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.sendRaw("{\"arcp\":\"1.1\",\"id\":\"\(ARCPID.ulid())\",\"session_id\":\"\(a.id)\",\"payload\":{}}")
            let reply = try await a.connection.frame("session.error", after: sent.mark) { $0.type == "session.error" }
            try ctx.check(reply.code == "INVALID_REQUEST", "answered with \(reply.code ?? "no code")", evidence: [sent.frame, reply])
        },
        Scenario(
            "bad-input.out-of-range", section: "5.2", draft: .v1_0, level: .must,
            title: "Integers beyond 64 bits get INVALID_REQUEST",
            requirement: "Integer fields MUST fit in a signed 64-bit integer.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let submit = try await a.send("job.submit", Session.submitPayload("echo", maxRuntimeSec: 1e300))
            try await a.expectError(submit, codes: ["INVALID_REQUEST"], "max_runtime_sec 1e300")
            if a.features.contains("list_jobs") {
                let list = try await a.send("session.list_jobs", ["limit": 1e20])
                try await a.expectError(list, codes: ["INVALID_REQUEST"], "session.list_jobs with limit 1e20")
            }
        },
        Scenario(
            "bad-input.deep-nesting", section: "14", draft: .v1_0, level: .should,
            title: "Deeply nested JSON does not bring the runtime down",
            requirement: "Runtimes SHOULD enforce per-session caps ... Exceeding limits MUST surface as INTERNAL_ERROR with a non-retryable signal, not silent truncation (02 §14, denial of service).",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.sendRaw(Envelope.make("job.submit", payload: .null, sessionID: a.id).text
                .replacingOccurrences(of: "\"payload\":null", with: "\"payload\":{\"agent\":\"echo\",\"input\":\(nested(100_000))}"))
            let answer = await a.connection.frameIfAny(after: sent.mark, within: ctx.options.responseTimeout) { !$0.isHeartbeat }
            if let answer, answer.type == "job.accepted" || answer.type == "session.error" || answer.type == "job.error" {
                // Handled: refused, or accepted by a parser that copes with the depth.
            } else if answer == nil, a.connection.ended == nil {
                throw ctx.fail("no answer to a 100,000-deep submit within \(Connection.format(ctx.options.responseTimeout)) and the connection is still open", evidence: [])
            }
            try await checkStillServing(ctx)
        },
        Scenario(
            "bad-input.oversized", section: "14", draft: .v1_0, level: .should,
            title: "A frame over the runtime's size cap is refused and the runtime stays up",
            requirement: "Runtimes SHOULD enforce per-session caps on buffered event bytes ... Exceeding limits MUST surface as an error, not silent truncation (02 §14).",
            agents: ["echo"], timeLimit: .seconds(90)
        ) { ctx in
            let a = try await ctx.session()
            let size = ctx.options.oversizedFrameBytes
            let blob = String(repeating: "x", count: size)
            let sent = try? await a.send("job.submit", Session.submitPayload("echo", input: ["blob": .string(blob)]))
            if let sent {
                let answer = await a.connection.frameIfAny(after: sent.mark, within: .seconds(20)) { !$0.isHeartbeat }
                if let answer, answer.type == "job.accepted" {
                    throw ctx.fail("a \(size / 1_048_576) MiB frame was accepted: no cap on frame size", evidence: [answer])
                }
                if answer == nil, a.connection.ended == nil {
                    throw ctx.fail("no answer to a \(size / 1_048_576) MiB frame within 20 s and the connection is still open")
                }
            }
            try await checkStillServing(ctx)
        },
        Scenario(
            "security.resume-token", section: "14", draft: .v1_0, level: .must,
            title: "Resume tokens look random: unique, long enough, unrelated to ids and to each other",
            requirement: "Runtimes MUST generate resume_token values with at least 128 bits of cryptographically random entropy.",
            timeLimit: .seconds(30)
        ) { ctx in
            var tokens: [(token: String, welcome: WireFrame)] = []
            for _ in 0..<4 {
                let s = try await ctx.session("T")
                tokens.append((s.resumeToken, s.welcome))
                await s.bye()
            }
            func body(_ t: String) -> String { t.firstIndex(of: "_").map { String(t[t.index(after: $0)...]) } ?? t }
            for (t, w) in tokens {
                let b = body(t)
                let alphabet: Double = b.allSatisfy(\.isHexDigit) ? 16 : b.allSatisfy { $0.isNumber || $0.isUppercase } || b.allSatisfy { $0.isNumber || $0.isLowercase } ? 32 : 64
                let bits = Double(b.count) * log2(alphabet)
                try ctx.check(bits >= 128, "resume_token \(t) holds at most \(Int(bits)) bits", evidence: [w])
                for id in [w.id, w["session_id"]?.stringValue].compactMap({ $0 }) where longestCommonSubstring(b, body(id)) >= 10 {
                    throw ctx.fail("resume_token \(t) shares \(longestCommonSubstring(b, body(id))) characters with the id \(id): it is derived from it, not random", evidence: [w])
                }
            }
            for i in tokens.indices {
                for j in tokens.indices where j > i {
                    let common = body(tokens[i].token).commonPrefix(with: body(tokens[j].token)).count
                    try ctx.check(common < 6, "resume tokens \(tokens[i].token) and \(tokens[j].token) share a \(common)-character prefix: they are sequential, not random", evidence: [tokens[i].welcome, tokens[j].welcome])
                }
            }
        },
        Scenario(
            "security.isolation", section: "14", level: .must,
            title: "A session of another principal receives nothing about a job it cannot see",
            requirement: "Implementations MUST NOT leak job existence across principals (§6.6); subscription scope defaults to same principal (§14).",
            agents: ["slow"], needs: [.sharedRuntime, .otherPrincipal]
        ) { ctx in
            let c = try await ctx.session("C", token: .other)
            let a = try await ctx.session("A")
            let job = try await a.start("slow", input: ["seconds": 0.8, "tick": 0.2])
            _ = try await a.terminal(job.id)
            try await c.barrier()
            let leaked = c.connection.received.filter { $0.text.contains(job.id) }
            try ctx.check(leaked.isEmpty, "the other principal's session received frames naming \(job.id)", evidence: leaked)
        },
        Scenario(
            "security.resume-principal", section: "14", draft: .v1_0, level: .should,
            title: "Another principal cannot take over a session, even with its resume token",
            requirement: "The resume_token is a session credential; disclosure permits an attacker to hijack a session (02 §14): a resume is bound to the session's principal.",
            needs: [.sharedRuntime, .otherPrincipal]
        ) { ctx in
            let a = try await ctx.session("A")
            await a.drop()
            let (_, reply) = try await attemptResume(ctx, sessionID: a.id, token: a.resumeToken, lastEventSeq: 0, name: "C", as: .other)
            try ctx.check(reply.type == "session.error", "another principal resumed the session with its token", evidence: [reply])
        },
    ]

    /// The length of the longest common substring of `a` and `b` (small strings).
    static func longestCommonSubstring(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        guard !x.isEmpty, !y.isEmpty else { return 0 }
        var best = 0
        var previous = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            var row = [Int](repeating: 0, count: y.count + 1)
            for j in 1...y.count where x[i - 1] == y[j - 1] {
                row[j] = previous[j - 1] + 1
                best = max(best, row[j])
            }
            previous = row
        }
        return best
    }
}
