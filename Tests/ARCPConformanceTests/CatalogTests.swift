import ARCPConformance
import ARCPTestSupport
import Foundation
import Testing

/// The catalog itself: ids unique, sections and texts filled in, at least 80 scenarios.
@Suite struct CatalogTests {
    @Test func idsAreUniqueAndWellFormed() {
        let ids = ScenarioCatalog.all.map(\.id)
        #expect(Set(ids).count == ids.count)
        #expect(ids.count >= 80)
        for s in ScenarioCatalog.all {
            #expect(s.id.contains("."), "\(s.id)")
            #expect(!s.section.isEmpty && !s.title.isEmpty && !s.requirement.isEmpty, "\(s.id)")
        }
    }

    /// docs/CONFORMANCE-KIT.md lists every scenario once, and its results columns say what the
    /// tests assert: swift-arcp fails the known findings, the reference its known deviations.
    @Test func docsListEveryScenarioWithTheAssertedResults() throws {
        let doc = try String(contentsOf: PackagePaths.root.appendingPathComponent("docs/CONFORMANCE-KIT.md"), encoding: .utf8)
        var rows: [String: (swift: String, python: String)] = [:]
        for line in doc.split(separator: "\n") where line.hasPrefix("| `") {
            // Cells split on `|`, not on an escaped `\|` inside a cell.
            let cells = line.replacingOccurrences(of: "\\|", with: "\u{1}").split(separator: "|", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 7 else { continue }
            let id = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            #expect(rows[id] == nil, "\(id) listed twice")
            rows[id] = (cells[5], cells[6])
        }
        let ids = Set(ScenarioCatalog.all.map(\.id))
        #expect(Set(rows.keys) == ids, "not in the docs: \(ids.subtracting(rows.keys).sorted()); not in the catalog: \(Set(rows.keys).subtracting(ids).sorted())")
        let swiftFails = Set(rows.filter { $0.value.swift.contains("FAIL") }.keys)
        let pythonFails = Set(rows.filter { $0.value.python.contains("FAIL") }.keys)
        #expect(swiftFails == ConformanceKitTests.ArcpServeTests.knownFailures)
        #expect(pythonFails == Set(ConformanceKitTests.PythonReferenceTests.knownDeviations.keys))
    }
}
