import ARCPCodegenCore
import ARCPJSON
import ARCPTestSupport
import Foundation
import Testing

/// The "draft changed, rebuild" path as a user meets it. Tests/Fixtures/CodegenFixture is a
/// package of its own that applies the ARCPCodegen plugin to its own targets:
/// - DraftWire: a newer draft of the schema, which this test writes from the shipped one (a new
///   message type, event kind, error code, feature flag and optional field);
/// - VendorWire: a schema of its own named in arcp-codegen.json (namespace, package access, no
///   streaming decoders), beside ARCPGenerated without a clash;
/// - ShippedConsumer and DraftConsumer: one source file written by the evolution policy
///   (docs/CODEGEN.md), compiled against the shipped schema and the draft, warnings as errors;
/// - FixtureTests: decode and validate the new members.
///
/// The fixture is built once for all the tests here, in `<scratch>/codegen-fixture`, with the
/// enclosing build's checkouts as local path dependencies (ARCP_FIXTURE_CHECKOUTS, see the
/// fixture's Package.swift), so nothing is cloned or resolved again; a rebuild after a change
/// recompiles what changed. Every step must succeed and the fixture's test count must match:
/// nothing here passes by skipping.
@Suite("CodegenFixture: a user's package regenerated from a newer draft")
struct CodegenFixtureTests {
    static let package = repoRoot.appendingPathComponent("Tests/Fixtures/CodegenFixture")
    static let draftSchema = package.appendingPathComponent("Sources/DraftWire/arcp.schema.json")

    /// The fixture's built modules and the output of its own tests.
    struct Built: Sendable {
        var scratch: URL
        var modules: URL
        var testOutput: String
    }

    /// A step that failed, with what it printed.
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// Builds and tests the fixture, once for every test in this suite, on a thread of its own
    /// (a minute of `waitUntilExit` on the cooperative pool would stall the rest of the suite).
    static let built = Task { try await onOwnThread { try buildAndTest() } }

