import ARCPCodegenCore
import ARCPJSON
import Foundation
import Testing

/// Nothing in a schema is silently left unenforced: a keyword the generator would not turn
/// into code is a schema error at its JSON Pointer, as is a name that cannot become Swift.
@Suite("Stage 2: what the generator refuses")
struct StrictSchemaTests {
    typealias Case = RefusedSchema

    /// `"Root": {"type": "object", "properties": {"p": <schema>}}`.
    static func property(_ schema: String) -> String { ##""Root": {"type": "object", "properties": {"p": \##(schema)}}"## }

    static let cases: [Case] = [
        Case(name: "a pattern without x-arcp-format", defs: property(##"{"type": "string", "pattern": "^a+$"}"##),
             pointer: "/$defs/Root/properties/p/pattern",
             message: "a pattern needs an x-arcp-format naming its checker (one of message-id, trace-id, timestamp, utc-timestamp, agent-ref, amount, namespace); regular expressions are not compiled"),
        Case(name: "an unknown x-arcp-format", defs: property(##"{"type": "string", "x-arcp-format": "uri"}"##),
             pointer: "/$defs/Root/properties/p/x-arcp-format",
             message: "unknown x-arcp-format \"uri\" (known: message-id, trace-id, timestamp, utc-timestamp, agent-ref, amount, namespace)"),
        Case(name: "multipleOf", defs: property(##"{"type": "integer", "multipleOf": 2}"##),
             pointer: "/$defs/Root/properties/p/multipleOf", message: "multipleOf is not supported here: arcp-codegen would not enforce it"),
        Case(name: "a bound beside $ref", defs: property(##"{"$ref": "#/$defs/N", "maximum": 3}"##) + ##", "N": {"type": "integer"}"##,
             pointer: "/$defs/Root/properties/p/maximum", message: "maximum is not supported here: arcp-codegen would not enforce it"),
        Case(name: "a string bound on an integer", defs: property(##"{"type": "integer", "maxLength": 3}"##),
             pointer: "/$defs/Root/properties/p/maxLength", message: "maxLength is not supported here: arcp-codegen would not enforce it"),
        Case(name: "enum on an integer", defs: property(##"{"type": "integer", "enum": [1, 2]}"##),
             pointer: "/$defs/Root/properties/p/enum", message: "enum is not supported here: arcp-codegen would not enforce it"),
        Case(name: "not on a definition", defs: ##""Root": {"type": "object", "properties": {}, "not": {"required": ["a"]}}"##,
             pointer: "/$defs/Root/not", message: "not is not supported here: arcp-codegen would not enforce it"),
        Case(name: "uniqueItems", defs: property(##"{"type": "array", "items": {}, "uniqueItems": true}"##),
             pointer: "/$defs/Root/properties/p/uniqueItems", message: "uniqueItems is not supported here: arcp-codegen would not enforce it"),
        Case(name: "an unknown x-arcp keyword", defs: property(##"{"type": "string", "x-arcp-fromat": "amount"}"##),
             pointer: "/$defs/Root/properties/p/x-arcp-fromat",
             message: "unknown extension keyword x-arcp-fromat (known: x-arcp-case, x-arcp-discriminator, x-arcp-enum, x-arcp-format, x-arcp-swift-type)"),
        Case(name: "a known x-arcp keyword out of place", defs: property(##"{"type": "integer", "x-arcp-format": "amount"}"##),
             pointer: "/$defs/Root/properties/p/x-arcp-format", message: "x-arcp-format is not supported here"),
        Case(name: "an unknown type in a union", defs: property(##"{"type": ["string", "frob"]}"##),
             pointer: "/$defs/Root/properties/p/type/1", message: "unsupported type frob"),
        Case(name: "an unknown type in a oneOf branch", defs: ##""Root": {"oneOf": [{"type": "frob", "x-arcp-case": "f"}]}"##,
             pointer: "/$defs/Root/oneOf/0", message: "unsupported type frob"),
        Case(name: "a type that is not a name", defs: property(##"{"type": 7}"##),
             pointer: "/$defs/Root/properties/p/type", message: "expected a type name or an array of them, found 7"),
        Case(name: "additionalProperties: false", defs: ##""Root": {"type": "object", "properties": {}, "additionalProperties": false}"##,
             pointer: "/$defs/Root/additionalProperties",
             message: "additionalProperties: false is not supported (unknown members are kept, as ARCP requires)"),
        Case(name: "allOf without a discriminator", defs: ##""Root": {"type": "object", "properties": {}, "allOf": []}"##,
             pointer: "/$defs/Root/allOf", message: "allOf is supported only as the mappings of an x-arcp-discriminator"),
        Case(name: "propertyNames with an unknown pattern", defs: ##""Root": {"type": "object", "properties": {}, "propertyNames": {"pattern": "^[a-z]+$"}}"##,
             pointer: "/$defs/Root/propertyNames",
             message: "propertyNames needs an x-arcp-format (one of message-id, trace-id, timestamp, utc-timestamp, agent-ref, amount, namespace)"),
        Case(name: "discriminated content that is not an object",
             defs: ##""Root": {"type": "object", "properties": {"t": {"type": "string"}, "c": {"type": "string"}}, "x-arcp-discriminator": {"property": "t", "content": "c", "enum": "E", "field": "f", "unknownCase": "u"}, "allOf": []}"##,
             pointer: "/$defs/Root/properties/c",
             message: "the discriminated content must be {\"type\": \"object\"} or {}: its schema comes from the mappings"),
        Case(name: "a mapping that adds a rule",
             defs: ##""Root": {"type": "object", "properties": {"t": {"type": "string"}, "c": {}}, "x-arcp-discriminator": {"property": "t", "content": "c", "enum": "E", "field": "f", "unknownCase": "u"}, "allOf": [{"if": {"properties": {"t": {"const": "a"}}}, "then": {"properties": {"c": {"$ref": "#/$defs/A"}}, "maxProperties": 3}}]}, "A": {"type": "object", "properties": {}}"##,
             pointer: "/$defs/Root/allOf/0/then/maxProperties", message: "maxProperties is not supported here: arcp-codegen would not enforce it"),
        Case(name: "an unknown discriminator member",
             defs: ##""Root": {"type": "object", "properties": {"t": {"type": "string"}, "c": {}}, "x-arcp-discriminator": {"property": "t", "content": "c", "enum": "E", "field": "f", "unknownCase": "u", "vendorPrefx": "x-"}, "allOf": []}"##,
             pointer: "/$defs/Root/x-arcp-discriminator/vendorPrefx", message: "unknown x-arcp-discriminator member vendorPrefx"),
        // Names.
        Case(name: "a definition name that is not a Swift name", defs: ##""Root": {"type": "object", "properties": {}}, "my-type": {"type": "string"}"##,
             pointer: "/$defs/my-type", message: "my-type is not a Swift type name"),
        Case(name: "a definition name that is a keyword", defs: ##""Root": {"type": "object", "properties": {}}, "protocol": {"type": "string"}"##,
             pointer: "/$defs/protocol", message: "protocol is not a Swift type name"),
        Case(name: "two members with one Swift name", defs: property(##"{}"##).replacingOccurrences(of: "\"p\": {}", with: ##""a_b": {}, "a.b": {}"##),
             pointer: "/$defs/Root/properties", message: "members a.b and a_b are both aB in Swift"),
        Case(name: "two enum values with one Swift name", defs: ##""Root": {"type": "string", "enum": ["A_B", "a.b"]}"##,
             pointer: "/$defs/Root", message: "the values a.b and A_B are both aB in Swift"),
        Case(name: "an enum value named like the unknown case", defs: ##""Root": {"type": "string", "x-arcp-enum": ["unknown"]}"##,
             pointer: "/$defs/Root", message: "the values the unknown case and unknown are both unknown in Swift"),
        Case(name: "a discriminated enum named like a definition",
             defs: ##""Root": {"type": "object", "properties": {"t": {"type": "string"}, "c": {}}, "x-arcp-discriminator": {"property": "t", "content": "c", "enum": "A", "field": "f", "unknownCase": "u"}, "allOf": []}, "A": {"type": "object", "properties": {}}"##,
             pointer: "/$defs/Root/x-arcp-discriminator/enum", message: "the type name A is already taken by /$defs/A"),
        Case(name: "a mapping named like the discriminator accessor",
             defs: ##""Root": {"type": "object", "properties": {"t": {"type": "string"}, "c": {}}, "x-arcp-discriminator": {"property": "t", "content": "c", "enum": "E", "field": "f", "unknownCase": "u"}, "allOf": [{"if": {"properties": {"t": {"const": "t"}}}, "then": {"properties": {"c": {"$ref": "#/$defs/A"}}}}]}, "A": {"type": "object", "properties": {}}"##,
             pointer: "/$defs/Root/allOf", message: "the mappings the t accessor and t are both t in Swift"),
    ]

    @Test("refused with a pointer", arguments: cases)
    func refused(_ c: Case) throws {
        try c.check()
    }

    @Test("annotations and foreign extension keywords are accepted")
    func annotationsAccepted() throws {
        let m = try ModelBuilder.build(try schema(##"""
            "Root": {"type": "object", "title": "R", "$comment": "c", "examples": [{}], "x-vendor-note": 1,
                     "properties": {"p": {"type": "string", "format": "uri", "description": "d", "default": "x", "deprecated": true}}}
            """##))
        #expect(m.definitions.count == 1)
    }

    @Test("the namespace pattern without x-arcp-format is the namespace format")
    func knownPattern() throws {
        let m = try ModelBuilder.build(try schema(##""Root": {"type": "object", "properties": {}, "propertyNames": {"pattern": "^[a-z][a-z0-9_-]*(\\.[a-z][a-z0-9_-]*)*$"}}"##))
        guard case .object(let o)? = m.definition(named: "Root")?.kind else {
            Issue.record("Root is an object")
            return
        }
        #expect(o.propertyNamesFormat == "namespace")
    }

    @Test("a type name taken by the support code, unless a prefix or namespace moves it")
    func reservedNames() throws {
        let model = try ModelBuilder.build(try schema(##""Root": {"type": "object", "properties": {}}, "JSONValue": {"type": "string"}"##))
        #expect(throws: SchemaError("/$defs/JSONValue", "the type name JSONValue is taken by the support code; use a typeNamePrefix or namespace")) {
            try SwiftRenderer(model: model).checkNames()
        }
        try SwiftRenderer(model: model, configuration: GeneratorConfiguration(typeNamePrefix: "My")).checkNames()
        let taken = try ModelBuilder.build(try schema(##""Root": {"type": "object", "properties": {}}, "Validator": {"type": "string"}"##))
        #expect(throws: SchemaError("/$defs/Validator", "the type name MyValidator is taken by the generated MyValidator")) {
            try SwiftRenderer(model: taken, configuration: GeneratorConfiguration(typeNamePrefix: "My")).checkNames()
        }
    }

    @Test("the shipped schema passes every check")
    func shippedSchema() throws {
        let model = try ModelBuilder.build(try SchemaReader.read(contentsOf: realSchemaURL))
        try SwiftRenderer(model: model).checkNames()
    }
}
