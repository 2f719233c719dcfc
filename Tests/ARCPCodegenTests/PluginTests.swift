import ARCPCodegenCore
import Foundation
import Testing

/// The build-tool plugin cannot import ARCPCodegenCore (a plugin depends on executables only),
/// so it spells out the names it shares with the generator; these must stay equal.
@Suite("The ARCPCodegen plugin agrees with the generator")
struct PluginTests {
    static let source = repoRoot.appendingPathComponent("Plugins/ARCPCodegen/plugin.swift")

    @Test("it declares exactly the files the generator writes, and looks for the same file names")
    func names() throws {
        let text = try String(contentsOf: Self.source, encoding: .utf8)
        let declared = "outputFiles: [" + Generator.outputFileNames.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        #expect(text.contains(declared), "the plugin's outputFiles differ from Generator.outputFileNames")
        #expect(text.contains("\"\(GeneratorConfiguration.fileName)\""))
        #expect(text.contains("\"\(GeneratorConfiguration.defaultSchemaFileName)\""))
        #expect(text.contains("\"\(GeneratorConfiguration.supportModule)\""))
        #expect(text.contains("context.tool(named: \"arcp-codegen\")"))
    }
}
