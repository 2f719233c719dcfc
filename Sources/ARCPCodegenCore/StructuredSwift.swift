/// Stage 4's input: a small structured representation of the Swift the generator writes.
///
/// The translators (`TypesTranslator`, `ValidatorsTranslator`, `StreamingTranslator`,
/// `CatalogTranslator`) build these values from the model; `TextRenderer` alone decides
/// indentation, line breaks and blank lines. Declarations and statements are structured;
/// expressions, conditions, patterns and type names stay text, which is all the generated code
/// needs (swift-openapi-generator and grpc-swift's code generator go further, down to
/// expressions, because they write far more kinds of code).

/// One generated file.
public struct SwiftFile: Equatable, Sendable {
    public var name: String
    /// `//` lines at the top (the do-not-edit notice).
    public var header: [String]
    public var imports: [String]
    public var declarations: [Declaration]
    public init(name: String, header: [String], imports: [String], declarations: [Declaration]) {
        self.name = name
        self.header = header
        self.imports = imports
        self.declarations = declarations
    }
}

/// The access modifier of a generated declaration.
public enum AccessModifier: String, Equatable, Sendable, CaseIterable {
    case `public`, `package`, `internal`
}

public indirect enum Declaration: Equatable, Sendable {
    /// A `///` documentation comment (one line per line of text) on `declaration`.
    case documented(String, Declaration)
    /// A `//` comment on its own.
    case comment(String)
    case type(TypeDeclaration)
    case function(Function)
    case variable(Variable)
    case enumCase(EnumCase)
    case `typealias`(access: AccessModifier?, name: String, type: String)
}

public struct TypeDeclaration: Equatable, Sendable {
    public enum Kind: String, Equatable, Sendable {
        case `struct`, `enum`, `extension`
    }
    public var kind: Kind
    public var access: AccessModifier?
    public var isIndirect: Bool
    public var name: String
    public var conformances: [String]
    public var members: [Declaration]
    public init(
        _ kind: Kind, access: AccessModifier? = nil, indirect: Bool = false, name: String, conformances: [String] = [],
        members: [Declaration] = []
    ) {
        self.kind = kind
        self.access = access
        self.isIndirect = indirect
        self.name = name
        self.conformances = conformances
        self.members = members
    }
}

public struct Parameter: Equatable, Sendable {
    /// The argument label when it differs from `name` (`_` for none).
    public var label: String?
    public var name: String
    public var type: String
    public var defaultValue: String?
    public init(label: String? = nil, _ name: String, _ type: String, default defaultValue: String? = nil) {
        self.label = label
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
    }
}

public struct Function: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case function(String)
        case initializer
    }
    public var attributes: [String]
    public var access: AccessModifier?
    public var isStatic: Bool
    public var isMutating: Bool
    public var kind: Kind
    public var parameters: [Parameter]
    /// `throws`, `throws(WireDecodingError)`, or nil.
    public var effects: String?
    public var returnType: String?
    public var body: [Statement]
    public init(
        attributes: [String] = [], access: AccessModifier? = nil, isStatic: Bool = false, isMutating: Bool = false, _ kind: Kind,
        parameters: [Parameter] = [], effects: String? = nil, returns returnType: String? = nil, body: [Statement]
    ) {
        self.attributes = attributes
        self.access = access
        self.isStatic = isStatic
        self.isMutating = isMutating
        self.kind = kind
        self.parameters = parameters
        self.effects = effects
        self.returnType = returnType
        self.body = body
    }
}

public struct Variable: Equatable, Sendable {
    public var access: AccessModifier?
    public var isStatic: Bool
    public var isLet: Bool
    public var name: String
    public var type: String?
    public var initializer: String?
    /// A computed property's getter (then `isLet` is false and `initializer` nil).
    public var getter: [Statement]?
    public init(
        access: AccessModifier? = nil, isStatic: Bool = false, isLet: Bool = false, _ name: String, type: String? = nil, initializer: String? = nil,
        getter: [Statement]? = nil
    ) {
        self.access = access
        self.isStatic = isStatic
        self.isLet = isLet
        self.name = name
        self.type = type
        self.initializer = initializer
        self.getter = getter
    }
}

public struct EnumCase: Equatable, Sendable {
    public var name: String
    /// `(kind: String, body: JSONValue)`, or nil.
    public var associatedValues: String?
    /// The raw value literal, or nil.
    public var rawValue: String?
    public init(_ name: String, _ associatedValues: String? = nil, rawValue: String? = nil) {
        self.name = name
        self.associatedValues = associatedValues
        self.rawValue = rawValue
    }
}

public indirect enum Statement: Equatable, Sendable {
    /// One statement or declaration as text (`var x = 0`, `ctx.report(…)`, `return nil`).
    case line(String)
    /// A `//` comment line.
    case comment(String)
    /// `if c1 {…} else if c2 {…} else {…}`.
    case `if`([IfBranch], else: [Statement]?)
    case `guard`(String, else: [Statement])
    case `switch`(String, [SwitchCase])
    /// `for <header> {…}`, the header being `x in xs`.
    case `for`(String, [Statement])
    /// `repeat {…} while <condition>`.
    case repeatWhile([Statement], while: String)
    /// `do <effects> {…} catch {…}`.
    case `do`(effects: String?, [Statement], catch: [Statement]?)
    /// A local declaration (a computed variable).
    case declaration(Declaration)
    /// An opening line, an indented body and a closing line: a closure
    /// (`return d.withUTF8 { b -> Int in` … `}`).
    case block(String, [Statement], close: String)
}

public struct IfBranch: Equatable, Sendable {
    public var condition: String
    public var body: [Statement]
    public init(_ condition: String, _ body: [Statement]) {
        self.condition = condition
        self.body = body
    }
}

public struct SwitchCase: Equatable, Sendable {
    /// The patterns of `case p1, p2:`; empty for `default:`.
    public var patterns: [String]
    public var body: [Statement]
    public init(_ patterns: [String], _ body: [Statement]) {
        self.patterns = patterns
        self.body = body
    }
    public static func `default`(_ body: [Statement]) -> SwitchCase { SwitchCase([], body) }
}

extension Statement {
    /// `if c {…}` with no else.
    public static func `if`(_ condition: String, _ body: [Statement]) -> Statement { .if([IfBranch(condition, body)], else: nil) }
    /// `if c {…} else {…}`.
    public static func `if`(_ condition: String, _ body: [Statement], else elseBody: [Statement]) -> Statement {
        .if([IfBranch(condition, body)], else: elseBody)
    }
}