    /// The enclosing build's scratch directory (`.build`), from this test binary's path
    /// (`<scratch>/<triple>/debug/<tests>.xctest`).
    static var outerScratch: URL {
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let scratch = URL(fileURLWithPath: exe).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            if FileManager.default.fileExists(atPath: scratch.appendingPathComponent("checkouts").path) { return scratch }
        }
        return repoRoot.appendingPathComponent(".build")
    }

    static func buildAndTest() throws -> Built {
        guard let swift = findExecutable("swift") else { throw Failure("swift not found on PATH") }
        try writeDraftSchema(from: realSchemaURL, to: draftSchema)
        let scratch = outerScratch.appendingPathComponent("codegen-fixture")
        var environment = ProcessInfo.processInfo.environment
        let checkouts = outerScratch.appendingPathComponent("checkouts")
        if FileManager.default.fileExists(atPath: checkouts.path) { environment["ARCP_FIXTURE_CHECKOUTS"] = checkouts.path }
        let common = ["--package-path", package.path, "--scratch-path", scratch.path]

        // One compile job: the rest of the suite runs beside this build, and its timing tests
        // (the Python reference's, over WebSocket) need the other core more than this needs it.
        let build = try run(swift, ["build", "--build-tests", "--jobs", "1"] + common, environment: environment)
        guard build.status == 0 else { throw Failure("swift build of the fixture failed (\(build.status)):\n\(build.output.suffix(8_000))") }
        let test = try run(swift, ["test", "--skip-build"] + common, environment: environment)
        guard test.status == 0 else { throw Failure("the fixture's tests failed (\(test.status)):\n\(test.output.suffix(8_000))") }
        let bin = scratch.appendingPathComponent("debug")
        let modules = bin.appendingPathComponent("Modules")
        return Built(
            scratch: scratch, modules: FileManager.default.fileExists(atPath: modules.path) ? modules : bin, testOutput: test.output)
    }

    @Test("the plugin generated each target from the schema in its own directory, with its configuration")
    func generated() async throws {
        let built = try await Self.built.value
        let outputs = built.scratch.appendingPathComponent("plugins/outputs/codegenfixture")
        let draft = try String(
            contentsOf: outputs.appendingPathComponent("DraftWire/destination/ARCPCodegen/GeneratedSources/ARCPTypes.swift"), encoding: .utf8)
        for expected in ["case jobPause(JobPausePayload)", "case checkpoint(CheckpointBody)", "case rateLimited", "case checkpoints", "public var priority: Int?"] {
            #expect(draft.contains(expected), "DraftWire lacks \(expected)")
        }
        let vendor = outputs.appendingPathComponent("VendorWire/destination/ARCPCodegen/GeneratedSources")
        let vendorTypes = try String(contentsOf: vendor.appendingPathComponent("ARCPTypes.swift"), encoding: .utf8)
        #expect(vendorTypes.contains("extension Vendor {\n") && vendorTypes.contains("    package struct Envelope: "))
        let vendorStreaming = try String(contentsOf: vendor.appendingPathComponent("ARCPStreaming.swift"), encoding: .utf8)
        #expect(!vendorStreaming.contains("decodeValidated"), "streamingDecoders is not in VendorWire's generate list")
    }

    @Test("the fixture's own tests decode and validate the new members, and all of them ran")
    func fixtureTests() async throws {
        let output = try await Self.built.value.testOutput
        // DraftTests (4) and VendorTests (1): a test that did not run is a failure here.
        #expect(output.contains("Test run with 5 tests in 2 suites passed"), "\(output.suffix(4_000))")
        #expect(!output.contains(" failed"), "\(output.suffix(4_000))")
    }

    /// `source` with `import WIRE` replaced by `module`, typechecked against the fixture's modules.
    static func typecheck(_ control: String, importing module: String, warningsAsErrors: Bool) async throws -> (status: Int32, output: String) {
        let built = try await built.value
        let swiftc = try #require(findExecutable("swiftc"), "swiftc not found on PATH")
        let text = try String(contentsOf: package.appendingPathComponent("Controls/\(control).swift.txt"), encoding: .utf8)
        let source = text.replacingOccurrences(of: "import WIRE\n", with: "import \(module)\n")
        try #require(source != text, "the control has no `import WIRE`")
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("\(control).swift")
        try Data(source.utf8).write(to: file)
        var arguments = ["-typecheck", "-swift-version", "6", "-I", built.modules.path, file.path]
        if warningsAsErrors { arguments.append("-warnings-as-errors") }
        let compile = arguments
        return try await onOwnThread { try run(swiftc, compile) }
    }

    @Test("a switch over every kind without a default compiles against the shipped schema and breaks against the draft")
    func negativeControl() async throws {
        let shipped = try await Self.typecheck("NoDefault", importing: "ARCPGenerated", warningsAsErrors: true)
        #expect(shipped.status == 0, "\(shipped.output)")
        let draft = try await Self.typecheck("NoDefault", importing: "DraftWire", warningsAsErrors: false)
        #expect(draft.status != 0, "compiled against the draft: the evolution test would prove nothing")
        #expect(draft.output.contains("error: switch must be exhaustive"), "\(draft.output)")
    }

    @Test("`@unknown default:` after every kind: no warning against the shipped schema; compiles, with a warning naming the new kind, against the draft")
    func unknownDefault() async throws {
        let shipped = try await Self.typecheck("UnknownDefault", importing: "ARCPGenerated", warningsAsErrors: true)
        #expect(shipped.status == 0, "\(shipped.output)")
        let draft = try await Self.typecheck("UnknownDefault", importing: "DraftWire", warningsAsErrors: false)
        #expect(draft.status == 0, "\(draft.output)")
        #expect(draft.output.contains("warning: switch must be exhaustive") && draft.output.contains("'.checkpoint("), "\(draft.output)")
    }

    @Test("the draft schema adds what a minor release adds, and the shipped schema lacks it")
    func draft() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("arcp.schema.json")
        try Self.writeDraftSchema(from: realSchemaURL, to: url)
        let shipped = try JSONParser.parse(try Data(contentsOf: realSchemaURL))
        let draft = try JSONParser.parse(try Data(contentsOf: url))
        #expect(shipped["$defs"]?["JobPausePayload"] == nil && draft["$defs"]?["JobPausePayload"] != nil)
        #expect(shipped["$defs"]?["CheckpointBody"] == nil && draft["$defs"]?["CheckpointBody"] != nil)
        #expect(draft["$defs"]?["ErrorCode"]?["x-arcp-enum"]?.arrayValue?.last == "RATE_LIMITED")
        #expect(draft["$defs"]?["Feature"]?["x-arcp-enum"]?.arrayValue?.last == "checkpoints")
        #expect(draft["$defs"]?["JobSubmitPayload"]?["properties"]?["priority"] != nil)
    }
}

