import ARCPGenerated
import Foundation
import Testing

/// Every frame the Python reference runtime exchanged (../shared/reference/python-1.1.3/transcripts)
/// decodes, re-encodes to semantically equal JSON with unknown members kept, and gets the
/// validator verdict asserted here.
@Suite("Golden transcripts")
struct GoldenTranscriptTests {
    /// The deliberately bad frames and the exact (path, rule) violations each must produce.
    /// Keyed by transcript file prefix and record number `n`. Every other frame must be valid.
    static let expectedViolations: [String: Set<PathRule>] = [
        // 03: invalid agent name (spec §7.5 grammar).
        "03#7": [PathRule("/payload/agent", "format")],
        // 03: malformed budget amount (spec §9.6).
        "03#11": [PathRule("/payload/lease_request/cost.budget/0", "format")],
        // 03: unknown message type.
        "03#19": [PathRule("/type", "x-arcp-discriminator")],
        // 03: id that is not a ULID.
        "03#21": [PathRule("/id", "format")],
        // 03: wrong protocol version.
        "03#23": [PathRule("/arcp", "enum")],
        // 16: UUIDv4 id, then an uppercase UUIDv7 id.
        "16#3": [PathRule("/id", "format")],
        "16#5": [PathRule("/id", "format")],
        // 16: trace_id that is not 32 lowercase hex.
        "16#15": [PathRule("/trace_id", "format")],
        // 16: the raw line "this is not json".
        "16#23": [PathRule("", "json")],
    ]

    struct PathRule: Hashable, CustomStringConvertible {
        var path: String
        var rule: String
        init(_ path: String, _ rule: String) {
            self.path = path
            self.rule = rule
        }
        var description: String { "\(path.isEmpty ? "/" : path) [\(rule)]" }
    }

    static func key(_ f: Fixtures.Frame) -> String {
        "\(f.file.prefix(while: { $0 != "_" }))#\(f.n)"
    }

    static let frames: [Fixtures.Frame] = (try? Fixtures.transcriptFrames()) ?? []

