/// Stage 5: structured Swift to text. The one place that decides layout: four-space
/// indentation; a block whose body is one short statement stays on one line
/// (`guard let x else { return nil }`, `case "a": self = .a`); stored properties and enum cases
/// stand together, every other member is set off by a blank line.
public struct TextRenderer: Sendable {
    /// Width up to which a one-statement block stays on one line.
    public var inlineWidth = 160

    public init() {}

    public func render(_ file: SwiftFile) -> String {
        var out = Output()
        for line in file.header { out.line(0, "// " + line) }
        if !file.header.isEmpty { out.line(0, "") }
        for i in file.imports { out.line(0, "import " + i) }
        if !file.imports.isEmpty { out.line(0, "") }
        declarations(file.declarations, depth: 0, topLevel: true, &out)
        // One newline at the end.
        while out.text.hasSuffix("\n\n") { out.text.removeLast() }
        return out.text
    }

    struct Output {
        var text = ""
        mutating func line(_ depth: Int, _ s: String) {
            if s.isEmpty {
                text += "\n"
            } else {
                text += String(repeating: "    ", count: depth) + s + "\n"
            }
        }
    }

    /// Whether `d` stands with its neighbours of the same kind, without blank lines between.
    func isCompact(_ d: Declaration) -> Bool {
        switch d {
        case .documented(_, let inner): return isCompact(inner)
        case .variable(let v): return v.getter == nil
        case .enumCase: return true
        case .typealias, .comment, .type, .function: return false
        }
    }

    func declarations(_ ds: [Declaration], depth: Int, topLevel: Bool, _ out: inout Output) {
        for (i, d) in ds.enumerated() {
            declaration(d, depth: depth, &out)
            let last = i == ds.count - 1
            if topLevel {
                // Every top-level declaration ends with a blank line, the last one too, except a comment.
                if case .comment = d {} else { out.line(0, "") }
            } else if !last {
                let next = ds[i + 1]
                if case .comment = d { continue }
                if !(isCompact(d) && isCompact(next)) { out.line(0, "") }
            }
        }
    }

    func access(_ a: AccessModifier?) -> String { a.map { $0.rawValue + " " } ?? "" }

    func declaration(_ d: Declaration, depth: Int, _ out: inout Output) {
        switch d {
        case .documented(let doc, let inner):
            for l in doc.split(separator: "\n", omittingEmptySubsequences: false) { out.line(depth, "/// " + l) }
            declaration(inner, depth: depth, &out)
        case .comment(let text):
            for l in text.split(separator: "\n", omittingEmptySubsequences: false) { out.line(depth, "// " + l) }
        case .typealias(let a, let name, let type):
            out.line(depth, "\(access(a))typealias \(name) = \(type)")
        case .enumCase(let c):
            out.line(depth, "case \(c.name)\(c.associatedValues ?? "")" + (c.rawValue.map { " = " + $0 } ?? ""))
        case .variable(let v):
            var s = access(v.access) + (v.isStatic ? "static " : "") + (v.isLet ? "let " : "var ") + v.name
            if let t = v.type { s += ": " + t }
            if let i = v.initializer { s += " = " + i }
            if let g = v.getter {
                block(s, g, depth: depth, &out)
            } else {
                out.line(depth, s)
            }
        case .function(let f):
            for a in f.attributes { out.line(depth, a) }
            var s = access(f.access) + (f.isStatic ? "static " : "") + (f.isMutating ? "mutating " : "")
            switch f.kind {
            case .function(let name): s += "func " + name
            case .initializer: s += "init"
            }
            s += "(" + f.parameters.map(parameter).joined(separator: ", ") + ")"
            if let e = f.effects { s += " " + e }
            if let r = f.returnType { s += " -> " + r }
            block(s, f.body, depth: depth, &out)
        case .type(let t):
            var s = access(t.access) + (t.isIndirect ? "indirect " : "") + t.kind.rawValue + " " + t.name
            if !t.conformances.isEmpty { s += ": " + t.conformances.joined(separator: ", ") }
            if t.members.isEmpty {
                out.line(depth, s + " {}")
            } else {
                out.line(depth, s + " {")
                declarations(t.members, depth: depth + 1, topLevel: false, &out)
                out.line(depth, "}")
            }
        }
    }

