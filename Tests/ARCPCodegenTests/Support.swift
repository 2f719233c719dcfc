import ARCPCodegenCore
import ARCPJSON
import Foundation
import Testing

/// The repository's schema, resolved from this file.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let realSchemaURL = repoRoot.appendingPathComponent("schema/arcp.schema.json")

/// A schema document with these `$defs` (JSON text of the members) and root `$ref`.
func schema(_ defs: String, root: String = "Root", title: String? = nil) throws -> JSONValue {
    var text = "{"
    if let title { text += "\"title\": \"\(title)\", " }
    text += "\"$ref\": \"#/$defs/\(root)\", \"$defs\": {" + defs + "}}"
    return try JSONParser.parse(text)
}

/// The `SchemaError` that building `doc` throws (or nil).
func buildError(_ doc: JSONValue) -> SchemaError? {
    do {
        _ = try ModelBuilder.build(doc)
        return nil
    } catch let e as SchemaError {
        return e
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

/// A schema (`$defs` members, root `Root`) the model builder must refuse, with the pointer and
/// message it must give.
struct RefusedSchema: Sendable, CustomTestStringConvertible {
    var name: String
    var defs: String
    var pointer: String
    var message: String
    var testDescription: String { name }

    func check() throws {
        let e = try #require(buildError(try schema(defs)))
        #expect(e.pointer == pointer)
        #expect(e.message == message)
    }
}

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-codegen-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// `name` on the PATH.
func findExecutable(_ name: String) -> URL? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
        let url = URL(fileURLWithPath: String(dir)).appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    return nil
}

/// `swiftc` on the PATH.
func findSwiftc() -> URL? { findExecutable("swiftc") }

/// Runs `executable` with `arguments`, feeding `input` on standard input; returns the exit
/// status and what it printed (standard output and error together). `environment` nil: this
/// process's.
func run(
    _ executable: URL, _ arguments: [String], input: String = "", directory: URL? = nil, environment: [String: String]? = nil
) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = executable
    p.arguments = arguments
    if let directory { p.currentDirectoryURL = directory }
    if let environment { p.environment = environment }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    // Standard input from a file, so nothing has to be written while the output is read.
    let inputFile = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-codegen-input-\(UUID().uuidString)")
    try Data(input.utf8).write(to: inputFile)
    defer { try? FileManager.default.removeItem(at: inputFile) }
    p.standardInput = try FileHandle(forReadingFrom: inputFile)
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The code generated for a test schema, compiled with the hand-written support code (ARCPJSON
/// and ARCPGenerated/Support) and a `main.swift` into one program, so tests can run the
/// generated validators and decoders on inputs.
struct GeneratedProgram {
    let executable: URL
    let directory: URL

    /// `main` is the program's top-level code; the generated types are in the same module.
    init(schema: JSONValue, main: String) throws {
        directory = try temporaryDirectory()
        var inputs: [String] = []
        for (name, text) in SwiftRenderer(model: try ModelBuilder.build(schema)).render() {
            let url = directory.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            inputs.append(url.path)
        }
        for folder in ["Sources/ARCPJSON", "Sources/ARCPGenerated/Support"] {
            let src = repoRoot.appendingPathComponent(folder)
            for f in try FileManager.default.contentsOfDirectory(atPath: src.path) where f.hasSuffix(".swift") && f != "Exports.swift" {
                inputs.append(src.appendingPathComponent(f).path)
            }
        }
        let mainURL = directory.appendingPathComponent("main.swift")
        try Data(main.utf8).write(to: mainURL)
        inputs.append(mainURL.path)
        executable = directory.appendingPathComponent("program")
        guard let swiftc = findSwiftc() else { throw SchemaError("", "swiftc not found on PATH") }
        let (status, output) = try run(swiftc, ["-swift-version", "6", "-module-name", "Generated", "-Onone", "-o", executable.path] + inputs)
        guard status == 0 else { throw SchemaError("", "the generated program does not compile:\n\(output)") }
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    /// A program that reads frames (one per line) and prints, per frame, one JSON line:
    /// `{"dom": [[path, rule, message], …], "streamed": […], "decoded": true|false}` from
    /// `ARCPValidator.validate(frame:)` and `<root>.decodeValidated(frame:)`.
    static func validatorMain(root: String) -> String {
        """
        import Foundation
        func row(_ vs: [Violation]) -> JSONValue {
            .array(vs.map { .array([.string($0.path), .string($0.rule), .string($0.message)]) })
        }
        while let line = readLine() {
            let streamed = \(root).decodeValidated(frame: line)
            var out = JSONObject()
            out.append("dom", row(ARCPValidator.validate(frame: line)))
            out.append("streamed", row(streamed.violations))
            out.append("decoded", .bool(streamed.value != nil))
            print(JSONWriter.string(.object(out)))
        }
        """
    }

    /// What the validator program reports for `frames`, in order.
    func validate(_ frames: [String]) throws -> [(dom: [[String]], streamed: [[String]], decoded: Bool)] {
        let (status, output) = try run(executable, [], input: frames.map { $0 + "\n" }.joined())
        guard status == 0 else { throw SchemaError("", "the generated program failed (\(status)):\n\(output)") }
        let lines = output.split(separator: "\n").map(String.init)
        guard lines.count == frames.count else { throw SchemaError("", "expected \(frames.count) lines, got:\n\(output)") }
        func rows(_ v: JSONValue?) -> [[String]] {
            (v?.arrayValue ?? []).map { ($0.arrayValue ?? []).map { $0.stringValue ?? "" } }
        }
        return try lines.map { line in
            let v = try JSONParser.parse(line)
            return (rows(v["dom"]), rows(v["streamed"]), v["decoded"]?.boolValue ?? false)
        }
    }
}
