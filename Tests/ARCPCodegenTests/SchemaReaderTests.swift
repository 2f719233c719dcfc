import ARCPCodegenCore
import ARCPJSON
import Foundation
import Testing

@Suite("Stage 1: SchemaReader")
struct SchemaReaderTests {
    @Test func readsTheRealSchema() throws {
        let doc = try SchemaReader.read(contentsOf: realSchemaURL)
        #expect(doc["$schema"]?.stringValue == "https://json-schema.org/draft/2020-12/schema")
        #expect(doc["$ref"]?.stringValue == "#/$defs/Envelope")
        #expect((doc["$defs"]?.objectValue?.count ?? 0) > 50)
    }

    @Test func readsAFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("s.json")
        try Data(#"{"$defs": {"A": {"type": "string"}}, "title": "é"}"#.utf8).write(to: url)
        let doc = try SchemaReader.read(contentsOf: url)
        #expect(doc["title"] == "é")
        #expect(doc["$defs"]?["A"]?["type"] == "string")
    }

    @Test func rejectsInvalidJSONWithAnOffset() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("bad.json")
        try Data(#"{"$defs": {"A": }}"#.utf8).write(to: url)
        #expect(throws: JSONSyntaxError.self) { try SchemaReader.read(contentsOf: url) }
        do {
            _ = try SchemaReader.read(contentsOf: url)
        } catch let e as JSONSyntaxError {
            #expect(e.offset == 16)
        }
    }

    @Test func missingFileThrows() {
        #expect(throws: (any Error).self) { try SchemaReader.read(contentsOf: URL(fileURLWithPath: "/nonexistent/arcp.schema.json")) }
    }
}
