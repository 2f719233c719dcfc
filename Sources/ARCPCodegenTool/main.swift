import ARCPCodegenCore
import Foundation

// arcp-codegen --schema PATH --output DIR
// Driven by the ARCPCodegen build-tool plugin; also usable by hand.
let args = CommandLine.arguments
func value(_ flag: String) -> String? {
    guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
    return args[i + 1]
}
guard let schema = value("--schema"), let output = value("--output") else {
    FileHandle.standardError.write(Data("usage: arcp-codegen --schema schema/arcp.schema.json --output DIR\n".utf8))
    exit(2)
}
do {
    try Generator.run(schema: URL(fileURLWithPath: schema), outputDirectory: URL(fileURLWithPath: output))
} catch {
    FileHandle.standardError.write(Data("arcp-codegen: \(error)\n".utf8))
    exit(1)
}
