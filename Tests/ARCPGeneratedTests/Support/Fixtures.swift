import ARCPGenerated
import Foundation
import Testing

/// Locations of the files the tests read. Everything is resolved from this source file so the
/// tests work from any working directory: the repository root is two levels up, and the shared
/// reference material (spec, Python transcripts) sits beside the repository in `../shared`.
enum Fixtures {
    /// `<repo>/`
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // ARCPGeneratedTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repo

    /// `<repo>/../shared`, or `$ARCP_SHARED_DIR` when set.
    static let sharedRoot: URL = {
        if let env = ProcessInfo.processInfo.environment["ARCP_SHARED_DIR"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    static let schemaURL = repoRoot.appendingPathComponent("schema/arcp.schema.json")
    static let transcriptsDir = sharedRoot.appendingPathComponent("reference/python-1.1.3/transcripts")
    static let specURL = sharedRoot.appendingPathComponent("spec/draft-arcp-1.1.md")

    struct Missing: Error, CustomStringConvertible {
        var path: String
        var description: String { "fixture not found: \(path) (expected ../shared beside the repository, or set ARCP_SHARED_DIR)" }
    }

    static func read(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else { throw Missing(path: url.path) }
        return try Data(contentsOf: url)
    }

    /// The schema document, parsed with the same parser the wire layer uses.
    static func schema() throws -> JSONValue {
        try JSONParser.parse(try read(schemaURL))
    }

    /// One recorded WebSocket frame of a transcript.
    struct Frame: Sendable, CustomStringConvertible {
        var file: String
        var n: Int
        var direction: String
        /// The exact text that was on the wire.
        var raw: String
        /// The Python recorder's parse of `raw` (`nil` when it was not JSON).
        var frame: JSONValue?

        var description: String { "\(file)#\(n)" }
    }

    /// Every record with a `raw` member in every transcript, in file order.
    static func transcriptFrames() throws -> [Frame] {
        let dir = transcriptsDir
        guard FileManager.default.fileExists(atPath: dir.path) else { throw Missing(path: dir.path) }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".jsonl") }.sorted()
        var out: [Frame] = []
        for name in names {
            let text = String(decoding: try read(dir.appendingPathComponent(name)), as: UTF8.self)
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                let record = try JSONParser.parse(String(line))
                guard let raw = record["raw"]?.stringValue else { continue }
                var frame: JSONValue? = nil
                if let f = record["frame"], !f.isNull { frame = f }
                out.append(Frame(
                    file: name, n: Int(record["n"]?.int64Value ?? -1), direction: record["dir"]?.stringValue ?? "",
                    raw: raw, frame: frame))
            }
        }
        return out
    }

    /// The first `job.event` text in 06_progress_events.jsonl: the envelope the Python codec bench uses.
    static func benchEventText() throws -> String {
        let frames = try transcriptFrames()
        guard let f = frames.first(where: { $0.file.hasPrefix("06_") && $0.raw.contains("\"type\":\"job.event\"") }) else {
            throw Missing(path: "06_progress_events.jsonl job.event")
        }
        return f.raw
    }
}