// MARK: - The newer draft

extension CodegenFixtureTests {
    /// Writes the shipped schema plus what a minor release adds (each decoded and validated by
    /// the fixture's tests):
    /// - message type `job.pause` → JobPausePayload {reason?}, which requires the envelope's job_id;
    /// - event kind `checkpoint` → CheckpointBody {label (non-empty), state?};
    /// - error code `RATE_LIMITED`; feature flag `checkpoints`;
    /// - optional field JobSubmitPayload.priority, an integer 0...9.
    /// The file is rewritten only when its text changes, so an unchanged draft does not rerun the plugin.
    static func writeDraftSchema(from shipped: URL, to output: URL) throws {
        var schema = try JSONParser.parse(try Data(contentsOf: shipped))
        func mapping(_ property: String, _ value: String, _ content: String, _ definition: String, required: [String] = []) -> JSONValue {
            var then: JSONObject = ["properties": [content: ["$ref": .string("#/$defs/" + definition)]]]
            if !required.isEmpty { then["required"] = .array(required.map { .string($0) }) }
            return ["if": ["properties": [property: ["const": .string(value)]], "required": [.string(property)]], "then": .object(then)]
        }
        try schema.edit(["$defs"]) { defs in
            defs = try defs.setting("JobPausePayload", [
                "type": "object", "description": "Pause a running job (draft).", "properties": ["reason": ["type": "string"]],
            ])
            defs = try defs.setting("CheckpointBody", [
                "type": "object", "description": "checkpoint (draft): the job saved its state.",
                "properties": ["label": ["type": "string", "minLength": 1], "state": ["description": "Any JSON value."]],
                "required": ["label"],
            ])
            try defs.edit(["Envelope", "allOf"]) { $0 = try $0.appending(mapping("type", "job.pause", "payload", "JobPausePayload", required: ["job_id"])) }
            try defs.edit(["JobEventPayload", "allOf"]) { $0 = try $0.appending(mapping("kind", "checkpoint", "body", "CheckpointBody")) }
            try defs.edit(["ErrorCode", "x-arcp-enum"]) { $0 = try $0.appending("RATE_LIMITED") }
            try defs.edit(["Feature", "x-arcp-enum"]) { $0 = try $0.appending("checkpoints") }
            try defs.edit(["JobSubmitPayload", "properties"]) { $0 = try $0.setting("priority", ["type": "integer", "minimum": 0, "maximum": 9]) }
        }
        schema = try schema.setting("title", .string((schema["title"]?.stringValue ?? "ARCP") + " (draft)"))
        let data = JSONWriter.data(schema)
        if (try? Data(contentsOf: output)) != data { try data.write(to: output, options: .atomic) }
    }
}

extension JSONValue {
    /// Edits the value at `path` (object member names).
    fileprivate mutating func edit(_ path: ArraySlice<String>, _ change: (inout JSONValue) throws -> Void) throws {
        guard let key = path.first else { return try change(&self) }
        guard case .object(var o) = self, var child = o[key] else { throw CodegenFixtureTests.Failure("the schema has no \(key)") }
        try child.edit(path.dropFirst(), change)
        o[key] = child
        self = .object(o)
    }

    fileprivate mutating func edit(_ path: [String], _ change: (inout JSONValue) throws -> Void) throws {
        try edit(path[...], change)
    }

    fileprivate func setting(_ key: String, _ value: JSONValue) throws -> JSONValue {
        guard case .object(var o) = self else { throw CodegenFixtureTests.Failure("not an object") }
        o[key] = value
        return .object(o)
    }

    fileprivate func appending(_ value: JSONValue) throws -> JSONValue {
        guard case .array(let a) = self else { throw CodegenFixtureTests.Failure("not an array") }
        return .array(a + [value])
    }
}
