import ARCPCodegenCore
import ARCPJSON
import Foundation
import Testing

@Suite("Stage 2: ModelBuilder")
struct ModelBuilderTests {
    func object(_ model: CodegenModel, _ name: String) throws -> ObjectModel {
        let d = try #require(model.definition(named: name))
        guard case .object(let o) = d.kind else {
            Issue.record("\(name) is not an object: \(d.kind)")
            throw SchemaError("", "not an object")
        }
        return o
    }

    @Test func minimalObject() throws {
        let m = try ModelBuilder.build(try schema(##""Root": {"type": "object", "description": "The root.", "properties": {"a_b": {"type": "string"}, "n": {"type": "integer", "minimum": 0}}, "required": ["a_b"]}"##))
        #expect(m.title == "ARCP")
        #expect(m.root == "Root")
        #expect(m.definitions.map(\.name) == ["Root"])
        #expect(m.definitions[0].doc == "The root.")
        let o = try object(m, "Root")
        #expect(o.properties == [
            Property(jsonName: "a_b", swiftName: "aB", type: .string(StringRule()), required: true, doc: nil),
            Property(jsonName: "n", swiftName: "n", type: .integer(Bounds(minimum: 0)), required: false, doc: nil),
        ])
        #expect(o.discriminator == nil && o.additional == nil && !o.isMap && o.anyOfRequired.isEmpty)
    }

