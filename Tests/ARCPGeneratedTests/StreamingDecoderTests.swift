import ARCPGenerated
import Foundation
import Testing

/// `Envelope.decodeValidated(frame:)` (single pass, generated) is exactly the two-pass path:
/// `ARCPValidator.validate(frame:)` for the violations, `try? Envelope(json: parse(frame))` for
/// the value, and the top-level string `id`. Checked here on golden frames, spec examples and
/// hand-made edge cases, and in MutationTests on every mutated frame.
@Suite("Single-pass decoder ≡ two-pass path")
struct StreamingDecoderTests {
    /// Records an issue when the single-pass result differs from the two-pass one.
    static func expectEquivalent(_ bytes: [UInt8], label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let data = Data(bytes)
        let fast = Envelope.decodeValidated(frame: data)
        let violations = ARCPValidator.validate(frame: data)
        let parsed = try? JSONParser.parse(bytes)
        let value = parsed.flatMap { try? Envelope(json: $0) }
        #expect(fast.violations == violations, "\(label): violations differ", sourceLocation: sourceLocation)
        #expect(fast.value == value, "\(label): values differ", sourceLocation: sourceLocation)
        #expect(fast.id == parsed?["id"]?.stringValue, "\(label): ids differ", sourceLocation: sourceLocation)
        // The String entry point agrees with the Data one (for UTF-8 text).
        if let text = String(validating: bytes, as: UTF8.self) {
            let viaString = Envelope.decodeValidated(frame: text)
            #expect(viaString.violations == fast.violations && viaString.value == fast.value, "\(label): String ≠ Data", sourceLocation: sourceLocation)
        }
        expectLenientAgrees(bytes, strict: fast, label: label, sourceLocation: sourceLocation)
    }

    /// The rules a lenient decode does not check (on the string members it reads directly).
    static let stringRules: Set<String> = ["format", "enum", "minLength", "maxLength"]

    /// `decodeLenient(frame:)` gives the strict decode's value and id, and its violations
    /// less some of those of `stringRules`, in the same order.
    static func expectLenientAgrees(
        _ bytes: [UInt8], strict: ValidatedFrame<Envelope>, label: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let lenient = bytes.withUnsafeBufferPointer { Envelope.decodeLenient(frame: $0) }
        #expect(lenient.value == strict.value, "\(label): the lenient value differs", sourceLocation: sourceLocation)
        #expect(lenient.id == strict.id, "\(label): the lenient id differs", sourceLocation: sourceLocation)
        var rest = lenient.violations[...]
        for v in strict.violations {
            if let first = rest.first, first == v {
                rest = rest.dropFirst()
            } else {
                #expect(stringRules.contains(v.rule), "\(label): the lenient decode dropped \(v)", sourceLocation: sourceLocation)
            }
        }
        #expect(rest.isEmpty, "\(label): the lenient decode reported what the strict one did not: \(Array(rest))", sourceLocation: sourceLocation)
    }

    @Test("the lenient decode skips the string rules, and only them")
    func lenientSkipsStringRules() throws {
        let frame = "{\"arcp\":\"1.1\",\"id\":\"not a ulid\",\"type\":\"job.event\",\"session_id\":\"s\",\"job_id\":\"j\",\"trace_id\":\"xyz\","
            + "\"event_seq\":1,\"payload\":{\"kind\":\"log\",\"ts\":\"yesterday\",\"body\":{\"level\":\"info\",\"message\":\"m\"}}}"
        let strict = Envelope.decodeValidated(frame: frame)
        let lenient = Envelope.decodeLenient(frame: frame)
        #expect(Set(strict.violations.map(\.rule)) == ["format"], "\(strict.violations)")
        #expect(strict.violations.count >= 3, "id, trace_id and ts: \(strict.violations)")
        #expect(lenient.violations.isEmpty, "\(lenient.violations)")
        #expect(lenient.value != nil && lenient.value == strict.value)
        #expect(lenient.id == "not a ulid")
        // A violation that changes the value is still reported, and still fails the decode.
        let broken = Envelope.decodeLenient(frame: frame.replacingOccurrences(of: "\"event_seq\":1", with: "\"event_seq\":\"one\""))
        #expect(broken.value == nil)
        #expect(broken.violations.map(\.rule).contains("type"), "\(broken.violations)")
    }

