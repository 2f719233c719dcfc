import ARCPJSON
import Foundation

/// The `arcp-codegen` command line: the same generator the build-tool plugin runs, for
/// scripts and build systems outside SwiftPM. Kept free of dependencies (no ArgumentParser)
/// because the plugin builds this tool on every clean build.
public struct CodegenCommand: Equatable, Sendable {
    public var schema: String?
    public var config: String?
    public var output: String?
    public var moduleName: String?
    /// Flags that override the configuration file.
    public var accessModifier: AccessModifier?
    public var namespace: String?
    public var typeNamePrefix: String?
    public var generate: [GeneratorConfiguration.Output]?
    public var additionalImports: [String] = []
    /// Check the schema and configuration, write nothing.
    public var checkOnly = false
    public var help = false

    public init() {}

    public static let usage = """
        OVERVIEW: Generates Swift wire types, validators and single-pass decoders from a JSON Schema
        2020-12 document with arcp-codegen's x-arcp-* extensions (docs/CODEGEN.md).

        USAGE: arcp-codegen [--schema <path>] [--config <path>] --output <dir> [<options>]
               arcp-codegen --check [--schema <path>] [--config <path>] [<options>]

        INPUT:
          --schema <path>         The schema. Default: the configuration's "schema" (relative to the
                                  configuration file), else arcp.schema.json beside the configuration.
          --config <path>         An arcp-codegen.json. Default: arcp-codegen.json beside the schema,
                                  when there is one.

        OUTPUT:
          --output <dir>          Where to write ARCPSchemaCatalog.swift, ARCPStreaming.swift,
                                  ARCPTypes.swift and ARCPValidators.swift (only files whose text
                                  changed are rewritten).
          --module-name <name>    The module the files are compiled into. Generated code imports
                                  ARCPGenerated (the support code) unless this is ARCPGenerated.
          --check                 Check the schema and the configuration; write nothing.

        OPTIONS (override the configuration file):
          --access-modifier <public|package|internal>
          --namespace <name>      Nest every generated type in `enum <name>`.
          --type-name-prefix <p>  Prepend <p> to every generated type name.
          --generate <list>       Comma-separated: types, validators, streamingDecoders.
          --additional-import <module>
                                  Import <module> in every generated file (repeatable).
          -h, --help              Show this help.

        EXIT STATUS: 0 on success, 1 for a schema or configuration error (printed with its JSON
        Pointer), 2 for a usage error.
        """

    /// A usage problem: exit status 2.
    public struct UsageError: Error, Equatable, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// Parses the arguments after the program name.
    public static func parse(_ arguments: [String]) throws(UsageError) -> CodegenCommand {
        var c = CodegenCommand()
        var i = 0
        func value(_ flag: String) throws(UsageError) -> String {
            i += 1
            guard i < arguments.count, !arguments[i].hasPrefix("--") else { throw UsageError("\(flag) needs a value") }
            return arguments[i]
        }
        while i < arguments.count {
            let a = arguments[i]
            switch a {
            case "-h", "--help": c.help = true
            case "--check": c.checkOnly = true
            case "--schema": c.schema = try value(a)
            case "--config": c.config = try value(a)
            case "--output": c.output = try value(a)
            case "--module-name": c.moduleName = try value(a)
            case "--access-modifier":
                let v = try value(a)
                guard let m = AccessModifier(rawValue: v) else { throw UsageError("--access-modifier: expected public, package or internal, found \(v)") }
                c.accessModifier = m
            case "--namespace": c.namespace = try value(a)
            case "--type-name-prefix": c.typeNamePrefix = try value(a)
            case "--generate":
                var outputs: [GeneratorConfiguration.Output] = []
                for part in try value(a).split(separator: ",") {
                    let name = part.trimmingCharacters(in: .whitespaces)
                    guard let o = GeneratorConfiguration.Output(rawValue: name) else {
                        throw UsageError("--generate: expected types, validators or streamingDecoders, found \(name)")
                    }
                    if !outputs.contains(o) { outputs.append(o) }
                }
                c.generate = outputs.sorted()
            case "--additional-import": c.additionalImports.append(try value(a))
            default: throw UsageError("unknown argument \(a)")
            }
            i += 1
        }
        if !c.help, !c.checkOnly, c.output == nil { throw UsageError("--output is required (or --check)") }
        return c
    }

