/// Stage 3c: single-pass decoders.
///
/// For every plain object definition this emits `_r_<Name>`, which reads the object member by
/// member from the bytes (`JSONReader`), validates and decodes at once, and never builds a
/// `JSONValue` tree for the members it knows. Its contract is exact equivalence with the
/// two-pass path: for any input it returns what `try? Name(json:)` returns for the parsed value
/// and reports what `_v_<Name>` reports, in the same order, with the same messages (a test
/// checks this on every golden frame and thousands of mutations).
///
/// How it stays equivalent without duplicating every rule:
/// - a member of a plain-object type is streamed recursively; every other member (strings,
///   numbers, arrays, maps, enums, unions, free-form JSON) is read as a `JSONValue` and goes
///   through the very same `ValueChecks` and decode code as the two-pass path;
/// - a value that is not an object where one is expected falls back to the two-pass code;
/// - the state and the checks after the member loop are `ObjectValidation`'s, as in the
///   two-pass validator;
/// - discriminated content (`payload` by `type`, `body` by `kind`) is streamed as soon as the
///   discriminator is known, its violations held back and spliced in where the two-pass
///   validator reports them (after the member loop); if the discriminator is not known yet
///   (content first) or changes later (a repeated member), the content is read or re-read as
///   a `JSONValue` and handled by the two-pass code.
struct StreamingTranslator {
    let model: CodegenModel
    let names: Names

    var values: ValueChecks { ValueChecks(model: model) }
    var types: TypesTranslator { TypesTranslator(model: model, names: names) }

    /// Definitions decoded by streaming: objects that are not maps and have no name rule.
    func isStreamable(_ name: String) -> Bool {
        guard case .object(let o)? = model.definition(named: name)?.kind else { return false }
        return !o.isMap && o.propertyNamesFormat == nil
    }

    /// File-scope declarations: the root's `decodeValidated(frame:)` and the decoders, in an
    /// extension of the validator namespace beside the validators they reuse.
    func declarations() -> [Declaration] {
        var out: [Declaration] = []
        if let root = model.definition(named: model.root), isStreamable(root.name) {
            out.append(entryPoints(root.name))
        }
        var members: [Declaration] = []
        for d in model.definitions {
            guard case .object(let o) = d.kind, isStreamable(d.name) else { continue }
            members.append(decoder(d, o))
            if let disc = o.discriminator { members.append(caseIndex(disc)) }
        }
        out.append(.comment("Single-pass decoders (see `\(names.type(model.root)).decodeValidated(frame:)`), beside the validators they reuse."))
        out.append(.type(TypeDeclaration(.extension, name: names.validator, members: members)))
        return out
    }

    /// `_index_<Enum>(d)`: the position of discriminator value `d` among the mappings, or -1.
    /// Matches on the UTF-8 length first, then the bytes (no string comparisons).
    func caseIndex(_ disc: Discriminator) -> Declaration {
        let byLength = Dictionary(grouping: disc.cases.enumerated(), by: { $0.element.value.utf8.count })
        var cases: [SwitchCase] = []
        for length in byLength.keys.sorted() {
            cases.append(SwitchCase(["\(length)"], (byLength[length] ?? []).map { i, c in
                .if("_utf8Equals(b, \(Naming.literal(c.value)))", [.line("return \(i)")])
            }))
        }
        cases.append(.default([]))
        return .documented("The mapping index of `\(disc.property)` value `d`, or -1 when it is not mapped.", .function(Function(
            isStatic: true, .function("_index_\(disc.enumName)"), parameters: [Parameter(label: "_", "d", "String")], returns: "Int",
            body: [
                .line("var d = d"),
                .block("return d.withUTF8 { b -> Int in", [.switch("b.count", cases), .line("return -1")], close: "}"),
            ])))
    }

