import ARCPGenerated
import Foundation
import Testing

/// Every ```json example of draft-arcp-1.1 §6.2 to §9.8 decodes and validates.
///
/// The examples are read from ../shared/spec/draft-arcp-1.1.md at test time and normalized by
/// `SpecExamples.normalize` (comments stripped, `{ ... }`/`...` → `{}`, `31_457_280` →
/// `31457280`, bare members wrapped in braces, elided ids/trace ids padded, a missing envelope
/// `id` filled). The table below says what each one is validated as; a spec edit that adds,
/// removes or reorders examples fails `tableMatchesSpec` until the table is updated.
@Suite("Spec examples §6.2–§9.8")
struct SpecExampleTests {
    /// What an example is: the schema definition it is validated against, and a check that it
    /// is the example we think it is.
    enum Kind: Sendable, CustomStringConvertible {
        /// A whole envelope with this `type`.
        case envelope(String)
        /// A `job.event` payload (`{kind, ts?, body}`) with this `kind`.
        case eventPayload(String)
        /// A bare `"lease_constraints": {…}` member: its value is validated as LeaseConstraints.
        case leaseConstraintsMember
        /// A bare lease member (`"cost.budget": […]`): the wrapped object is validated as Lease.
        case leaseFragment(String)
        /// A provisioned credential object (§9.8.1).
        case credential

        var definition: SchemaDefinition {
            switch self {
            case .envelope: return .envelope
            case .eventPayload: return .jobEventPayload
            case .leaseConstraintsMember: return .leaseConstraints
            case .leaseFragment: return .lease
            case .credential: return .credential
            }
        }

        var description: String {
            switch self {
            case .envelope(let t): return "Envelope (\(t))"
            case .eventPayload(let k): return "JobEventPayload (\(k))"
            case .leaseConstraintsMember: return "LeaseConstraints"
            case .leaseFragment(let ns): return "Lease (\(ns))"
            case .credential: return "Credential"
            }
        }
    }

    /// One row: section, index within the section, and what the example is validated as.
    struct Entry: Sendable, CustomTestStringConvertible {
        var section: String
        var index: Int
        var kind: Kind
        init(_ section: String, _ index: Int, _ kind: Kind) {
            self.section = section
            self.index = index
            self.kind = kind
        }
        var testDescription: String { "§\(section) #\(index) as \(kind)" }
    }

    static let table: [Entry] = [
        Entry("6.2", 1, .envelope("session.hello")),
        Entry("6.2", 2, .envelope("session.welcome")),
        Entry("6.4", 1, .envelope("session.ping")),
        Entry("6.4", 2, .envelope("session.pong")),
        Entry("6.5", 1, .envelope("session.ack")),
        Entry("6.6", 1, .envelope("session.list_jobs")),
        Entry("6.6", 2, .envelope("session.jobs")),
        Entry("7.1", 1, .envelope("job.submit")),
        Entry("7.1", 2, .envelope("job.accepted")),
        Entry("7.6", 1, .envelope("job.subscribe")),
        Entry("7.6", 2, .envelope("job.subscribed")),
        Entry("7.6", 3, .envelope("job.unsubscribe")),
        Entry("8.2.1", 1, .eventPayload("progress")),
        Entry("8.4", 1, .eventPayload("result_chunk")),
        Entry("8.4", 2, .envelope("job.result")),
        Entry("9.5", 1, .leaseConstraintsMember),
        Entry("9.6", 1, .leaseFragment("cost.budget")),
        Entry("9.6", 2, .eventPayload("metric")),
        Entry("9.6", 3, .eventPayload("metric")),
        Entry("9.7", 1, .leaseFragment("model.use")),
        Entry("9.8.1", 1, .credential),
    ]

    static func loadBlocks() throws -> [SpecExamples.Block] {
        let md = String(decoding: try Fixtures.read(Fixtures.specURL), as: UTF8.self)
        return SpecExamples.blocks(in: md, from: "6.2.", until: "10.")
    }

    @Test("the table lists exactly the spec's examples")
    func tableMatchesSpec() throws {
        let blocks = try Self.loadBlocks()
        #expect(blocks.map { "\($0.section)#\($0.index)" } == Self.table.map { "\($0.section)#\($0.index)" })
    }

