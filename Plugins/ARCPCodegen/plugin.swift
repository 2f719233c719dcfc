import Foundation
import PackagePlugin

/// Generates Sources/ARCPGenerated's wire types and validators from schema/arcp.schema.json
/// at build time. Thin on purpose: the logic lives in ARCPCodegenCore.
@main
struct ARCPCodegen: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let schema = context.package.directoryURL.appending(path: "schema/arcp.schema.json")
        let output = context.pluginWorkDirectoryURL.appending(path: "GeneratedSources")
        let tool = try context.tool(named: "ARCPCodegenTool")
        return [
            .buildCommand(
                displayName: "arcp-codegen: schema/arcp.schema.json → \(target.name)",
                executable: tool.url,
                arguments: ["--schema", schema.path(percentEncoded: false), "--output", output.path(percentEncoded: false)],
                inputFiles: [schema],
                outputFiles: ["ARCPSchemaCatalog.swift", "ARCPStreaming.swift", "ARCPTypes.swift", "ARCPValidators.swift"].map { output.appending(path: $0) }
            )
        ]
    }
}
