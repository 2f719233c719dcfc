import Foundation

// `swift run arcp-examples`         lists the examples
// `swift run arcp-examples <name>`  runs one
// `swift run arcp-examples all`     runs every example in turn
// Each example lives in its own file next to this one.

let arguments = CommandLine.arguments.dropFirst()

func list() {
    print("usage: arcp-examples <name> | all\n")
    let width = Gallery.all.map { $0.name.count }.max() ?? 0
    for example in Gallery.all {
        print("  \(example.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(example.summary)")
    }
}

func runOne(_ example: any Example.Type) async -> Bool {
    print("### \(example.name) — \(example.summary) (\(example.spec))")
    do {
        try await example.run()
        print("\n✓ \(example.name)\n")
        return true
    } catch {
        print("\n✗ \(example.name): \(error)\n")
        return false
    }
}

switch arguments.first {
case nil, "-h", "--help", "help", "list":
    list()
case "all":
    var failed: [String] = []
    for example in Gallery.all where !(await runOne(example)) { failed.append(example.name) }
    if !failed.isEmpty {
        print("failed: \(failed.joined(separator: ", "))")
        exit(1)
    }
case let name?:
    guard let example = Gallery.named(name) else {
        print("unknown example '\(name)'\n")
        list()
        exit(2)
    }
    if !(await runOne(example)) { exit(1) }
}
