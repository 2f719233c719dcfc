/// The checks of one value against its schema type: the one implementation of each rule that
/// the two-pass validators and the single-pass decoders both emit. Every check reports into a
/// `_ValidationContext` named `ctx`, at the path `ctx` is at.
struct ValueChecks {
    let model: CodegenModel

    /// `ctx.report(rule, message)`.
    static func report(_ rule: String, _ message: String) -> Statement {
        .line("ctx.report(\(Naming.literal(rule)), \(message))")
    }

    /// A violation of `rule` at the member `key` of the current path.
    static func report(at key: String, _ rule: String, _ message: String) -> [Statement] {
        [.line("ctx.path.append(.key(\(Naming.literal(key))))"), report(rule, message), .line("ctx.path.removeLast()")]
    }

    /// `expected <what>, found <type of expr>`.
    static func typeMismatch(_ expected: String, _ expr: String) -> Statement {
        report("type", literal("expected \(expected), found ", .expr("\(expr).typeName")))
    }

    /// Statements that validate `expr` (a `JSONValue`) against `t`; empty when anything goes.
    /// A `nullable` value may also be `null`.
    func checks(_ t: TypeRef, _ expr: String, nullable: Bool = false) -> [Statement] {
        if case .nullable(let inner) = t { return checks(inner, expr, nullable: true) }
        let body = nonNullChecks(t, expr)
        guard nullable, !body.isEmpty else { return body }
        return [.if("case .null = \(expr)", [], else: body)]
    }

    func nonNullChecks(_ t: TypeRef, _ expr: String) -> [Statement] {
        switch t {
        case .nullable(let inner):
            return checks(inner, expr, nullable: true)
        case .any(let requireObject, let members):
            let counts = Self.countChecks(members, "members.count", noun: "members", keywords: ("minProperties", "maxProperties"))
            if !counts.isEmpty {
                return [.if([IfBranch("case .object(let members) = \(expr)", counts)], else: requireObject ? [Self.typeMismatch("object", expr)] : nil)]
            }
            return requireObject ? [.if("case .object = \(expr)", [], else: [Self.typeMismatch("object", expr)])] : []
        case .named(let n):
            return [.line("_v_\(n)(\(expr), &ctx)")]
        case .boolean:
            return [.if("case .bool = \(expr)", [], else: [Self.typeMismatch("boolean", expr)])]
        case .integer(let bounds):
            if bounds.isEmpty { return [.if("\(expr).int64Value == nil", [Self.typeMismatch("integer", expr)])] }
            return [.if("let n = \(expr).int64Value", Self.boundChecks(bounds), else: [Self.typeMismatch("integer", expr)])]
        case .number(let bounds):
            if bounds.isEmpty { return [.if("\(expr).doubleValue == nil", [Self.typeMismatch("number", expr)])] }
            return [.if("let n = \(expr).doubleValue", Self.boundChecks(bounds), else: [Self.typeMismatch("number", expr)])]
        case .string(let rule):
            let inner = Self.stringChecks(rule, "s")
            if inner.isEmpty { return [.if("case .string = \(expr)", [], else: [Self.typeMismatch("string", expr)])] }
            return [.if("case .string(let s) = \(expr)", inner, else: [Self.typeMismatch("string", expr)])]
        case .array(let item, let count):
            return container(
                expr, case: "array", binding: "items", expected: "array",
                counts: Self.countChecks(count, "items.count", noun: "items", keywords: ("minItems", "maxItems")),
                loop: "(index, item) in items.enumerated()", pathPart: ".index(index)", itemChecks: checks(item, "item"))
        case .map(let item, let count):
            return container(
                expr, case: "object", binding: "members", expected: "object",
                counts: Self.countChecks(count, "members.count", noun: "members", keywords: ("minProperties", "maxProperties")),
                loop: "m in members.members", pathPart: ".key(m.key)", itemChecks: checks(item, "m.value"))
        case .union(let types):
            var patterns: [String] = []
            for p in types.flatMap(\.patterns) where !patterns.contains(p) { patterns.append(p) }
            return [.switch(expr, [
                SwitchCase(patterns, []),
                .default([Self.typeMismatch(types.map(\.rawValue).joined(separator: " or "), expr)]),
            ])]
        }
    }