    func entryPoints(_ root: String) -> Declaration {
        let type = names.type(root)
        let access = names.access
        return .type(TypeDeclaration(.extension, name: type, members: [
            .documented("""
                Parses, validates and decodes one frame in a single pass.

                The result is exactly what the two-pass path gives, `\(names.validator).validate(frame:)`
                for the violations and `try? \(type)(json: JSONParser.parse(frame))` for the value,
                but the known parts of the frame are read straight into the typed model, without a
                `JSONValue` tree in between. A syntax error is the single violation with rule `json`.
                """, .function(Function(
                    access: access, isStatic: true, .function("decodeValidated"), parameters: [Parameter("frame", "String")],
                    returns: "ValidatedFrame<\(type)>",
                    body: [.line("var frame = frame"), .line("return frame.withUTF8 { decodeValidated(frame: $0) }")]))),
            .documented("`decodeValidated(frame:)` for bytes.", .function(Function(
                access: access, isStatic: true, .function("decodeValidated"), parameters: [Parameter("frame", "Data")],
                returns: "ValidatedFrame<\(type)>",
                body: [.line("frame.withUnsafeBytes { decodeValidated(frame: $0.bindMemory(to: UInt8.self)) }")]))),
            .documented("`decodeValidated(frame:)` for bytes the caller lends for the duration of the call.", .function(Function(
                access: access, isStatic: true, .function("decodeValidated"), parameters: [Parameter("frame", "UnsafeBufferPointer<UInt8>")],
                returns: "ValidatedFrame<\(type)>",
                body: [.line("_decodeFrame(frame, checkingStringRules: true)")]))),
            .documented("""
                Decodes one frame as `decodeValidated(frame:)` does, to the same value, without checking
                the format, enum and length rules of its string members: for a reader that tolerates
                what peers send and needs only the value (a client), those checks are work whose
                result it would discard. Their violations are not reported; every other violation is.
                """, .function(Function(
                    access: access, isStatic: true, .function("decodeLenient"), parameters: [Parameter("frame", "String")],
                    returns: "ValidatedFrame<\(type)>",
                    body: [.line("var frame = frame"), .line("return frame.withUTF8 { decodeLenient(frame: $0) }")]))),
            .documented("`decodeLenient(frame:)` for bytes the caller lends for the duration of the call.", .function(Function(
                access: access, isStatic: true, .function("decodeLenient"), parameters: [Parameter("frame", "UnsafeBufferPointer<UInt8>")],
                returns: "ValidatedFrame<\(type)>",
                body: [.line("_decodeFrame(frame, checkingStringRules: false)")]))),
            .function(Function(
                isStatic: true, .function("_decodeFrame"), parameters: [Parameter(label: "_", "frame", "UnsafeBufferPointer<UInt8>"), Parameter("checkingStringRules", "Bool")],
                returns: "ValidatedFrame<\(type)>",
                body: [
                    .line("var ctx = _ValidationContext()"),
                    .line("ctx.checksStringRules = checkingStringRules"),
                    .line("var reader = JSONReader(frame)"),
                    .do(effects: "throws(JSONSyntaxError)", [
                        .line("reader.skipWhitespace()"),
                        .line("let value = try \(names.validator)._r_\(root)(&reader, &ctx, depth: 1)"),
                        .line("try reader.expectEnd()"),
                        .line("return ValidatedFrame(value: value, violations: ctx.violations, id: ctx.rootID)"),
                    ], catch: [
                        .line("return ValidatedFrame(value: nil, violations: [Violation(path: \"\", rule: \"json\", message: error.description)], id: nil)"),
                    ]),
                ])),
        ]))
    }

    /// How a property is read.
    enum StreamedMember {
        /// A plain-object definition, streamed recursively.
        case object(String)
        /// The discriminator of the enclosing object.
        case discriminator
        /// The discriminated content of the enclosing object.
        case content
        /// Anything else: read as a `JSONValue`, then the two-pass check and decode.
        case value
    }

    func streamedMember(_ p: Property, in o: ObjectModel) -> StreamedMember {
        if let d = o.discriminator, p.jsonName == d.property { return .discriminator }
        if let d = o.discriminator, p.jsonName == d.content {
            // Streamed only when the content's own declared type accepts any object.
            if case .any = p.type { return .content }
            return .value
        }
        if case .named(let n) = p.type, isStreamable(n) { return .object(n) }
        return .value
    }

