import ARCPCodegenCore
import ARCPJSON
import ARCPTestSupport
import Foundation
import Testing

@Suite("Naming")
struct NamingTests {
    @Test("camelCase", arguments: [
        ("session.hello", "sessionHello"), ("session.list_jobs", "sessionListJobs"), ("PERMISSION_DENIED", "permissionDenied"),
        ("lease_request", "leaseRequest"), ("cost.budget", "costBudget"), ("x-vendor.kind", "xVendorKind"), ("default", "default"),
        ("job_id", "jobId"), ("utf8", "utf8"), ("1st", "_1st"), ("Envelope", "envelope"), ("MessageId", "messageId"),
        ("model.use", "modelUse"), ("", "_"), ("...", "_"), ("A", "a"), ("HTTP_URL", "httpUrl"),
    ])
    func camelCase(_ input: String, _ expected: String) {
        #expect(Naming.camelCase(input) == expected)
    }

    @Test func identifiers() {
        #expect(Naming.identifier("default") == "`default`")
        #expect(Naming.identifier("self") == "`self`")
        #expect(Naming.identifier("class") == "`class`")
        #expect(Naming.identifier("protocol") == "`protocol`")
        #expect(Naming.identifier("sessionHello") == "sessionHello")
    }

    @Test func literals() {
        #expect(Naming.literal("plain") == #""plain""#)
        #expect(Naming.literal(#"a"b\c"#) == #""a\"b\\c""#)
        #expect(Naming.literal("l1\nl2\t\r") == #""l1\nl2\t\r""#)
        #expect(Naming.literal("\u{1}é") == "\"\\u{1}é\"")
    }
}

