import ARCPJSON
import Foundation

/// The whole pipeline: read schema → build model → render Swift → write files.
public enum Generator {
    /// Generates into `outputDirectory`, writing a file only when its contents changed.
    /// Returns the paths written or kept.
    @discardableResult
    public static func run(schema: URL, outputDirectory: URL) throws -> [URL] {
        let model = try ModelBuilder.build(try SchemaReader.read(contentsOf: schema))
        let files = SwiftRenderer(model: model).render()
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        var out: [URL] = []
        for (name, text) in files.sorted(by: { $0.key < $1.key }) {
            let url = outputDirectory.appendingPathComponent(name)
            let data = Data(text.utf8)
            if (try? Data(contentsOf: url)) != data { try data.write(to: url, options: .atomic) }
            out.append(url)
        }
        return out
    }

    /// The file names `run` produces (the plugin declares them as outputs).
    public static let outputFileNames = ["ARCPSchemaCatalog.swift", "ARCPStreaming.swift", "ARCPTypes.swift", "ARCPValidators.swift"]
}