    /// `_r_<Name>(&reader, &ctx, depth:)`.
    func decoder(_ d: Definition, _ o: ObjectModel) -> Declaration {
        let type = names.type(d.name)
        let isRoot = d.name == model.root
        let state = ObjectValidation(o)
        var body: [Statement] = [
            // Not an object: the two-pass path on the value.
            .guard("r.current == UInt8(ascii: \"{\")", else: [
                .line("let value = try r.readValue(depth: depth - 1)"),
                .line("_v_\(d.name)(value, &ctx)"),
                .line("return try? \(type)(json: value)"),
            ]),
        ]
        let canFail = !o.properties.isEmpty
        if canFail { body.append(.line("var __failed = false")) }
        // Decoder storage.
        for p in o.properties {
            switch streamedMember(p, in: o) {
            case .discriminator, .content: continue
            case .object(let n): body.append(.line("var _\(p.swiftName): \(names.type(n))? = nil"))
            case .value: body.append(.line("var _\(p.swiftName): \(types.swiftType(p.type))? = nil"))
            }
        }
        body.append(.line("var additionalFields = JSONObject()"))
        body += state.declarations
        if let disc = o.discriminator {
            body += [
                .line("var __discIndex = -1  // mapping index of \(state.discriminator), -1 when nil or unmapped"),
                .comment("The content, either as a JSONValue (two-pass) or streamed for the discriminator in `__streamedFor`."),
                .line("var __content: JSONValue? = nil"),
                .line("var __contentStart = 0"),
                .line("var __streamedFor = -1"),
                .line("var __streamed: \(names.type(disc.enumName))? = nil"),
                .line("var __streamedViolations: [Violation] = []"),
            ]
        }
        let countsMembers = !o.memberCount.isEmpty
        if countsMembers { body.append(.line("var __members = 0")) }

        // The member loop. Which property: by UTF-8 length, then bytes; -1 for a member the
        // schema does not describe.
        var loop: [Statement] = [.line("let key = try r.readKey()")]
        if countsMembers { loop.append(.line("__members += 1")) }
        loop.append(.line(o.properties.isEmpty ? "let __which = -1" : "var __which = -1"))
        let byLength = Dictionary(grouping: o.properties.enumerated(), by: { $0.element.jsonName.utf8.count })
        var lengthCases: [SwitchCase] = []
        for length in byLength.keys.sorted() {
            let group = byLength[length] ?? []
            lengthCases.append(SwitchCase(["\(length)"], [
                .if(group.map { IfBranch("key.is(\(Naming.literal($0.element.jsonName)))", [.line("__which = \($0.offset)")]) }, else: nil),
            ]))
        }
        lengthCases.append(.default([]))
        loop.append(.switch("key.count", lengthCases))
        var memberCases: [SwitchCase] = []
        for (index, p) in o.properties.enumerated() {
            // The member's key is not pushed on the path: violations found inside get it
            // inserted afterwards (rare), so the valid path does no path work at all.
            var c: [Statement] = [.line("let __mark = ctx.violations.count")]
            c += state.markSeen(p.jsonName)
            c += member(p, in: o, state: state, isRoot: isRoot)
            c.append(.if("ctx.violations.count != __mark", [.line("ctx.insertKey(\(Naming.literal(p.jsonName)), from: __mark)")]))
            memberCases.append(SwitchCase(["\(index)"], c))
        }
        var unknown: [Statement] = [.line("let name = key.string"), .line("let value = try r.readValue(depth: depth)")]
        if let a = o.additional {
            let check = values.checks(a, "value")
            if !check.isEmpty {
                unknown.append(.line("let __mark = ctx.violations.count"))
                unknown += check
                unknown.append(.if("ctx.violations.count != __mark", [.line("ctx.insertKey(name, from: __mark)")]))
            }
        }
        unknown.append(.line("additionalFields.members.append(JSONObject.Member(key: name, value: value))"))
        memberCases.append(.default(unknown))
        loop.append(.switch("__which", memberCases))
        body.append(.if("try r.beginObject(depth: depth)", [.repeatWhile(loop, while: "try r.nextMember()")]))

        // The checks after the loop, as the two-pass validator makes them.
        if let disc = o.discriminator {
            body.append(.declaration(.variable(Variable("__contentValue", type: "JSONValue", getter: [
                .if("let __content", [.line("return __content")]),
                .comment("Re-read the content streamed for another discriminator (it was valid JSON then)."),
                .line("var again = r.at(__contentStart)"),
                .line("return (try? again.readValue(depth: depth)) ?? .null"),
            ]))))
            body += state.finalChecks(memberCount: "__members", content: ObjectValidation.ContentCheck(
                condition: "let \(state.discriminator), \(state.seen(disc.content))", subject: "__discIndex", label: { index, _ in "\(index)" },
                check: { index, c in
                    [.if("__streamedFor == \(index)", [
                        .if("!__streamedViolations.isEmpty", [.line("ctx.violations.append(contentsOf: __streamedViolations)")]),
                    ], else: [
                        .line("ctx.path.append(.key(\(Naming.literal(disc.content))))"),
                        .line("_v_\(c.definition)(__contentValue, &ctx)"),
                        .line("ctx.path.removeLast()"),
                    ])]
                }))
        } else {
            body += state.finalChecks(memberCount: "__members", content: nil)
        }
        for p in o.properties where p.required {
            body.append(.if("!\(state.seen(p.jsonName))", [.line("__failed = true")]))
        }
        if canFail { body.append(.if("__failed", [.line("return nil")])) }

        // Decode.
        for p in o.properties where p.required {
            switch streamedMember(p, in: o) {
            case .discriminator, .content: continue
            default: body.append(.guard("let _\(p.swiftName)", else: [.line("return nil")]))
            }
        }
        if let disc = o.discriminator {
            body += [
                .guard("let \(state.discriminator)", else: [.line("return nil")]),
                .line("let __message: \(names.type(disc.enumName))"),
                .if("__streamedFor >= 0 && __streamedFor == __discIndex", [
                    .guard("let __streamed", else: [.line("return nil")]),
                    .line("__message = __streamed"),
                ], else: [
                    .guard(
                        "let m = try? \(names.type(disc.enumName))(\(Naming.camelCase(disc.property)): \(state.discriminator), \(Naming.camelCase(disc.content)): __contentValue)",
                        else: [.line("return nil")]),
                    .line("__message = m"),
                ]),
            ]
        }
        var args: [String] = []
        for f in types.fields(o) {
            // Argument labels need no backticks (except the few keywords that are not labels).
            let bare = f.name.trimmingCharacters(in: ["`"])
            let label = ["inout", "var", "let"].contains(bare) ? f.name : bare
            if let p = f.property { args.append("\(label): _\(p.swiftName)") } else { args.append("\(label): __message") }
        }
        args.append("additionalFields: additionalFields")
        body.append(.line("return \(type)(\(args.joined(separator: ", ")))"))
        return .function(Function(
            isStatic: true, .function("_r_\(d.name)"),
            parameters: [Parameter(label: "_", "r", "inout JSONReader"), Parameter(label: "_", "ctx", "inout _ValidationContext"), Parameter("depth", "Int")],
            effects: "throws(JSONSyntaxError)", returns: "\(type)?", body: body))
    }

