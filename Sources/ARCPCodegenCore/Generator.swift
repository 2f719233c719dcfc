import ARCPJSON
import Foundation

/// The whole pipeline: read the schema (stage 1), build the model (2), translate it to
/// structured Swift (3), render the text (4), write the files.
public enum Generator {
    /// Generates into `outputDirectory`, writing a file only when its contents changed.
    /// Returns the paths written or kept. `moduleName` is the module the files are compiled
    /// into (they import `ARCPGenerated`, the support code, unless they are part of it).
    @discardableResult
    public static func run(
        schema: URL, outputDirectory: URL, configuration: GeneratorConfiguration = GeneratorConfiguration(),
        moduleName: String = GeneratorConfiguration.supportModule
    ) throws -> [URL] {
        let files = try render(schema: schema, configuration: configuration, moduleName: moduleName)
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

    /// The files for `schema`, name → text, without writing them.
    public static func render(
        schema: URL, configuration: GeneratorConfiguration = GeneratorConfiguration(), moduleName: String = GeneratorConfiguration.supportModule
    ) throws -> [String: String] {
        let model = try ModelBuilder.build(try SchemaReader.read(contentsOf: schema))
        let renderer = SwiftRenderer(model: model, configuration: configuration, moduleName: moduleName, schemaName: schema.lastPathComponent)
        try renderer.checkNames()
        return renderer.render()
    }

    /// The file names `run` produces (the plugin declares them as outputs).
    public static let outputFileNames = SwiftRenderer.fileNames
}
