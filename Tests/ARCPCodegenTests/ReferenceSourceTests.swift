import ARCPCodegenCore
import ARCPJSON
import Foundation
import Testing

/// The Swift generated for the shipped schema is committed under `Reference/ARCPGenerated`
/// (excluded from this target's sources) and compared on every run, so any change to the
/// generator or the schema shows as a reviewable diff of the generated code.
///
/// The files are generated as the plugin generates them for ARCPGenerated: from
/// Sources/ARCPGenerated/arcp-codegen.json, into module ARCPGenerated. To refresh after an
/// intended change, either run this suite with `ARCP_CODEGEN_RECORD=1`
/// (`ARCP_CODEGEN_RECORD=1 swift test --filter ReferenceSource`) or run the tool:
/// `swift run arcp-codegen --config Sources/ARCPGenerated/arcp-codegen.json --module-name ARCPGenerated
///  --output Tests/ARCPCodegenTests/Reference/ARCPGenerated`; then review `git diff` and commit.
@Suite("Reference source: the generated Swift for the shipped schema")
struct ReferenceSourceTests {
    static let directory = repoRoot.appendingPathComponent("Tests/ARCPCodegenTests/Reference/ARCPGenerated")

    static func generated() throws -> [String: String] {
        var command = CodegenCommand()
        command.config = repoRoot.appendingPathComponent("Sources/ARCPGenerated/arcp-codegen.json").path
        let resolved = try command.resolve()
        #expect(resolved.schema.standardizedFileURL == realSchemaURL.standardizedFileURL)
        return try Generator.render(schema: resolved.schema, configuration: resolved.configuration, moduleName: "ARCPGenerated")
    }

    @Test("the committed reference equals what the generator writes")
    func matchesReference() throws {
        let files = try Self.generated()
        if ProcessInfo.processInfo.environment["ARCP_CODEGEN_RECORD"] == "1" {
            try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
            for (name, text) in files { try Data(text.utf8).write(to: Self.directory.appendingPathComponent(name)) }
            Issue.record("ARCP_CODEGEN_RECORD=1: rewrote \(Self.directory.path); review the diff and run again without it")
            return
        }
        let committed = Set(try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).filter { $0.hasSuffix(".swift") })
        #expect(committed == Set(files.keys), "the reference files are not the generated files")
        for (name, text) in files.sorted(by: { $0.key < $1.key }) {
            let url = Self.directory.appendingPathComponent(name)
            let reference = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
            if let difference = Self.firstDifference(reference, text) {
                Issue.record("""
                    \(name) differs from Tests/ARCPCodegenTests/Reference/ARCPGenerated/\(name) at line \(difference.line):
                      reference: \(difference.reference)
                      generated: \(difference.generated)
                    If the change is intended: ARCP_CODEGEN_RECORD=1 swift test --filter ReferenceSource, review git diff, commit.
                    """)
            }
        }
    }

    /// The first line where `a` and `b` differ (1-based), with both lines.
    static func firstDifference(_ a: String, _ b: String) -> (line: Int, reference: String, generated: String)? {
        let al = a.split(separator: "\n", omittingEmptySubsequences: false)
        let bl = b.split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<max(al.count, bl.count) {
            let x = i < al.count ? String(al[i]) : "<end of file>"
            let y = i < bl.count ? String(bl[i]) : "<end of file>"
            if x != y { return (i + 1, x, y) }
        }
        return nil
    }

    @Test("a difference is found and located")
    func differenceIsLocated() {
        #expect(Self.firstDifference("a\nb\nc", "a\nb\nc") == nil)
        let d = Self.firstDifference("a\nb\nc", "a\nB\nc")
        #expect(d?.line == 2 && d?.reference == "b" && d?.generated == "B")
        #expect(Self.firstDifference("a", "a\nb")?.generated == "b")
    }
}