    /// Reading member `p` (its key already read).
    func member(_ p: Property, in o: ObjectModel, state: ObjectValidation, isRoot: Bool) -> [Statement] {
        let key = Naming.literal(p.jsonName)
        switch streamedMember(p, in: o) {
        case .object(let n):
            let read = Statement.if("let v = try _r_\(n)(&r, &ctx, depth: depth + 1)", [.line("_\(p.swiftName) = v")], else: [.line("__failed = true")])
            guard !p.required else { return [read] }
            // An optional member may be null: nil, no violation (as decodeOptional / the nullable guard).
            guard case .if(let branches, let elseBody) = read else { return [read] }
            return [.if([IfBranch("r.consumeNull()", [.line("_\(p.swiftName) = nil")])] + branches, else: elseBody)]
        case .discriminator:
            let index = "_index_\(o.discriminator?.enumName ?? "")"
            if let rule = values.stringRule(p.type) {
                return [.if("r.current == UInt8(ascii: \"\\\"\")", [.line("let s = try r.readString()")] + ValueChecks.stringChecks(rule, "s") + [
                    .line("\(state.discriminator) = s"),
                    .line("__discIndex = \(index)(s)"),
                ], else: [.line("let value = try r.readValue(depth: depth)")] + values.checks(p.type, "value", nullable: !p.required) + [
                    .line("\(state.discriminator) = nil"),
                    .line("__discIndex = -1"),
                    .line("__failed = true"),
                ])]
            }
            return [
                .line("let value = try r.readValue(depth: depth)"),
                .line("\(state.discriminator) = value.stringValue"),
                .line("__discIndex = \(state.discriminator).map(\(index)) ?? -1"),
            ] + values.checks(p.type, "value", nullable: !p.required) + [.if("\(state.discriminator) == nil", [.line("__failed = true")])]
        case .content:
            guard let disc = o.discriminator else { return [] }
            var s: [Statement] = [.line("__contentStart = r.offset"), .line("__streamedFor = -1")]
            let streamed = disc.cases.enumerated().filter { isStreamable($0.element.definition) }
            let asValue: [Statement] = [.line("let value = try r.readValue(depth: depth)")] + values.checks(p.type, "value", nullable: !p.required)
                + [.line("__content = value")]
            guard !streamed.isEmpty else { return s + asValue }
            s.append(.line("let __index = r.current == UInt8(ascii: \"{\") ? __discIndex : -1"))
            s.append(.switch("__index", [
                SwitchCase(streamed.map { "\($0.offset)" }, [
                    .line("swap(&ctx.violations, &__streamedViolations)"),
                    .if("!ctx.violations.isEmpty", [.line("ctx.violations.removeAll()")]),
                    .line("__streamed = nil"),
                    .switch("__index", streamed.map { index, c in
                        SwitchCase(["\(index)"], [
                            .if("let v = try _r_\(c.definition)(&r, &ctx, depth: depth + 1)", [.line("__streamed = .\(Naming.identifier(c.swiftCase))(v)")]),
                        ])
                    } + [.default([])]),
                    .if("!ctx.violations.isEmpty", [.line("ctx.insertKey(\(key), from: 0)")]),
                    .line("swap(&ctx.violations, &__streamedViolations)"),
                    .line("__streamedFor = __index"),
                    .line("__content = nil"),
                ]),
                .default(asValue),
            ]))
            return s
        case .value:
            let rootID = isRoot && p.jsonName == "id"
            var generic: [Statement] = [.line("let value = try r.readValue(depth: depth)")]
            if rootID { generic.append(.if("depth == 1", [.line("ctx.rootID = value.stringValue")])) }
            generic += values.checks(p.type, "value", nullable: !p.required)
            let fn = p.required ? "decode" : "decodeOptional"
            generic.append(.do(effects: nil, [
                .line("_\(p.swiftName) = try _JSONDecodeSupport.\(fn)(\(types.swiftType(p.type)).self, value, key: \(key))"),
            ], catch: [.line("__failed = true")]))
            guard let rule = values.stringRule(p.type) else { return generic }
            // Fast path for strings: no JSONValue in between. Same checks, same result.
            var fast: [Statement] = [.line("let s = try r.readString()")]
            if rootID { fast.append(.if("depth == 1", [.line("ctx.rootID = s")])) }
            // A lenient decode (`decodeLenient`) skips the string rules: they never change the value.
            let stringChecks = ValueChecks.stringChecks(rule, "s")
            if !stringChecks.isEmpty { fast.append(.if("ctx.checksStringRules", stringChecks)) }
            fast.append(.line("_\(p.swiftName) = s"))
            var branches = [IfBranch("r.current == UInt8(ascii: \"\\\"\")", fast)]
            if !p.required { branches.insert(IfBranch("r.consumeNull()", [.line("_\(p.swiftName) = nil")]), at: 0) }
            return [.if(branches, else: generic)]
        }
    }
}
