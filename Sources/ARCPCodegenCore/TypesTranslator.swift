/// Stage 3a: the wire types. Each definition becomes a struct (objects), a typealias (maps and
/// aliases), an enum with an `unknown` case (string enums), or an enum by JSON type (`oneOf`);
/// a discriminated object also gets the enum of its discriminated content.
struct TypesTranslator {
    let model: CodegenModel
    let names: Names

    var access: AccessModifier? { names.access }

    func declarations() -> [Declaration] {
        var out: [Declaration] = []
        for d in model.definitions {
            switch d.kind {
            case .object(let o) where o.isMap:
                let value = o.additional.map(swiftType) ?? "JSONValue"
                out.append(documented(d.doc, .typealias(access: access, name: names.declared(d.name), type: "[String: \(value)]")))
            case .object(let o):
                out.append(documented(d.doc, structDeclaration(d, o)))
                if let disc = o.discriminator { out.append(discriminatedEnum(disc)) }
            case .stringEnum(let values, let open):
                out.append(documented(d.doc, stringEnum(d, values: values, open: open)))
            case .oneOf(let branches):
                out.append(documented(d.doc, oneOf(d, branches)))
            case .alias(let t):
                out.append(documented(d.doc, .typealias(access: access, name: names.declared(d.name), type: swiftType(t))))
            }
        }
        return out
    }

    func documented(_ doc: String?, _ d: Declaration) -> Declaration {
        guard let doc, !doc.isEmpty else { return d }
        return .documented(doc, d)
    }

    /// The Swift type of a schema type.
    func swiftType(_ t: TypeRef) -> String {
        switch t {
        case .string: return "String"
        case .integer: return "Int"
        case .number: return "Double"
        case .boolean: return "Bool"
        case .any, .union: return "JSONValue"
        case .array(let i, _): return "[\(swiftType(i))]"
        case .map(let i, _): return "[String: \(swiftType(i))]"
        case .named(let n): return names.type(n)
        case .nullable(let i): return swiftType(i)
        }
    }

    // MARK: - String enums

    func stringEnum(_ d: Definition, values: [String], open: Bool) -> Declaration {
        let name = names.declared(d.name)
        let cases = values.map { (Naming.identifier(Naming.camelCase($0)), $0) }
        var members: [Declaration] = cases.map { .documented("`\($0.1)`", .enumCase(EnumCase($0.0))) }
        members.append(.documented(
            "A value this schema does not know\(open ? " (kept, never dropped)" : " (invalid, but kept so nothing is lost)").",
            .enumCase(EnumCase("unknown", "(String)"))))
        members.append(.documented(
            "Every value the schema defines, in schema order.",
            .variable(Variable(access: access, isStatic: true, isLet: true, "allKnown", type: "[\(name)]",
                               initializer: "[" + cases.map { "." + $0.0 }.joined(separator: ", ") + "]"))))
        members.append(.documented(
            "Whether unknown values are valid (`x-arcp-enum`) or a violation (`enum`).",
            .variable(Variable(access: access, isStatic: true, isLet: true, "isOpen", initializer: "\(open)"))))
        members.append(.function(Function(access: access, .initializer, parameters: [Parameter("rawValue", "String")], body: [
            .switch("rawValue", cases.map { SwitchCase([Naming.literal($0.1)], [.line("self = .\($0.0)")]) } + [.default([.line("self = .unknown(rawValue)")])]),
        ])))
        members.append(.variable(Variable(access: access, "rawValue", type: "String", getter: [
            .switch("self", cases.map { SwitchCase([".\($0.0)"], [.line("return \(Naming.literal($0.1))")]) } + [SwitchCase([".unknown(let v)"], [.line("return v")])]),
        ])))
        members.append(.variable(Variable(access: access, "description", type: "String", getter: [.line("rawValue")])))
        members.append(.function(Function(
            access: access, .initializer, parameters: [Parameter("json", "JSONValue")], effects: "throws(WireDecodingError)",
            body: [.line("self.init(rawValue: try String(json: json))")])))
        members.append(.function(Function(access: access, .function("toJSON"), returns: "JSONValue", body: [.line(".string(rawValue)")])))
        members.append(writeFunction([.line("writer.writeString(rawValue)")]))
        return .type(TypeDeclaration(
            .enum, access: access, name: name,
            conformances: ["Sendable", "Hashable", "RawRepresentable", "JSONCodable", "CustomStringConvertible"], members: members))
    }

    func writeFunction(_ body: [Statement]) -> Declaration {
        .function(Function(access: access, .function("write"), parameters: [Parameter(label: "to", "writer", "inout JSONWriter")], body: body))
    }

    // MARK: - oneOf

