import ARCPGenerated
import Foundation

/// §8 job events: envelope, the ten kinds, ordering, result streaming.
extension ScenarioCatalog {
    /// Runs `kitchen` (delegation allowed, a USD budget when offered) and returns its events.
    static func kitchenEvents(_ ctx: ScenarioContext) async throws -> (Session, Job, [WireFrame]) {
        let a = try await ctx.session()
        var lease: JSONObject = ["agent.delegate": ["echo"]]
        if ctx.offers("cost.budget") { lease["cost.budget"] = ["USD:1.00"] }
        let (job, _) = try await a.run("kitchen", lease: .object(lease))
        return (a, job, a.events(job.id))
    }

    /// A scenario checking the body of one event kind that `kitchen` emits.
    static func kind(
        _ kind: String, section: String = "8.2", title: String, shape: String, features: [String] = [],
        check: @escaping @Sendable (JSONValue, [WireFrame]) -> String?
    ) -> Scenario {
        Scenario(
            "events.\(kind.replacingOccurrences(of: "_", with: "-"))", section: section, level: .must, title: title,
            requirement: "The following event kind values are defined: \(kind) \(shape).",
            features: features, agents: ["kitchen"]
        ) { ctx in
            let (_, _, events) = try await kitchenEvents(ctx)
            guard let f = events.first(where: { $0.kind == kind }) else {
                throw ctx.fail("kitchen emitted no \(kind) event", evidence: events)
            }
            if let problem = check(f.body ?? .null, events) {
                throw ctx.fail("\(kind) body \(problem): \((f.body ?? .null).description)", evidence: [f])
            }
        }
    }

    /// Runs `chunked` with `text` and returns the chunks and the terminal frame.
    static func chunkedRun(_ ctx: ScenarioContext, text: String, size: Int, binary: Bool) async throws -> ([WireFrame], WireFrame) {
        let a = try await ctx.session()
        let (job, end) = try await a.run("chunked", input: ["text": .string(text), "chunk_size": .int(Int64(size)), "binary": .bool(binary)])
        return (a.events(job.id).filter { $0.kind == "result_chunk" }, end)
    }

    static let chunkText = "hello chunked world ✓ — 🚀 done"

