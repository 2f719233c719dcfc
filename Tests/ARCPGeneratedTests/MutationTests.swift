import ARCPGenerated
import Foundation
import Testing

/// Thousands of deterministic random mutations of real frames never crash the parser, the
/// decoder or the validator: decoding either succeeds or throws a `WireDecodingError` whose
/// JSON Pointer names a place in the document, and the validator agrees with the decoder.
@Suite("Mutation fuzzing")
struct MutationTests {
    static let seed: UInt64 = 0xA2C9_5EED_0001
    static let iterations = 6_000

    // MARK: - Value-level helpers

    enum Step: Hashable {
        case key(String)
        case index(Int)
    }

    /// Every value's path (the root is `[]`).
    static func paths(_ v: JSONValue, prefix: [Step] = [], into out: inout [[Step]]) {
        out.append(prefix)
        switch v {
        case .array(let a): for (i, x) in a.enumerated() { paths(x, prefix: prefix + [.index(i)], into: &out) }
        case .object(let o): for m in o.members { paths(m.value, prefix: prefix + [.key(m.key)], into: &out) }
        default: break
        }
    }

    /// `v` with `transform` applied to the value at `path` (nil result removes it).
    static func editing(_ v: JSONValue, at path: ArraySlice<Step>, _ transform: (JSONValue) -> JSONValue?) -> JSONValue? {
        guard let first = path.first else { return transform(v) }
        let rest = path.dropFirst()
        switch (v, first) {
        case (.array(var a), .index(let i)) where i < a.count:
            if let n = editing(a[i], at: rest, transform) { a[i] = n } else { a.remove(at: i) }
            return .array(a)
        case (.object(var o), .key(let k)):
            guard let i = o.members.firstIndex(where: { $0.key == k }) else { return v }
            if let n = editing(o.members[i].value, at: rest, transform) { o.members[i].value = n } else { o.members.remove(at: i) }
            return .object(o)
        default:
            return v
        }
    }

    static let marker = "@@MUTATION-MARKER@@"

    static let hugeNumbers = [
        "1e400", "-1e400", "1E+400", "1e-400", "99999999999999999999", "-99999999999999999999", "9223372036854775807",
        "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "1.7976931348623157e308", "4.9e-324", "-0",
        "0.0", "1.5", "-1", "123456789012345678901234567890.5", "01", "1.", ".5", "+1", "1e", "--1", "NaN", "Infinity",
    ]

    static let wrongTypes: [JSONValue] = [0, -1, 1.5, "s", "", true, false, nil, [], .object(JSONObject()), [1, "a"], ["k": "v"]]

    static let badUTF8: [[UInt8]] = [
        [0xFF], [0xFE], [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],
        [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xF4, 0x90, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xC3], [0x00], [0x1F],
    ]