    @Test("the transcripts are present and complete")
    func transcriptsPresent() throws {
        let frames = try Fixtures.transcriptFrames()
        let files = Set(frames.map(\.file))
        #expect(files.count == 19)
        #expect(frames.count == 298)
        // Every expected bad frame exists.
        let keys = Set(frames.map(Self.key))
        for k in Self.expectedViolations.keys { #expect(keys.contains(k), "missing transcript frame \(k)") }
    }

    @Test("every frame decodes and re-encodes to semantically equal JSON")
    func roundTrip() throws {
        let frames = try Fixtures.transcriptFrames()
        var decoded = 0
        for f in frames {
            guard let recorded = f.frame else {
                // Not JSON: decoding must fail with a syntax error at the top level.
                #expect(throws: WireDecodingError.self) { try Envelope(jsonText: f.raw) }
                do {
                    _ = try Envelope(jsonText: f.raw)
                } catch {
                    guard case .syntax = error.reason else {
                        Issue.record("\(f): expected a syntax error, got \(error)")
                        continue
                    }
                    #expect(error.pointer == "")
                }
                continue
            }
            let env: Envelope
            do {
                env = try Envelope(jsonText: f.raw)
            } catch {
                Issue.record("\(f) does not decode: \(error)")
                continue
            }
            decoded += 1
            // The raw text and the recorder's parse agree.
            let parsed = try JSONParser.parse(f.raw)
            #expect(parsed.semanticallyEquals(recorded), "\(f): parser disagrees with Python's json.loads")
            // Decoding the recorder's parse gives the same envelope.
            #expect(try Envelope(json: recorded) == env, "\(f)")
            // Re-encode.
            let out = env.toJSON()
            #expect(out.semanticallyEquals(recorded), "\(f): re-encoded \(out) differs from \(f.raw)")
            // The direct writer gives exactly the text of the JSONValue route.
            #expect(env.jsonText() == JSONWriter.string(out), "\(f)")
            #expect(env.jsonData() == JSONWriter.data(out))
            // And the text form parses back to the same envelope.
            #expect(try Envelope(jsonText: env.jsonText()) == env, "\(f)")
            // The discriminator picked the right case.
            #expect(env.message.type == recorded["type"]?.stringValue)
            if let t = recorded["type"]?.stringValue, Message.knownTypes.contains(t) {
                if case .unknown = env.message { Issue.record("\(f): known type \(t) decoded as .unknown") }
            }
        }
        #expect(decoded == 297)
    }

    @Test("unknown top-level and payload members are kept and written back")
    func unknownFieldsKept() throws {
        let frames = try Fixtures.transcriptFrames()
        // 16#13: a vendor member at the top level.
        let hint = try #require(frames.first { Self.key($0) == "16#13" })
        let env = try Envelope(jsonText: hint.raw)
        #expect(env.additionalFields["x-vendor.acme.hint"] == ["a": 1])
        #expect(env.toJSON()["x-vendor.acme.hint"] == ["a": 1])
        // 16#19: a vendor member inside a job.submit payload.
        let prio = try #require(frames.first { Self.key($0) == "16#19" })
        let submit = try Envelope(jsonText: prio.raw)
        guard case .jobSubmit(let p) = submit.message else {
            Issue.record("16#19 is not a job.submit")
            return
        }
        #expect(p.additionalFields["x-vendor.acme.priority"] == 5)
        #expect(submit.toJSON()["payload"]?["x-vendor.acme.priority"] == 5)
        // 03#19: an unknown type keeps its payload verbatim.
        let frob = try #require(frames.first { Self.key($0) == "03#19" })
        let unknown = try Envelope(jsonText: frob.raw)
        guard case .unknown(let type, let raw) = unknown.message else {
            Issue.record("job.frobnicate should decode as .unknown")
            return
        }
        #expect(type == "job.frobnicate")
        #expect(raw == .object(JSONObject()))
    }

    /// `value` with every object's members sorted by key and whole doubles written as
    /// integers, as compact text.
    static func canonical(_ value: JSONValue) -> String {
        func sort(_ v: JSONValue) -> JSONValue {
            switch v {
            case .double(let d) where d.rounded() == d && d.magnitude < 1e15: return .int(Int64(d))
            case .array(let a): return .array(a.map(sort))
            case .object(let o):
                return .object(JSONObject(o.members.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: sort($0.value)) }))
            default: return v
            }
        }
        return JSONWriter.string(sort(value))
    }

    @Test("Python's own compact frames re-encode to the same text, up to member order")
    func sameTextUpToOrder() throws {
        // Frames the Python runtime sent (s2c) are compact JSON. Our writer reproduces every
        // value's text exactly, except that members are written in schema order and a schema
        // `number` that is whole is written as an integer (Python's 42.0 comes back as 42; its
        // 2 stays 2, not 2.0). Members that were null are dropped on decode, so those frames
        // are left out.
        let frames = try Fixtures.transcriptFrames().filter { $0.direction == "s2c" && $0.frame != nil && !$0.raw.contains("null") }
        #expect(frames.count > 100)
        for f in frames {
            let env = try Envelope(jsonText: f.raw)
            #expect(Self.canonical(env.toJSON()) == Self.canonical(try JSONParser.parse(f.raw)), "\(f)")
        }
    }

    @Test("job.event progress frames (the benchmark's envelope) re-encode byte for byte")
    func progressByteIdentical() throws {
        let frames = try Fixtures.transcriptFrames().filter { $0.raw.contains("\"kind\":\"progress\"") }
        #expect(frames.count >= 10)
        for f in frames { #expect(try Envelope(jsonText: f.raw).jsonText() == f.raw, "\(f)") }
        let bench = try Fixtures.benchEventText()
        #expect(try Envelope(jsonText: bench).jsonText() == bench)
    }

    @Test("validator verdict on every frame")
    func validatorVerdicts() throws {
        let frames = try Fixtures.transcriptFrames()
        var bad = 0
        for f in frames {
            let violations = ARCPValidator.validate(frame: f.raw)
            let got = Set(violations.map { PathRule($0.path, $0.rule) })
            let expected = Self.expectedViolations[Self.key(f)] ?? []
            if !expected.isEmpty { bad += 1 }
            #expect(got == expected, "\(f): \(violations)")
            #expect(violations.count == expected.count, "\(f): \(violations)")
            // The Data entry point agrees with the String one.
            #expect(ARCPValidator.validate(frame: Data(f.raw.utf8)) == violations)
            // Every message is readable.
            for v in violations { #expect(!v.message.isEmpty) }
        }
        #expect(bad == Self.expectedViolations.count)
    }

    @Test("transcript 14's +00:00 timestamps are valid by design")
    func offsetTimestamps() throws {
        let frames = try Fixtures.transcriptFrames().filter { $0.file.hasPrefix("14_") && $0.raw.contains("+00:00") }
        #expect(!frames.isEmpty)
        for f in frames { #expect(ARCPValidator.validate(frame: f.raw).isEmpty, "\(f)") }
    }

    @Test("transcript 04's first frame is schema-valid: the error there is protocol state, not shape")
    func firstFrameNotHello() throws {
        let frames = try Fixtures.transcriptFrames().filter { $0.file.hasPrefix("04_") }
        #expect(frames.count == 2)
        for f in frames { #expect(ARCPValidator.validate(frame: f.raw).isEmpty, "\(f)") }
        let env = try Envelope(jsonText: try #require(frames.first).raw)
        #expect(env.message.type == "job.submit")
        #expect(env.sessionId == nil)
    }
}
