import ARCPGenerated
import Foundation
import Testing

/// No hand-written list of types, kinds or codes: the generated cases must equal the schema's
/// lists, read from schema/arcp.schema.json at test time.
@Suite("Generated lists equal the schema")
struct SchemaListTests {
    static func def(_ name: String) throws -> JSONValue {
        try #require(try Fixtures.schema()["$defs"]?[name], "no $defs/\(name)")
    }

    /// The `if.properties.<property>.const` values of a definition's `allOf`, in order.
    static func discriminatorConsts(_ name: String, property: String) throws -> [String] {
        let rules = try #require(try def(name)["allOf"]?.arrayValue)
        return rules.compactMap { $0["if"]?["properties"]?[property]?["const"]?.stringValue }
    }

    static func enumValues(_ name: String) throws -> [String] {
        let d = try def(name)
        let list = try #require(d["x-arcp-enum"]?.arrayValue ?? d["enum"]?.arrayValue)
        return list.compactMap(\.stringValue)
    }

    @Test("Message.knownTypes == the envelope's type consts")
    func messageTypes() throws {
        let consts = try Self.discriminatorConsts("Envelope", property: "type")
        #expect(consts.count == 22)
        #expect(Message.knownTypes == consts)
        // Each known type decodes to its own case, not .unknown.
        for t in consts {
            if case .unknown = try Message(type: t, payload: Self.minimalPayload(for: t)) {
                Issue.record("\(t) decodes as .unknown")
            }
        }
        #expect(Set(consts).count == consts.count)
    }

    @Test("EventBody.knownKinds == the job.event kind consts")
    func eventKinds() throws {
        let consts = try Self.discriminatorConsts("JobEventPayload", property: "kind")
        #expect(consts == ["log", "thought", "tool_call", "tool_result", "status", "metric", "artifact_ref", "delegate", "progress", "result_chunk"])
        #expect(EventBody.knownKinds == consts)
    }