    func oneOf(_ d: Definition, _ branches: [OneOfBranch]) -> Declaration {
        var members: [Declaration] = branches.map {
            .documented("The value when it is a JSON \($0.jsonType.rawValue).", .enumCase(EnumCase(Naming.identifier($0.swiftCase), "(\(swiftType($0.type)))")))
        }
        let expected = branches.map(\.jsonType.rawValue).joined(separator: " or ")
        members.append(.function(Function(
            access: access, .initializer, parameters: [Parameter("json", "JSONValue")], effects: "throws(WireDecodingError)",
            body: [
                .switch("json", branches.map { b in
                    SwitchCase(b.jsonType.patterns, [.line("self = .\(Naming.identifier(b.swiftCase))(try \(swiftType(b.type))(json: json))")])
                } + [.default([.line("throw WireDecodingError(reason: .typeMismatch(expected: \(Naming.literal(expected)), found: json.typeName))")])]),
            ])))
        members.append(.function(Function(access: access, .function("toJSON"), returns: "JSONValue", body: [
            .switch("self", branches.map { SwitchCase([".\(Naming.identifier($0.swiftCase))(let v)"], [.line("return v.toJSON()")]) }),
        ])))
        members.append(writeFunction([
            .switch("self", branches.map { SwitchCase([".\(Naming.identifier($0.swiftCase))(let v)"], [.line("v.write(to: &writer)")]) }),
        ]))
        return .type(TypeDeclaration(.enum, access: access, name: names.declared(d.name), conformances: ["Sendable", "Hashable", "JSONCodable"], members: members))
    }

    // MARK: - Structs

    /// A member of a generated struct. A discriminated object's discriminator and content are
    /// one member of the discriminated enum's type.
    struct Field {
        var name: String
        var type: String
        var optional: Bool
        var doc: String?
        /// The schema property; nil for the discriminated member.
        var property: Property?
    }

    func fields(_ o: ObjectModel) -> [Field] {
        var out: [Field] = []
        var placedDiscriminator = false
        for p in o.properties {
            if let d = o.discriminator, p.jsonName == d.property || p.jsonName == d.content {
                if !placedDiscriminator {
                    placedDiscriminator = true
                    out.append(Field(
                        name: Naming.identifier(d.field), type: names.type(d.enumName), optional: false,
                        doc: "The `\(d.property)` discriminator and the `\(d.content)` it selects, decoded together.", property: nil))
                }
                continue
            }
            let doc = p.doc ?? "The `\(p.jsonName)` member\(p.required ? "" : ", when present")."
            out.append(Field(name: Naming.identifier(p.swiftName), type: swiftType(p.type), optional: !p.required, doc: doc, property: p))
        }
        return out
    }

    /// What a property is in a struct with discriminator `d`.
    enum Role { case plain, discriminator, content }
    func role(_ p: Property, _ o: ObjectModel) -> Role {
        guard let d = o.discriminator else { return .plain }
        if p.jsonName == d.property { return .discriminator }
        if p.jsonName == d.content { return .content }
        return .plain
    }

    func structDeclaration(_ d: Definition, _ o: ObjectModel) -> Declaration {
        let fs = fields(o)
        var members: [Declaration] = fs.map {
            documented($0.doc, .variable(Variable(access: access, $0.name, type: $0.type + ($0.optional ? "?" : ""))))
        }
        members.append(.documented(
            "Members the schema does not describe, kept in wire order and written back out.",
            .variable(Variable(access: access, "additionalFields", type: "JSONObject"))))
        members.append(memberwiseInit(fs))
        members.append(decoder(o))
        members.append(toJSON(o))
        members.append(writer(o))
        return .type(TypeDeclaration(.struct, access: access, name: names.declared(d.name), conformances: ["Sendable", "Hashable", "JSONCodable"], members: members))
    }

    func memberwiseInit(_ fs: [Field]) -> Declaration {
        // A member named `self` would shadow `self` inside the initializer, so that one
        // parameter gets an internal name (`self _self: …`); the label stays the member name.
        func local(_ f: Field) -> String { f.name == "`self`" ? "_self" : f.name }
        var params = fs.map { f in
            Parameter(label: local(f) == f.name ? nil : f.name, local(f), f.type + (f.optional ? "?" : ""), default: f.optional ? "nil" : nil)
        }
        params.append(Parameter("additionalFields", "JSONObject", default: "JSONObject()"))
        let body: [Statement] = fs.map { .line("self.\($0.name) = \(local($0))") } + [.line("self.additionalFields = additionalFields")]
        return .documented(
            "A value with these members (the optional ones default to absent); `additionalFields` are written after them.",
            .function(Function(access: access, .initializer, parameters: params, body: body)))
    }

