import ARCPGenerated

/// §4–§5: the envelope and its encoding.
extension ScenarioCatalog {
    static let wire: [Scenario] = [
        Scenario(
            "wire.envelope", section: "5", level: .must,
            title: "Every frame the runtime sends is one envelope: arcp \"1.1\", id, type, payload",
            requirement: "The wire format is a JSON object envelope with arcp, id, type, session_id, trace_id, job_id, event_seq, and payload fields (02 §5.1: arcp, id, type, payload REQUIRED).",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            _ = try await a.run("echo", input: ["hi": 1])
            try await a.barrier()
            for f in a.connection.received {
                try ctx.check(f.json?.objectValue != nil, "a frame that is not a JSON object", evidence: [f])
                try ctx.check(f["arcp"]?.stringValue == Envelope.version, "arcp is \(f["arcp"].map(\.description) ?? "missing"), not \"1.1\"", evidence: [f])
                try ctx.check(!(f.id ?? "").isEmpty, "a frame without a string id", evidence: [f])
                try ctx.check(f.type != nil, "a frame without a string type", evidence: [f])
                try ctx.check(Checks.isObject(f.payload), "a frame whose payload is not an object", evidence: [f])
            }
        },
        Scenario(
            "wire.schema", section: "5", level: .must,
            title: "Every frame the runtime sends validates against the ARCP schema",
            requirement: "Envelope and payload shapes of §5–§12 (schema/arcp.schema.json, which accepts the forms real peers send).",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            _ = try await a.run("echo", input: ["x": [1, 2, 3]])
            if ctx.profile.agents["fails"] != nil { _ = try await a.run("fails", input: ["message": "boom"]) }
            if ctx.profile.agents["kitchen"] != nil { _ = try await a.run("kitchen", lease: ["agent.delegate": ["echo"]]) }
            if ctx.profile.agents["chunked"] != nil { _ = try await a.run("chunked", input: ["text": "schema check", "chunk_size": 4]) }
            if ctx.profile.agents["progress"] != nil { _ = try await a.run("progress", input: ["steps": 2, "delay": 0]) }
            if a.features.contains("list_jobs") {
                let list = try await a.send("session.list_jobs", ["limit": 5])
                _ = try await a.reply(to: list, ["session.jobs"])
            }
            try await a.barrier()
            for f in a.connection.received {
                let violations = ARCPValidator.validate(frame: f.text)
                try ctx.check(violations.isEmpty, "\(f.type ?? "frame") violates the schema: \(violations.prefix(3).map(\.description).joined(separator: "; "))", evidence: [f])
            }
        },
        Scenario(
            "wire.session-id", section: "5.1", draft: .v1_0, level: .must,
            title: "Every frame after the welcome carries the session's session_id",
            requirement: "session_id (string, REQUIRED after welcome): Identifies the session.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            try ctx.check(!a.id.isEmpty, "the welcome names no session_id", evidence: [a.welcome])
            _ = try await a.run("echo")
            try await a.barrier()
            for f in a.connection.received.dropFirst() {
                try ctx.check(f["session_id"]?.stringValue == a.id, "\(f.type ?? "frame") carries session_id \(f["session_id"].map(\.description) ?? "none"), not \(a.id)", evidence: [a.welcome, f])
            }
        },
        Scenario(
            "wire.job-frames", section: "5.1", draft: .v1_0, level: .must,
            title: "job.event, job.result and job.error carry job_id and an integer event_seq",
            requirement: "job_id (REQUIRED when applicable); event_seq (integer, REQUIRED on job.event, job.result, job.error).",
            agents: ["echo", "fails"]
        ) { ctx in
            let a = try await ctx.session()
            _ = try await a.run("echo")
            _ = try await a.run("fails")
            for f in a.sequenced {
                try ctx.check(f["job_id"]?.stringValue != nil, "\(f.type!) without an envelope job_id", evidence: [f])
                try ctx.check(f.eventSeq != nil, "\(f.type!) without an integer event_seq", evidence: [f])
            }
        },
        Scenario(
            "wire.message-ids", section: "5.1", draft: .v1_0, level: .should,
            title: "Message ids are ULIDs or UUIDv7 and unique within the session",
            requirement: "id (string, REQUIRED): Per-message unique identifier. SHOULD be a ULID or UUIDv7.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            _ = try await a.run("echo")
            _ = try await a.run("echo")
            try await a.barrier()
            var seen: [String: WireFrame] = [:]
            for f in a.connection.received {
                guard let id = f.id else { continue }
                try ctx.check(ARCPFormat.isMessageID(id), "id \(id) is not a ULID, a lowercase UUIDv7 or prefix_ULID", evidence: [f])
                if let earlier = seen[id] { throw ctx.fail("two frames share the id \(id)", evidence: [earlier, f]) }
                seen[id] = f
            }
        },
        Scenario(
            "wire.unknown-envelope-field", section: "5", level: .must,
            title: "Unknown top-level envelope fields are ignored",
            requirement: "Implementations MUST ignore unknown top-level envelope fields, ensuring forward compatibility as the protocol evolves.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.send(
                "job.submit", Session.submitPayload("echo", input: ["n": 1]),
                extra: ["x-vendor.acme.hint": ["a": 1], "future_field": "ignored"])
            let job = try await a.accepted(sent)
            let end = try await a.terminal(job.id)
            try ctx.check(end.finalStatus == "success", "the job did not succeed", evidence: [end])
        },
        Scenario(
            "wire.unknown-payload-field", section: "5", level: .should,
            title: "Unknown payload fields (x-vendor.*) are ignored",
            requirement: "Forward compatibility (§5); 02 §15: additions use the x-vendor prefix.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let sent = try await a.send(
                "job.submit", Session.submitPayload("echo", input: ["n": 2], extra: ["x-vendor.acme.priority": 5]))
            let job = try await a.accepted(sent)
            let end = try await a.terminal(job.id)
            try ctx.check(end.finalStatus == "success", "the job did not succeed", evidence: [end])
        },
        Scenario(
            "wire.utf8", section: "5.2", draft: .v1_0, level: .must,
            title: "Non-ASCII and escaped text round-trips unchanged",
            requirement: "JSON [RFC8259] is the only encoding. String fields MUST be UTF-8.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let input: JSONValue = ["s": "héllo ✓ 🚀 \"quoted\" back\\slash\nline\ttab \u{1} end", "k✓": ["ü", "日本"]]
            let (_, end) = try await a.run("echo", input: input)
            let echoed = end.payload("result")?["echoed"]
            try ctx.check(echoed?.semanticallyEquals(input) == true, "the echoed input differs: \(echoed.map(\.description) ?? "none")", evidence: [end])
        },
        Scenario(
            "wire.int64", section: "5.2", draft: .v1_0, level: .must,
            title: "64-bit integers round-trip exactly",
            requirement: "Integer fields MUST fit in a signed 64-bit integer.",
            agents: ["echo"]
        ) { ctx in
            let a = try await ctx.session()
            let input: JSONValue = ["big": .int(9_007_199_254_740_993), "max": .int(Int64.max), "min": .int(Int64.min)]
            let (_, end) = try await a.run("echo", input: input)
            let echoed = end.payload("result")?["echoed"]
            for key in ["big", "max", "min"] {
                try ctx.check(echoed?[key]?.int64Value == input[key]?.int64Value, "\(key) came back as \(echoed?[key].map(\.description) ?? "nothing")", evidence: [end])
            }
        },
    ]
}