    @Test("string enums == the schema's enums")
    func stringEnums() throws {
        let codes = try Self.enumValues("ErrorCode")
        #expect(codes.count == 15)
        #expect(ErrorCode.allKnown.map(\.rawValue) == codes)
        let features = try Self.enumValues("Feature")
        #expect(features.count == 11)
        #expect(Feature.allKnown.map(\.rawValue) == features)
        #expect(JobStatus.allKnown.map(\.rawValue) == (try Self.enumValues("JobStatus")))
        #expect(FinalStatus.allKnown.map(\.rawValue) == (try Self.enumValues("FinalStatus")))
        #expect(ChunkEncoding.allKnown.map(\.rawValue) == (try Self.enumValues("ChunkEncoding")))
        // Open (x-arcp-enum) vs closed (enum).
        #expect(ErrorCode.isOpen && Feature.isOpen)
        #expect(!JobStatus.isOpen && !FinalStatus.isOpen && !ChunkEncoding.isOpen)
        // Round trip through the raw value, and the unknown fallback.
        for c in ErrorCode.allKnown { #expect(ErrorCode(rawValue: c.rawValue) == c) }
        #expect(ErrorCode(rawValue: "X_VENDOR_THING") == .unknown("X_VENDOR_THING"))
        #expect(Feature(rawValue: "cost.budget") == .costBudget)
        #expect(ErrorCode(rawValue: "PERMISSION_DENIED") == .permissionDenied)
    }

    @Test("SchemaDefinition covers every $defs entry, in order")
    func definitions() throws {
        let names = try #require(try Fixtures.schema()["$defs"]?.objectValue).keys
        #expect(SchemaDefinition.allCases.map(\.rawValue) == names)
        #expect(ARCPSchemaInfo.definitionNames == names)
        #expect(ARCPSchemaInfo.title == (try Fixtures.schema()["title"]?.stringValue))
    }

    /// The smallest payload the schema accepts for a message type (its required members).
    static func minimalPayload(for type: String) throws -> JSONValue {
        let rules = try #require(try def("Envelope")["allOf"]?.arrayValue)
        let rule = try #require(rules.first { $0["if"]?["properties"]?["type"]?["const"]?.stringValue == type })
        let ref = try #require(rule["then"]?["properties"]?["payload"]?["$ref"]?.stringValue)
        return try Self.minimalValue(ref: ref)
    }

    static func minimalValue(ref: String) throws -> JSONValue {
        let name = String(ref.dropFirst("#/$defs/".count))
        return try minimalValue(try def(name))
    }

    static func minimalValue(_ s: JSONValue) throws -> JSONValue {
        if let r = s["$ref"]?.stringValue { return try minimalValue(ref: r) }
        if let d = s["x-arcp-discriminator"], let p = d["property"]?.stringValue, let c = d["content"]?.stringValue,
           let first = s["allOf"]?.arrayValue?.first, let value = first["if"]?["properties"]?[p]?["const"],
           let ref = first["then"]?["properties"]?[c]?["$ref"]?.stringValue
        {
            // A discriminated object: its first mapping.
            guard case .object(var o) = try minimalValue(s.objectValue.map { var x = $0; x["x-arcp-discriminator"] = nil; return .object(x) } ?? s) else {
                return s
            }
            o[p] = value
            o[c] = try minimalValue(ref: ref)
            return .object(o)
        }
        if let values = s["x-arcp-enum"]?.arrayValue ?? s["enum"]?.arrayValue, let first = values.first { return first }
        if let first = s["oneOf"]?.arrayValue?.first { return try minimalValue(first) }
        switch s["type"]?.stringValue {
        case "object"?:
            var o = JSONObject()
            for r in s["required"]?.arrayValue ?? [] {
                guard let k = r.stringValue, let p = s["properties"]?[k] else { continue }
                o.append(k, try minimalValue(p))
            }
            return .object(o)
        case "string"?:
            switch s["x-arcp-format"]?.stringValue {
            case "message-id"?: return "01J9Z6ZK3M8Q4P2V7W1X5Y0A2B"
            case "trace-id"?: return "4bf92f3577b34da6a3ce929d0e0e4736"
            case "timestamp"?, "utc-timestamp"?: return "2026-05-13T19:42:13Z"
            case "agent-ref"?: return "echo"
            case "amount"?: return "USD:1.00"
            default: return "x"
            }
        case "integer"?, "number"?: return 1
        case "boolean"?: return true
        case "array"?: return []
        default: return .object(JSONObject())
        }
    }

    @Test("the minimal payload of every message type validates (schema-driven construction)")
    func minimalPayloadsValidate() throws {
        for t in Message.knownTypes {
            var env: JSONObject = ["id": "01J9Z6ZK3M8Q4P2V7W1X5Y0A2B", "type": .string(t), "payload": try Self.minimalPayload(for: t)]
            // Sibling members some types require (job_id, event_seq, session_id).
            env.append("session_id", "sess_1")
            env.append("job_id", "job_1")
            env.append("event_seq", 1)
            let v = ARCPValidator.validate(.object(env))
            #expect(v.isEmpty, "\(t): \(v)")
            #expect(throws: Never.self) { try Envelope(json: .object(env)) }
        }
    }
}

/// The hand-written grammar checkers (`ARCPFormat`) agree with the schema's `pattern`s.
@Suite("ARCPFormat agrees with the schema patterns")
struct FormatPatternTests {
    /// Definition name → format, as the schema pairs them.
    static func formats() throws -> [(name: String, format: String, pattern: String)] {
        let defs = try #require(try Fixtures.schema()["$defs"]?.objectValue)
        return defs.members.compactMap { m in
            guard let f = m.value["x-arcp-format"]?.stringValue, let p = m.value["pattern"]?.stringValue else { return nil }
            return (m.key, f, p)
        }
    }

    /// ECMA-262 semantics for an anchored pattern: the match must span the whole string (ICU's
    /// `$` also matches before a final newline, ECMA's does not).
    static func matches(_ regex: NSRegularExpression, _ s: String) -> Bool {
        let whole = NSRange(s.startIndex..., in: s)
        guard let m = regex.firstMatch(in: s, range: whole) else { return false }
        return m.range == whole
    }

