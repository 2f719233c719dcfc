import Foundation

/// Stage 3, continued: single-pass decoders.
///
/// For every plain object definition the renderer also emits `_r_<Name>`, which reads the
/// object member by member from the bytes (`JSONReader`), validates and decodes at once, and
/// never builds a `JSONValue` tree for the members it knows. Its contract is exact equivalence
/// with the two-pass path: for any input it returns what `try? Name(json:)` returns for the
/// parsed value and reports what `_v_<Name>` reports, in the same order, with the same
/// messages (a test checks this on every golden frame and thousands of mutations).
///
/// How it stays equivalent without duplicating every rule:
/// - a member of a plain-object type is streamed recursively; every other member (strings,
///   numbers, arrays, maps, enums, unions, free-form JSON) is read as a `JSONValue` and goes
///   through the very same check and decode code as the two-pass path;
/// - a value that is not an object where one is expected falls back to the two-pass code;
/// - discriminated content (`payload` by `type`, `body` by `kind`) is streamed as soon as the
///   discriminator is known, its violations held back and spliced in where the two-pass
///   validator reports them (after the member loop); if the discriminator is not known yet
///   (content first) or changes later (a repeated member), the content is read or re-read as
///   a `JSONValue` and handled by the two-pass code.
extension SwiftRenderer {
    /// Definitions decoded by streaming: objects that are not maps and have no name pattern.
    func isStreamable(_ name: String) -> Bool {
        guard case .object(let o)? = model.definition(named: name)?.kind else { return false }
        return !o.isMap && o.propertyNamesPattern == nil
    }

    func renderStreaming() -> String {
        var s = Self.header
        if let root = model.definition(named: model.root), isStreamable(root.name) {
            s += renderStreamingEntry(root.name)
        }
        s += "// Single-pass decoders (see `\(model.root).decodeValidated(frame:)`), beside the validators they reuse.\n"
        s += "extension ARCPValidator {\n"
        for d in model.definitions {
            guard case .object(let o) = d.kind, isStreamable(d.name) else { continue }
            s += renderStreamingStruct(d, o)
            if let disc = o.discriminator { s += renderCaseIndex(disc) }
        }
        s += "}\n"
        return s
    }

    /// `_index_<Enum>(d)`: the position of discriminator value `d` among the mappings, or -1.
    /// Matches on the UTF-8 length first, then the bytes (no string comparisons).
    func renderCaseIndex(_ disc: Discriminator) -> String {
        var s = "    /// The mapping index of `\(disc.property)` value `d`, or -1 when it is not mapped.\n"
        s += "    static func _index_\(disc.enumName)(_ d: String) -> Int {\n"
        s += "        var d = d\n"
        s += "        return d.withUTF8 { b -> Int in\n"
        s += "            switch b.count {\n"
        let byLength = Dictionary(grouping: disc.cases.enumerated(), by: { $0.element.value.utf8.count })
        for length in byLength.keys.sorted() {
            s += "            case \(length):\n"
            for (i, c) in byLength[length] ?? [] { s += "                if _utf8Equals(b, \(Naming.literal(c.value))) { return \(i) }\n" }
        }
        s += "            default: break\n            }\n            return -1\n        }\n    }\n\n"
        return s
    }

    func renderStreamingEntry(_ root: String) -> String {
        """
        extension \(root) {
            /// Parses, validates and decodes one frame in a single pass.
            ///
            /// The result is exactly what the two-pass path gives, `ARCPValidator.validate(frame:)`
            /// for the violations and `try? \(root)(json: JSONParser.parse(frame))` for the value,
            /// but the known parts of the frame are read straight into the typed model, without a
            /// `JSONValue` tree in between. A syntax error is the single violation with rule `json`.
            public static func decodeValidated(frame: String) -> ValidatedFrame<\(root)> {
                var frame = frame
                return frame.withUTF8 { decodeValidated(frame: $0) }
            }

            /// `decodeValidated(frame:)` for bytes.
            public static func decodeValidated(frame: Data) -> ValidatedFrame<\(root)> {
                frame.withUnsafeBytes { decodeValidated(frame: $0.bindMemory(to: UInt8.self)) }
            }

            /// `decodeValidated(frame:)` for bytes the caller lends for the duration of the call.
            public static func decodeValidated(frame: UnsafeBufferPointer<UInt8>) -> ValidatedFrame<\(root)> {
                var ctx = _ValidationContext()
                var reader = JSONReader(frame)
                do throws(JSONSyntaxError) {
                    reader.skipWhitespace()
                    let value = try ARCPValidator._r_\(root)(&reader, &ctx, depth: 1)
                    try reader.expectEnd()
                    return ValidatedFrame(value: value, violations: ctx.violations, id: ctx.rootID)
                } catch {
                    return ValidatedFrame(value: nil, violations: [Violation(path: "", rule: "json", message: error.description)], id: nil)
                }
            }
        }


        """
    }

