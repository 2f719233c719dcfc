import ARCPCodegenCore
import ARCPJSON
import ARCPTestSupport
import Foundation
import Testing

/// JSON Schema's numeric and size bounds: read into the model, rejected when malformed, and
/// enforced by the generated validators and single-pass decoders alike.
@Suite("Bounds: minimum … maxProperties")
struct BoundsTests {
    static let defs = ##"""
        "Root": {"type": "object", "properties": {
            "i": {"type": "integer", "minimum": 0, "maximum": 10},
            "ie": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
            "big": {"type": "integer", "maximum": 9007199254740991},
            "n": {"type": "number", "minimum": -1.5, "maximum": 2.5},
            "ne": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "s": {"type": "string", "minLength": 2, "maxLength": 3},
            "a": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2},
            "m": {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1, "maxProperties": 2},
            "o": {"type": "object", "maxProperties": 1},
            "anyv": {"maxProperties": 1},
            "child": {"$ref": "#/$defs/Child"},
            "short": {"$ref": "#/$defs/Short"},
            "opt": {"type": ["integer", "null"], "maximum": 5},
            "list": {"type": "array", "items": {"type": "string", "maxLength": 1}}
        }},
        "Child": {"type": "object", "properties": {"x": {"type": "string"}}, "minProperties": 1, "maxProperties": 2},
        "Short": {"type": "string", "maxLength": 2}
        """##

    @Test("the model holds every bound")
    func model() throws {
        let m = try ModelBuilder.build(try schema(Self.defs))
        guard case .object(let root)? = m.definition(named: "Root")?.kind, case .object(let child)? = m.definition(named: "Child")?.kind else {
            Issue.record("Root and Child are objects")
            return
        }
        let props = Dictionary(uniqueKeysWithValues: root.properties.map { ($0.jsonName, $0.type) })
        #expect(props["i"] == .integer(Bounds(minimum: 0, maximum: 10)))
        #expect(props["ie"] == .integer(Bounds(exclusiveMinimum: 0, exclusiveMaximum: 10)))
        #expect(props["big"] == .integer(Bounds(maximum: 9_007_199_254_740_991)))
        #expect(props["n"] == .number(Bounds(minimum: -1.5, maximum: 2.5)))
        #expect(props["ne"] == .number(Bounds(exclusiveMinimum: 0, exclusiveMaximum: 1)))
        #expect(props["s"] == .string(StringRule(minLength: 2, maxLength: 3)))
        #expect(props["a"] == .array(.integer(Bounds()), count: CountBounds(min: 1, max: 2)))
        #expect(props["m"] == .map(.string(StringRule()), count: CountBounds(min: 1, max: 2)))
        #expect(props["o"] == .any(requireObject: true, properties: CountBounds(max: 1)))
        #expect(props["anyv"] == .any(requireObject: false, properties: CountBounds(max: 1)))
        #expect(props["opt"] == .nullable(.integer(Bounds(maximum: 5))))
        #expect(child.memberCount == CountBounds(min: 1, max: 2))
        #expect(m.definition(named: "Short")?.kind == .alias(.string(StringRule(maxLength: 2))))
    }

    @Test("malformed bounds are schema errors with a pointer", arguments: [
        (##"{"type": "integer", "maximum": 1.5}"##, "/maximum", "maximum of an integer must be a whole number in the signed 64-bit range, found 1.5"),
        (##"{"type": "integer", "minimum": 1e30}"##, "/minimum", "minimum of an integer must be a whole number in the signed 64-bit range, found 1e+30"),
        (##"{"type": "number", "exclusiveMinimum": true}"##, "/exclusiveMinimum", "exclusiveMinimum must be a number, found true"),
        (##"{"type": "string", "maxLength": -1}"##, "/maxLength", "maxLength must be a non-negative integer, found -1"),
        (##"{"type": "string", "minLength": "2"}"##, "/minLength", "minLength must be a non-negative integer, found \"2\""),
        (##"{"type": "array", "items": {}, "maxItems": 2.5}"##, "/maxItems", "maxItems must be a non-negative integer, found 2.5"),
        (##"{"type": "object", "maxProperties": null}"##, "/maxProperties", "maxProperties must be a non-negative integer, found null"),
    ])
    func errors(_ property: String, _ pointer: String, _ message: String) throws {
        let e = try #require(buildError(try schema(##""Root": {"type": "object", "properties": {"p": \##(property)}}"##)))
        #expect(e.pointer == "/$defs/Root/properties/p" + pointer)
        #expect(e.message == message)
        let onDefinition = try #require(buildError(try schema(##""Root": {"type": "object", "properties": {}, "minProperties": -2}"##)))
        #expect(onDefinition.pointer == "/$defs/Root/minProperties")
    }

    /// Frames and the violations (path, rule, message) they must get, from the two-pass
    /// validator and from the single-pass decoder alike.
    static let cases: [(String, [[String]])] = [
        (#"{"i": 5, "ie": 5, "n": 0, "ne": 0.5, "s": "ab", "a": [1], "m": {"a": "x"}, "o": {}, "child": {"x": "y"}, "short": "ab", "opt": null}"#, []),
        (#"{"i": 11}"#, [["/i", "maximum", "11 is greater than 10"]]),
        (#"{"i": -1}"#, [["/i", "minimum", "-1 is less than 0"]]),
        (#"{"i": 10, "ie": 10}"#, [["/ie", "exclusiveMaximum", "10 is not less than 10"]]),
        (#"{"ie": 0}"#, [["/ie", "exclusiveMinimum", "0 is not greater than 0"]]),
        (#"{"big": 9007199254740991}"#, []),
        (#"{"big": 9007199254740992}"#, [["/big", "maximum", "9007199254740992 is greater than 9007199254740991"]]),
        (#"{"n": 2.6}"#, [["/n", "maximum", "2.6 is greater than 2.5"]]),
        (#"{"n": -2}"#, [["/n", "minimum", "-2.0 is less than -1.5"]]),
        (#"{"ne": 1}"#, [["/ne", "exclusiveMaximum", "1.0 is not less than 1.0"]]),
        (#"{"ne": 0}"#, [["/ne", "exclusiveMinimum", "0.0 is not greater than 0.0"]]),
        (#"{"s": "a"}"#, [["/s", "minLength", "shorter than 2 characters"]]),
        (#"{"s": "abcd"}"#, [["/s", "maxLength", "longer than 3 characters"]]),
        // Code points, not bytes (7 bytes) and not grapheme clusters ("e\u0301" is one).
        (#"{"s": "é👍x"}"#, []),
        (#"{"s": "e\u0301"}"#, []),
        (#"{"s": "e\u0301e\u0301"}"#, [["/s", "maxLength", "longer than 3 characters"]]),
        (#"{"a": []}"#, [["/a", "minItems", "has 0 items, fewer than 1"]]),
        (#"{"a": [1, 2, 3]}"#, [["/a", "maxItems", "has 3 items, more than 2"]]),
        (#"{"a": [1, "x", 3]}"#, [["/a", "maxItems", "has 3 items, more than 2"], ["/a/1", "type", "expected integer, found string"]]),
        (#"{"m": {}}"#, [["/m", "minProperties", "has 0 members, fewer than 1"]]),
        (#"{"m": {"a": "1", "b": "2", "c": "3"}}"#, [["/m", "maxProperties", "has 3 members, more than 2"]]),
        (#"{"o": {"a": 1, "b": 2}}"#, [["/o", "maxProperties", "has 2 members, more than 1"]]),
        (#"{"o": 3}"#, [["/o", "type", "expected object, found integer"]]),
        (#"{"anyv": {"a": 1, "b": 2}}"#, [["/anyv", "maxProperties", "has 2 members, more than 1"]]),
        (#"{"anyv": [1, 2, 3]}"#, []),
        (#"{"child": {}}"#, [["/child", "minProperties", "has 0 members, fewer than 1"]]),
        (#"{"child": {"x": "a", "y": 1, "z": 2}}"#, [["/child", "maxProperties", "has 3 members, more than 2"]]),
        (#"{"child": {"x": 1, "y": 1, "z": 2}}"#, [["/child/x", "type", "expected string, found integer"], ["/child", "maxProperties", "has 3 members, more than 2"]]),
        (#"{"short": "abc"}"#, [["/short", "maxLength", "longer than 2 characters"]]),
        (#"{"opt": 6}"#, [["/opt", "maximum", "6 is greater than 5"]]),
        (#"{"list": ["a", "bc"]}"#, [["/list/1", "maxLength", "longer than 1 characters"]]),
    ]

    @Test("generated validators and decoders report every bound, with its pointer")
    func generatedCode() async throws {
        // Compiling and running the program blocks: on a thread of its own, not the cooperative pool.
        let defs = Self.defs
        let program = try await onOwnThread { try GeneratedProgram(schema: try schema(defs), main: GeneratedProgram.validatorMain(root: "Root")) }
        defer { program.remove() }
        let frames = Self.cases.map(\.0)
        let results = try await onOwnThread { try program.validate(frames) }
        for ((frame, expected), result) in zip(Self.cases, results) {
            #expect(result.dom == expected, "validate(frame:) of \(frame)")
            #expect(result.streamed == expected, "decodeValidated(frame:) of \(frame)")
        }
    }
}
