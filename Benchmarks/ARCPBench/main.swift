import Foundation

// arcp-bench <subcommand> [options]
//
// Each subcommand lives in its own file and is listed here. Add yours to `commands`.
let commands: [any BenchCommand.Type] = [
    ClientMemoryBench.self,
    CodecBench.self,
    EngineBench.self,
    LeaseBench.self,
    WebSocketBench.self,
    WebSocketFloorBench.self,
    WebSocketFloorServer.self,
    SoakBench.self,
    ClusterBench.self,
]

let args = Array(CommandLine.arguments.dropFirst())
guard let name = args.first, name != "-h", name != "--help", name != "help" else {
    print(BenchUsage.text(commands))
    exit(args.isEmpty ? 2 : 0)
}
guard let command = commands.first(where: { $0.name == name }) else {
    FileHandle.standardError.write(Data("arcp-bench: unknown subcommand \(name)\n\n\(BenchUsage.text(commands))\n".utf8))
    exit(2)
}
do {
    try await command.run(arguments: Array(args.dropFirst()))
} catch {
    FileHandle.standardError.write(Data("arcp-bench \(name): \(error)\n".utf8))
    exit(1)
}
