import ARCPCodegenCore
import ARCPJSON
import Foundation
import Testing

/// `arcp-codegen`: arguments, how it finds the schema and the configuration, and the built
/// executable's exit statuses and messages.
@Suite("arcp-codegen, the command")
struct CommandLineTests {
    @Test("arguments")
    func parse() throws {
        let c = try CodegenCommand.parse([
            "--schema", "s.json", "--config", "c.json", "--output", "out", "--module-name", "M", "--access-modifier", "package",
            "--namespace", "NS", "--type-name-prefix", "P", "--generate", "validators, types", "--additional-import", "A", "--additional-import", "B",
        ])
        #expect(c.schema == "s.json" && c.config == "c.json" && c.output == "out" && c.moduleName == "M")
        #expect(c.accessModifier == .package && c.namespace == "NS" && c.typeNamePrefix == "P")
        #expect(c.generate == [.types, .validators] && c.additionalImports == ["A", "B"])
        #expect(try CodegenCommand.parse(["--help"]).help)
        #expect(try CodegenCommand.parse(["--check", "--schema", "s.json"]).checkOnly)
    }

    @Test("usage errors", arguments: [
        (["--schema", "s.json"], "--output is required (or --check)"),
        (["--output"], "--output needs a value"),
        (["--output", "--schema"], "--output needs a value"),
        (["--frob"], "unknown argument --frob"),
        (["--output", "o", "--access-modifier", "open"], "--access-modifier: expected public, package or internal, found open"),
        (["--output", "o", "--generate", "types,decoders"], "--generate: expected types, validators or streamingDecoders, found decoders"),
    ])
    func usageErrors(_ arguments: [String], _ message: String) {
        #expect(throws: CodegenCommand.UsageError(message)) { try CodegenCommand.parse(arguments) }
    }

    @Test("the help names every option and the configuration keys' flags")
    func help() throws {
        let text = try CodegenCommand.parse(["-h"]).run()
        for flag in ["--schema", "--config", "--output", "--module-name", "--check", "--access-modifier", "--namespace", "--type-name-prefix", "--generate", "--additional-import", "--help"] {
            #expect(text.contains(flag), "help lacks \(flag)")
        }
    }

    /// A directory with a schema and, optionally, a configuration.
    func project(config: String?) throws -> URL {
        let dir = try temporaryDirectory()
        try Data(##"{"$ref": "#/$defs/A", "$defs": {"A": {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}}}"##.utf8)
            .write(to: dir.appendingPathComponent("wire.schema.json"))
        if let config { try Data(config.utf8).write(to: dir.appendingPathComponent("arcp-codegen.json")) }
        return dir
    }

    @Test("the configuration beside the schema is found; its schema is relative to it; flags override it")
    func resolve() throws {
        let dir = try project(config: ##"{"schema": "wire.schema.json", "namespace": "Wire", "generate": ["types"]}"##)
        defer { try? FileManager.default.removeItem(at: dir) }
        var byConfig = CodegenCommand()
        byConfig.config = dir.appendingPathComponent("arcp-codegen.json").path
        let r = try byConfig.resolve()
        #expect(r.schema.path == dir.appendingPathComponent("wire.schema.json").standardizedFileURL.path)
        #expect(r.configuration.namespace == "Wire" && r.configuration.generate == [.types])

        var bySchema = CodegenCommand()
        bySchema.schema = dir.appendingPathComponent("wire.schema.json").path
        bySchema.namespace = "Other"
        bySchema.accessModifier = .internal
        let s = try bySchema.resolve()
        #expect(s.config?.lastPathComponent == "arcp-codegen.json", "found beside the schema")
        #expect(s.configuration.namespace == "Other" && s.configuration.accessModifier == .internal && s.configuration.generate == [.types])

        bySchema.namespace = "not valid"
        #expect(throws: (any Error).self) { try bySchema.resolve() }
        #expect(throws: CodegenCommand.UsageError("no schema: pass --schema, or --config with a \"schema\"")) { try CodegenCommand().resolve() }
    }

    /// The built executable (a dependency of this test target).
    static var executable: URL? {
        var candidates: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("arcp-codegen"))
        }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("arcp-codegen"))
        }
        candidates.append(repoRoot.appendingPathComponent(".build/debug/arcp-codegen"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    @Test("the executable: help, usage errors, schema and configuration errors with their pointers, output files")
    func executable() throws {
        let tool = try #require(Self.executable, "arcp-codegen is not built (swift build --product arcp-codegen)")
        let help = try run(tool, ["--help"])
        #expect(help.status == 0 && help.output.contains("USAGE: arcp-codegen"))
        let usage = try run(tool, ["--frob"])
        #expect(usage.status == 2 && usage.output.contains("arcp-codegen: unknown argument --frob"))

        let dir = try project(config: nil)
        defer { try? FileManager.default.removeItem(at: dir) }
        let schemaPath = dir.appendingPathComponent("wire.schema.json").path
        let out = dir.appendingPathComponent("out")
        let ok = try run(tool, ["--schema", schemaPath, "--output", out.path, "--module-name", "Wire"])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out.path)) == Set(Generator.outputFileNames))
        #expect(try String(contentsOf: out.appendingPathComponent("ARCPTypes.swift"), encoding: .utf8).contains("import ARCPGenerated\n"))
        let check = try run(tool, ["--check", "--schema", schemaPath])
        #expect(check.status == 0 && check.output.contains(": OK"))

        try Data(##"{"$ref": "#/$defs/A", "$defs": {"A": {"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 3}}}}}"##.utf8)
            .write(to: URL(fileURLWithPath: schemaPath))
        let bad = try run(tool, ["--schema", schemaPath, "--output", out.path])
        #expect(bad.status == 1)
        #expect(bad.output.contains("\(schemaPath): schema error at /$defs/A/properties/n/multipleOf: multipleOf is not supported here"), "\(bad.output)")

        try Data(##"{"generate": ["types", "streamingDecoders"]}"##.utf8).write(to: dir.appendingPathComponent("arcp-codegen.json"))
        let badConfig = try run(tool, ["--check", "--schema", schemaPath])
        #expect(badConfig.status == 1)
        #expect(badConfig.output.contains("arcp-codegen.json: configuration error at /generate: streamingDecoders needs types and validators"), "\(badConfig.output)")

        try Data("{".utf8).write(to: URL(fileURLWithPath: schemaPath))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("arcp-codegen.json"))
        let notJSON = try run(tool, ["--check", "--schema", schemaPath])
        #expect(notJSON.status == 1 && notJSON.output.contains("\(schemaPath): invalid JSON at byte"), "\(notJSON.output)")
    }
}