@Suite("Stage 3: SwiftRenderer")
struct SwiftRendererTests {
    /// A schema full of awkward names: keywords, dots, SCREAMING_CASE, leading digits.
    static let edgeCases = ##"""
        "Root": {"type": "object", "description": "Line one.\nLine \"two\".",
            "properties": {
                "default": {"type": "string", "description": "A keyword."},
                "cost.budget": {"type": "array", "items": {"$ref": "#/$defs/Amount"}},
                "class": {"type": "integer", "minimum": 1},
                "1st": {"type": "boolean"},
                "self": {"type": "string"},
                "kind": {"type": "string"},
                "body": {"type": "object"},
                "maybe": {"type": ["string", "null"]},
                "either": {"$ref": "#/$defs/Either"},
                "code": {"$ref": "#/$defs/Code"},
                "status": {"$ref": "#/$defs/Status"},
                "counters": {"$ref": "#/$defs/Counters"},
                "any": {},
                "object": {"type": "string"},
                "json": {"type": "string"},
                "member": {"type": "string"}
            },
            "required": ["default", "kind", "body"],
            "x-arcp-discriminator": {"property": "kind", "content": "body", "enum": "RootBody", "field": "payload", "unknownCase": "vendor", "vendorPrefix": "x-vendor."},
            "allOf": [
                {"if": {"properties": {"kind": {"const": "plain.thing"}}}, "then": {"properties": {"body": {"$ref": "#/$defs/Plain"}}}},
                {"if": {"properties": {"kind": {"const": "default"}}}, "then": {"properties": {"body": {"$ref": "#/$defs/Plain"}}, "required": ["class"]}}
            ]},
        "Plain": {"type": "object", "properties": {"n": {"type": "number"}}},
        "Amount": {"type": "string", "x-arcp-format": "amount"},
        "Code": {"type": "string", "x-arcp-enum": ["PERMISSION_DENIED", "default", "x-vendor.kind", "self"]},
        "Status": {"type": "string", "enum": ["ok", "timed_out"]},
        "Either": {"oneOf": [{"type": "number", "x-arcp-case": "number"}, {"type": "string", "x-arcp-case": "default"}, {"$ref": "#/$defs/Plain", "x-arcp-case": "plain"}]},
        "Counters": {"type": "object", "additionalProperties": {"type": "integer"}},
        "Lease": {"type": "object", "x-arcp-swift-type": "map", "propertyNames": {"x-arcp-format": "namespace"},
                  "properties": {"cost.budget": {"type": "array", "items": {"$ref": "#/$defs/Amount"}}},
                  "additionalProperties": {"type": "array", "items": {"type": "string"}}}
        """##

    static func render(_ defs: String = edgeCases) throws -> [String: String] {
        SwiftRenderer(model: try ModelBuilder.build(try schema(defs))).render()
    }

    @Test func fileNames() throws {
        #expect(Set(try Self.render().keys) == Set(Generator.outputFileNames))
    }

    @Test("declarations, with keyword and dotted names escaped")
    func declarations() throws {
        let types = try #require(try Self.render()["ARCPTypes.swift"])
        for expected in [
            "public struct Root: Sendable, Hashable, JSONCodable {",
            "/// Line one.\n/// Line \"two\".\npublic struct Root",
            "    /// A keyword.\n    public var `default`: String\n",
            "    public var costBudget: [Amount]?\n",
            "    public var `class`: Int?\n",
            "    public var _1st: Bool?\n",
            "    public var `self`: String?\n",
            "    public var payload: RootBody\n",
            "    public var maybe: String?\n",
            "    public var `any`: JSONValue?\n",
            "`self` _self: String? = nil",
            "        self.`self` = _self\n",
            "    public var additionalFields: JSONObject\n",
            "case \"cost.budget\": _costBudget = try _JSONDecodeSupport.decodeOptional([Amount].self, member.value, key: \"cost.budget\")",
            "guard let _default else { throw _JSONDecodeSupport.missing(\"default\") }",
            "public indirect enum RootBody: Sendable, Hashable {",
            "    case plainThing(Plain)\n",
            "    case `default`(Plain)\n",
            "    case vendor(kind: String, body: JSONValue)\n",
            "public static let knownKinds: [String] = [\"plain.thing\", \"default\"]",
            "public enum Code: Sendable, Hashable, RawRepresentable, JSONCodable, CustomStringConvertible {",
            "    case permissionDenied\n",
            "    case xVendorKind\n",
            "    case `self`\n",
            "        case \"PERMISSION_DENIED\": self = .permissionDenied\n",
            "public static let allKnown: [Code] = [.permissionDenied, .`default`, .xVendorKind, .`self`]",
            "public static let isOpen = true",
            "public enum Status:",
            "public static let isOpen = false",
            "    case timedOut\n",
            "public enum Either: Sendable, Hashable, JSONCodable {",
            "        case .int, .double: self = .number(try Double(json: json))",
            "        case .string: self = .`default`(try String(json: json))",
            "public typealias Amount = String",
            "public typealias Counters = [String: Int]",
            "public typealias Lease = [String: [String]]",
        ] {
            #expect(types.contains(expected), "missing: \(expected)")
        }
    }

    @Test func validators() throws {
        let v = try #require(try Self.render()["ARCPValidators.swift"])
        for expected in [
            "public enum ARCPValidator {",
            "public static func validate(frame: String, as definition: SchemaDefinition = .root) -> [Violation]",
            "public static func validate(frame: Data, as definition: SchemaDefinition = .root) -> [Violation]",
            "static func _v_Root(_ value: JSONValue, _ ctx: inout _ValidationContext) {",
            "if !ARCPFormat.isAmount(s)",
            "ctx.report(\"required\", \"missing required member \\\"default\\\"\")",
            "if n < 1 { ctx.report(\"minimum\"",
            "if !_discriminator.hasPrefix(\"x-vendor.\") {",
            "ctx.report(\"required\", \"kind default requires \\\"class\\\"\")",
            "if !ARCPFormat.isNamespace(member.key)",
            "case \"ok\", \"timed_out\": break",
        ] {
            #expect(v.contains(expected), "missing: \(expected)")
        }
    }

    @Test func catalog() throws {
        let c = try #require(try Self.render()["ARCPSchemaCatalog.swift"])
        #expect(c.contains("public enum SchemaDefinition: String, Sendable, CaseIterable {"))
        #expect(c.contains("    case root = \"Root\"\n"))
        #expect(c.contains("    case amount = \"Amount\"\n"))
        #expect(c.contains("public static let title = \"ARCP\""))
        #expect(c.contains(#"public static let definitionNames: [String] = ["Root", "Plain", "Amount", "Code", "Status", "Either", "Counters", "Lease"]"#))
    }

    @Test("every file starts with the do-not-edit header")
    func header() throws {
        for (_, text) in try Self.render() {
            #expect(text.hasPrefix("// GENERATED by arcp-codegen from arcp.schema.json. DO NOT EDIT."))
        }
    }

    @Test("rendering is deterministic")
    func deterministic() throws {
        #expect(try Self.render() == (try Self.render()))
        let real = try ModelBuilder.build(try SchemaReader.read(contentsOf: realSchemaURL))
        #expect(SwiftRenderer(model: real).render() == SwiftRenderer(model: real).render())
    }

    @Test("the real schema renders the public API other targets use")
    func realSchemaAPI() throws {
        let files = SwiftRenderer(model: try ModelBuilder.build(try SchemaReader.read(contentsOf: realSchemaURL))).render()
        let types = try #require(files["ARCPTypes.swift"])
        for expected in [
            "public struct Envelope: Sendable, Hashable, JSONCodable {", "    public var message: Message\n",
            "    case unknown(type: String, raw: JSONValue)\n", "public static let knownTypes: [String]",
            "public struct JobEventPayload: Sendable, Hashable, JSONCodable {", "    public var body: EventBody\n",
            "    case vendor(kind: String, body: JSONValue)\n", "public static let knownKinds: [String]",
            "    public var `default`: String?\n", "    case permissionDenied\n", "    case costBudget\n",
        ] {
            #expect(types.contains(expected), "missing: \(expected)")
        }
    }

    /// The rendered edge-case schema compiles together with the hand-written support code
    /// (`swiftc -typecheck`, Swift 6 mode).
    @Test("rendered edge-case code typechecks in Swift 6 mode")
    func typechecks() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var inputs: [String] = []
        for (name, text) in try Self.render() {
            let url = dir.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            inputs.append(url.path)
        }
        let fm = FileManager.default
        for folder in ["Sources/ARCPJSON", "Sources/ARCPGenerated/Support"] {
            let src = repoRoot.appendingPathComponent(folder)
            for f in try fm.contentsOfDirectory(atPath: src.path) where f.hasSuffix(".swift") && f != "Exports.swift" {
                inputs.append(src.appendingPathComponent(f).path)
            }
        }
        let swiftc = try #require(findSwiftc(), "swiftc not found on PATH")
        let arguments = ["-typecheck", "-swift-version", "6", "-module-name", "EdgeCases", "-warnings-as-errors"] + inputs
        let (status, output) = try await onOwnThread { try run(swiftc, arguments) }
        #expect(status == 0, "\(output)")
    }
}

@Suite("Pipeline: Generator.run")
struct GeneratorTests {
    static let small = ##"{"title": "T", "$ref": "#/$defs/A", "$defs": {"A": {"type": "object", "description": "first", "properties": {"x": {"type": "string"}}}}}"##

    func write(_ text: String, to url: URL) throws { try Data(text.utf8).write(to: url) }

    func mtime(_ url: URL) throws -> Date {
        try #require(try FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date)
    }

    func age(_ urls: [URL]) throws {
        for u in urls { try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000)], ofItemAtPath: u.path) }
    }

    @Test("writes the three files, and only the changed ones on later runs")
    func writesOnlyWhenChanged() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let schemaURL = dir.appendingPathComponent("schema.json")
        let out = dir.appendingPathComponent("out")
        try write(Self.small, to: schemaURL)

        let first = try Generator.run(schema: schemaURL, outputDirectory: out)
        #expect(first.map(\.lastPathComponent) == Generator.outputFileNames.sorted())
        for u in first { #expect(FileManager.default.fileExists(atPath: u.path)) }
        let types = out.appendingPathComponent("ARCPTypes.swift")
        #expect(try String(contentsOf: types, encoding: .utf8).contains("public struct A: Sendable"))

        // Same schema: nothing is rewritten.
        try age(first)
        _ = try Generator.run(schema: schemaURL, outputDirectory: out)
        for u in first { #expect(try mtime(u) == Date(timeIntervalSince1970: 1_000_000), "\(u.lastPathComponent) rewritten") }

        // A description change touches only the types file (doc comments).
        try write(Self.small.replacingOccurrences(of: "first", with: "second"), to: schemaURL)
        _ = try Generator.run(schema: schemaURL, outputDirectory: out)
        #expect(try mtime(types) > Date(timeIntervalSince1970: 1_000_000))
        #expect(try String(contentsOf: types, encoding: .utf8).contains("/// second"))
        #expect(try mtime(out.appendingPathComponent("ARCPValidators.swift")) == Date(timeIntervalSince1970: 1_000_000))
        #expect(try mtime(out.appendingPathComponent("ARCPSchemaCatalog.swift")) == Date(timeIntervalSince1970: 1_000_000))

        // A file edited by hand is put back.
        try write("// tampered", to: types)
        _ = try Generator.run(schema: schemaURL, outputDirectory: out)
        #expect(try String(contentsOf: types, encoding: .utf8).contains("public struct A: Sendable"))
    }

    @Test("schema errors stop the run before anything is written")
    func errorsPropagate() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let schemaURL = dir.appendingPathComponent("schema.json")
        let out = dir.appendingPathComponent("out")
        try write(##"{"$defs": {"A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/Nope"}}}}, "$ref": "#/$defs/A"}"##, to: schemaURL)
        #expect(throws: SchemaError("/$defs/A/properties/b", "unresolved $ref Nope")) { try Generator.run(schema: schemaURL, outputDirectory: out) }
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test("the plugin's declared outputs are the generator's files")
    func pluginOutputs() throws {
        let plugin = try String(contentsOf: repoRoot.appendingPathComponent("Plugins/ARCPCodegen/plugin.swift"), encoding: .utf8)
        for name in Generator.outputFileNames { #expect(plugin.contains("\"\(name)\"")) }
    }
}