    static let events: [Scenario] = [
        Scenario(
            "events.envelope", section: "8.1", level: .must,
            title: "job.event carries session_id, job_id, event_seq and payload {kind, body}",
            requirement: "Each event is a JSON object with type, session_id, job_id, event_seq, and payload fields. The payload carries a kind discriminator and a body object.",
            agents: ["kitchen"]
        ) { ctx in
            let (a, _, events) = try await kitchenEvents(ctx)
            try ctx.check(!events.isEmpty, "kitchen emitted no events")
            for f in events {
                try ctx.check(f["session_id"]?.stringValue == a.id && f["job_id"]?.stringValue != nil && f.eventSeq != nil,
                    "job.event without session_id, job_id or event_seq", evidence: [f])
                try ctx.check(f.kind != nil && Checks.isObject(f.body), "job.event without payload.kind or a body object", evidence: [f])
            }
        },
        kind("log", title: "log events have {level, message}", shape: "{ level, message }") { b, _ in
            b["level"]?.stringValue == nil || b["message"]?.stringValue == nil ? "lacks level or message" : nil
        },
        kind("thought", title: "thought events have {text}", shape: "{ text }") { b, _ in
            b["text"]?.stringValue == nil ? "lacks text" : nil
        },
        kind("tool_call", title: "tool_call events have {tool, args, call_id}", shape: "{ tool, args, call_id }") { b, _ in
            b["tool"]?.stringValue == nil || b["args"] == nil || b["call_id"]?.stringValue == nil ? "lacks tool, args or call_id" : nil
        },
        kind("tool_result", title: "tool_result events have {call_id, result | error} naming a tool_call", shape: "{ call_id, result | error }") { b, events in
            guard let id = b["call_id"]?.stringValue else { return "lacks call_id" }
            guard b["result"] != nil || b["error"] != nil else { return "has neither result nor error" }
            let calls = Set(events.filter { $0.kind == "tool_call" }.compactMap { $0.body?["call_id"]?.stringValue })
            return calls.contains(id) ? nil : "names call_id \(id), which no tool_call has"
        },
        kind("status", title: "status events have {phase}", shape: "{ phase, message? }") { b, _ in
            b["phase"]?.stringValue == nil ? "lacks phase" : nil
        },
        kind("metric", title: "metric events have {name, value (number), unit?}", shape: "{ name, value, unit?, dimensions? }") { b, _ in
            if b["name"]?.stringValue == nil || b["value"]?.doubleValue == nil { return "lacks name or a numeric value" }
            if let u = b["unit"], u.stringValue == nil { return "has a non-string unit" }
            return nil
        },
        kind("artifact_ref", title: "artifact_ref events have {uri, content_type, byte_size?}", shape: "{ uri, content_type, byte_size?, sha256? }") { b, _ in
            if b["uri"]?.stringValue == nil || b["content_type"]?.stringValue == nil { return "lacks uri or content_type" }
            if let n = b["byte_size"], n.int64Value == nil { return "has a non-integer byte_size" }
            return nil
        },
        kind("delegate", title: "delegate events have {delegate_id, agent, input, lease_request}", shape: "(see §10: 02 §10.1 { delegate_id, agent, input, lease_request })") { b, _ in
            b["delegate_id"]?.stringValue == nil || b["agent"]?.stringValue == nil ? "lacks delegate_id or agent" : nil
        },
        kind("progress", title: "progress events have {current, total?, units?, message?}", shape: "{ current, total?, units?, message? }", features: ["progress"]) { b, _ in
            guard let c = b["current"]?.doubleValue else { return "lacks a numeric current" }
            return c < 0 ? "has a negative current" : nil
        },
        Scenario(
            "events.order", section: "8.3", draft: .v1_0, level: .must,
            title: "A job's events arrive in the order the agent produced them",
            requirement: "Per-job ordering is implied: events for a given job_id MUST appear in the order they were produced.",
            agents: ["kitchen"]
        ) { ctx in
            let (_, _, events) = try await kitchenEvents(ctx)
            var expected = ["log", "thought", "tool_call", "tool_result", "status", "metric", "metric", "artifact_ref", "delegate"]
            if ctx.offers("progress") { expected.append("progress") }
            var rest = expected[...]
            for f in events where f.kind == rest.first { rest.removeFirst() }
            try ctx.check(rest.isEmpty, "kitchen's events are not in the order log, thought, tool_call, tool_result, status, metric, metric, artifact_ref, delegate, progress: got \(events.compactMap(\.kind).joined(separator: ", "))", evidence: events)
        },
        Scenario(
            "events.seq-monotonic", section: "8.3", draft: .v1_0, level: .must,
            title: "Concurrent jobs share one strictly increasing event_seq space",
            requirement: "All job.event, job.result, and job.error messages within a session share one monotonically increasing seq space, even across multiple concurrent jobs; event_seq[n+1] > event_seq[n].",
            agents: ["progress", "chunked"]
        ) { ctx in
            let a = try await ctx.session()
            let p = try await a.submit("progress", input: ["steps": 5, "delay": 0.02])
            let c = try await a.submit("chunked", input: ["text": "abcdefghijkl", "chunk_size": 3])
            let pj = try await a.accepted(p)
            let cj = try await a.accepted(c)
            _ = try await a.terminal(pj.id)
            _ = try await a.terminal(cj.id)
            var previous: WireFrame?
            for f in a.sequenced {
                if let p = previous, let ps = p.eventSeq, let s = f.eventSeq, s <= ps {
                    throw ctx.fail("event_seq \(s) after \(ps) (two jobs: \(p.jobID ?? "?"), \(f.jobID ?? "?"))", evidence: [p, f])
                }
                previous = f
            }
        },
        Scenario(
            "events.seq-gap-free", section: "8.3", level: .must,
            title: "event_seq has no gaps across concurrent jobs",
            requirement: "Sequence numbers are session-scoped, strictly monotonic, and gap-free.",
            agents: ["progress", "chunked"]
        ) { ctx in
            let a = try await ctx.session()
            let p = try await a.submit("progress", input: ["steps": 5, "delay": 0.02])
            let c = try await a.submit("chunked", input: ["text": "abcdefghijkl", "chunk_size": 3])
            _ = try await a.terminal(try await a.accepted(p).id)
            _ = try await a.terminal(try await a.accepted(c).id)
            if let (why, frames) = Checks.gap(in: a.sequenced) { throw ctx.fail(why, evidence: frames) }
        },
        Scenario(
            "events.progress-current", section: "8.2.1", level: .must,
            title: "progress.current is a non-negative number",
            requirement: "current MUST be a non-negative number.",
            features: ["progress"], agents: ["progress"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, _) = try await a.run("progress", input: ["steps": 4, "delay": 0])
            let events = a.events(job.id).filter { $0.kind == "progress" }
            try ctx.check(events.count == 5, "\(events.count) progress events for steps 4 (expected 0…4)", evidence: events)
            for f in events {
                try ctx.check((f.body?["current"]?.doubleValue ?? -1) >= 0, "current is \(f.body?["current"].map(\.description) ?? "missing")", evidence: [f])
            }
        },
        Scenario(
            "events.progress-total", section: "8.2.1", level: .should,
            title: "progress.current does not exceed total",
            requirement: "If total is present, current SHOULD be ≤ total.",
            features: ["progress"], agents: ["progress"]
        ) { ctx in
            let a = try await ctx.session()
            let (job, _) = try await a.run("progress", input: ["steps": 3, "delay": 0])
            for f in a.events(job.id) where f.kind == "progress" {
                if let total = f.body?["total"]?.doubleValue, let current = f.body?["current"]?.doubleValue {
                    try ctx.check(current <= total, "current \(current) > total \(total)", evidence: [f])
                }
            }
        },
        Scenario(
            "chunks.fields", section: "8.4", level: .must,
            title: "result_chunk events have result_id, chunk_seq, data, encoding (utf8|base64), more",
            requirement: "result_id, chunk_seq, data, encoding (one of utf8, base64), more: all REQUIRED.",
            features: ["result_chunk"], agents: ["chunked"]
        ) { ctx in
            let (chunks, _) = try await chunkedRun(ctx, text: chunkText, size: 5, binary: false)
            try ctx.check(!chunks.isEmpty, "chunked emitted no result_chunk events")
            for f in chunks {
                let b = f.body ?? .null
                let ok = b["result_id"]?.stringValue != nil && b["chunk_seq"]?.int64Value != nil && b["data"]?.stringValue != nil
                    && ["utf8", "base64"].contains(b["encoding"]?.stringValue ?? "") && b["more"]?.boolValue != nil
                try ctx.check(ok, "a result_chunk lacks or misstates result_id, chunk_seq, data, encoding or more", evidence: [f])
            }
        },
        Scenario(
            "chunks.order", section: "8.4", level: .must,
            title: "Chunks come in chunk_seq order 0, 1, 2 … and only the last has more: false",
            requirement: "chunk_seq: 0-based monotonic chunk index per result_id. The chunks for one result_id MUST be emitted in order. more: true if additional chunks follow; false on the final chunk.",
            features: ["result_chunk"], agents: ["chunked"]
        ) { ctx in
            let (chunks, _) = try await chunkedRun(ctx, text: chunkText, size: 5, binary: false)
            for (i, f) in chunks.enumerated() {
                try ctx.check(f.body?["chunk_seq"]?.int64Value == Int64(i), "chunk \(i) has chunk_seq \(f.body?["chunk_seq"].map(\.description) ?? "none")", evidence: [f])
                try ctx.check(f.body?["more"]?.boolValue == (i < chunks.count - 1), "chunk \(i) of \(chunks.count) has more: \(f.body?["more"].map(\.description) ?? "none")", evidence: [f])
            }
        },
        Scenario(
            "chunks.result-id", section: "8.4", level: .must,
            title: "After chunks, job.result carries their result_id and no inline result",
            requirement: "Implementations MUST NOT mix inline result and result_chunk in the same job. Once a result_chunk is emitted, the terminating job.result MUST carry result_id.",
            features: ["result_chunk"], agents: ["chunked"]
        ) { ctx in
            let (chunks, end) = try await chunkedRun(ctx, text: chunkText, size: 5, binary: false)
            let ids = Set(chunks.compactMap { $0.body?["result_id"]?.stringValue })
            try ctx.check(ids.count == 1, "the chunks name \(ids.count) result_ids", evidence: Array(chunks.prefix(2)))
            try ctx.check(end.type == "job.result" && end.payload("result_id")?.stringValue == ids.first, "job.result has result_id \(end.payload("result_id").map(\.description) ?? "none"), not the chunks' \(ids.first ?? "")", evidence: [end])
            try ctx.check(end.payload("result") == nil || end.payload("result")?.isNull == true, "job.result also carries an inline result", evidence: [end])
        },
        Scenario(
            "chunks.assembly", section: "8.4", level: .must,
            title: "The decoded chunks concatenate to the result; result_size matches",
            requirement: "When result_id is present, the assembled result is the concatenation of the chunks' decoded data in chunk_seq order.",
            features: ["result_chunk"], agents: ["chunked"]
        ) { ctx in
            let (chunks, end) = try await chunkedRun(ctx, text: chunkText, size: 4, binary: false)
            var bytes = Data()
            for f in chunks {
                let data = f.body?["data"]?.stringValue ?? ""
                if f.body?["encoding"]?.stringValue == "base64" {
                    guard let d = Data(base64Encoded: data) else { throw ctx.fail("data is not base64", evidence: [f]) }
                    bytes.append(d)
                } else {
                    bytes.append(Data(data.utf8))
                }
            }
            try ctx.check(bytes == Data(chunkText.utf8), "the chunks assemble to \(String(decoding: bytes, as: UTF8.self).debugDescription), not \(chunkText.debugDescription)", evidence: chunks)
            if let size = end.payload("result_size")?.int64Value {
                try ctx.check(size == Int64(bytes.count), "result_size \(size), but the result has \(bytes.count) bytes", evidence: [end])
            }
        },
        Scenario(
            "chunks.base64", section: "8.4", level: .should,
            title: "Binary results stream as base64",
            requirement: "encoding: utf8 SHOULD be used for text; base64 for binary.",
            features: ["result_chunk"], agents: ["chunked"]
        ) { ctx in
            let (chunks, _) = try await chunkedRun(ctx, text: "binary ✓ data", size: 3, binary: true)
            var bytes = Data()
            for f in chunks where !(f.body?["data"]?.stringValue ?? "").isEmpty {
                try ctx.check(f.body?["encoding"]?.stringValue == "base64", "a binary chunk with encoding \(f.body?["encoding"].map(\.description) ?? "none")", evidence: [f])
                bytes.append(Data(base64Encoded: f.body?["data"]?.stringValue ?? "") ?? Data())
            }
            try ctx.check(bytes == Data("binary ✓ data".utf8), "the base64 chunks do not decode to the input bytes", evidence: chunks)
        },
        Scenario(
            "chunks.utf8", section: "8.4", level: .should,
            title: "Text results stream as utf8",
            requirement: "encoding: utf8 SHOULD be used for text; base64 for binary.",
            features: ["result_chunk"], agents: ["chunked"]
        ) { ctx in
            let (chunks, _) = try await chunkedRun(ctx, text: chunkText, size: 6, binary: false)
            for f in chunks where !(f.body?["data"]?.stringValue ?? "").isEmpty {
                try ctx.check(f.body?["encoding"]?.stringValue == "utf8", "a text chunk with encoding \(f.body?["encoding"].map(\.description) ?? "none")", evidence: [f])
            }
        },
    ]
}