    /// `init(json:)`: one pass over the members, then the required ones.
    func decoder(_ o: ObjectModel) -> Declaration {
        var body: [Statement] = [.line("let object = try _JSONDecodeSupport.object(json)")]
        for p in o.properties {
            switch role(p, o) {
            case .discriminator: body.append(.line("var _\(p.swiftName): String? = nil"))
            case .content: body.append(.line("var _\(p.swiftName): JSONValue? = nil"))
            case .plain: body.append(.line("var _\(p.swiftName): \(swiftType(p.type))? = nil"))
            }
        }
        body.append(.line("var additionalFields = JSONObject()"))
        var cases: [SwitchCase] = []
        for p in o.properties {
            let key = Naming.literal(p.jsonName)
            switch role(p, o) {
            case .discriminator:
                cases.append(SwitchCase([key], [.line("_\(p.swiftName) = try _JSONDecodeSupport.decode(String.self, member.value, key: \(key))")]))
            case .content:
                cases.append(SwitchCase([key], [.line("_\(p.swiftName) = member.value")]))
            case .plain:
                let fn = p.required ? "decode" : "decodeOptional"
                cases.append(SwitchCase([key], [.line("_\(p.swiftName) = try _JSONDecodeSupport.\(fn)(\(swiftType(p.type)).self, member.value, key: \(key))")]))
            }
        }
        cases.append(.default([.line("additionalFields.members.append(member)")]))
        body.append(.for("member in object.members", [.switch("member.key", cases)]))
        for p in o.properties where p.required {
            body.append(.guard("let _\(p.swiftName)", else: [.line("throw _JSONDecodeSupport.missing(\(Naming.literal(p.jsonName)))")]))
        }
        if let disc = o.discriminator {
            let dp = Naming.camelCase(disc.property), cp = Naming.camelCase(disc.content)
            body.append(.line("self.\(Naming.identifier(disc.field)) = try \(names.type(disc.enumName))(\(dp): _\(dp), \(cp): _\(cp))"))
        }
        for f in fields(o) {
            guard let p = f.property else { continue }
            body.append(.line("self.\(f.name) = _\(p.swiftName)"))
        }
        body.append(.line("self.additionalFields = additionalFields"))
        return .function(Function(access: access, .initializer, parameters: [Parameter("json", "JSONValue")], effects: "throws(WireDecodingError)", body: body))
    }

    func toJSON(_ o: ObjectModel) -> Declaration {
        var body: [Statement] = [
            .line("var object = JSONObject()"),
            .line("object.members.reserveCapacity(\(o.properties.count) + self.additionalFields.members.count)"),
        ]
        for p in o.properties {
            let key = Naming.literal(p.jsonName)
            let name = Naming.identifier(p.swiftName)
            switch role(p, o) {
            case .discriminator:
                body.append(.line("object.append(\(key), .string(self.\(Naming.identifier(o.discriminator?.field ?? "")).\(p.swiftName)))"))
            case .content:
                body.append(.line("object.append(\(key), self.\(Naming.identifier(o.discriminator?.field ?? "")).\(p.swiftName)JSON)"))
            case .plain where p.required:
                body.append(.line("object.append(\(key), self.\(name).toJSON())"))
            case .plain:
                body.append(.if("let v = self.\(name)", [.line("object.append(\(key), v.toJSON())")]))
            }
        }
        body.append(.line("object.members.append(contentsOf: self.additionalFields.members)"))
        body.append(.line("return .object(object)"))
        return .function(Function(access: access, .function("toJSON"), returns: "JSONValue", body: body))
    }