    /// An array or object value: its type, its count, then `itemChecks` for each element with
    /// the element's path part pushed.
    func container(
        _ expr: String, case c: String, binding: String, expected: String, counts: [Statement], loop: String, pathPart: String,
        itemChecks: [Statement]
    ) -> [Statement] {
        var body = counts
        if !itemChecks.isEmpty {
            body.append(.for(loop, [.line("ctx.path.append(\(pathPart))")] + itemChecks + [.line("ctx.path.removeLast()")]))
        }
        let pattern = body.isEmpty ? "case .\(c) = \(expr)" : "case .\(c)(let \(binding)) = \(expr)"
        return [.if(pattern, body, else: [Self.typeMismatch(expected, expr)])]
    }

    /// Checks of the number `n` (an `Int64` or a `Double`, as the bounds) against the bounds,
    /// each reported under its own keyword.
    static func boundChecks<V>(_ bounds: Bounds<V>) -> [Statement] {
        var s: [Statement] = []
        if let b = bounds.minimum { s.append(.if("n < \(b)", [Self.report("minimum", literal(.expr("n"), " is less than \(b)"))])) }
        if let b = bounds.exclusiveMinimum {
            s.append(.if("n <= \(b)", [Self.report("exclusiveMinimum", literal(.expr("n"), " is not greater than \(b)"))]))
        }
        if let b = bounds.maximum { s.append(.if("n > \(b)", [Self.report("maximum", literal(.expr("n"), " is greater than \(b)"))])) }
        if let b = bounds.exclusiveMaximum {
            s.append(.if("n >= \(b)", [Self.report("exclusiveMaximum", literal(.expr("n"), " is not less than \(b)"))]))
        }
        return s
    }

    /// Checks of the count `expr` (of items or members).
    static func countChecks(_ bounds: CountBounds, _ expr: String, noun: String, keywords: (min: String, max: String)) -> [Statement] {
        var s: [Statement] = []
        if let m = bounds.min { s.append(.if("\(expr) < \(m)", [Self.report(keywords.min, literal("has ", .expr(expr), " \(noun), fewer than \(m)"))])) }
        if let m = bounds.max { s.append(.if("\(expr) > \(m)", [Self.report(keywords.max, literal("has ", .expr(expr), " \(noun), more than \(m)"))])) }
        return s
    }

    /// Checks of the string `name` against `rule`: format, enum, minLength, maxLength.
    static func stringChecks(_ rule: StringRule, _ name: String) -> [Statement] {
        var s: [Statement] = []
        if let f = rule.format {
            s.append(.if("!\(Self.formatCall(f, name))", [
                Self.report("format", literal("\"", .expr(name), "\" is not ", .expr("ARCPFormat.describe(\(Naming.literal(f)))"))),
            ]))
        }
        if let values = rule.closedValues {
            s.append(.switch(name, [
                SwitchCase(values.map(Naming.literal), []),
                .default([Self.report("enum", literal("\"", .expr(name), "\" is not one of \(values.joined(separator: ", "))"))]),
            ]))
        }
        if let m = rule.minLength {
            s.append(.if("_SchemaLength.isShorter(\(name), than: \(m))", [Self.report("minLength", Naming.literal("shorter than \(m) characters"))]))
        }
        if let m = rule.maxLength {
            s.append(.if("_SchemaLength.isLonger(\(name), than: \(m))", [Self.report("maxLength", Naming.literal("longer than \(m) characters"))]))
        }
        return s
    }

    /// The checker call for an `x-arcp-format`: the specific `ARCPFormat` function when the
    /// format is known (no dispatch on the name at run time), `ARCPFormat.check` otherwise.
    static func formatCall(_ format: String, _ expr: String) -> String {
        switch format {
        case "message-id": return "ARCPFormat.isMessageID(\(expr))"
        case "trace-id": return "ARCPFormat.isTraceID(\(expr))"
        case "timestamp": return "ARCPFormat.isTimestamp(\(expr), requireZ: false)"
        case "utc-timestamp": return "ARCPFormat.isTimestamp(\(expr), requireZ: true)"
        case "agent-ref": return "ARCPFormat.isAgentRef(\(expr))"
        case "amount": return "ARCPFormat.isAmount(\(expr))"
        case "namespace": return "ARCPFormat.isNamespace(\(expr))"
        default: return "ARCPFormat.check(\(Naming.literal(format)), \(expr))"
        }
    }