    func parameter(_ p: Parameter) -> String {
        var s = p.label.map { $0 + " " } ?? ""
        s += p.name + ": " + p.type
        if let d = p.defaultValue { s += " = " + d }
        return s
    }

    /// The text of a body that fits on the opening line, or nil.
    func inlineBody(_ body: [Statement], after head: String, depth: Int) -> String? {
        if body.isEmpty { return "{}" }
        guard body.count == 1, case .line(let s) = body[0] else { return nil }
        let text = "{ " + s + " }"
        return depth * 4 + head.count + 1 + text.count <= inlineWidth ? text : nil
    }

    /// `head {` body `}`, or `head { stmt }` on one line when it fits.
    func block(_ head: String, _ body: [Statement], depth: Int, inline: Bool = true, tail: String = "", _ out: inout Output) {
        if inline, let b = inlineBody(body, after: head, depth: depth) {
            out.line(depth, head + " " + b + tail)
            return
        }
        out.line(depth, head + " {")
        statements(body, depth: depth + 1, &out)
        out.line(depth, "}" + tail)
    }

    func statements(_ ss: [Statement], depth: Int, _ out: inout Output) {
        for s in ss { statement(s, depth: depth, &out) }
    }

    func statement(_ s: Statement, depth: Int, _ out: inout Output) {
        switch s {
        case .line(let text):
            out.line(depth, text)
        case .comment(let text):
            out.line(depth, "// " + text)
        case .if(let branches, let elseBody):
            // One line only for a lone `if` with a one-statement body.
            if branches.count == 1, elseBody == nil {
                block("if " + branches[0].condition, branches[0].body, depth: depth, &out)
                return
            }
            if branches.count == 1, let e = elseBody, branches[0].body.isEmpty, let b = inlineBody(e, after: "", depth: depth),
                b != "{}", depth * 4 + branches[0].condition.count + 12 + b.count <= inlineWidth
            {
                // `if case .null = v {} else { stmt }`
                out.line(depth, "if \(branches[0].condition) {} else \(b)")
                return
            }
            for (i, b) in branches.enumerated() {
                out.line(depth, (i == 0 ? "if " : "} else if ") + b.condition + (b.body.isEmpty ? " {" : " {"))
                statements(b.body, depth: depth + 1, &out)
            }
            if let e = elseBody {
                out.line(depth, "} else {")
                statements(e, depth: depth + 1, &out)
            }
            out.line(depth, "}")
        case .guard(let condition, let elseBody):
            block("guard \(condition) else", elseBody, depth: depth, &out)
        case .switch(let subject, let cases):
            out.line(depth, "switch \(subject) {")
            for c in cases {
                let head = c.patterns.isEmpty ? "default:" : "case " + c.patterns.joined(separator: ", ") + ":"
                if c.body.isEmpty {
                    out.line(depth, head + " break")
                } else if c.body.count == 1, case .line(let text) = c.body[0], depth * 4 + head.count + 1 + text.count <= inlineWidth {
                    out.line(depth, head + " " + text)
                } else {
                    out.line(depth, head)
                    statements(c.body, depth: depth + 1, &out)
                }
            }
            out.line(depth, "}")
        case .for(let header, let body):
            block("for \(header)", body, depth: depth, inline: false, &out)
        case .repeatWhile(let body, let condition):
            out.line(depth, "repeat {")
            statements(body, depth: depth + 1, &out)
            out.line(depth, "} while \(condition)")
        case .do(let effects, let body, let catchBody):
            out.line(depth, "do" + (effects.map { " " + $0 } ?? "") + " {")
            statements(body, depth: depth + 1, &out)
            if let c = catchBody {
                out.line(depth, "} catch {")
                statements(c, depth: depth + 1, &out)
            }
            out.line(depth, "}")
        case .declaration(let d):
            declaration(d, depth: depth, &out)
        case .block(let open, let body, let close):
            out.line(depth, open)
            statements(body, depth: depth + 1, &out)
            out.line(depth, close)
        }
    }
}