    static func expectEquivalent(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        expectEquivalent(Array(text.utf8), label: String(text.prefix(120)), sourceLocation: sourceLocation)
    }

    @Test("every golden frame")
    func goldenFrames() throws {
        let frames = try Fixtures.transcriptFrames()
        for f in frames { Self.expectEquivalent(Array(f.raw.utf8), label: "\(f)") }
        // And the verdicts are the useful ones.
        let ok = frames.filter { Envelope.decodeValidated(frame: $0.raw).isValid }
        #expect(ok.count == frames.count - GoldenTranscriptTests.expectedViolations.count)
    }

    @Test("every spec example that is an envelope")
    func specExamples() throws {
        let md = String(decoding: try Fixtures.read(Fixtures.specURL), as: UTF8.self)
        var n = 0
        for block in SpecExamples.blocks(in: md, from: "6.2.", until: "10.") {
            let value = try SpecExamples.normalize(block.text)
            Self.expectEquivalent(JSONWriter.string(value))
            if value["type"] != nil {
                n += 1
                #expect(Envelope.decodeValidated(frame: JSONWriter.string(value)).isValid, "\(block)")
            }
        }
        #expect(n == 13)
    }

    static let id = "\"id\":\"01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\""
    static let log = "{\"kind\":\"log\",\"ts\":\"2026-05-13T19:42:13Z\",\"body\":{\"level\":\"info\",\"message\":\"m\"}}"

