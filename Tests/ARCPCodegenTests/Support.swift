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

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-codegen-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
