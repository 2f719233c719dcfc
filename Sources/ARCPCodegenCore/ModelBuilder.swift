import ARCPJSON
import Foundation

/// A schema the generator cannot turn into Swift, with the JSON Pointer of the problem.
public struct SchemaError: Error, Equatable, CustomStringConvertible {
    public var pointer: String
    public var message: String
    public init(_ pointer: String, _ message: String) {
        self.pointer = pointer
        self.message = message
    }
    public var description: String { "schema error at \(pointer): \(message)" }
}

/// Stage 1: read the schema file.
public enum SchemaReader {
    public static func read(contentsOf url: URL) throws -> JSONValue {
        let data = try Data(contentsOf: url)
        return try JSONParser.parse(data)
    }
}

/// Stage 2: build the model from the schema document.
public enum ModelBuilder {
    public static func build(_ schema: JSONValue) throws -> CodegenModel {
        guard case .object(let root) = schema else { throw SchemaError("", "schema root must be an object") }
        guard case .object(let defs)? = root["$defs"] else { throw SchemaError("/$defs", "missing $defs") }
        let title = root["title"]?.stringValue ?? "ARCP"
        var rootName = "Envelope"
        if let r = root["$ref"]?.stringValue { rootName = try refName(r, at: "/$ref") }
        var out: [Definition] = []
        for m in defs.members {
            out.append(try definition(name: m.key, m.value, at: "/$defs/\(m.key)"))
        }
        let model = CodegenModel(title: title, definitions: out, root: rootName)
        try check(model)
        return model
    }

    /// Every `$ref` resolves, names are unique.
    static func check(_ model: CodegenModel) throws {
        let names = Set(model.definitions.map(\.name))
        guard names.count == model.definitions.count else { throw SchemaError("/$defs", "duplicate definition names") }
        func visit(_ t: TypeRef, _ at: String) throws {
            switch t {
            case .named(let n): if !names.contains(n) { throw SchemaError(at, "unresolved $ref \(n)") }
            case .array(let i, _), .map(let i, _), .nullable(let i): try visit(i, at)
            default: break
            }
        }
        for d in model.definitions {
            let at = "/$defs/\(d.name)"
            switch d.kind {
            case .object(let o):
                for p in o.properties { try visit(p.type, at + "/properties/" + p.jsonName) }
                if let a = o.additional { try visit(a, at + "/additionalProperties") }
                for c in o.discriminator?.cases ?? [] where !names.contains(c.definition) {
                    throw SchemaError(at, "discriminator case \(c.value) maps to unknown \(c.definition)")
                }
            case .oneOf(let bs): for b in bs { try visit(b.type, at + "/oneOf") }
            case .alias(let t): try visit(t, at)
            case .stringEnum: break
            }
        }
        guard names.contains(model.root) else { throw SchemaError("/$ref", "root \(model.root) is not defined") }
    }

    static func refName(_ ref: String, at: String) throws -> String {
        let prefix = "#/$defs/"
        guard ref.hasPrefix(prefix) else { throw SchemaError(at, "only local #/$defs/ references are supported: \(ref)") }
        return String(ref.dropFirst(prefix.count))
    }

    static func definition(name: String, _ s: JSONValue, at: String) throws -> Definition {
        guard case .object(let o) = s else { throw SchemaError(at, "definition must be an object") }
        let doc = o["description"]?.stringValue
        if let values = o["x-arcp-enum"]?.arrayValue {
            return Definition(name: name, doc: doc, kind: .stringEnum(values: try strings(values, at: at + "/x-arcp-enum"), open: true))
        }
        if let values = o["enum"]?.arrayValue, o["type"]?.stringValue == "string" {
            return Definition(name: name, doc: doc, kind: .stringEnum(values: try strings(values, at: at + "/enum"), open: false))
        }
        if let branches = o["oneOf"]?.arrayValue {
            var out: [OneOfBranch] = []
            for (i, b) in branches.enumerated() {
                let bat = "\(at)/oneOf/\(i)"
                guard let caseName = b["x-arcp-case"]?.stringValue else { throw SchemaError(bat, "oneOf branch needs x-arcp-case") }
                let t = try typeRef(b, at: bat)
                out.append(OneOfBranch(swiftCase: Naming.camelCase(caseName), type: t, jsonType: try jsonType(of: b, at: bat)))
            }
            if Set(out.map(\.jsonType)).count != out.count { throw SchemaError(at, "oneOf branches must differ by JSON type") }
            return Definition(name: name, doc: doc, kind: .oneOf(out))
        }
        if o["type"]?.stringValue == "object" {
            return Definition(name: name, doc: doc, kind: .object(try object(o, at: at)))
        }
        return Definition(name: name, doc: doc, kind: .alias(try typeRef(s, at: at)))
    }

