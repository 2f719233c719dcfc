import Foundation
import PackagePlugin

/// Generates wire types, validators and single-pass decoders from the JSON Schema in the
/// target's directory, at build time: `arcp.schema.json`, or the file `arcp-codegen.json`
/// names there (with the generator's options). Thin on purpose: the tool (`arcp-codegen`,
/// ARCPCodegenCore) reads and checks the configuration; the plugin only finds the files.
@main
struct ARCPCodegen: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SwiftSourceModuleTarget else { throw PluginError.notSwift(target.name) }
        let inputs = try Inputs(directory: target.directoryURL, targetName: target.name)
        // Generated code uses the support code in ARCPGenerated (JSONValue, the reader and
        // writer, Violation, …); say so here rather than with "no such module" later.
        if target.moduleName != "ARCPGenerated", !target.recursiveTargetDependencies.contains(where: { $0.name == "ARCPGenerated" }) {
            throw PluginError.missingDependency(target.name)
        }
        let output = context.pluginWorkDirectoryURL.appending(path: "GeneratedSources")
        var arguments = ["--schema", inputs.schema.path(percentEncoded: false)]
        if let config = inputs.config { arguments += ["--config", config.path(percentEncoded: false)] }
        arguments += ["--output", output.path(percentEncoded: false), "--module-name", target.moduleName]
        return [
            .buildCommand(
                displayName: "arcp-codegen: \(inputs.schema.lastPathComponent) → \(target.name)",
                executable: try context.tool(named: "arcp-codegen").url,
                arguments: arguments,
                inputFiles: [inputs.schema] + (inputs.config.map { [$0] } ?? []),
                outputFiles: ["ARCPSchemaCatalog.swift", "ARCPStreaming.swift", "ARCPTypes.swift", "ARCPValidators.swift"].map { output.appending(path: $0) }
            )
        ]
    }
}

/// The schema and the optional configuration of one target.
struct Inputs {
    var schema: URL
    var config: URL?

    init(directory: URL, targetName: String) throws {
        let fm = FileManager.default
        let configURL = directory.appending(path: "arcp-codegen.json")
        var schemaName = "arcp.schema.json"
        if fm.fileExists(atPath: configURL.path(percentEncoded: false)) {
            config = configURL
            // Only the schema's location is read here; the tool checks the rest.
            let data = try Data(contentsOf: configURL)
            if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let name = object["schema"] as? String {
                schemaName = name
            }
        }
        schema = directory.appending(path: schemaName).standardized
        guard fm.fileExists(atPath: schema.path(percentEncoded: false)) else {
            throw PluginError.noSchema(targetName, schema.path(percentEncoded: false), config != nil)
        }
    }
}

enum PluginError: Error, CustomStringConvertible {
    case notSwift(String)
    case noSchema(String, String, Bool)
    case missingDependency(String)

    var description: String {
        switch self {
        case .notSwift(let t):
            return "ARCPCodegen: target \(t) is not a Swift target"
        case .noSchema(let t, let path, let configured):
            return "ARCPCodegen: target \(t) has no schema at \(path)"
                + (configured ? " (named by its arcp-codegen.json)" : "; add arcp.schema.json to the target's directory, or name it in arcp-codegen.json")
        case .missingDependency(let t):
            return "ARCPCodegen: target \(t) must depend on the ARCPGenerated product (the generated code uses its support types)"
        }
    }
}
