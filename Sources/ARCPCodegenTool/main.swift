import ARCPCodegenCore
import Foundation

// arcp-codegen: see `arcp-codegen --help` and docs/CODEGEN.md. The ARCPCodegen build-tool
// plugin runs it with --schema, --config, --output and --module-name.
do {
    let command = try CodegenCommand.parse(Array(CommandLine.arguments.dropFirst()))
    let out = try command.run()
    if !out.isEmpty && (command.help || command.checkOnly) { print(out) }
} catch let e as CodegenCommand.UsageError {
    FileHandle.standardError.write(Data("arcp-codegen: \(e)\nRun arcp-codegen --help for usage.\n".utf8))
    exit(2)
} catch {
    FileHandle.standardError.write(Data("arcp-codegen: error: \(error)\n".utf8))
    exit(1)
}