    static func jsonType(of b: JSONValue, at: String) throws -> String {
        if b["$ref"] != nil { return "object" }
        guard let t = b["type"]?.stringValue else { throw SchemaError(at, "oneOf branch needs a type") }
        return t == "integer" ? "number" : t
    }

    static func strings(_ a: [JSONValue], at: String) throws -> [String] {
        try a.enumerated().map { i, v in
            guard let s = v.stringValue else { throw SchemaError("\(at)/\(i)", "expected a string") }
            return s
        }
    }

    static func object(_ o: JSONObject, at: String) throws -> ObjectModel {
        let required = Set(try strings(o["required"]?.arrayValue ?? [], at: at + "/required"))
        var props: [Property] = []
        if case .object(let ps)? = o["properties"] {
            for m in ps.members {
                props.append(Property(
                    jsonName: m.key, swiftName: Naming.camelCase(m.key),
                    type: try typeRef(m.value, at: "\(at)/properties/\(m.key)"),
                    required: required.contains(m.key), doc: m.value["description"]?.stringValue))
            }
        }
        for p in props where p.swiftName == "additionalFields" {
            throw SchemaError("\(at)/properties/\(p.jsonName)", "the Swift name additionalFields is reserved for unknown members")
        }
        for r in required where !props.contains(where: { $0.jsonName == r }) {
            throw SchemaError(at + "/required", "required member \(r) is not in properties")
        }
        var anyOf: [[String]] = []
        if let groups = o["anyOf"]?.arrayValue {
            for (i, g) in groups.enumerated() {
                guard let req = g["required"]?.arrayValue else { throw SchemaError("\(at)/anyOf/\(i)", "only anyOf of required lists is supported") }
                anyOf.append(try strings(req, at: "\(at)/anyOf/\(i)/required"))
            }
        }
        var additional: TypeRef? = nil
        if let a = o["additionalProperties"], a.boolValue == nil {
            additional = try typeRef(a, at: at + "/additionalProperties")
        }
        let isMap = o["x-arcp-swift-type"]?.stringValue == "map" || (props.isEmpty && additional != nil)
        var disc: Discriminator? = nil
        if let d = o["x-arcp-discriminator"] {
            disc = try discriminator(d, allOf: o["allOf"]?.arrayValue ?? [], at: at)
        }
        return ObjectModel(
            properties: props, anyOfRequired: anyOf, discriminator: disc, additional: additional,
            propertyNamesPattern: o["propertyNames"]?["pattern"]?.stringValue, isMap: isMap,
            memberCount: try counts(o, "minProperties", "maxProperties", at: at))
    }

    // MARK: - Bounds

    /// A count keyword (`minLength`, `maxItems`, …): a non-negative integer, or absent.
    static func count(_ o: JSONObject, _ keyword: String, at: String) throws -> Int? {
        guard let v = o[keyword] else { return nil }
        guard let n = v.int64Value, n >= 0, n <= Int64(Int32.max) else {
            throw SchemaError("\(at)/\(keyword)", "\(keyword) must be a non-negative integer, found \(v)")
        }
        return Int(n)
    }

    static func counts(_ o: JSONObject, _ minKeyword: String, _ maxKeyword: String, at: String) throws -> CountBounds {
        CountBounds(min: try count(o, minKeyword, at: at), max: try count(o, maxKeyword, at: at))
    }

    static let boundKeywords = ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"]

    /// The bounds of an `integer`: whole numbers in the signed 64-bit range (a fractional or
    /// larger bound on an integer is a schema error rather than a comparison in `Double`).
    static func integerBounds(_ o: JSONObject, at: String) throws -> Bounds<Int64> {
        var values: [Int64?] = []
        for k in boundKeywords {
            guard let v = o[k] else {
                values.append(nil)
                continue
            }
            guard let n = v.int64Value else {
                throw SchemaError("\(at)/\(k)", "\(k) of an integer must be a whole number in the signed 64-bit range, found \(v)")
            }
            values.append(n)
        }
        return Bounds(minimum: values[0], exclusiveMinimum: values[1], maximum: values[2], exclusiveMaximum: values[3])
    }

