import ARCPTestSupport
import Foundation
import Testing

/// docs/INTEROP.md's examples matrix says what `Matrix` asserts (no Python needed).
@Suite("Examples interop: docs/INTEROP.md matrix")
struct MatrixDocTests {
    /// The table's columns after "Example" and "ref ↔ ref", in order.
    static let columns: [Direction] = [.referenceClient, .referenceClientCompat, .swiftClient, .swiftPair]

    @Test("each row of the examples matrix matches Matrix.expected")
    func docsMatchMatrix() throws {
        var rows: [String: [String]] = [:]
        for cells in try Self.rows(after: "## The reference's 22 examples, both directions", cells: 6) {
            rows[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = Array(cells[2...])
        }
        #expect(Set(rows.keys) == Set(Matrix.examples), "the matrix lists every example once")
        for example in Matrix.examples {
            guard let cells = rows[example] else { continue }
            for (direction, cell) in zip(Self.columns, cells) {
                let documented = cell.split(separator: " ").first.map(String.init) ?? ""
                let expected: String
                if direction == .referenceClientCompat && !Matrix.compatExamples.contains(example) {
                    expected = "—"
                } else if case .fail = Matrix.expectation(example, direction) {
                    expected = "fail"
                } else {
                    expected = "pass"
                }
                #expect(documented == expected, "docs/INTEROP.md: \(example), \(direction.rawValue) says \"\(cell)\", the test expects \(expected)")
            }
        }
    }

    @Test("the host examples' framework table lists each example on each framework, passing")
    func docsListTheHostsOnEachFramework() throws {
        var rows: [String: [String]] = [:]
        for cells in try Self.rows(after: "**Hosts on both Swift web frameworks.**", cells: 4) {
            let example = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let framework = cells[1].split(separator: " ").first.map { $0.lowercased() } ?? ""
            #expect(cells[1].contains("(default)") == (Matrix.defaultFramework[example] == framework), "\(example) on \(framework): default marker")
            rows["\(example) \(framework)"] = Array(cells[2...])
        }
        let expected = Set(Matrix.hostExamples.flatMap { e in Matrix.frameworks.map { "\(e) \($0)" } })
        #expect(Set(rows.keys) == expected)
        // hostOnFramework asserts a pass in every direction it runs.
        for (key, cells) in rows { #expect(cells == Matrix.frameworkDirections.map { _ in "pass" }, "\(key): \(cells)") }
    }

    /// The cells of the rows of docs/INTEROP.md that name an example (`| `name` | …`) and
    /// have `cells` cells, from `marker` to the next heading.
    static func rows(after marker: String, cells count: Int) throws -> [[String]] {
        let text = try String(contentsOf: PackagePaths.root.appendingPathComponent("docs/INTEROP.md"), encoding: .utf8)
        let start = try #require(text.range(of: marker), "docs/INTEROP.md has no \(marker)")
        var out: [[String]] = []
        for line in text[start.upperBound...].split(separator: "\n") {
            if line.hasPrefix("#") { break }
            guard line.hasPrefix("| `") else { continue }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            if cells.count == count { out.append(cells) }
        }
        return out
    }
}