    /// What the run resolved: the files it read and the configuration it used.
    public struct Resolved: Equatable, Sendable {
        public var schema: URL
        public var config: URL?
        public var configuration: GeneratorConfiguration
    }

    /// Finds the schema and the configuration and merges the flags into it.
    public func resolve(fileManager: FileManager = .default) throws -> Resolved {
        var configURL = config.map { URL(fileURLWithPath: $0) }
        if configURL == nil, let schema {
            let beside = URL(fileURLWithPath: schema).deletingLastPathComponent().appendingPathComponent(GeneratorConfiguration.fileName)
            if fileManager.fileExists(atPath: beside.path) { configURL = beside }
        }
        var configuration = GeneratorConfiguration()
        if let configURL {
            do {
                configuration = try GeneratorConfiguration.read(contentsOf: configURL)
            } catch let e as ConfigurationError {
                throw FileError(path: configURL.path, error: e)
            }
        }
        let schemaURL: URL
        if let schema {
            schemaURL = URL(fileURLWithPath: schema)
        } else if let configURL {
            schemaURL = URL(fileURLWithPath: configuration.schema ?? GeneratorConfiguration.defaultSchemaFileName, relativeTo: configURL.deletingLastPathComponent())
                .standardizedFileURL
        } else {
            throw UsageError("no schema: pass --schema, or --config with a \"schema\"")
        }
        if let v = accessModifier { configuration.accessModifier = v }
        if let v = namespace { configuration.namespace = v }
        if let v = typeNamePrefix { configuration.typeNamePrefix = v }
        if let v = generate { configuration.generate = v }
        configuration.additionalImports += additionalImports
        do {
            // Flags are checked by the same rules as the file.
            configuration = try GeneratorConfiguration.parse(configuration.json)
        } catch {
            throw FileError(path: "command line", error: error)
        }
        return Resolved(schema: schemaURL, config: configURL, configuration: configuration)
    }

    /// Runs the command; returns what to print on standard output.
    public func run() throws -> String {
        if help { return Self.usage }
        let r = try resolve()
        let module = moduleName ?? ""
        do {
            if checkOnly {
                _ = try Generator.render(schema: r.schema, configuration: r.configuration, moduleName: module)
                return "arcp-codegen: \(r.schema.path): OK"
            }
            let written = try Generator.run(
                schema: r.schema, outputDirectory: URL(fileURLWithPath: output ?? "."), configuration: r.configuration, moduleName: module)
            return written.map(\.path).joined(separator: "\n")
        } catch let e as SchemaError {
            throw FileError(path: r.schema.path, error: e)
        } catch let e as JSONSyntaxError {
            throw FileError(path: r.schema.path, error: e)
        }
    }

    /// An error in a file, printed as `<path>: <error>`.
    public struct FileError: Error, CustomStringConvertible {
        public var path: String
        public var error: any Error
        public var description: String { "\(path): \(error)" }
    }
}

extension GeneratorConfiguration {
    /// The configuration as an `arcp-codegen.json` document.
    public var json: JSONValue {
        var o = JSONObject()
        if let schema { o.append("schema", .string(schema)) }
        o.append("accessModifier", .string(accessModifier.rawValue))
        if !typeNamePrefix.isEmpty { o.append("typeNamePrefix", .string(typeNamePrefix)) }
        if let namespace { o.append("namespace", .string(namespace)) }
        o.append("generate", .array(generate.map { .string($0.rawValue) }))
        if !additionalImports.isEmpty { o.append("additionalImports", .array(additionalImports.map { .string($0) })) }
        return .object(o)
    }
}