    static let badEscapes = [#"\ud800"#, #"\udc00"#, #"\ud800\u0041"#, #"\u12"#, #"\x41"#, #"\"#, #"\u00zz"#, #"\ud83d\ude00"#, #"\u0000"#]

    static let interestingBytes: [UInt8] = Array(#"{}[]":,\ -+.0123456789eEtrufalsn"#.utf8)

    enum Kind: String, CaseIterable {
        case dropMember, wrongType, hugeNumber, deepNesting, duplicateKey, emptyContainer, truncate, badUTF8, badEscape, flipByte,
            insertByte, deleteByte
    }

    /// One mutated frame.
    static func mutate(_ base: String, _ rng: inout SeededRandom) -> (bytes: [UInt8], kinds: [Kind]) {
        var kinds: [Kind] = []
        var value = try? JSONParser.parse(base)
        var rawToken: String? = nil
        // Zero to two value-level mutations.
        if var v = value {
            for _ in 0..<rng.below(3) {
                var all: [[Step]] = []
                paths(v, into: &all)
                let path = rng.pick(all)
                let kind = rng.pick([Kind.dropMember, .wrongType, .hugeNumber, .deepNesting, .duplicateKey, .emptyContainer])
                kinds.append(kind)
                switch kind {
                case .dropMember:
                    if !path.isEmpty, let n = editing(v, at: path[...], { _ in nil }) { v = n }
                case .wrongType:
                    let t = rng.pick(wrongTypes)
                    if let n = editing(v, at: path[...], { _ in t }) { v = n }
                case .hugeNumber, .deepNesting:
                    guard rawToken == nil else { continue }
                    if kind == .hugeNumber {
                        rawToken = rng.pick(hugeNumbers)
                    } else {
                        let depth = rng.pick([50, 200, 255, 256, 257, 300, 5_000, 100_000])
                        let open = rng.chance(2) ? "[" : "{\"a\":"
                        let close = open == "[" ? "]" : "}"
                        rawToken = String(repeating: open, count: depth) + "1" + String(repeating: close, count: depth)
                    }
                    if let n = editing(v, at: path[...], { _ in .string(marker) }) { v = n }
                case .duplicateKey:
                    let extra: JSONValue = rng.chance(2) ? rng.pick(wrongTypes) : .string("dup")
                    if let n = editing(v, at: path[...], { target in
                        guard case .object(var o) = target, let m = o.members.isEmpty ? nil : o.members[rng.below(o.members.count)] else { return target }
                        o.members.append(.init(key: m.key, value: rng.chance(2) ? m.value : extra))
                        return .object(o)
                    }) { v = n }
                case .emptyContainer:
                    let t: JSONValue = rng.chance(2) ? [] : .object(JSONObject())
                    if let n = editing(v, at: path[...], { _ in t }) { v = n }
                default:
                    break
                }
            }
            value = v
        }
        var text = value.map(JSONWriter.string) ?? base
        if let rawToken { text = text.replacingOccurrences(of: "\"\(marker)\"", with: rawToken) }
        var bytes = Array(text.utf8)
        // Zero or one byte-level mutation (always one when nothing changed yet).
        if kinds.isEmpty || rng.chance(2) {
            let kind = rng.pick([Kind.truncate, .badUTF8, .badEscape, .flipByte, .insertByte, .deleteByte])
            kinds.append(kind)
            let at = rng.below(bytes.count + 1)
            switch kind {
            case .truncate: bytes = Array(bytes.prefix(rng.below(max(bytes.count, 1))))
            case .badUTF8:
                // Prefer the inside of a string: just after a quote.
                let quotes = bytes.indices.filter { bytes[$0] == UInt8(ascii: "\"") }
                let pos = quotes.isEmpty || rng.chance(4) ? at : rng.pick(quotes) + 1
                bytes.insert(contentsOf: rng.pick(badUTF8), at: min(pos, bytes.count))
            case .badEscape:
                let quotes = bytes.indices.filter { bytes[$0] == UInt8(ascii: "\"") }
                let pos = quotes.isEmpty ? at : rng.pick(quotes) + 1
                bytes.insert(contentsOf: Array(rng.pick(badEscapes).utf8), at: min(pos, bytes.count))
            case .flipByte:
                if !bytes.isEmpty { bytes[rng.below(bytes.count)] = rng.chance(2) ? rng.pick(interestingBytes) : UInt8(truncatingIfNeeded: rng.next()) }
            case .insertByte:
                bytes.insert(rng.chance(2) ? rng.pick(interestingBytes) : UInt8(truncatingIfNeeded: rng.next()), at: at)
            case .deleteByte:
                if !bytes.isEmpty { bytes.remove(at: rng.below(bytes.count)) }
            default: break
            }
        }
        return (bytes, kinds)
    }

    // MARK: - Pointer resolution

    /// The values at an RFC 6901 pointer: every match, since a key may repeat in an object
    /// (the validator reports each occurrence).
    static func resolveAll(_ pointer: String, in root: JSONValue) -> [JSONValue] {
        if pointer.isEmpty { return [root] }
        guard pointer.hasPrefix("/") else { return [] }
        var current = [root]
        for raw in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let token = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            var next: [JSONValue] = []
            for v in current {
                switch v {
                case .object(let o): next += o.members.filter { $0.key == token }.map(\.value)
                case .array(let a): if let i = Int(token), i >= 0, i < a.count { next.append(a[i]) }
                default: break
                }
            }
            current = next
        }
        return current
    }

    /// The value at a pointer (one of them when a key repeats), or nil.
    static func resolve(_ pointer: String, in root: JSONValue) -> JSONValue? { resolveAll(pointer, in: root).first }

    static func parent(_ pointer: String) -> String {
        guard let slash = pointer.lastIndex(of: "/") else { return "" }
        return String(pointer[..<slash])
    }

    /// A pointer names a value in the document, or (for a missing member) an object that lacks it.
    static func locates(_ pointer: String, missing: Bool, in root: JSONValue) -> Bool {
        if missing {
            let key = String(pointer[pointer.index(after: pointer.lastIndex(of: "/") ?? pointer.startIndex)...])
                .replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            return resolveAll(parent(pointer), in: root).contains { v in
                if case .object(let o) = v { return o[key] == nil }
                return false
            }
        }
        return resolve(pointer, in: root) != nil
    }

    // MARK: - The property

    struct Outcome {
        var decoded = 0
        var syntaxErrors = 0
        var typedErrors = 0
        var validButNotDecoded: [String] = []
        var decodedCountsByKind: [Kind: Int] = [:]
    }

    /// Checks every invariant on one input. Returns how decoding ended.
    static func check(_ bytes: [UInt8], label: String, into outcome: inout Outcome) {
        let data = Data(bytes)
        var parsed: JSONValue? = nil
        do {
            parsed = try JSONParser.parse(bytes)
        } catch {
            #expect(error.offset >= 0 && error.offset <= bytes.count, "\(label): offset \(error.offset) of \(bytes.count)")
        }
        let violations = ARCPValidator.validate(frame: data)
        // The single-pass decoder agrees with the two-pass path on every input.
        StreamingDecoderTests.expectEquivalent(bytes, label: label)
        if let parsed {
            for v in violations {
                #expect(v.rule != "json", "\(label)")
                #expect(locates(v.path, missing: v.rule == "required", in: parsed), "\(label): violation \(v) does not locate")
            }
        } else {
            #expect(violations.count == 1 && violations.first?.rule == "json" && violations.first?.path == "", "\(label): \(violations)")
        }
        do {
            let env = try Envelope(jsonData: data)
            outcome.decoded += 1
            #expect(parsed != nil, "\(label): decoded although the parser rejects it")
            // Encoding what was decoded gives JSON that decodes to the same envelope, and the
            // direct writer agrees with the JSONValue route.
            #expect(env.jsonText() == JSONWriter.string(env.toJSON()), "\(label): writers differ")
            let again = try Envelope(jsonText: env.jsonText())
            #expect(again == env, "\(label): round trip changed the envelope")
        } catch {
            switch error.reason {
            case .syntax(let e):
                outcome.syntaxErrors += 1
                #expect(parsed == nil, "\(label): syntax error \(e) on parseable input")
                #expect(error.pointer == "")
            default:
                outcome.typedErrors += 1
                guard let parsed else {
                    Issue.record("\(label): typed error \(error) on unparseable input")
                    return
                }
                let missing = error.reason == .missing
                #expect(locates(error.pointer, missing: missing, in: parsed), "\(label): \(error) does not locate")
                #expect(!error.description.isEmpty)
                // The validator is at least as strict as the decoder.
                #expect(!violations.isEmpty, "\(label): decoder rejects (\(error)) but the validator accepts")
            }
            if violations.isEmpty { outcome.validButNotDecoded.append("\(label): \(error)") }
        }
    }

    /// The mutations run in shards (parallel test cases), each with its own seed.
    static let shards = 12

    @Test("≥ 5,000 seeded mutations of real frames never crash and fail only with located errors", arguments: 0..<shards)
    func mutations(shard: Int) async throws {
        let bases = try Fixtures.transcriptFrames().map(\.raw)
        try #require(bases.count > 100)
        var rng = SeededRandom(seed: Self.seed &+ UInt64(shard))
        var outcome = Outcome()
        var kindsSeen: [Kind: Int] = [:]
        let perShard = Self.iterations / Self.shards
        for n in 0..<perShard {
            let i = shard * perShard + n
            let base = rng.pick(bases)
            let (bytes, kinds) = Self.mutate(base, &rng)
            for k in kinds { kindsSeen[k, default: 0] += 1 }
            Self.check(bytes, label: "mutation #\(i) \(kinds.map(\.rawValue))", into: &outcome)
            // Seconds of CPU per shard: give the cooperative pool's threads (two on CI) back to the
            // rest of the parallel suite now and then, or its timing tests starve.
            if n % 16 == 15 { await Task.yield() }
        }
        // Every kind of mutation ran, and every outcome happened often: the fuzzer is not vacuous.
        for k in Kind.allCases { #expect(kindsSeen[k, default: 0] > 100 / Self.shards, "\(k) ran \(kindsSeen[k, default: 0]) times") }
        #expect(outcome.decoded > 500 / Self.shards)
        #expect(outcome.syntaxErrors > 500 / Self.shards)
        #expect(outcome.typedErrors > 300 / Self.shards)
        #expect(outcome.decoded + outcome.syntaxErrors + outcome.typedErrors == perShard)
        // A schema-valid frame always decodes.
        #expect(outcome.validButNotDecoded.isEmpty, "\(outcome.validButNotDecoded.prefix(5))")
    }

    @Test("the same seed gives the same mutations")
    func deterministic() throws {
        let base = try Fixtures.benchEventText()
        var a = SeededRandom(seed: 42)
        var b = SeededRandom(seed: 42)
        for _ in 0..<200 { #expect(Self.mutate(base, &a).bytes == Self.mutate(base, &b).bytes) }
    }

    @Test("specific hostile inputs", arguments: [
        "", " ", "null", "[]", "0", "\"s\"", "{", "}", "{\"id\":", "{\"id\":\"01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\"",
        "{\"id\":\"01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\",\"type\":\"job.event\",\"payload\":{\"kind\":\"log\",\"body\":{\"level\":\"info\",\"message\":\"m\"}},\"event_seq\":1e400}",
        "{\"id\":\"01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\",\"type\":\"job.event\",\"job_id\":\"j\",\"payload\":{\"kind\":\"log\",\"body\":{\"level\":\"info\",\"message\":\"m\"}},\"event_seq\":99999999999999999999}",
        "{\"id\":\"01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\",\"type\":\"session.ack\",\"payload\":{\"last_processed_seq\":-9223372036854775809}}",
        "{\"id\":\"01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\",\"type\":\"session.ack\",\"payload\":{\"last_processed_seq\":1.5}}",
        "{\"id\":\"01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\",\"type\":7,\"payload\":{}}",
        "{\"id\":\"01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\",\"type\":\"session.ping\",\"payload\":[]}",
        "{\"id\":\"01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\",\"type\":\"session.ping\",\"type\":\"session.pong\",\"payload\":{\"nonce\":\"n\"}}",
        "{\"id\":\"01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\",\"type\":\"job.frobnicate\",\"payload\":7}",
        "{\"id\":\"\\ud800\",\"type\":\"session.ping\",\"payload\":{}}",
        String(repeating: "[", count: 100_000),
        String(repeating: "{\"a\":", count: 100_000),
    ])
    func hostile(_ text: String) {
        var outcome = Outcome()
        Self.check(Array(text.utf8), label: String(text.prefix(80)), into: &outcome)
        #expect(outcome.decoded + outcome.syntaxErrors + outcome.typedErrors == 1)
    }

    @Test("typed errors name the path")
    func errorPaths() throws {
        func error(_ text: String) -> WireDecodingError? {
            do {
                _ = try Envelope(jsonText: text)
                return nil
            } catch { return error }
        }
        let id = "\"id\":\"01J9Z6ZK3M8Q4P2V7W1X5Y0A2B\""
        #expect(error("{\(id),\"type\":\"session.ack\",\"payload\":{\"last_processed_seq\":\"x\"}}")?.pointer == "/payload/last_processed_seq")
        #expect(error("{\(id),\"type\":\"session.ack\",\"payload\":{}}")?.pointer == "/payload/last_processed_seq")
        #expect(error("{\(id),\"type\":\"session.ack\",\"payload\":{}}")?.reason == .missing)
        #expect(error("{\(id),\"type\":\"session.ping\"}")?.pointer == "/payload")
        #expect(error("{\"type\":\"session.ping\",\"payload\":{}}")?.pointer == "/id")
        #expect(error("{\(id),\"type\":\"job.event\",\"payload\":{\"kind\":\"log\",\"body\":{\"level\":\"info\",\"message\":5}}}")?.pointer
            == "/payload/body/message")
        #expect(error("{\(id),\"type\":\"session.jobs\",\"payload\":{\"jobs\":[{\"job_id\":\"j\",\"status\":\"running\"},{\"job_id\":\"j\"}]}}")?.pointer
            == "/payload/jobs/1/status")
        #expect(error("{\(id),\"type\":\"job.submit\",\"payload\":{\"agent\":\"a\",\"lease_request\":{\"fs.read\":[1]}}}")?.pointer
            == "/payload/lease_request/fs.read/0")
        #expect(error("{\(id),\"type\":\"job.submit\",\"payload\":{\"agent\":\"a\",\"lease_request\":{\"a/b~c\":1}}}")?.pointer
            == "/payload/lease_request/a~1b~0c")
        let syntax = error("{\(id),")
        #expect(syntax?.pointer == "")
        if case .syntax(let e)? = syntax?.reason { #expect(e.offset == 35) } else { Issue.record("expected a syntax error") }
    }
}