    /// Hand-picked samples per format: valid, near misses, and edge cases.
    static let seeds: [String: [String]] = [
        "message-id": [
            "01J9Z6ZK3M8Q4P2V7W1X5Y0A2B", "01m8876fa37t04xs2t8dpa1e4t", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
            "01J9Z6ZK3M8Q4P2V7W1X5Y0A2", "01J9Z6ZK3M8Q4P2V7W1X5Y0A2BB", "01J9Z6ZK3M8Q4P2V7W1X5Y0A2I", "01J9Z6ZK3M8Q4P2V7W1X5Y0A2L",
            "01J9Z6ZK3M8Q4P2V7W1X5Y0A2O", "01J9Z6ZK3M8Q4P2V7W1X5Y0A2U", "01J9Z6ZK3M8Q4P2V7W1X5Y0A2u",
            "msg_01J9Z6ZK3M8Q4P2V7W1X5Y0A2B", "sess_01M8876FA2A1PZ92A91GXG3KN7", "a1_01J9Z6ZK3M8Q4P2V7W1X5Y0A2B",
            "1a_01J9Z6ZK3M8Q4P2V7W1X5Y0A2B", "_01J9Z6ZK3M8Q4P2V7W1X5Y0A2B", "Msg_01J9Z6ZK3M8Q4P2V7W1X5Y0A2B",
            "msg__01J9Z6ZK3M8Q4P2V7W1X5Y0A2B", "msg_x_01J9Z6ZK3M8Q4P2V7W1X5Y0A2B", "msg-01J9Z6ZK3M8Q4P2V7W1X5Y0A2B",
            "0190f3c4-8b2a-7cde-8f00-0123456789ab", "0190F3C4-8B2A-7CDE-8F00-0123456789AB", "c40f83cd-5d9d-49ba-8a24-ea90c5590a5d",
            "0190f3c4-8b2a-7cde-cf00-0123456789ab", "0190f3c4-8b2a-7cde-9f00-0123456789ab", "0190f3c4-8b2a-7cde-af00-0123456789ab",
            "0190f3c4-8b2a-7cde-bf00-0123456789ab", "0190f3c4x8b2a-7cde-8f00-0123456789ab", "0190f3c4-8b2a-7cde-8f00-0123456789a",
            "not-a-ulid", "", "_", "a_", "01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\n", " 01J9Z6ZK3M8Q4P2V7W1X5Y0A2B", "é1J9Z6ZK3M8Q4P2V7W1X5Y0A2B",
        ],
        "trace-id": [
            "4bf92f3577b34da6a3ce929d0e0e4736", "00000000000000000000000000000000", "00000000000000000000000000000001",
            "4BF92F3577B34DA6A3CE929D0E0E4736", "4bf92f3577b34da6a3ce929d0e0e473", "4bf92f3577b34da6a3ce929d0e0e47366",
            "ABCDEF", "", "4bf92f3577b34da6a3ce929d0e0e473g", "4bf92f3577b34da6a3ce929d0e0e473\n",
        ],
        "timestamp": [
            "2026-05-13T19:42:13Z", "2026-05-13T19:42:13.842123Z", "2026-05-13T19:42:13.Z", "2026-05-13T19:42:13+00:00",
            "2026-05-13T19:42:13.5-07:30", "2026-05-13T19:42:13", "2026-05-13 19:42:13Z", "2026-05-13t19:42:13Z",
            "2026-05-13T19:42:13z", "2026-13-13T19:42:13Z", "2026-00-13T19:42:13Z", "2026-05-32T19:42:13Z", "2026-05-00T19:42:13Z",
            "2026-05-13T24:00:00Z", "2026-05-13T23:60:00Z", "2026-05-13T23:59:60Z", "2026-05-13T23:59:61Z",
            "2026-05-13T19:42:13+24:00", "2026-05-13T19:42:13+23:60", "2026-05-13T19:42:13+0000", "26-05-13T19:42:13Z",
            "2026-05-13T19:42:13ZZ", "2026-05-13T19:42:13.123456789Z", "2026-5-13T19:42:13Z", "",
        ],
        "agent-ref": [
            "echo", "code-refactor@2.0.0", "versioned@1.0.0+build.5", "a", "0", "1bad name", "Echo", "-echo", ".echo", "echo@",
            "echo@@1", "echo@1@2", "echo@V1_beta-2", "echo@1 ", "a.b_c-d", "", "@1", "e\u{301}cho", "echo/1",
        ],
        "amount": [
            "USD:5.00", "credits:1000", "USD:5.", "USD:.5", "USD:5", "USD:", ":5", "1USD:5", "U_S-D:5", "USD:5.00.1", "USD 5",
            "USD:-5", "USD:5e3", "dollars", "", "USD:05", "x:0.0",
        ],
    ]