    @Test func titleAndRoot() throws {
        let m = try ModelBuilder.build(try schema(##""A": {"type": "string"}, "B": {"type": "object"}"##, root: "B", title: "T"))
        #expect(m.title == "T" && m.root == "B")
    }

    @Test("every type form")
    func typeForms() throws {
        let m = try ModelBuilder.build(try schema(##"""
            "Root": {"type": "object", "properties": {
                "s": {"type": "string", "x-arcp-format": "amount", "minLength": 2},
                "e": {"type": "string", "enum": ["a", "b"]},
                "i": {"type": "integer"},
                "n": {"type": "number", "minimum": 0.5},
                "b": {"type": "boolean"},
                "arr": {"type": "array", "items": {"$ref": "#/$defs/Other"}},
                "map": {"type": "object", "additionalProperties": {"type": "integer"}},
                "obj": {"type": "object"},
                "any": {},
                "anyTrue": true,
                "nullable": {"type": ["string", "null"]},
                "union": {"type": ["boolean", "integer"]},
                "ref": {"$ref": "#/$defs/Other"}
            }},
            "Other": {"type": "string"}
            """##))
        let props = Dictionary(uniqueKeysWithValues: try object(m, "Root").properties.map { ($0.jsonName, $0.type) })
        #expect(props["s"] == .string(StringRule(format: "amount", closedValues: nil, minLength: 2)))
        #expect(props["e"] == .string(StringRule(closedValues: ["a", "b"])))
        #expect(props["i"] == .integer(Bounds()))
        #expect(props["n"] == .number(Bounds(minimum: 0.5)))
        #expect(props["b"] == .boolean)
        #expect(props["arr"] == .array(.named("Other")))
        #expect(props["map"] == .map(.integer(Bounds())))
        #expect(props["obj"] == .any(requireObject: true))
        #expect(props["any"] == .any(requireObject: false))
        #expect(props["anyTrue"] == .any(requireObject: false))
        #expect(props["nullable"] == .nullable(.string(StringRule())))
        #expect(props["union"] == .union([.boolean, .integer]))
        #expect(props["ref"] == .named("Other"))
        #expect(m.definition(named: "Other")?.kind == .alias(.string(StringRule())))
    }

    @Test func stringEnums() throws {
        let m = try ModelBuilder.build(try schema(##"""
            "Root": {"type": "string", "enum": ["x", "y"]},
            "Open": {"type": "string", "x-arcp-enum": ["PERMISSION_DENIED", "default"]}
            """##))
        #expect(m.definition(named: "Root")?.kind == .stringEnum(values: ["x", "y"], open: false))
        #expect(m.definition(named: "Open")?.kind == .stringEnum(values: ["PERMISSION_DENIED", "default"], open: true))
    }

    @Test func oneOfBranches() throws {
        let m = try ModelBuilder.build(try schema(##"""
            "Root": {"oneOf": [{"type": "integer", "x-arcp-case": "number"}, {"type": "string", "x-arcp-case": "text_value"}, {"$ref": "#/$defs/O", "x-arcp-case": "info"}]},
            "O": {"type": "object", "properties": {}}
            """##))
        #expect(m.definition(named: "Root")?.kind == .oneOf([
            OneOfBranch(swiftCase: "number", type: .integer(Bounds()), jsonType: .number),
            OneOfBranch(swiftCase: "textValue", type: .string(StringRule()), jsonType: .string),
            OneOfBranch(swiftCase: "info", type: .named("O"), jsonType: .object),
        ]))
    }

    @Test func mapsAndAnyOf() throws {
        let m = try ModelBuilder.build(try schema(##"""
            "Root": {"type": "object", "x-arcp-swift-type": "map", "propertyNames": {"x-arcp-format": "namespace", "pattern": "^[a-z]+$"},
                     "properties": {"cost.budget": {"type": "array", "items": {"type": "string"}}},
                     "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            "Counters": {"type": "object", "additionalProperties": {"type": "number"}},
            "Either": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "anyOf": [{"required": ["a"]}, {"required": ["b"]}]}
            """##))
        let root = try object(m, "Root")
        #expect(root.isMap)
        #expect(root.propertyNamesFormat == "namespace")
        #expect(root.properties.map(\.swiftName) == ["costBudget"])
        #expect(try object(m, "Counters").isMap, "no properties + additionalProperties is a map")
        #expect(try object(m, "Counters").additional == .number(Bounds()))
        #expect(try object(m, "Either").anyOfRequired == [["a"], ["b"]])
    }

    static let discriminated = ##"""
        "Root": {"type": "object",
            "properties": {"type": {"type": "string"}, "payload": {"type": "object"}, "job_id": {"type": "string"}},
            "required": ["type", "payload"],
            "x-arcp-discriminator": {"property": "type", "content": "payload", "enum": "Message", "field": "message", "unknownCase": "unknown", "vendorPrefix": "x-vendor."},
            "allOf": [
                {"if": {"properties": {"type": {"const": "a.b"}}}, "then": {"properties": {"payload": {"$ref": "#/$defs/A"}}}},
                {"if": {"properties": {"type": {"const": "c_d"}}}, "then": {"properties": {"payload": {"$ref": "#/$defs/A"}}, "required": ["job_id"]}}
            ]},
        "A": {"type": "object", "properties": {}}
        """##

    @Test func discriminator() throws {
        let m = try ModelBuilder.build(try schema(Self.discriminated))
        let d = try #require(try object(m, "Root").discriminator)
        #expect(d.property == "type" && d.content == "payload" && d.enumName == "Message" && d.field == "message")
        #expect(d.unknownCase == "unknown" && d.vendorPrefix == "x-vendor.")
        #expect(d.cases == [
            Discriminator.Case(value: "a.b", swiftCase: "aB", definition: "A", alsoRequired: []),
            Discriminator.Case(value: "c_d", swiftCase: "cD", definition: "A", alsoRequired: ["job_id"]),
        ])
    }

    @Test("the real schema builds into the expected model")
    func realSchema() throws {
        let m = try ModelBuilder.build(try SchemaReader.read(contentsOf: realSchemaURL))
        #expect(m.root == "Envelope")
        #expect(m.definitions.count == 59)
        let env = try object(m, "Envelope")
        #expect(env.discriminator?.cases.count == 22)
        #expect(env.discriminator?.cases.first { $0.value == "job.event" }?.alsoRequired == ["job_id", "event_seq"])
        let event = try object(m, "JobEventPayload")
        #expect(event.discriminator?.cases.map(\.value).count == 10)
        #expect(event.discriminator?.vendorPrefix == "x-vendor.")
        #expect(m.definition(named: "ErrorCode")?.kind == .stringEnum(values: [
            "PERMISSION_DENIED", "LEASE_SUBSET_VIOLATION", "JOB_NOT_FOUND", "DUPLICATE_KEY", "AGENT_NOT_AVAILABLE",
            "AGENT_VERSION_NOT_AVAILABLE", "CANCELLED", "TIMEOUT", "RESUME_WINDOW_EXPIRED", "HEARTBEAT_LOST", "LEASE_EXPIRED",
            "BUDGET_EXHAUSTED", "INVALID_REQUEST", "UNAUTHENTICATED", "INTERNAL_ERROR",
        ], open: true))
    }

    // MARK: - Errors name the JSON Pointer of the problem

    @Test("schema errors carry a pointer", arguments: [
        ("[]", "", "schema root must be an object"),
        (##"{"title": "x"}"##, "/$defs", "missing $defs"),
        (##"{"$ref": "#/$defs/Nope", "$defs": {"A": {"type": "string"}}}"##, "/$ref", "root Nope is not defined"),
        (##"{"$ref": "other.json#/A", "$defs": {}}"##, "/$ref", "only local #/$defs/ references are supported: other.json#/A"),
    ])
    func documentErrors(_ text: String, _ pointer: String, _ message: String) throws {
        let e = try #require(buildError(try JSONParser.parse(text)))
        #expect(e.pointer == pointer)
        #expect(e.message == message)
        #expect(e.description == "schema error at \(pointer): \(message)")
    }

    typealias Case = RefusedSchema

    static let errorCases: [Case] = [
        Case(name: "unresolved $ref", defs: ##""Root": {"type": "object", "properties": {"b": {"$ref": "#/$defs/Missing"}}}"##,
             pointer: "/$defs/Root/properties/b", message: "unresolved $ref Missing"),
        Case(name: "unresolved $ref in array items", defs: ##""Root": {"type": "array", "items": {"$ref": "#/$defs/Missing"}}"##,
             pointer: "/$defs/Root", message: "unresolved $ref Missing"),
        Case(name: "non-local $ref", defs: ##""Root": {"type": "object", "properties": {"b": {"$ref": "http://x/y.json"}}}"##,
             pointer: "/$defs/Root/properties/b/$ref", message: "only local #/$defs/ references are supported: http://x/y.json"),
        Case(name: "oneOf without x-arcp-case", defs: ##""Root": {"oneOf": [{"type": "string", "x-arcp-case": "s"}, {"type": "number"}]}"##,
             pointer: "/$defs/Root/oneOf/1", message: "oneOf branch needs x-arcp-case"),
        Case(name: "oneOf branch without a type", defs: ##""Root": {"oneOf": [{"x-arcp-case": "s"}]}"##,
             pointer: "/$defs/Root/oneOf/0", message: "oneOf branch needs a type"),
        Case(name: "oneOf branches of one JSON type", defs: ##""Root": {"oneOf": [{"type": "integer", "x-arcp-case": "a"}, {"type": "number", "x-arcp-case": "b"}]}"##,
             pointer: "/$defs/Root", message: "oneOf branches must differ by JSON type"),
        Case(name: "required member not in properties", defs: ##""Root": {"type": "object", "properties": {}, "required": ["x"]}"##,
             pointer: "/$defs/Root/required", message: "required member x is not in properties"),
        Case(name: "non-string in required", defs: ##""Root": {"type": "object", "properties": {}, "required": [1]}"##,
             pointer: "/$defs/Root/required/0", message: "expected a string"),
        Case(name: "non-string in enum", defs: ##""Root": {"type": "string", "enum": ["a", 2]}"##,
             pointer: "/$defs/Root/enum/1", message: "expected a string"),
        Case(name: "array without items", defs: ##""Root": {"type": "object", "properties": {"l": {"type": "array"}}}"##,
             pointer: "/$defs/Root/properties/l", message: "array needs items"),
        Case(name: "unsupported type", defs: ##""Root": {"type": "object", "properties": {"l": {"type": "frob"}}}"##,
             pointer: "/$defs/Root/properties/l", message: "unsupported type frob"),
        Case(name: "inline object with properties", defs: ##""Root": {"type": "object", "properties": {"o": {"type": "object", "properties": {"x": {}}}}}"##,
             pointer: "/$defs/Root/properties/o", message: "inline objects with properties must be $defs"),
        Case(name: "anyOf that is not a list of required", defs: ##""Root": {"type": "object", "properties": {}, "anyOf": [{"type": "string"}]}"##,
             pointer: "/$defs/Root/anyOf/0", message: "only anyOf of required lists is supported"),
        Case(name: "definition that is not an object", defs: ##""Root": 7"##, pointer: "/$defs/Root", message: "definition must be an object"),
        Case(name: "property schema that is not an object", defs: ##""Root": {"type": "object", "properties": {"p": 3}}"##,
             pointer: "/$defs/Root/properties/p", message: "schema must be an object"),
        Case(name: "discriminator without enum",
             defs: ##""Root": {"type": "object", "properties": {"t": {"type": "string"}, "c": {}}, "x-arcp-discriminator": {"property": "t", "content": "c", "field": "f", "unknownCase": "u"}, "allOf": []}"##,
             pointer: "/$defs/Root/x-arcp-discriminator", message: "missing enum"),
        Case(name: "discriminator mapping without const",
             defs: ##""Root": {"type": "object", "properties": {"t": {"type": "string"}, "c": {}}, "x-arcp-discriminator": {"property": "t", "content": "c", "enum": "E", "field": "f", "unknownCase": "u"}, "allOf": [{"if": {"properties": {"t": {"enum": ["a"]}}}, "then": {"properties": {"c": {"$ref": "#/$defs/A"}}}}]}, "A": {"type": "object", "properties": {}}"##,
             pointer: "/$defs/Root/allOf/0", message: "expected if.properties.t.const"),
        Case(name: "discriminator mapping without $ref",
             defs: ##""Root": {"type": "object", "properties": {"t": {"type": "string"}, "c": {}}, "x-arcp-discriminator": {"property": "t", "content": "c", "enum": "E", "field": "f", "unknownCase": "u"}, "allOf": [{"if": {"properties": {"t": {"const": "a"}}}, "then": {"properties": {"c": {"type": "object"}}}}]}"##,
             pointer: "/$defs/Root/allOf/0", message: "expected then.properties.c.$ref"),
        Case(name: "duplicate discriminator values",
             defs: ##""Root": {"type": "object", "properties": {"t": {"type": "string"}, "c": {}}, "x-arcp-discriminator": {"property": "t", "content": "c", "enum": "E", "field": "f", "unknownCase": "u"}, "allOf": [{"if": {"properties": {"t": {"const": "a"}}}, "then": {"properties": {"c": {"$ref": "#/$defs/A"}}}}, {"if": {"properties": {"t": {"const": "a"}}}, "then": {"properties": {"c": {"$ref": "#/$defs/A"}}}}]}, "A": {"type": "object", "properties": {}}"##,
             pointer: "/$defs/Root/allOf", message: "duplicate discriminator values"),
        Case(name: "discriminator case mapped to an unknown definition",
             defs: ##""Root": {"type": "object", "properties": {"t": {"type": "string"}, "c": {}}, "x-arcp-discriminator": {"property": "t", "content": "c", "enum": "E", "field": "f", "unknownCase": "u"}, "allOf": [{"if": {"properties": {"t": {"const": "a"}}}, "then": {"properties": {"c": {"$ref": "#/$defs/Gone"}}}}]}"##,
             pointer: "/$defs/Root", message: "discriminator case a maps to unknown Gone"),
        Case(name: "reserved Swift name", defs: ##""Root": {"type": "object", "properties": {"additional_fields": {}}}"##,
             pointer: "/$defs/Root/properties/additional_fields", message: "the Swift name additionalFields is reserved for unknown members"),
    ]

    @Test("definition errors carry a pointer", arguments: errorCases)
    func definitionErrors(_ c: Case) throws {
        try c.check()
    }
}
