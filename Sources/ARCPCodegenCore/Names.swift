/// The Swift names of everything the generator declares, from the schema's names and the
/// configuration (prefix, namespace, access). Every translator asks here, so a name is made in
/// one place.
struct Names: Sendable {
    let configuration: GeneratorConfiguration

    var prefix: String { configuration.typeNamePrefix }

    /// The access modifier written on API declarations (`internal` is left implicit).
    var access: AccessModifier? { configuration.accessModifier == .internal ? nil : configuration.accessModifier }

    /// The name a definition (or discriminated union) `name` is declared with.
    func declared(_ name: String) -> String { prefix + name }

    /// How generated code refers to type `name`: qualified with the namespace, because an
    /// extension of a nested type (`extension NS.Validator`) does not see its siblings.
    func type(_ name: String) -> String { qualified(declared(name)) }

    /// The validator namespace as declared: `ARCPValidator`, or `<prefix>Validator`.
    var validatorName: String { prefix.isEmpty ? "ARCPValidator" : prefix + "Validator" }
    /// The enum of definitions as declared: `SchemaDefinition`, or `<prefix>SchemaDefinition`.
    var schemaDefinitionName: String { prefix + "SchemaDefinition" }
    /// Facts about the schema, as declared: `ARCPSchemaInfo`, or `<prefix>SchemaInfo`.
    var schemaInfoName: String { prefix.isEmpty ? "ARCPSchemaInfo" : prefix + "SchemaInfo" }

    var validator: String { qualified(validatorName) }
    var schemaDefinition: String { qualified(schemaDefinitionName) }

    /// `name` qualified with the namespace: `<namespace>.<name>`.
    func qualified(_ name: String) -> String { configuration.namespace.map { "\($0).\(name)" } ?? name }

    /// `declarations` as they stand at file scope: inside `extension <namespace>` when there is one.
    func inNamespace(_ declarations: [Declaration]) -> [Declaration] {
        guard let ns = configuration.namespace, !declarations.isEmpty else { return declarations }
        return [.type(TypeDeclaration(.extension, name: ns, members: declarations))]
    }

    /// The type names the generated code uses besides its own, which no generated type may take.
    static let reserved: Set<String> = [
        "JSONValue", "JSONObject", "JSONWriter", "JSONReader", "JSONKey", "JSONParser", "JSONSyntaxError", "JSONCodable",
        "JSONPathComponent", "WireDecodingError", "Violation", "ValidatedFrame", "ARCPFormat", "String", "Int", "Int64", "Double",
        "Bool", "UInt8", "Data", "Array", "Dictionary", "Optional", "Sendable", "Hashable", "Codable", "Error", "RawRepresentable",
        "CustomStringConvertible", "CaseIterable", "StaticString", "UnsafeBufferPointer", "Foundation", "Swift", "Self",
    ]
}

/// A piece of a Swift string literal: text (escaped) or an interpolated expression.
enum LiteralPart: ExpressibleByStringInterpolation {
    case text(String)
    case expr(String)
    init(stringLiteral value: String) { self = .text(value) }
}

/// A Swift string literal from text and interpolations: `literal("\"", .expr("s"), "\" is bad")`
/// is `"\"\(s)\" is bad"`.
func literal(_ parts: LiteralPart...) -> String {
    var s = "\""
    for p in parts {
        switch p {
        case .text(let t): s += Naming.escaped(t) { "\\u{\(String($0, radix: 16))}" }
        case .expr(let e): s += "\\(" + e + ")"
        }
    }
    return s + "\""
}