    /// The string rule of a type that is a plain string, directly or through an alias (the
    /// single-pass decoders read those without a `JSONValue`).
    func stringRule(_ t: TypeRef) -> StringRule? {
        switch t {
        case .string(let rule): return rule
        case .named(let n):
            if case .alias(.string(let rule))? = model.definition(named: n)?.kind { return rule }
            return nil
        default: return nil
        }
    }
}

/// What an object validator keeps while it reads the members, and what it checks after the
/// loop: the member count, required members, `anyOf` groups and the discriminated content.
///
/// The two-pass validator and the single-pass decoder both declare this state through
/// `declarations`, mark members through `markSeen`, and end with `finalChecks`, so the names
/// the checks read are the names that were declared, and both report the same violations in
/// the same order.
struct ObjectValidation {
    let object: ObjectModel
    /// Members whose presence a final check asks about, in property order.
    let tracked: [String]

    init(_ object: ObjectModel) {
        self.object = object
        var names = Set(object.properties.filter(\.required).map(\.jsonName)).union(object.anyOfRequired.flatMap { $0 })
        if let d = object.discriminator { names.formUnion(d.cases.flatMap(\.alsoRequired) + [d.property, d.content]) }
        tracked = object.properties.map(\.jsonName).filter { names.contains($0) }
    }

    /// The flag that says member `jsonName` was present.
    func seen(_ jsonName: String) -> String { "_seen_" + Naming.camelCase(jsonName) }

    /// The discriminator's string value, nil until a string is read.
    let discriminator = "_discriminator"

    var declarations: [Statement] {
        tracked.map { .line("var \(seen($0)) = false") } + (object.discriminator == nil ? [] : [.line("var \(discriminator): String? = nil")])
    }

    /// The statement that records `jsonName` as present, if anything asks.
    func markSeen(_ jsonName: String) -> [Statement] {
        tracked.contains(jsonName) ? [.line("\(seen(jsonName)) = true")] : []
    }

    /// How the discriminated content is checked after the loop.
    struct ContentCheck {
        /// When the content is checked; binds `_discriminator` to a `String`.
        var condition: String
        /// What the mapping switch is on, and the label of mapping `index`.
        var subject: String
        var label: (Int, Discriminator.Case) -> String
        /// The check of the content for mapping `index`.
        var check: (Int, Discriminator.Case) -> [Statement]
    }

    /// The checks after the member loop. `memberCount` is the number of members read.
    func finalChecks(memberCount: String, content: ContentCheck?) -> [Statement] {
        var s = ValueChecks.countChecks(object.memberCount, memberCount, noun: "members", keywords: ("minProperties", "maxProperties"))
        for p in object.properties where p.required {
            s.append(.if("!\(seen(p.jsonName))", ValueChecks.report(at: p.jsonName, "required", Naming.literal("missing required member \"\(p.jsonName)\""))))
        }
        if !object.anyOfRequired.isEmpty {
            let condition = object.anyOfRequired.map { g in "(" + g.map(seen).joined(separator: " && ") + ")" }.joined(separator: " || ")
            let text = object.anyOfRequired.map { "{" + $0.joined(separator: ", ") + "}" }.joined(separator: " or ")
            s.append(.if("!(\(condition))", [ValueChecks.report("anyOf", Naming.literal("needs one of \(text)"))]))
        }
        if let d = object.discriminator, let content {
            // The content key is pushed only around the content check, so a valid frame does no
            // path work here.
            var cases: [SwitchCase] = []
            for (index, c) in d.cases.enumerated() {
                var body = content.check(index, c)
                for r in c.alsoRequired {
                    body.append(.if("!\(seen(r))", ValueChecks.report(at: r, "required", Naming.literal("\(d.property) \(c.value) requires \"\(r)\""))))
                }
                cases.append(SwitchCase([content.label(index, c)], body))
            }
            let unknown: [Statement]
            if let vp = d.vendorPrefix {
                unknown = [.if("!\(discriminator).hasPrefix(\(Naming.literal(vp)))", ValueChecks.report(
                    at: d.property, "x-arcp-discriminator",
                    literal("unknown \(d.property) \"", .expr(discriminator), "\" (vendor \(d.property)s start with \(vp))")))]
            } else {
                unknown = ValueChecks.report(at: d.property, "x-arcp-discriminator", literal("unknown \(d.property) \"", .expr(discriminator), "\""))
            }
            cases.append(.default(unknown))
            s.append(.if(content.condition, [.switch(content.subject, cases)]))
        }
        return s
    }
}