    @Test("edge cases", arguments: [
        // Member order: payload before type, so the content cannot be streamed.
        "{\"payload\":\(log),\"type\":\"job.event\",\(id),\"job_id\":\"j\",\"event_seq\":1}",
        "{\"payload\":{\"nonce\":5},\"type\":\"session.ping\",\(id)}",
        // type repeated after the payload, with another value or a non-string.
        "{\(id),\"type\":\"session.ping\",\"payload\":{\"nonce\":\"n\"},\"type\":\"session.pong\"}",
        "{\(id),\"type\":\"session.ping\",\"payload\":{\"nonce\":\"n\"},\"type\":\"session.ping\"}",
        "{\(id),\"type\":\"session.ping\",\"payload\":{\"nonce\":\"n\"},\"type\":7}",
        "{\(id),\"type\":\"session.ping\",\"payload\":{\"nonce\":\"n\"},\"type\":\"job.frobnicate\"}",
        // payload repeated: streamed, then not an object, then streamed again.
        "{\(id),\"type\":\"session.ping\",\"payload\":{\"nonce\":1},\"payload\":[],\"payload\":{\"nonce\":\"ok\"}}",
        "{\(id),\"type\":\"session.ping\",\"payload\":{\"nonce\":\"ok\"},\"payload\":{\"nonce\":2}}",
        // Not objects where objects are expected.
        "{\(id),\"type\":\"session.ping\",\"payload\":null}",
        "{\(id),\"type\":\"job.event\",\"job_id\":\"j\",\"event_seq\":1,\"payload\":{\"kind\":\"log\",\"body\":\"text\"}}",
        "{\(id),\"type\":\"session.hello\",\"payload\":{\"auth\":null,\"client\":null,\"capabilities\":7}}",
        "[1,2]", "\"s\"", "null", "{}", "7",
        // Unknown type and vendor kind: kept.
        "{\(id),\"type\":\"x.thing\",\"payload\":{\"a\":[1,{\"b\":null}]}}",
        "{\(id),\"type\":\"job.event\",\"job_id\":\"j\",\"event_seq\":1,\"payload\":{\"kind\":\"x-vendor.acme.k\",\"body\":{\"z\":1}}}",
        "{\(id),\"type\":\"job.event\",\"job_id\":\"j\",\"event_seq\":1,\"payload\":{\"kind\":\"nope\",\"body\":{}}}",
        // Escaped and non-ASCII member names; unknown members everywhere.
        "{\"\\u0069d\":\"01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\",\"typ\\u0065\":\"session.ping\",\"payload\":{\"nonce\":\"n\",\"é\":1},\"x\":{}}",
        "{\(id),\"type\":\"session.ping\",\"payload\":{\"nonce\":\"n\"},\"id\":5}",
        "{\(id),\"type\":\"session.ping\",\"payload\":{\"nonce\":\"n\"},\"id\":\"second\"}",
        // Missing pieces.
        "{\"type\":\"session.ping\",\"payload\":{\"nonce\":\"n\"}}",
        "{\(id),\"payload\":{\"nonce\":\"n\"}}",
        "{\(id),\"type\":\"session.ping\"}",
        "{\(id),\"type\":\"job.event\",\"payload\":\(log)}",
        // Optional members null; optional objects null; nested required missing.
        "{\(id),\"type\":\"session.hello\",\"payload\":{\"auth\":{\"token\":\"t\"},\"client\":null,\"resume\":null,\"capabilities\":{\"features\":null}}}",
        "{\(id),\"type\":\"session.hello\",\"payload\":{\"auth\":{},\"resume\":{}}}",
        "{\(id),\"type\":\"session.jobs\",\"payload\":{\"jobs\":[{\"job_id\":\"j\",\"status\":\"weird\"},{\"status\":\"running\"},7]}}",
        // Whitespace everywhere.
        " \n{ \"id\" : \"01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\" , \"type\" : \"session.ping\" , \"payload\" : { \"nonce\" : \"n\" } } \t",
        // Syntax errors at every kind of place (same offset as the parser's).
        "{\(id),\"type\":\"session.ping\",\"payload\":{\"nonce\":\"n\"}", "{\(id),\"type\":\"session.ping\",\"payload\":{\"nonce\":\"n\",}}",
        "{\(id) \"type\":1}", "{\(id),\"type\":\"session.ping\",\"payload\":{\"nonce\":nul}}", "{\(id)}x", "", "{",
        "{\(id),\"type\":\"session.ping\",\"payload\":{\"nonce\":\"n\"},\"payload\":{\"nonce\":1e400}}",
        "{\"a\":" + String(repeating: "{\"a\":", count: 300) + "1" + String(repeating: "}", count: 301),
        "{\(id),\"type\":\"session.ping\",\"payload\":" + String(repeating: "[", count: 255) + String(repeating: "]", count: 255) + "}",
        "{\(id),\"type\":\"session.ping\",\"payload\":" + String(repeating: "[", count: 256) + String(repeating: "]", count: 256) + "}",
    ])
    func edgeCases(_ text: String) {
        Self.expectEquivalent(text)
    }

    @Test("the benchmark envelope decodes valid, with its id")
    func benchEnvelope() throws {
        let text = try Fixtures.benchEventText()
        let r = Envelope.decodeValidated(frame: text)
        #expect(r.isValid)
        #expect(r.id == "01M8876FA37T04XS2T8DPA1E4T")
        guard case .jobEvent(let p)? = r.value?.message, case .progress(let body) = p.body else {
            Issue.record("not a progress event: \(String(describing: r.value))")
            return
        }
        #expect(body.current == 0 && body.total == 4 && body.units == "steps")
        #expect(r.value?.jsonText() == text)
    }

    @Test("an invalid frame still gives its id, for the error reply")
    func idOfInvalidFrame() {
        let r = Envelope.decodeValidated(frame: "{\"id\":\"not-a-ulid\",\"type\":\"session.ping\",\"payload\":{}}")
        #expect(r.id == "not-a-ulid")
        #expect(!r.isValid)
        #expect(Set(r.violations.map(\.path)) == ["/id", "/payload/nonce"])
        #expect(Envelope.decodeValidated(frame: "not json").id == nil)
    }
}