    static func numberBounds(_ o: JSONObject, at: String) throws -> Bounds<Double> {
        var values: [Double?] = []
        for k in boundKeywords {
            guard let v = o[k] else {
                values.append(nil)
                continue
            }
            guard let n = v.doubleValue else { throw SchemaError("\(at)/\(k)", "\(k) must be a number, found \(v)") }
            values.append(n)
        }
        return Bounds(minimum: values[0], exclusiveMinimum: values[1], maximum: values[2], exclusiveMaximum: values[3])
    }

    static func discriminator(_ d: JSONValue, allOf: [JSONValue], at: String) throws -> Discriminator {
        let dat = at + "/x-arcp-discriminator"
        func need(_ k: String) throws -> String {
            guard let v = d[k]?.stringValue else { throw SchemaError(dat, "missing \(k)") }
            return v
        }
        let property = try need("property"), content = try need("content")
        var cases: [Discriminator.Case] = []
        for (i, rule) in allOf.enumerated() {
            let rat = "\(at)/allOf/\(i)"
            guard let value = rule["if"]?["properties"]?[property]?["const"]?.stringValue else {
                throw SchemaError(rat, "expected if.properties.\(property).const")
            }
            guard let ref = rule["then"]?["properties"]?[content]?["$ref"]?.stringValue else {
                throw SchemaError(rat, "expected then.properties.\(content).$ref")
            }
            let also = try strings(rule["then"]?["required"]?.arrayValue ?? [], at: rat + "/then/required")
            cases.append(Discriminator.Case(
                value: value, swiftCase: Naming.camelCase(value), definition: try refName(ref, at: rat), alsoRequired: also))
        }
        if Set(cases.map(\.value)).count != cases.count { throw SchemaError(at + "/allOf", "duplicate discriminator values") }
        return Discriminator(
            property: property, content: content, enumName: try need("enum"), field: try need("field"),
            unknownCase: try need("unknownCase"), vendorPrefix: d["vendorPrefix"]?.stringValue, cases: cases)
    }

    static func typeRef(_ s: JSONValue, at: String) throws -> TypeRef {
        guard case .object(let o) = s else {
            if s.boolValue == true { return .any(requireObject: false) }
            throw SchemaError(at, "schema must be an object")
        }
        if let r = o["$ref"]?.stringValue { return .named(try refName(r, at: at + "/$ref")) }
        if let types = o["type"]?.arrayValue {
            let names = try strings(types, at: at + "/type")
            let nonNull = names.filter { $0 != "null" }
            if names.contains("null"), nonNull.count == 1 {
                var single = o
                single["type"] = .string(nonNull[0])
                return .nullable(try typeRef(.object(single), at: at))
            }
            return .union(names)
        }
        switch o["type"]?.stringValue {
        case "string"?:
            let values = try o["enum"]?.arrayValue.map { try strings($0, at: at + "/enum") }
            return .string(StringRule(
                format: o["x-arcp-format"]?.stringValue, closedValues: values,
                minLength: try count(o, "minLength", at: at), maxLength: try count(o, "maxLength", at: at)))
        case "integer"?: return .integer(try integerBounds(o, at: at))
        case "number"?: return .number(try numberBounds(o, at: at))
        case "boolean"?: return .boolean
        case "array"?:
            guard let items = o["items"] else { throw SchemaError(at, "array needs items") }
            return .array(try typeRef(items, at: at + "/items"), count: try counts(o, "minItems", "maxItems", at: at))
        case "object"?:
            let members = try counts(o, "minProperties", "maxProperties", at: at)
            if o["properties"] == nil, let a = o["additionalProperties"], a.boolValue == nil {
                return .map(try typeRef(a, at: at + "/additionalProperties"), count: members)
            }
            if o["properties"] != nil { throw SchemaError(at, "inline objects with properties must be $defs") }
            return .any(requireObject: true, properties: members)
        case nil:
            return .any(requireObject: false, properties: try counts(o, "minProperties", "maxProperties", at: at))
        case let t?:
            throw SchemaError(at, "unsupported type \(t)")
        }
    }
}
