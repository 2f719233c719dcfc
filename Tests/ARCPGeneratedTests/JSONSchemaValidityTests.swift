import ARCPGenerated
import ARCPTestSupport
import Foundation
import Testing

/// schema/arcp.schema.json stays a JSON Schema 2020-12 document that standard validators in
/// other languages can use: Python's `jsonschema` accepts it as a 2020-12 schema, and on every
/// transcript frame, and on thousands of value-level mutations of them, it reaches the verdict
/// the generated validator reaches, with the same (pointer, keyword) pairs.
///
/// Skipped, with the reason, when no Python with `jsonschema` is found (`<repo>/.venv`, which
/// Scripts/setup-python.sh provisions, or `python3` on the PATH).
@Suite("The schema under an independent JSON Schema validator")
struct JSONSchemaValidityTests {
    /// A Python that can `import jsonschema`, or why there is none.
    static let python: (url: URL?, reason: String?) = {
        var candidates = [Fixtures.repoRoot.appendingPathComponent(".venv/bin/python")]
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append(URL(fileURLWithPath: String(dir)).appendingPathComponent("python3"))
        }
        for c in candidates where FileManager.default.isExecutableFile(atPath: c.path) {
            if (try? run(c, ["-c", "import jsonschema"], input: Data()))?.status == 0 { return (c, nil) }
        }
        return (nil, "needs Python's jsonschema (pip install jsonschema, or Scripts/setup-python.sh for <repo>/.venv)")
    }()

    static let script = Fixtures.repoRoot.appendingPathComponent("Tests/Fixtures/JSONSchema/validate.py")

    static func run(_ executable: URL, _ arguments: [String], input: Data) throws -> (status: Int32, output: Data) {
        let inputFile = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-jsonschema-\(UUID().uuidString).json")
        try input.write(to: inputFile)
        defer { try? FileManager.default.removeItem(at: inputFile) }
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        p.standardInput = try FileHandle(forReadingFrom: inputFile)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, data)
    }

    struct Verdict: Equatable, CustomStringConvertible {
        var isJSON: Bool
        /// (JSON Pointer, keyword) pairs.
        var errors: Set<[String]>
        var description: String { isJSON ? errors.map { "\($0[0].isEmpty ? "/" : $0[0]) [\($0[1])]" }.sorted().joined(separator: ", ") : "not JSON" }
    }

    /// Python's verdicts on `frames`, and its complaint about the schema (nil: a valid 2020-12 schema).
    static func independent(_ frames: [String]) async throws -> (metaschema: String?, verdicts: [Verdict]) {
        let python = try #require(Self.python.url)
        let input = JSONWriter.data(.array(frames.map { .string($0) }))
        let arguments = [script.path, Fixtures.schemaURL.path]
        let (status, output) = try await onOwnThread { try run(python, arguments, input: input) }
        try #require(status == 0, "validate.py failed (\(status))")
        let result = try JSONParser.parse(output)
        let verdicts = (result["results"]?.arrayValue ?? []).map { r in
            Verdict(
                isJSON: r["json"]?.boolValue ?? false,
                errors: Set((r["errors"]?.arrayValue ?? []).map { ($0.arrayValue ?? []).map { $0.stringValue ?? "" } }))
        }
        try #require(verdicts.count == frames.count)
        return (result["metaschema"]?.stringValue, verdicts)
    }

    /// The generated validator's verdict in JSON Schema's terms: `x-arcp-format` is the schema's
    /// `pattern` beside it; `x-arcp-discriminator` (an unknown message type or event kind) is
    /// ARCP's rule beyond the schema, which leaves such types open, so it is left out.
    static func generated(_ frame: String) -> Verdict {
        let violations = ARCPValidator.validate(frame: frame)
        if violations.map(\.rule) == ["json"] { return Verdict(isJSON: false, errors: []) }
        return Verdict(isJSON: true, errors: Set(violations.filter { $0.rule != "x-arcp-discriminator" }.map {
            [$0.path, $0.rule == "format" ? "pattern" : $0.rule]
        }))
    }

    @Test(
        "a valid JSON Schema 2020-12 document; every transcript frame gets the same verdict from both validators",
        .enabled(if: python.url != nil, Comment(rawValue: python.reason ?? "")))
    func transcripts() async throws {
        let frames = try Fixtures.transcriptFrames()
        let (metaschema, verdicts) = try await Self.independent(frames.map(\.raw))
        #expect(metaschema == nil, "not a valid 2020-12 schema: \(metaschema ?? "")")
        var invalid: [String] = []
        for (f, theirs) in zip(frames, verdicts) {
            let ours = Self.generated(f.raw)
            #expect(ours == theirs, "\(f): jsonschema says \(theirs), the generated validator \(ours)")
            if !theirs.errors.isEmpty { invalid.append(GoldenTranscriptTests.key(f)) }
        }
        // The deliberately bad frames of transcripts 03 and 16, less the unknown message type
        // (03#19, ARCP's rule) and the text that is not JSON (16#23).
        #expect(invalid == ["03#7", "03#11", "03#21", "03#23", "16#3", "16#5", "16#15"])
    }

    /// Value-level mutations of the transcript frames: each member removed, or its value
    /// replaced by one of a few values of other types. Not `null`: an optional member that is
    /// null counts as absent for ARCP (real peers send that), while the schema spells the
    /// member's type alone (docs/CODEGEN.md, "The schema and other validators").
    static func mutations(limit: Int) throws -> [String] {
        var rng = SeededRandom(seed: 0x15C4_E3A0_2020_1200)
        let replacements: [JSONValue?] = [nil, 0, -1, 1.5, "", "s", true, [], .object(JSONObject()), ["x"]]
        var out: [String] = []
        for f in try Fixtures.transcriptFrames() {
            guard let value = try? JSONParser.parse(f.raw) else { continue }
            var paths: [[MutationTests.Step]] = []
            MutationTests.paths(value, into: &paths)
            for path in paths where !path.isEmpty {
                for r in replacements {
                    if let mutated = MutationTests.editing(value, at: path[...], { _ in r }) { out.append(JSONWriter.string(mutated)) }
                }
            }
        }
        // A deterministic sample, so the run stays short.
        out.shuffle(using: &rng)
        return Array(out.prefix(limit))
    }

    /// Whether JSON Pointer `p` is `q` or inside it.
    static func isWithin(_ p: String, _ q: String) -> Bool { p == q || p.hasPrefix(q + "/") || q.isEmpty }

    /// Both validators find a violation in the same places. They word them differently:
    /// JSON Schema reports a missing member at its object (ours at the member) and a failed
    /// `oneOf` at the value (ours inside the branch the value's type selects), and reports
    /// `type` and `enum` both for a wrong-typed enum value.
    static func samePlaces(_ ours: Verdict, _ theirs: Verdict) -> Bool {
        guard ours.isJSON == theirs.isJSON, ours.errors.isEmpty == theirs.errors.isEmpty else { return false }
        let oursAt = ours.errors.map { e -> String in
            guard e[1] == "required", let slash = e[0].lastIndex(of: "/") else { return e[0] }
            return String(e[0][..<slash])
        }
        let theirsAt = theirs.errors.map { $0[0] }
        return oursAt.allSatisfy { o in theirsAt.contains { isWithin(o, $0) } } && theirsAt.allSatisfy { t in oursAt.contains { isWithin($0, t) } }
    }

    @Test(
        "thousands of mutated frames: the same verdict, in the same places, from both validators",
        .enabled(if: python.url != nil, Comment(rawValue: python.reason ?? "")))
    func mutatedFrames() async throws {
        let frames = try Self.mutations(limit: 4_000)
        let (_, verdicts) = try await Self.independent(frames)
        var disagreements = 0
        var invalid = 0
        for (frame, theirs) in zip(frames, verdicts) {
            let ours = Self.generated(frame)
            if !theirs.errors.isEmpty { invalid += 1 }
            if !Self.samePlaces(ours, theirs) {
                disagreements += 1
                if disagreements <= 20 { Issue.record("\(frame)\n  jsonschema: \(theirs)\n  generated:  \(ours)") }
            }
        }
        #expect(disagreements == 0)
        // The mutations are not vacuous: most of them break the schema.
        #expect(invalid > frames.count / 2, "\(invalid) of \(frames.count) mutated frames invalid")
    }

    @Test("two validators in the same places: the comparison itself")
    func comparison() {
        let v = { (errors: [[String]]) in Verdict(isJSON: true, errors: Set(errors)) }
        #expect(Self.samePlaces(v([["/payload/code", "required"]]), v([["/payload", "required"]])))
        #expect(Self.samePlaces(v([["/a/1/name", "type"]]), v([["/a/1", "oneOf"]])))
        #expect(Self.samePlaces(v([["/arcp", "type"]]), v([["/arcp", "type"], ["/arcp", "enum"]])))
        #expect(!Self.samePlaces(v([]), v([["/x", "type"]])))
        #expect(!Self.samePlaces(v([["/x", "type"]]), v([["/y", "type"]])))
        #expect(!Self.samePlaces(v([["/x", "type"], ["/y", "type"]]), v([["/x", "type"]])))
        #expect(!Self.samePlaces(Verdict(isJSON: false, errors: []), v([])))
    }
}
