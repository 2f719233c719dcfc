import ARCPCodegenCore
import Testing

/// Stage 4: the structured Swift is laid out by `TextRenderer` alone.
@Suite("Stage 4: TextRenderer")
struct TextRendererTests {
    func render(_ declarations: [Declaration], imports: [String] = []) -> String {
        TextRenderer().render(SwiftFile(name: "F.swift", header: ["H"], imports: imports, declarations: declarations))
    }

    @Test("a file: header, imports, declarations set apart, one newline at the end")
    func file() {
        let text = render([
            .typealias(access: .public, name: "A", type: "String"),
            .documented("Doc.", .typealias(access: nil, name: "B", type: "Int")),
        ], imports: ["Foundation"])
        #expect(text == "// H\n\nimport Foundation\n\npublic typealias A = String\n\n/// Doc.\ntypealias B = Int\n")
    }

    @Test("members: stored properties and cases together, the rest set apart; one-line bodies stay on one line")
    func members() {
        let text = render([
            .type(TypeDeclaration(.struct, access: .package, name: "S", conformances: ["Sendable"], members: [
                .variable(Variable(access: .package, "a", type: "Int")),
                .documented("B.", .variable(Variable("b", type: "String?"))),
                .function(Function(.initializer, parameters: [Parameter("a", "Int"), Parameter(label: "_", "b", "String?", default: "nil")], body: [
                    .line("self.a = a"), .line("self.b = b"),
                ])),
                .variable(Variable(access: .package, "c", type: "Int", getter: [.line("a + 1")])),
            ])),
        ])
        #expect(text == """
            // H

            package struct S: Sendable {
                package var a: Int
                /// B.
                var b: String?

                init(a: Int, _ b: String? = nil) {
                    self.a = a
                    self.b = b
                }

                package var c: Int { a + 1 }
            }

            """)
    }

    @Test("statements: if chains, guard, switch with inline cases and break, loops, do/catch, blocks")
    func statements() {
        let text = render([
            .function(Function(isStatic: true, .function("f"), parameters: [Parameter(label: "_", "v", "JSONValue")], effects: "throws", returns: "Int", body: [
                .if("case .null = v", [], else: [.line("return 1")]),
                .if([IfBranch("a", [.line("x()")]), IfBranch("b", [.line("y()")])], else: [.line("z()")]),
                .guard("let n = v.int64Value", else: [.line("report()"), .line("return 0")]),
                .switch("n", [SwitchCase(["1", "2"], []), SwitchCase(["3"], [.line("return 3")]), .default([.line("a()"), .line("b()")])]),
                .for("i in 0..<n", [.line("g(i)")]),
                .repeatWhile([.line("h()")], while: "more()"),
                .do(effects: "throws(E)", [.line("try k()")], catch: [.line("return -1")]),
                .block("return n.map { x in", [.line("x + 1")], close: "}"),
            ])),
        ])
        #expect(text == """
            // H

            static func f(_ v: JSONValue) throws -> Int {
                if case .null = v {} else { return 1 }
                if a {
                    x()
                } else if b {
                    y()
                } else {
                    z()
                }
                guard let n = v.int64Value else {
                    report()
                    return 0
                }
                switch n {
                case 1, 2: break
                case 3: return 3
                default:
                    a()
                    b()
                }
                for i in 0..<n {
                    g(i)
                }
                repeat {
                    h()
                } while more()
                do throws(E) {
                    try k()
                } catch {
                    return -1
                }
                return n.map { x in
                    x + 1
                }
            }

            """)
    }

    @Test("a body too wide for one line is broken")
    func width() {
        let long = String(repeating: "x", count: 170)
        let text = render([.function(Function(.function("f"), body: [.if("c", [.line(long)])]))])
        #expect(text.contains("    if c {\n        \(long)\n    }\n"))
    }

    @Test("enum cases with payloads and raw values; indirect enums; extensions")
    func enums() {
        let text = render([
            .type(TypeDeclaration(.enum, access: .public, indirect: true, name: "E", members: [
                .enumCase(EnumCase("a", "(Int)")), .enumCase(EnumCase("b", rawValue: "\"b\"")),
            ])),
            .type(TypeDeclaration(.extension, name: "NS.E")),
        ])
        #expect(text == "// H\n\npublic indirect enum E {\n    case a(Int)\n    case b = \"b\"\n}\n\nextension NS.E {}\n")
    }
}