    /// `write(to:)`: the same text as `toJSON()`, without the `JSONValue`. Whether a comma is
    /// needed is known while generating until the first optional member; from there a run-time
    /// `first` flag says.
    func writer(_ o: ObjectModel) -> Declaration {
        enum Position { case first, notFirst, unknown }
        var position = Position.first
        var members: [Statement] = []
        var needsFlag = false
        for p in o.properties {
            let key = "writer.append(raw: \(Naming.literal("\"" + SwiftRenderer.jsonEscaped(p.jsonName) + "\":")))"
            let r = role(p, o)
            let optional = r == .plain && !p.required
            var steps: [Statement] = []
            switch position {
            case .first: break
            case .notFirst: steps.append(.line("writer.append(UInt8(ascii: \",\"))"))
            case .unknown: steps.append(.if("!first", [.line("writer.append(UInt8(ascii: \",\"))")]))
            }
            if optional && position != .notFirst {
                steps.append(.line("first = false"))
                needsFlag = true
            }
            steps.append(.line(key))
            let field = Naming.identifier(o.discriminator?.field ?? "")
            switch r {
            case .discriminator:
                members += steps + [.line("writer.writeString(self.\(field).\(p.swiftName))")]
            case .content:
                members += steps + [.line("self.\(field).write\(SwiftRenderer.capitalized(p.swiftName))(to: &writer)")]
            case .plain where p.required:
                members += steps + [.line("self.\(Naming.identifier(p.swiftName)).write(to: &writer)")]
            case .plain:
                members.append(.if("let v = self.\(Naming.identifier(p.swiftName))", steps + [.line("v.write(to: &writer)")]))
            }
            if !optional { position = .notFirst } else if position == .first { position = .unknown }
        }
        var body: [Statement] = [.line("writer.append(UInt8(ascii: \"{\"))")]
        if needsFlag { body.append(.line("var first = true")) }
        body += members
        switch position {
        case .first: body.append(.line("var first = true"))
        case .notFirst: body.append(.line(needsFlag ? "first = false" : "var first = false"))
        case .unknown: break
        }
        body.append(.line("_JSONDecodeSupport.writeAdditional(self.additionalFields, &writer, &first)"))
        body.append(.line("writer.append(UInt8(ascii: \"}\"))"))
        return writeFunction(body)
    }

    // MARK: - Discriminated content

    func discriminatedEnum(_ d: Discriminator) -> Declaration {
        let dp = Naming.camelCase(d.property), cp = Naming.camelCase(d.content)
        let name = names.declared(d.enumName)
        let unknownLabel = d.unknownCase == "unknown" ? "raw" : cp
        var members: [Declaration] = d.cases.map { c in
            .documented("`\(c.value)`", .enumCase(EnumCase(Naming.identifier(c.swiftCase), "(\(names.type(c.definition)))")))
        }
        members.append(.documented(
            "A `\(d.property)` this schema does not know\(d.vendorPrefix.map { " (vendor kinds start with `\($0)`)" } ?? ""), kept verbatim.",
            .enumCase(EnumCase(d.unknownCase, "(\(dp): String, \(unknownLabel): JSONValue)"))))
        members.append(.documented(
            "Every `\(d.property)` value the schema defines, in schema order.",
            .variable(Variable(
                access: access, isStatic: true, isLet: true, "known\(SwiftRenderer.capitalized(d.property))s", type: "[String]",
                initializer: "[" + d.cases.map { Naming.literal($0.value) }.joined(separator: ", ") + "]"))))
        members.append(.documented(
            "Decodes `\(d.content)` by `\(d.property)`. Errors name the path inside `\(d.content)`.",
            .function(Function(
                access: access, .initializer, parameters: [Parameter(dp, "String"), Parameter(cp, "JSONValue")], effects: "throws(WireDecodingError)",
                body: [
                    .do(effects: nil, [
                        .switch(dp, d.cases.map { c in
                            SwitchCase([Naming.literal(c.value)], [.line("self = .\(Naming.identifier(c.swiftCase))(try \(names.type(c.definition))(json: \(cp)))")])
                        } + [.default([.line("self = .\(d.unknownCase)(\(dp): \(dp), \(unknownLabel): \(cp))")])]),
                    ], catch: [.line("throw error.prefixed(.key(\(Naming.literal(d.content))))")]),
                ]))))
        members.append(.documented("The `\(d.property)` string.", .variable(Variable(access: access, dp, type: "String", getter: [
            .switch("self", d.cases.map { SwitchCase([".\(Naming.identifier($0.swiftCase))"], [.line("return \(Naming.literal($0.value))")]) }
                + [SwitchCase([".\(d.unknownCase)(let v, _)"], [.line("return v")])]),
        ]))))
        members.append(.documented("The `\(d.content)` as JSON.", .variable(Variable(access: access, cp + "JSON", type: "JSONValue", getter: [
            .switch("self", d.cases.map { SwitchCase([".\(Naming.identifier($0.swiftCase))(let v)"], [.line("return v.toJSON()")]) }
                + [SwitchCase([".\(d.unknownCase)(_, let v)"], [.line("return v")])]),
        ]))))
        members.append(.documented("Writes the `\(d.content)` JSON text into `writer`.", .function(Function(
            access: access, .function("write" + SwiftRenderer.capitalized(cp)), parameters: [Parameter(label: "to", "writer", "inout JSONWriter")],
            body: [
                .switch("self", d.cases.map { SwitchCase([".\(Naming.identifier($0.swiftCase))(let v)"], [.line("v.write(to: &writer)")]) }
                    + [SwitchCase([".\(d.unknownCase)(_, let v)"], [.line("writer.write(v)")])]),
            ]))))
        // Indirect: the payload structs are large, and a frame's message is moved several times.
        return .documented(
            "The `\(d.property)`-discriminated `\(d.content)`: one case per schema mapping, plus\n`.\(d.unknownCase)` so that nothing unknown is ever dropped.",
            .type(TypeDeclaration(.enum, access: access, indirect: true, name: name, conformances: ["Sendable", "Hashable"], members: members)))
    }
}
