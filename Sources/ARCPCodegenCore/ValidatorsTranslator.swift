/// Stage 3b: the two-pass validators. `<Validator>.validate(_:as:)` walks a parsed `JSONValue`
/// with one `_v_<Definition>` function per definition and reports every violation.
struct ValidatorsTranslator {
    let model: CodegenModel
    let names: Names

    var values: ValueChecks { ValueChecks(model: model) }

    func declarations() -> [Declaration] {
        let access = names.access
        let root = Naming.camelCase(model.root)
        let definition = Parameter(label: "as", "definition", names.schemaDefinition, default: ".\(root)")
        let syntaxError = [Statement.line("return [Violation(path: \"\", rule: \"json\", message: error.description)]")]
        var members: [Declaration] = [
            .documented("Validates one frame's text: a syntax error is one violation with rule `json`.", .function(Function(
                access: access, isStatic: true, .function("validate"), parameters: [Parameter("frame", "String"), definition], returns: "[Violation]",
                body: [.do(effects: nil, [.line("return validate(try JSONParser.parse(frame), as: definition)")], catch: syntaxError)]))),
            .documented("Validates one frame's bytes.", .function(Function(
                access: access, isStatic: true, .function("validate"), parameters: [Parameter("frame", "Data"), definition], returns: "[Violation]",
                body: [.do(effects: nil, [.line("return validate(try JSONParser.parse(frame), as: definition)")], catch: syntaxError)]))),
            .documented("Validates a parsed value against a definition.", .function(Function(
                access: access, isStatic: true, .function("validate"), parameters: [Parameter(label: "_", "value", "JSONValue"), definition],
                returns: "[Violation]",
                body: [
                    .line("var ctx = _ValidationContext()"),
                    .switch("definition", model.definitions.map { d in
                        SwitchCase([".\(Naming.identifier(Naming.camelCase(d.name)))"], [.line("_v_\(d.name)(value, &ctx)")])
                    }),
                    .line("return ctx.violations"),
                ]))),
        ]
        members += model.definitions.map(validator)
        return [.documented(
            "Validators generated from the schema. Each reports every violation it finds, with the\nJSON Pointer of the value, the rule broken and a readable message.",
            .type(TypeDeclaration(.enum, access: access, name: names.validatorName, members: members)))]
    }

    /// `_v_<Name>(value, &ctx)`.
    func validator(_ d: Definition) -> Declaration {
        var body: [Statement]
        switch d.kind {
        case .alias(let t):
            body = values.checks(t, "value")
        case .stringEnum(let values, let open):
            body = [.guard("case .string(let s) = value", else: [ValueChecks.typeMismatch("string", "value"), .line("return")])]
            if open {
                body.append(.line("_ = s  // open enum: unknown values are allowed"))
            } else {
                body.append(.switch("s", [
                    SwitchCase(values.map(Naming.literal), []),
                    .default([ValueChecks.report("enum", literal("\"", .expr("s"), "\" is not one of \(values.joined(separator: ", "))"))]),
                ]))
            }
        case .oneOf(let branches):
            body = [.switch("value", branches.map { b in SwitchCase(b.jsonType.patterns, values.checks(b.type, "value")) } + [
                .default([ValueChecks.report("oneOf", literal("expected \(branches.map(\.jsonType.rawValue).joined(separator: " or ")), found ", .expr("value.typeName")))]),
            ])]
        case .object(let o):
            body = object(o)
        }
        return .function(Function(
            isStatic: true, .function("_v_\(d.name)"), parameters: [Parameter(label: "_", "value", "JSONValue"), Parameter(label: "_", "ctx", "inout _ValidationContext")],
            body: body))
    }

    func object(_ o: ObjectModel) -> [Statement] {
        let state = ObjectValidation(o)
        var body: [Statement] = [.guard("case .object(let object) = value", else: [ValueChecks.typeMismatch("object", "value"), .line("return")])]
        body += state.declarations
        if o.discriminator != nil { body.append(.line("var _content: JSONValue? = nil")) }
        var loop: [Statement] = [.line("ctx.path.append(.key(member.key))")]
        if let f = o.propertyNamesFormat {
            loop.append(.if("!\(ValueChecks.formatCall(f, "member.key"))", [
                ValueChecks.report("propertyNames", literal("\"", .expr("member.key"), "\" is not ", .expr("ARCPFormat.describe(\(Naming.literal(f)))"))),
            ]))
        }
        var cases: [SwitchCase] = []
        for p in o.properties {
            var c = state.markSeen(p.jsonName)
            if let d = o.discriminator, p.jsonName == d.property { c.append(.line("\(state.discriminator) = member.value.stringValue")) }
            if let d = o.discriminator, p.jsonName == d.content { c.append(.line("_content = member.value")) }
            c += values.checks(p.type, "member.value", nullable: !p.required)
            cases.append(SwitchCase([Naming.literal(p.jsonName)], c))
        }
        if let a = o.additional {
            cases.append(.default(values.checks(a, "member.value")))
        } else {
            cases.append(.default([.line("break  // unknown members are allowed and kept")]))
        }
        loop.append(.switch("member.key", cases))
        loop.append(.line("ctx.path.removeLast()"))
        body.append(.for("member in object.members", loop))
        let contentKey = Naming.literal(o.discriminator?.content ?? "")
        body += state.finalChecks(memberCount: "object.count", content: ObjectValidation.ContentCheck(
            condition: "let \(state.discriminator), let _content", subject: state.discriminator, label: { Naming.literal($1.value) },
            check: { _, c in
                [.line("ctx.path.append(.key(\(contentKey)))"), .line("_v_\(c.definition)(_content, &ctx)"), .line("ctx.path.removeLast()")]
            }))
        return body
    }
}