    /// The streaming kind of a property.
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

    func renderStreamingStruct(_ d: Definition, _ o: ObjectModel) -> String {
        let isRoot = d.name == model.root
        var s = "    static func _r_\(d.name)(_ r: inout JSONReader, _ ctx: inout _ValidationContext, depth: Int) throws(JSONSyntaxError) -> \(d.name)? {\n"
        // Not an object: the two-pass path on the value.
        s += "        guard r.current == UInt8(ascii: \"{\") else {\n"
        s += "            let value = try r.readValue(depth: depth - 1)\n"
        s += "            ARCPValidator._v_\(d.name)(value, &ctx)\n"
        s += "            return try? \(d.name)(json: value)\n"
        s += "        }\n"
        let canFail = !o.properties.isEmpty
        if canFail { s += "        var __failed = false\n" }
        // Decoder storage.
        for p in o.properties {
            switch streamedMember(p, in: o) {
            case .discriminator, .content: continue
            case .object(let n): s += "        var _\(p.swiftName): \(n)? = nil\n"
            case .value: s += "        var _\(p.swiftName): \(swiftType(p.type))? = nil\n"
            }
        }
        s += "        var additionalFields = JSONObject()\n"
        // Validator state, named as in the two-pass validator so the shared tail applies.
        let tracked = Set(o.properties.filter(\.required).map(\.jsonName)).union(o.anyOfRequired.flatMap { $0 })
            .union(o.discriminator.map { d in d.cases.flatMap(\.alsoRequired) + [d.property, d.content] } ?? [])
        for name in o.properties.map(\.jsonName) where tracked.contains(name) {
            s += "        var _seen_\(Naming.camelCase(name)) = false\n"
        }
        if let disc = o.discriminator {
            s += "        var _discriminator: String? = nil\n"
            s += "        var __discIndex = -1  // mapping index of _discriminator, -1 when nil or unmapped\n"
            s += "        // The content, either as a JSONValue (two-pass) or streamed for the discriminator in `__streamedFor`.\n"
            s += "        var __content: JSONValue? = nil\n"
            s += "        var __contentStart = 0\n"
            s += "        var __streamedFor = -1\n"
            s += "        var __streamed: \(disc.enumName)? = nil\n"
            s += "        var __streamedViolations: [Violation] = []\n"
        }
        let countsMembers = !o.memberCount.isEmpty
        if countsMembers { s += "        var __members = 0\n" }
        s += "        if try r.beginObject(depth: depth) {\n"
        s += "            repeat {\n"
        s += "                let key = try r.readKey()\n"
        if countsMembers { s += "                __members += 1\n" }
        // Which property: by UTF-8 length, then bytes; -1 for a member the schema does not describe.
        s += o.properties.isEmpty ? "                let __which = -1\n" : "                var __which = -1\n"
        s += "                switch key.count {\n"
        let byLength = Dictionary(grouping: o.properties.enumerated(), by: { $0.element.jsonName.utf8.count })
        for length in byLength.keys.sorted() {
            let group = byLength[length] ?? []
            s += "                case \(length): " + group.map { "if key.is(\(Naming.literal($0.element.jsonName))) { __which = \($0.offset) }" }.joined(separator: " else ") + "\n"
        }
        s += "                default: break\n                }\n"
        s += "                switch __which {\n"
        for (index, p) in o.properties.enumerated() {
            s += "                case \(index):\n"
            // The member's key is not pushed on the path: violations found inside get it
            // inserted afterwards (rare), so the valid path does no path work at all.
            s += "                    let __mark = ctx.violations.count\n"
            if tracked.contains(p.jsonName) { s += "                    _seen_\(Naming.camelCase(p.jsonName)) = true\n" }
            s += renderStreamedMember(p, in: o, isRoot: isRoot, indent: "                    ")
            s += "                    if ctx.violations.count != __mark { ctx.insertKey(\(Naming.literal(p.jsonName)), from: __mark) }\n"
        }
        s += "                default:\n"
        s += "                    let name = key.string\n"
        s += "                    let value = try r.readValue(depth: depth)\n"
        if let a = o.additional {
            s += "                    let __mark = ctx.violations.count\n"
            s += check(a, "value", indent: "                    ")
            s += "                    if ctx.violations.count != __mark { ctx.insertKey(name, from: __mark) }\n"
        }
        s += "                    additionalFields.members.append(JSONObject.Member(key: name, value: value))\n"
        s += "                }\n"
        s += "            } while try r.nextMember()\n"
        s += "        }\n"
        // Validation tail, shared with the two-pass validator.
        if let disc = o.discriminator {
            let contentSeen = "_seen_\(Naming.camelCase(disc.content))"
            s += "        var __contentValue: JSONValue {\n"
            s += "            if let __content { return __content }\n"
            s += "            // Re-read the content streamed for another discriminator (it was valid JSON then).\n"
            s += "            var again = r.at(__contentStart)\n"
            s += "            return (try? again.readValue(depth: depth)) ?? .null\n"
            s += "        }\n"
            s += renderObjectValidatorTail(o, memberCount: "__members", contentCheck: { c in
                let index = disc.cases.firstIndex(of: c) ?? -1
                return "                if __streamedFor == \(index) {\n"
                    + "                    if !__streamedViolations.isEmpty { ctx.violations.append(contentsOf: __streamedViolations) }\n"
                    + "                } else {\n"
                    + "                    ctx.path.append(.key(\(Naming.literal(disc.content)))); ARCPValidator._v_\(c.definition)(__contentValue, &ctx); ctx.path.removeLast()\n"
                    + "                }\n"
            }, condition: "let _discriminator, \(contentSeen)", switchOn: "__discIndex", caseLabel: { index, _ in String(index) })
        } else {
            s += renderObjectValidatorTail(o, memberCount: "__members", contentCheck: { _ in "" }, condition: "false")
        }
        for p in o.properties where p.required {
            s += "        if !_seen_\(Naming.camelCase(p.jsonName)) { __failed = true }\n"
        }
        if canFail { s += "        if __failed { return nil }\n" }
        // Decode.
        for p in o.properties where p.required {
            switch streamedMember(p, in: o) {
            case .discriminator, .content: continue
            default: s += "        guard let _\(p.swiftName) else { return nil }\n"
            }
        }
        if let disc = o.discriminator {
            s += "        guard let _discriminator else { return nil }\n"
            s += "        let __message: \(disc.enumName)\n"
            s += "        if __streamedFor >= 0 && __streamedFor == __discIndex {\n"
            s += "            guard let __streamed else { return nil }\n"
            s += "            __message = __streamed\n"
            s += "        } else {\n"
            s += "            guard let m = try? \(disc.enumName)(\(Naming.camelCase(disc.property)): _discriminator, \(Naming.camelCase(disc.content)): __contentValue) else { return nil }\n"
            s += "            __message = m\n"
            s += "        }\n"
        }
        var args: [String] = []
        for f in fields(o) {
            // Argument labels need no backticks (except the few keywords that are not labels).
            let label = ["inout", "var", "let"].contains(f.name.trimmingCharacters(in: ["`"])) ? f.name : f.name.trimmingCharacters(in: ["`"])
            if let p = f.property { args.append("\(label): _\(p.swiftName)") } else { args.append("\(label): __message") }
        }
        args.append("additionalFields: additionalFields")
        s += "        return \(d.name)(\(args.joined(separator: ", ")))\n"
        s += "    }\n\n"
        return s
    }