    /// Decodes `value` as the typed model for `kind` and returns its re-encoding.
    static func decodeAndEncode(_ value: JSONValue, as kind: Kind) throws -> JSONValue {
        switch kind {
        case .envelope(let type):
            let env = try Envelope(json: value)
            if env.message.type != type { throw SpecExamples.NormalizeError(description: "type \(env.message.type), expected \(type)") }
            if case .unknown = env.message { throw SpecExamples.NormalizeError(description: "\(type) decoded as unknown") }
            return env.toJSON()
        case .eventPayload(let kind):
            let p = try JobEventPayload(json: value)
            if p.body.kind != kind { throw SpecExamples.NormalizeError(description: "kind \(p.body.kind), expected \(kind)") }
            if case .vendor = p.body { throw SpecExamples.NormalizeError(description: "\(kind) decoded as vendor") }
            return p.toJSON()
        case .leaseConstraintsMember:
            guard let member = value["lease_constraints"] else { throw SpecExamples.NormalizeError(description: "no lease_constraints") }
            return try LeaseConstraints(json: member).toJSON()
        case .leaseFragment(let ns):
            let lease = try Lease(json: value)
            if lease[ns] == nil { throw SpecExamples.NormalizeError(description: "no \(ns) in lease") }
            return lease.toJSON()
        case .credential:
            return try Credential(json: value).toJSON()
        }
    }

    static func subject(_ value: JSONValue, _ kind: Kind) -> JSONValue {
        if case .leaseConstraintsMember = kind { return value["lease_constraints"] ?? .null }
        return value
    }

    @Test("each example decodes, re-encodes equal, and validates", arguments: table)
    func example(_ entry: Entry) throws {
        let blocks = try Self.loadBlocks()
        let block = try #require(blocks.first { $0.section == entry.section && $0.index == entry.index })
        let kind = entry.kind
        let value = try SpecExamples.normalize(block.text)
        let subject = Self.subject(value, kind)
        let reencoded = try Self.decodeAndEncode(value, as: kind)
        #expect(reencoded.semanticallyEquals(subject), "\(block) as \(kind): re-encoded \(reencoded)")
        let violations = ARCPValidator.validate(subject, as: kind.definition)
        #expect(violations.isEmpty, "\(block) as \(kind): \(violations)\n\(block.text)")
    }

    // MARK: - The normalizer itself

    @Test("normalizer: comments, ellipses, digit separators, bare members")
    func normalizer() throws {
        #expect(SpecExamples.normalizeText(#"{"a": { /* effective */ }}"#) == #"{"a": {  }}"#)
        #expect(SpecExamples.normalizeText(#"{"input": { ... }, "x": 1}"#) == #"{"input": {}, "x": 1}"#)
        #expect(SpecExamples.normalizeText(#"{"lease": ...}"#) == #"{"lease": {}}"#)
        #expect(SpecExamples.normalizeText(#"{"n": 31_457_280}"#) == #"{"n": 31457280}"#)
        #expect(SpecExamples.normalizeText(#""cost.budget": ["USD:5.00"]"#) == "{\n\"cost.budget\": [\"USD:5.00\"]\n}")
        // Strings are untouched.
        #expect(SpecExamples.normalizeText(#"{"s": "a_1 ... /* x */ { ... }"}"#) == #"{"s": "a_1 ... /* x */ { ... }"}"#)
        let env = try SpecExamples.normalize(#"{"type": "session.ping", "trace_id": "4bf92f...", "payload": {"nonce": "p_01J..."}}"#)
        #expect(env["id"] == .string(SpecExamples.fillerID))
        #expect(env["trace_id"] == "4bf92f00000000000000000000000000")
        #expect(env["payload"]?["nonce"] == "p_01J...")
        let withID = try SpecExamples.normalize(#"{"type": "x", "id": "01J...", "payload": {}}"#)
        #expect(withID["id"] == "01J00000000000000000000000")
        #expect(ARCPFormat.isMessageID("01J00000000000000000000000"))
    }

    @Test("a broken example is caught: the validator is not vacuous")
    func brokenExampleFails() throws {
        let blocks = try Self.loadBlocks()
        let hello = try SpecExamples.normalize(try #require(blocks.first).text)
        guard case .object(var o) = hello, case .object(var payload)? = o["payload"] else {
            Issue.record("hello is not an object")
            return
        }
        payload["auth"] = nil
        o["payload"] = .object(payload)
        o["id"] = "not an id"
        let v = ARCPValidator.validate(.object(o))
        #expect(Set(v.map { "\($0.path) \($0.rule)" }) == ["/id format", "/payload/auth required"])
    }
}
