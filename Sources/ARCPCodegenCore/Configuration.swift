import ARCPJSON
import Foundation

/// What to generate and how to name it: `arcp-codegen.json` beside the schema, or the
/// command line's flags. Every member has a default, so an absent file means the defaults.
public struct GeneratorConfiguration: Equatable, Sendable {
    /// The parts of the output that can be switched on and off.
    public enum Output: String, Equatable, Sendable, CaseIterable, Comparable {
        /// The wire types: structs, enums and discriminated unions with `init(json:)`, `toJSON()`
        /// and `write(to:)`.
        case types
        /// `<Prefix>Validator`: the validators that report every violation with its JSON Pointer.
        case validators
        /// `<Root>.decodeValidated(frame:)`: the single-pass decoders (needs `types` and `validators`).
        case streamingDecoders

        public static func < (a: Output, b: Output) -> Bool {
            allCases.firstIndex(of: a) ?? 0 < allCases.firstIndex(of: b) ?? 0
        }
    }

    /// The configuration file's name, looked for beside the schema.
    public static let fileName = "arcp-codegen.json"
    /// The schema's default file name.
    public static let defaultSchemaFileName = "arcp.schema.json"
    /// The module that holds the support code (JSON values, the reader and writer, formats,
    /// `Violation`). Generated code imports it unless it is compiled into it.
    public static let supportModule = "ARCPGenerated"

    /// The schema, relative to the configuration file's directory (nil: `arcp.schema.json`).
    public var schema: String?
    /// The access modifier of every generated declaration that is part of the API.
    public var accessModifier: AccessModifier
    /// Prepended to every generated type name: definitions, discriminated unions, and the
    /// validator and catalog types (`Validator`, `SchemaDefinition`, `SchemaInfo` after a prefix).
    public var typeNamePrefix: String
    /// When set, every generated type is nested in `enum <namespace>`.
    public var namespace: String?
    /// The outputs to generate; files of the others are written with the header only.
    public var generate: [Output]
    /// More modules to import in every generated file.
    public var additionalImports: [String]

    public init(
        schema: String? = nil, accessModifier: AccessModifier = .public, typeNamePrefix: String = "", namespace: String? = nil,
        generate: [Output] = Output.allCases, additionalImports: [String] = []
    ) {
        self.schema = schema
        self.accessModifier = accessModifier
        self.typeNamePrefix = typeNamePrefix
        self.namespace = namespace
        self.generate = generate
        self.additionalImports = additionalImports
    }

    public func generates(_ o: Output) -> Bool { generate.contains(o) }

    /// The configuration's keys, for `--help` and error messages.
    public static let keys = ["schema", "accessModifier", "typeNamePrefix", "namespace", "generate", "additionalImports"]

    /// Reads a configuration document, reporting problems with their JSON Pointer.
    public static func parse(_ json: JSONValue) throws(ConfigurationError) -> GeneratorConfiguration {
        guard case .object(let o) = json else { throw ConfigurationError("", "the configuration must be a JSON object") }
        var c = GeneratorConfiguration()
        for m in o.members {
            let at = "/" + m.key
            switch m.key {
            case "schema":
                c.schema = try string(m.value, at: at)
            case "accessModifier":
                let s = try string(m.value, at: at)
                guard let a = AccessModifier(rawValue: s) else {
                    throw ConfigurationError(at, "expected one of \(AccessModifier.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(s)\"")
                }
                c.accessModifier = a
            case "typeNamePrefix":
                let s = try string(m.value, at: at)
                if !s.isEmpty, !isIdentifier(s) { throw ConfigurationError(at, "\"\(s)\" is not a Swift identifier") }
                c.typeNamePrefix = s
            case "namespace":
                let s = try string(m.value, at: at)
                guard isIdentifier(s) else { throw ConfigurationError(at, "\"\(s)\" is not a Swift identifier") }
                c.namespace = s
            case "generate":
                guard case .array(let items) = m.value else { throw ConfigurationError(at, "expected an array of strings") }
                var outputs: [Output] = []
                for (i, item) in items.enumerated() {
                    let s = try string(item, at: "\(at)/\(i)")
                    guard let o = Output(rawValue: s) else {
                        throw ConfigurationError("\(at)/\(i)", "expected one of \(Output.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(s)\"")
                    }
                    if !outputs.contains(o) { outputs.append(o) }
                }
                c.generate = outputs.sorted()
            case "additionalImports":
                guard case .array(let items) = m.value else { throw ConfigurationError(at, "expected an array of strings") }
                c.additionalImports = []
                for (i, item) in items.enumerated() {
                    let s = try string(item, at: "\(at)/\(i)")
                    guard s.split(separator: ".").allSatisfy({ isIdentifier(String($0)) }) else {
                        throw ConfigurationError("\(at)/\(i)", "\"\(s)\" is not a module name")
                    }
                    c.additionalImports.append(s)
                }
            default:
                throw ConfigurationError(at, "unknown key \"\(m.key)\" (known: \(keys.joined(separator: ", ")))")
            }
        }
        try c.check()
        return c
    }

    /// Combinations that cannot be generated.
    public func check() throws(ConfigurationError) {
        if generates(.streamingDecoders), !(generates(.types) && generates(.validators)) {
            throw ConfigurationError("/generate", "streamingDecoders needs types and validators")
        }
    }

    /// Reads `url` (an `arcp-codegen.json`).
    public static func read(contentsOf url: URL) throws -> GeneratorConfiguration {
        let value: JSONValue
        do { value = try JSONParser.parse(try Data(contentsOf: url)) } catch let e as JSONSyntaxError {
            throw ConfigurationError("", e.description)
        }
        return try parse(value)
    }

    static func string(_ v: JSONValue, at: String) throws(ConfigurationError) -> String {
        guard case .string(let s) = v else { throw ConfigurationError(at, "expected a string, found \(v.typeName)") }
        return s
    }

    static func isIdentifier(_ s: String) -> Bool { Naming.isIdentifier(s) }
}

/// A configuration the generator cannot use, with the JSON Pointer of the problem.
public struct ConfigurationError: Error, Equatable, CustomStringConvertible {
    public var pointer: String
    public var message: String
    public init(_ pointer: String, _ message: String) {
        self.pointer = pointer
        self.message = message
    }
    public var description: String { "configuration error at \(pointer.isEmpty ? "/" : pointer): \(message)" }
}