    /// The string rule of a type that is a plain string (directly or through an alias).
    func stringRule(_ t: TypeRef) -> StringRule? {
        switch t {
        case .string(let rule): return rule
        case .named(let n):
            if case .alias(.string(let rule))? = model.definition(named: n)?.kind { return rule }
            return nil
        default: return nil
        }
    }

    func renderStreamedMember(_ p: Property, in o: ObjectModel, isRoot: Bool, indent i: String) -> String {
        var s = ""
        let key = Naming.literal(p.jsonName)
        switch streamedMember(p, in: o) {
        case .object(let n):
            if !p.required {
                // An optional member may be null: nil, no violation (as decodeOptional / the nullable guard).
                s += "\(i)if r.consumeNull() {\n\(i)    _\(p.swiftName) = nil\n\(i)} else "
            } else {
                s += i
            }
            s += "if let v = try _r_\(n)(&r, &ctx, depth: depth + 1) {\n\(i)    _\(p.swiftName) = v\n\(i)} else {\n\(i)    __failed = true\n\(i)}\n"
        case .discriminator:
            if let rule = stringRule(p.type) {
                s += "\(i)if r.current == UInt8(ascii: \"\\\"\") {\n"
                s += "\(i)    let s = try r.readString()\n"
                s += stringChecks(rule, "s", indent: i + "    ")
                s += "\(i)    _discriminator = s\n"
                s += "\(i)    __discIndex = _index_\(o.discriminator?.enumName ?? "")(s)\n"
                s += "\(i)} else {\n"
                s += "\(i)    let value = try r.readValue(depth: depth)\n"
                s += check(p.type, "value", indent: i + "    ", nullable: !p.required)
                s += "\(i)    _discriminator = nil\n"
                s += "\(i)    __discIndex = -1\n"
                s += "\(i)    __failed = true\n"
                s += "\(i)}\n"
            } else {
                s += "\(i)let value = try r.readValue(depth: depth)\n"
                s += "\(i)_discriminator = value.stringValue\n"
                s += "\(i)__discIndex = _discriminator.map(_index_\(o.discriminator?.enumName ?? "")) ?? -1\n"
                s += check(p.type, "value", indent: i, nullable: !p.required)
                s += "\(i)if _discriminator == nil { __failed = true }\n"
            }
        case .content:
            guard let disc = o.discriminator else { return "" }
            let streamedCases = disc.cases.filter { isStreamable($0.definition) }
            s += "\(i)__contentStart = r.offset\n"
            s += "\(i)__streamedFor = -1\n"
            if !streamedCases.isEmpty {
                let streamedIndices = disc.cases.enumerated().filter { isStreamable($0.element.definition) }
                s += "\(i)let __index = r.current == UInt8(ascii: \"{\") ? __discIndex : -1\n"
                s += "\(i)switch __index {\n"
                s += "\(i)case \(streamedIndices.map { String($0.offset) }.joined(separator: ", ")):\n"
                s += "\(i)    swap(&ctx.violations, &__streamedViolations)\n"
                s += "\(i)    if !ctx.violations.isEmpty { ctx.violations.removeAll() }\n"
                s += "\(i)    __streamed = nil\n"
                s += "\(i)    switch __index {\n"
                for (index, c) in streamedIndices {
                    s += "\(i)    case \(index): if let v = try _r_\(c.definition)(&r, &ctx, depth: depth + 1) { __streamed = .\(Naming.identifier(c.swiftCase))(v) }\n"
                }
                s += "\(i)    default: break\n"
                s += "\(i)    }\n"
                s += "\(i)    if !ctx.violations.isEmpty { ctx.insertKey(\(key), from: 0) }\n"
                s += "\(i)    swap(&ctx.violations, &__streamedViolations)\n"
                s += "\(i)    __streamedFor = __index\n"
                s += "\(i)    __content = nil\n"
                s += "\(i)default:\n"
                s += "\(i)    let value = try r.readValue(depth: depth)\n"
                s += check(p.type, "value", indent: i + "    ", nullable: !p.required)
                s += "\(i)    __content = value\n"
                s += "\(i)}\n"
            } else {
                s += "\(i)let value = try r.readValue(depth: depth)\n"
                s += check(p.type, "value", indent: i, nullable: !p.required)
                s += "\(i)__content = value\n"
            }
        case .value:
            var generic = ""
            var g = i
            if let rule = stringRule(p.type) {
                // Fast path for strings: no JSONValue in between. Same checks, same result.
                g = i + "    "
                if !p.required { s += "\(i)if r.consumeNull() {\n\(i)    _\(p.swiftName) = nil\n\(i)} else " } else { s += i }
                s += "if r.current == UInt8(ascii: \"\\\"\") {\n"
                s += "\(i)    let s = try r.readString()\n"
                if isRoot && p.jsonName == "id" { s += "\(i)    if depth == 1 { ctx.rootID = s }\n" }
                s += stringChecks(rule, "s", indent: i + "    ")
                s += "\(i)    _\(p.swiftName) = s\n"
                s += "\(i)} else {\n"
            }
            generic += "\(g)let value = try r.readValue(depth: depth)\n"
            if isRoot && p.jsonName == "id" { generic += "\(g)if depth == 1 { ctx.rootID = value.stringValue }\n" }
            generic += check(p.type, "value", indent: g, nullable: !p.required)
            let fn = p.required ? "decode" : "decodeOptional"
            generic += "\(g)do { _\(p.swiftName) = try _JSONDecodeSupport.\(fn)(\(swiftType(p.type)).self, value, key: \(key)) } catch { __failed = true }\n"
            s += generic
            if g != i { s += "\(i)}\n" }
        }
        return s
    }
}
