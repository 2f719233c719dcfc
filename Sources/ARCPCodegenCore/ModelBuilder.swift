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
///
/// Every keyword is either turned into a rule the generated code enforces, an annotation, or a
/// schema error: nothing in the schema is silently left unenforced.
public enum ModelBuilder {
    public static func build(_ schema: JSONValue) throws -> CodegenModel {
        guard case .object(let root) = schema else { throw SchemaError("", "schema root must be an object") }
        try Keywords.check(root, at: "", allowed: ["$ref", "$defs"])
        guard case .object(let defs)? = root["$defs"] else { throw SchemaError("/$defs", "missing $defs") }
        let title = root["title"]?.stringValue ?? "ARCP"
        var rootName = "Envelope"
        if let r = root["$ref"] { rootName = try refName(r, at: "/$ref") }
        var out: [Definition] = []
        for m in defs.members {
            out.append(try definition(name: m.key, m.value, at: "/$defs/" + escape(m.key)))
        }
        let model = CodegenModel(title: title, definitions: out, root: rootName)
        try check(model)
        try checkNames(model)
        return model
    }

    /// A JSON Pointer reference token (RFC 6901).
    static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// Every `$ref` resolves.
    static func check(_ model: CodegenModel) throws {
        let names = Set(model.definitions.map(\.name))
        func visit(_ t: TypeRef, _ at: String) throws {
            switch t {
            case .named(let n): if !names.contains(n) { throw SchemaError(at, "unresolved $ref \(n)") }
            case .array(let i, _), .map(let i, _), .nullable(let i): try visit(i, at)
            default: break
            }
        }
        for d in model.definitions {
            let at = "/$defs/\(escape(d.name))"
            switch d.kind {
            case .object(let o):
                for p in o.properties { try visit(p.type, at + "/properties/" + escape(p.jsonName)) }
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

    /// The Swift names the schema's names become are valid and distinct where they share a scope.
    static func checkNames(_ model: CodegenModel) throws {
        var typeNames: [String: String] = [:]  // Swift type name → where it comes from
        func declare(_ name: String, at: String) throws {
            guard Naming.isTypeName(name) else { throw SchemaError(at, "\(name) is not a Swift type name") }
            if let other = typeNames[name] { throw SchemaError(at, "the type name \(name) is already taken by \(other)") }
            typeNames[name] = at
        }
        func distinct(_ names: [(swift: String, from: String)], at: String, what: String) throws {
            var seen: [String: String] = [:]
            for n in names {
                if let other = seen[n.swift] { throw SchemaError(at, "\(what) \(n.from) and \(other) are both \(n.swift) in Swift") }
                seen[n.swift] = n.from
            }
        }
        for d in model.definitions { try declare(d.name, at: "/$defs/\(escape(d.name))") }
        for d in model.definitions {
            let at = "/$defs/\(escape(d.name))"
            switch d.kind {
            case .object(let o):
                var fields = o.properties.filter { p in o.discriminator.map { p.jsonName != $0.property && p.jsonName != $0.content } ?? true }
                    .map { (swift: $0.swiftName, from: $0.jsonName) }
                if let disc = o.discriminator {
                    let dat = at + "/x-arcp-discriminator"
                    try declare(disc.enumName, at: dat + "/enum")
                    fields.append((swift: disc.field, from: "x-arcp-discriminator.field"))
                    guard Naming.isIdentifier(disc.field) else { throw SchemaError(dat + "/field", "\(disc.field) is not a Swift name") }
                    guard Naming.isIdentifier(disc.unknownCase) else { throw SchemaError(dat + "/unknownCase", "\(disc.unknownCase) is not a Swift name") }
                    let dp = Naming.camelCase(disc.property), cp = Naming.camelCase(disc.content)
                    let members: [(swift: String, from: String)] = disc.cases.map { ($0.swiftCase, $0.value) } + [
                        (disc.unknownCase, "unknownCase"), (dp, "the \(disc.property) accessor"), (cp + "JSON", "the \(disc.content) accessor"),
                        ("write" + SwiftRenderer.capitalized(cp), "the \(disc.content) writer"),
                        ("known" + SwiftRenderer.capitalized(disc.property) + "s", "the list of known values"),
                    ]
                    try distinct(members, at: at + "/allOf", what: "the mappings")
                }
                try distinct(fields, at: at + "/properties", what: "members")
            case .stringEnum(let values, _):
                try distinct(values.map { ($0, $0) }.map { (Naming.camelCase($0.0), $0.1) } + [("unknown", "the unknown case"), ("allKnown", "allKnown"), ("isOpen", "isOpen"), ("rawValue", "rawValue"), ("description", "description")], at: at, what: "the values")
            case .oneOf(let branches):
                try distinct(branches.map { ($0.swiftCase, $0.swiftCase) }, at: at + "/oneOf", what: "the x-arcp-case names")
            case .alias: break
            }
        }
    }

    static func refName(_ ref: JSONValue, at: String) throws -> String {
        guard let ref = ref.stringValue else { throw SchemaError(at, "$ref must be a string") }
        let prefix = "#/$defs/"
        guard ref.hasPrefix(prefix) else { throw SchemaError(at, "only local #/$defs/ references are supported: \(ref)") }
        return String(ref.dropFirst(prefix.count))
    }

    static func definition(name: String, _ s: JSONValue, at: String) throws -> Definition {
        guard case .object(let o) = s else { throw SchemaError(at, "definition must be an object") }
        let doc = o["description"]?.stringValue ?? o["title"]?.stringValue
        if let values = o["x-arcp-enum"] {
            try Keywords.check(o, at: at, allowed: ["type", "x-arcp-enum"])
            try expectType(o, "string", at: at)
            return Definition(name: name, doc: doc, kind: .stringEnum(values: try strings(values, at: at + "/x-arcp-enum"), open: true))
        }
        if let values = o["enum"], o["type"]?.stringValue == "string" {
            try Keywords.check(o, at: at, allowed: ["type", "enum"])
            return Definition(name: name, doc: doc, kind: .stringEnum(values: try strings(values, at: at + "/enum"), open: false))
        }
        if let branches = o["oneOf"] {
            try Keywords.check(o, at: at, allowed: ["oneOf"])
            guard case .array(let bs) = branches else { throw SchemaError(at + "/oneOf", "expected an array") }
            var out: [OneOfBranch] = []
            for (i, b) in bs.enumerated() {
                let bat = "\(at)/oneOf/\(i)"
                guard let caseName = b["x-arcp-case"]?.stringValue else { throw SchemaError(bat, "oneOf branch needs x-arcp-case") }
                let t = try typeRef(b, at: bat, also: ["x-arcp-case"])
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

    static func expectType(_ o: JSONObject, _ type: String, at: String) throws {
        if let t = o["type"], t.stringValue != type { throw SchemaError(at + "/type", "expected \"\(type)\", found \(t)") }
    }

    /// The JSON type that selects a `oneOf` branch (an integer branch takes every number).
    static func jsonType(of b: JSONValue, at: String) throws -> JSONType {
        if b["$ref"] != nil { return .object }
        guard let name = b["type"]?.stringValue else { throw SchemaError(at, "oneOf branch needs a type") }
        guard let t = JSONType(rawValue: name) else { throw SchemaError(at + "/type", "unsupported type \(name)") }
        return t == .integer ? .number : t
    }

    static func strings(_ v: JSONValue, at: String) throws -> [String] {
        guard case .array(let a) = v else { throw SchemaError(at, "expected an array of strings") }
        return try a.enumerated().map { i, v in
            guard let s = v.stringValue else { throw SchemaError("\(at)/\(i)", "expected a string") }
            return s
        }
    }

    static func object(_ o: JSONObject, at: String) throws -> ObjectModel {
        try Keywords.check(o, at: at, allowed: [
            "type", "properties", "required", "additionalProperties", "anyOf", "allOf", "x-arcp-discriminator", "x-arcp-swift-type",
            "propertyNames", "minProperties", "maxProperties",
        ])
        let required = try o["required"].map { try strings($0, at: at + "/required") } ?? []
        var props: [Property] = []
        if let ps = o["properties"] {
            guard case .object(let members) = ps else { throw SchemaError(at + "/properties", "expected an object") }
            for m in members.members {
                let pat = "\(at)/properties/\(escape(m.key))"
                props.append(Property(
                    jsonName: m.key, swiftName: Naming.camelCase(m.key), type: try typeRef(m.value, at: pat),
                    required: required.contains(m.key), doc: m.value["description"]?.stringValue ?? m.value["title"]?.stringValue))
            }
        }
        for p in props where p.swiftName == "additionalFields" {
            throw SchemaError("\(at)/properties/\(escape(p.jsonName))", "the Swift name additionalFields is reserved for unknown members")
        }
        for r in required where !props.contains(where: { $0.jsonName == r }) {
            throw SchemaError(at + "/required", "required member \(r) is not in properties")
        }
        var anyOf: [[String]] = []
        if let groups = o["anyOf"] {
            guard case .array(let gs) = groups else { throw SchemaError(at + "/anyOf", "expected an array") }
            for (i, g) in gs.enumerated() {
                let gat = "\(at)/anyOf/\(i)"
                guard case .object(let go) = g, let req = go["required"] else { throw SchemaError(gat, "only anyOf of required lists is supported") }
                try Keywords.check(go, at: gat, allowed: ["required"])
                let names = try strings(req, at: gat + "/required")
                for n in names where !props.contains(where: { $0.jsonName == n }) {
                    throw SchemaError(gat + "/required", "member \(n) is not in properties")
                }
                anyOf.append(names)
            }
        }
        let additional = try additionalProperties(o, at: at)
        let swiftType = o["x-arcp-swift-type"]
        if let swiftType, swiftType.stringValue != "map" {
            throw SchemaError(at + "/x-arcp-swift-type", "the only Swift type is \"map\", found \(swiftType)")
        }
        let isMap = swiftType != nil || (props.isEmpty && additional != nil)
        var disc: Discriminator? = nil
        if let d = o["x-arcp-discriminator"] {
            disc = try discriminator(d, allOf: o["allOf"], properties: props, at: at)
        } else if o["allOf"] != nil {
            throw SchemaError(at + "/allOf", "allOf is supported only as the mappings of an x-arcp-discriminator")
        }
        var namesFormat: String? = nil
        if let pn = o["propertyNames"] {
            namesFormat = try propertyNamesFormat(pn, at: at + "/propertyNames")
        }
        return ObjectModel(
            properties: props, anyOfRequired: anyOf, discriminator: disc, additional: additional, propertyNamesFormat: namesFormat,
            isMap: isMap, memberCount: try counts(o, "minProperties", "maxProperties", at: at))
    }

    /// `additionalProperties`: a schema for the unknown members, or nil (absent or `true`: any
    /// value, kept). `false` would reject unknown members, which generated types never do.
    static func additionalProperties(_ o: JSONObject, at: String) throws -> TypeRef? {
        guard let a = o["additionalProperties"] else { return nil }
        switch a {
        case .bool(true): return nil
        case .bool(false):
            throw SchemaError(at + "/additionalProperties", "additionalProperties: false is not supported (unknown members are kept, as ARCP requires)")
        default: return try typeRef(a, at: at + "/additionalProperties")
        }
    }

    /// The format every member name must have: `x-arcp-format`, or a `pattern` that is a known
    /// format's.
    static func propertyNamesFormat(_ pn: JSONValue, at: String) throws -> String {
        guard case .object(let o) = pn else { throw SchemaError(at, "propertyNames must be an object") }
        try Keywords.check(o, at: at, allowed: ["pattern", "x-arcp-format", "type"])
        if let f = o["x-arcp-format"] { return try format(f, at: at + "/x-arcp-format") }
        if let p = o["pattern"]?.stringValue, let f = Formats.byPattern[p] { return f }
        throw SchemaError(at, "propertyNames needs an x-arcp-format (one of \(Formats.known.joined(separator: ", ")))")
    }

    static func format(_ v: JSONValue, at: String) throws -> String {
        guard let f = v.stringValue, Formats.known.contains(f) else {
            throw SchemaError(at, "unknown x-arcp-format \(v) (known: \(Formats.known.joined(separator: ", ")))")
        }
        return f
    }

    static func discriminator(_ d: JSONValue, allOf: JSONValue?, properties: [Property], at: String) throws -> Discriminator {
        let dat = at + "/x-arcp-discriminator"
        guard case .object(let dobj) = d else { throw SchemaError(dat, "expected an object") }
        for m in dobj.members where !["property", "content", "enum", "field", "unknownCase", "vendorPrefix"].contains(m.key) {
            throw SchemaError(dat + "/" + escape(m.key), "unknown x-arcp-discriminator member \(m.key)")
        }
        func need(_ k: String) throws -> String {
            guard let v = d[k]?.stringValue else { throw SchemaError(dat, "missing \(k)") }
            return v
        }
        let property = try need("property"), content = try need("content")
        guard let contentProperty = properties.first(where: { $0.jsonName == content }) else {
            throw SchemaError(dat + "/content", "\(content) is not in properties")
        }
        guard case .any = contentProperty.type else {
            throw SchemaError("\(at)/properties/\(escape(content))", "the discriminated content must be {\"type\": \"object\"} or {}: its schema comes from the mappings")
        }
        guard properties.contains(where: { $0.jsonName == property }) else { throw SchemaError(dat + "/property", "\(property) is not in properties") }
        var cases: [Discriminator.Case] = []
        let rules: [JSONValue]
        switch allOf {
        case nil: rules = []
        case .array(let a)?: rules = a
        case let v?: throw SchemaError(at + "/allOf", "expected an array, found \(v.typeName)")
        }
        for (i, rule) in rules.enumerated() {
            let rat = "\(at)/allOf/\(i)"
            guard let value = rule["if"]?["properties"]?[property]?["const"]?.stringValue else {
                throw SchemaError(rat, "expected if.properties.\(property).const")
            }
            guard let ref = rule["then"]?["properties"]?[content]?["$ref"] else {
                throw SchemaError(rat, "expected then.properties.\(content).$ref")
            }
            // Nothing else in a mapping: anything more would go unenforced.
            try Keywords.exactly(rule, ["if", "then"], at: rat)
            try Keywords.exactly(rule["if"], ["properties", "required"], at: rat + "/if")
            try Keywords.exactly(rule["if"]?["properties"], [property], at: rat + "/if/properties")
            try Keywords.exactly(rule["if"]?["properties"]?[property], ["const"], at: "\(rat)/if/properties/\(escape(property))")
            try Keywords.exactly(rule["then"], ["properties", "required"], at: rat + "/then")
            try Keywords.exactly(rule["then"]?["properties"], [content], at: rat + "/then/properties")
            try Keywords.exactly(rule["then"]?["properties"]?[content], ["$ref"], at: "\(rat)/then/properties/\(escape(content))")
            let also = try rule["then"]?["required"].map { try strings($0, at: rat + "/then/required") } ?? []
            for r in also where !properties.contains(where: { $0.jsonName == r }) {
                throw SchemaError(rat + "/then/required", "member \(r) is not in properties")
            }
            cases.append(Discriminator.Case(
                value: value, swiftCase: Naming.camelCase(value), definition: try refName(ref, at: "\(rat)/then/properties/\(escape(content))/$ref"),
                alsoRequired: also))
        }
        if Set(cases.map(\.value)).count != cases.count { throw SchemaError(at + "/allOf", "duplicate discriminator values") }
        return Discriminator(
            property: property, content: content, enumName: try need("enum"), field: try need("field"),
            unknownCase: try need("unknownCase"), vendorPrefix: d["vendorPrefix"]?.stringValue, cases: cases)
    }

    /// The type of a property, array item, map value, alias or `oneOf` branch. `also` are
    /// extra keywords the caller reads (`x-arcp-case`).
    static func typeRef(_ s: JSONValue, at: String, also: Set<String> = []) throws -> TypeRef {
        guard case .object(let o) = s else {
            if s.boolValue == true { return .any(requireObject: false) }
            throw SchemaError(at, "schema must be an object")
        }
        if let r = o["$ref"] {
            try Keywords.check(o, at: at, allowed: also.union(["$ref"]))
            return .named(try refName(r, at: at + "/$ref"))
        }
        if let types = o["type"]?.arrayValue {
            let names = try strings(.array(types), at: at + "/type")
            var parsed: [JSONType] = []
            for (i, n) in names.enumerated() {
                guard let t = JSONType(rawValue: n) else { throw SchemaError("\(at)/type/\(i)", "unsupported type \(n)") }
                parsed.append(t)
            }
            let nonNull = parsed.filter { $0 != .null }
            if parsed.contains(.null), nonNull.count == 1 {
                var single = o
                single["type"] = .string(nonNull[0].rawValue)
                return .nullable(try typeRef(.object(single), at: at, also: also))
            }
            try Keywords.check(o, at: at, allowed: also.union(["type"]))
            return .union(parsed)
        }
        switch o["type"]?.stringValue {
        case "string"?:
            try Keywords.check(o, at: at, allowed: also.union(["type", "enum", "x-arcp-format", "minLength", "maxLength", "pattern"]))
            let values = try o["enum"].map { try strings($0, at: at + "/enum") }
            var f: String? = nil
            if let fv = o["x-arcp-format"] {
                f = try format(fv, at: at + "/x-arcp-format")
            } else if let p = o["pattern"] {
                // A pattern is enforced through the checker of the format it spells.
                guard let known = p.stringValue.flatMap({ Formats.byPattern[$0] }) else {
                    throw SchemaError(at + "/pattern", "a pattern needs an x-arcp-format naming its checker (one of \(Formats.known.joined(separator: ", "))); regular expressions are not compiled")
                }
                f = known
            }
            return .string(StringRule(
                format: f, closedValues: values, minLength: try count(o, "minLength", at: at), maxLength: try count(o, "maxLength", at: at)))
        case "integer"?:
            try Keywords.check(o, at: at, allowed: also.union(["type"]).union(boundKeywords))
            return .integer(try integerBounds(o, at: at))
        case "number"?:
            try Keywords.check(o, at: at, allowed: also.union(["type"]).union(boundKeywords))
            return .number(try numberBounds(o, at: at))
        case "boolean"?:
            try Keywords.check(o, at: at, allowed: also.union(["type"]))
            return .boolean
        case "array"?:
            try Keywords.check(o, at: at, allowed: also.union(["type", "items", "minItems", "maxItems"]))
            guard let items = o["items"] else { throw SchemaError(at, "array needs items") }
            return .array(try typeRef(items, at: at + "/items"), count: try counts(o, "minItems", "maxItems", at: at))
        case "object"?:
            if o["properties"] != nil { throw SchemaError(at, "inline objects with properties must be $defs") }
            try Keywords.check(o, at: at, allowed: also.union(["type", "additionalProperties", "minProperties", "maxProperties"]))
            let members = try counts(o, "minProperties", "maxProperties", at: at)
            if let a = try additionalProperties(o, at: at) { return .map(a, count: members) }
            return .any(requireObject: true, properties: members)
        case nil:
            if let t = o["type"] { throw SchemaError(at + "/type", "expected a type name or an array of them, found \(t)") }
            try Keywords.check(o, at: at, allowed: also.union(["minProperties", "maxProperties"]))
            return .any(requireObject: false, properties: try counts(o, "minProperties", "maxProperties", at: at))
        case let t?:
            throw SchemaError(at, "unsupported type \(t)")
        }
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

    static let boundKeywords: Set<String> = ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"]
    static let boundOrder = ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"]

    /// The bounds of an `integer`: whole numbers in the signed 64-bit range (a fractional or
    /// larger bound on an integer is a schema error rather than a comparison in `Double`).
    static func integerBounds(_ o: JSONObject, at: String) throws -> Bounds<Int64> {
        var values: [Int64?] = []
        for k in boundOrder {
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
        for k in boundOrder {
            guard let v = o[k] else {
                values.append(nil)
                continue
            }
            guard let n = v.doubleValue else { throw SchemaError("\(at)/\(k)", "\(k) must be a number, found \(v)") }
            values.append(n)
        }
        return Bounds(minimum: values[0], exclusiveMinimum: values[1], maximum: values[2], exclusiveMaximum: values[3])
    }
}

/// The string grammars the support code checks (`ARCPFormat`), and the `pattern` each spells.
enum Formats {
    static let known = ["message-id", "trace-id", "timestamp", "utc-timestamp", "agent-ref", "amount", "namespace"]
    /// Patterns written without an `x-arcp-format` that are known to be a format's.
    static let byPattern = ["^[a-z][a-z0-9_-]*(\\.[a-z][a-z0-9_-]*)*$": "namespace"]
}

/// Which keywords a schema position may hold. Annotations (`description`, `title`, `format`,
/// …) may appear anywhere, as may extension keywords other than `x-arcp-*`; every other
/// keyword must be one the generator turns into code at that position.
enum Keywords {
    static let annotations: Set<String> = [
        "$schema", "$id", "$comment", "$anchor", "title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly",
        "format", "contentEncoding", "contentMediaType",
    ]
    static let extensions: Set<String> = ["x-arcp-enum", "x-arcp-format", "x-arcp-case", "x-arcp-discriminator", "x-arcp-swift-type"]

    static func check(_ o: JSONObject, at: String, allowed: Set<String>) throws {
        for m in o.members where !allowed.contains(m.key) && !annotations.contains(m.key) {
            let at = at + "/" + ModelBuilder.escape(m.key)
            if m.key.hasPrefix("x-arcp-") {
                if extensions.contains(m.key) { throw SchemaError(at, "\(m.key) is not supported here") }
                throw SchemaError(at, "unknown extension keyword \(m.key) (known: \(extensions.sorted().joined(separator: ", ")))")
            }
            if m.key.hasPrefix("x-") { continue }
            throw SchemaError(at, "\(m.key) is not supported here: arcp-codegen would not enforce it")
        }
    }

    /// `v` is an object whose members are among `keys` (annotations aside).
    static func exactly(_ v: JSONValue?, _ keys: Set<String>, at: String) throws {
        guard case .object(let o)? = v else { return }
        try check(o, at: at, allowed: keys)
    }
}