    static let alphabet: [String: [Character]] = [
        "message-id": Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefxyz_-7"),
        "trace-id": Array("0123456789abcdefABCDEFg"),
        "timestamp": Array("0123456789-:T.Z+tz "),
        "agent-ref": Array("abcz09._-@A+ /"),
        "amount": Array("USDx09:.-_ "),
    ]

    @Test("checkers == NSRegularExpression on hand-picked and randomly mutated samples")
    func agree() throws {
        let formats = try Self.formats()
        #expect(Set(formats.map(\.format)) == ["message-id", "trace-id", "timestamp", "utc-timestamp", "agent-ref", "amount"])
        var rng = SeededRandom(seed: 0xA11CE)
        var checked = 0
        for (name, format, pattern) in formats {
            let regex = try NSRegularExpression(pattern: pattern)
            let base = format == "utc-timestamp" ? "timestamp" : format
            var samples = try #require(Self.seeds[base])
            let alphabet = try #require(Self.alphabet[base])
            // Random single and double edits of the seeds.
            for _ in 0..<3000 {
                var chars = Array(rng.pick(samples.prefix(12).map { $0 }))
                for _ in 0...rng.below(2) {
                    switch rng.below(3) {
                    case 0 where !chars.isEmpty: chars[rng.below(chars.count)] = rng.pick(alphabet)
                    case 1 where !chars.isEmpty: chars.remove(at: rng.below(chars.count))
                    default: chars.insert(rng.pick(alphabet), at: rng.below(chars.count + 1))
                    }
                }
                samples.append(String(chars))
            }
            var valid = 0
            for s in samples {
                let byRegex = Self.matches(regex, s)
                #expect(ARCPFormat.check(format, s) == byRegex, "\(name) (\(format)): \"\(s.debugDescription)\" regex says \(byRegex)")
                if byRegex { valid += 1 }
                checked += 1
            }
            // The sample set exercises both verdicts.
            #expect(valid > 10 && valid < samples.count - 10, "\(name): \(valid) of \(samples.count) valid")
        }
        #expect(checked > 15_000)
    }

    @Test("lease namespaces: isNamespace == Lease.propertyNames.pattern")
    func namespaces() throws {
        let pattern = try #require(try Fixtures.schema()["$defs"]?["Lease"]?["propertyNames"]?["pattern"]?.stringValue)
        let regex = try NSRegularExpression(pattern: pattern)
        var samples = ["fs.read", "fs.write", "cost.budget", "model.use", "tool.call", "x-acme.thing", "bogus.cap", "a", "a.b.c", "a..b",
                       ".a", "a.", "A.b", "a.B", "a1.b_2-c", "1a", "a.1b", "", "fs read", "fs/read", "fs.read*"]
        var rng = SeededRandom(seed: 7)
        let alphabet = Array("abz019._-A ")
        for _ in 0..<2000 {
            var chars = Array(rng.pick(samples.prefix(10).map { $0 }))
            if !chars.isEmpty, rng.chance(2) { chars[rng.below(chars.count)] = rng.pick(alphabet) } else { chars.insert(rng.pick(alphabet), at: rng.below(chars.count + 1)) }
            samples.append(String(chars))
        }
        for s in samples {
            #expect(ARCPFormat.isNamespace(s) == Self.matches(regex, s), "\"\(s)\"")
        }
    }
}
