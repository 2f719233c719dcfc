import ARCPCodegenCore
import ARCPJSON
import ARCPTestSupport
import Foundation
import Testing

/// arcp-codegen.json: the options, their checks, and what they change in the output.
@Suite("Configuration: arcp-codegen.json")
struct ConfigurationTests {
    @Test("every key, and the defaults")
    func parse() throws {
        #expect(try GeneratorConfiguration.parse(.object(JSONObject())) == GeneratorConfiguration())
        let c = try GeneratorConfiguration.parse(try JSONParser.parse(##"""
            {"schema": "wire.schema.json", "accessModifier": "package", "typeNamePrefix": "Draft", "namespace": "Wire",
             "generate": ["validators", "types", "types"], "additionalImports": ["Dispatch", "Foo.Bar"]}
            """##))
        #expect(c == GeneratorConfiguration(
            schema: "wire.schema.json", accessModifier: .package, typeNamePrefix: "Draft", namespace: "Wire", generate: [.types, .validators],
            additionalImports: ["Dispatch", "Foo.Bar"]))
        #expect(GeneratorConfiguration().generate == [.types, .validators, .streamingDecoders])
        #expect(try GeneratorConfiguration.parse(c.json) == c, "json round-trips")
    }

    @Test("errors name the JSON Pointer in the file", arguments: [
        (##"[]"##, "", "the configuration must be a JSON object"),
        (##"{"acessModifier": "public"}"##, "/acessModifier",
         "unknown key \"acessModifier\" (known: schema, accessModifier, typeNamePrefix, namespace, generate, additionalImports)"),
        (##"{"accessModifier": "open"}"##, "/accessModifier", "expected one of public, package, internal, found \"open\""),
        (##"{"accessModifier": 1}"##, "/accessModifier", "expected a string, found integer"),
        (##"{"generate": ["types", "streaming"]}"##, "/generate/1", "expected one of types, validators, streamingDecoders, found \"streaming\""),
        (##"{"generate": "types"}"##, "/generate", "expected an array of strings"),
        (##"{"generate": ["types", "streamingDecoders"]}"##, "/generate", "streamingDecoders needs types and validators"),
        (##"{"namespace": "my-wire"}"##, "/namespace", "\"my-wire\" is not a Swift identifier"),
        (##"{"namespace": "struct"}"##, "/namespace", "\"struct\" is not a Swift identifier"),
        (##"{"typeNamePrefix": "1x"}"##, "/typeNamePrefix", "\"1x\" is not a Swift identifier"),
        (##"{"additionalImports": ["a b"]}"##, "/additionalImports/0", "\"a b\" is not a module name"),
    ])
    func errors(_ text: String, _ pointer: String, _ message: String) throws {
        #expect(throws: ConfigurationError(pointer, message)) { try GeneratorConfiguration.parse(try JSONParser.parse(text)) }
    }

    static let defs = ##"""
        "Envelope": {"type": "object", "properties": {"type": {"type": "string"}, "payload": {"type": "object"}, "code": {"$ref": "#/$defs/Code"}},
            "required": ["type", "payload"],
            "x-arcp-discriminator": {"property": "type", "content": "payload", "enum": "Message", "field": "message", "unknownCase": "unknown"},
            "allOf": [{"if": {"properties": {"type": {"const": "note"}}}, "then": {"properties": {"payload": {"$ref": "#/$defs/Note"}}}}]},
        "Note": {"type": "object", "properties": {"text": {"type": "string", "maxLength": 3}}, "required": ["text"]},
        "Code": {"type": "string", "x-arcp-enum": ["A"]}
        """##

    static func render(_ c: GeneratorConfiguration, module: String = "ARCPGenerated") throws -> [String: String] {
        let model = try ModelBuilder.build(try schema(defs, root: "Envelope"))
        return SwiftRenderer(model: model, configuration: c, moduleName: module).render()
    }

    @Test("prefix, namespace and access change every declaration and reference")
    func names() throws {
        let f = try Self.render(GeneratorConfiguration(accessModifier: .package, typeNamePrefix: "My", namespace: "Wire"), module: "MyModule")
        let types = try #require(f["ARCPTypes.swift"]), validators = try #require(f["ARCPValidators.swift"])
        let streaming = try #require(f["ARCPStreaming.swift"]), catalog = try #require(f["ARCPSchemaCatalog.swift"])
        for (text, expected) in [
            (types, "extension Wire {\n    package struct MyEnvelope: Sendable, Hashable, JSONCodable {"),
            (types, "package var message: Wire.MyMessage\n"),
            (types, "package indirect enum MyMessage: Sendable, Hashable {"),
            (types, "case note(Wire.MyNote)"),
            (types, "package var code: Wire.MyCode?"),
            (validators, "extension Wire {\n    /// Validators"),
            (validators, "package enum MyValidator {"),
            (validators, "as definition: Wire.MySchemaDefinition = .envelope"),
            (streaming, "extension Wire.MyEnvelope {"),
            (streaming, "package static func decodeValidated(frame: String) -> ValidatedFrame<Wire.MyEnvelope> {"),
            (streaming, "extension Wire.MyValidator {"),
            (streaming, "let value = try Wire.MyValidator._r_Envelope(&reader, &ctx, depth: 1)"),
            (catalog, "package enum Wire {}"),
            (catalog, "package enum MySchemaDefinition: String, Sendable, CaseIterable {"),
            (catalog, "package enum MySchemaInfo {"),
        ] {
            #expect(text.contains(expected), "missing: \(expected)")
        }
        for text in f.values { #expect(text.contains("\nimport Foundation\nimport ARCPGenerated\n")) }
        #expect(!types.contains("public "), "no public declaration with package access")
        let internalAccess = try Self.render(GeneratorConfiguration(accessModifier: .internal))
        #expect(internalAccess["ARCPTypes.swift"]?.contains("\nstruct Envelope: Sendable, Hashable, JSONCodable {") == true)
        #expect(internalAccess.values.allSatisfy { !$0.contains("public ") && !$0.contains("package ") })
        #expect(internalAccess.values.allSatisfy { !$0.contains("import ARCPGenerated") }, "no import inside ARCPGenerated")
    }

    @Test("outputs switched off are files with the notice only")
    func outputs() throws {
        let f = try Self.render(GeneratorConfiguration(generate: [.validators]))
        #expect(Set(f.keys) == Set(Generator.outputFileNames))
        #expect(f["ARCPTypes.swift"] == "// GENERATED by arcp-codegen from arcp.schema.json. DO NOT EDIT.\n// A spec change is a schema change and a rebuild.\n// swiftlint:disable all\n")
        #expect(f["ARCPStreaming.swift"] == f["ARCPTypes.swift"])
        #expect(f["ARCPValidators.swift"]?.contains("public enum ARCPValidator {") == true)
        #expect(f["ARCPSchemaCatalog.swift"]?.contains("public enum SchemaDefinition") == true)
    }

    @Test("additional imports follow the support module's")
    func imports() throws {
        let f = try Self.render(GeneratorConfiguration(additionalImports: ["Dispatch"]), module: "Mine")
        #expect(f["ARCPTypes.swift"]?.contains("import Foundation\nimport ARCPGenerated\nimport Dispatch\n\n") == true)
    }

    /// A prefixed, namespaced, package-access output compiles with the support code in another
    /// module's place (one module here, so the support types are found without an import).
    @Test("the configured output typechecks in Swift 6 mode")
    func typechecks() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var inputs: [String] = []
        for (name, text) in try Self.render(GeneratorConfiguration(accessModifier: .package, typeNamePrefix: "My", namespace: "Wire")) {
            let url = dir.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            inputs.append(url.path)
        }
        let use = dir.appendingPathComponent("Use.swift")
        try Data(##"""
            func use() -> Bool {
                let v = Wire.MyEnvelope.decodeValidated(frame: #"{"type":"note","payload":{"text":"abcd"}}"#)
                if case .note(let n)? = v.value?.message { return n.text.count == 4 && v.violations.first?.rule == "maxLength" }
                return Wire.MyValidator.validate(frame: "{}", as: .note).isEmpty && Wire.MySchemaInfo.definitionNames.count == 3
            }
            """##.utf8).write(to: use)
        inputs.append(use.path)
        for folder in ["Sources/ARCPJSON", "Sources/ARCPGenerated/Support"] {
            let src = repoRoot.appendingPathComponent(folder)
            for f in try FileManager.default.contentsOfDirectory(atPath: src.path) where f.hasSuffix(".swift") && f != "Exports.swift" {
                inputs.append(src.appendingPathComponent(f).path)
            }
        }
        let swiftc = try #require(findSwiftc(), "swiftc not found on PATH")
        let arguments = ["-typecheck", "-swift-version", "6", "-module-name", "Configured", "-package-name", "Configured", "-warnings-as-errors"] + inputs
        let (status, output) = try await onOwnThread { try run(swiftc, arguments) }
        #expect(status == 0, "\(output)")
    }
}
