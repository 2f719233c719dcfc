/// The code generator's model of the schema: what `ModelBuilder` reads out of
/// schema/arcp.schema.json and `SwiftRenderer` turns into Swift.

/// A JSON Schema type name.
public enum JSONType: String, Equatable, Sendable, CaseIterable {
    case null, boolean, object, array, number, string, integer

    /// The `JSONValue` cases a value of this type is (the one place the generated code's
    /// type switches come from). An integer is `.int` here; where whole doubles must count too,
    /// the checks use `int64Value`.
    public var patterns: [String] {
        switch self {
        case .null: return [".null"]
        case .boolean: return [".bool"]
        case .object: return [".object"]
        case .array: return [".array"]
        case .number: return [".int", ".double"]
        case .string: return [".string"]
        case .integer: return [".int"]
        }
    }
}

/// The type of a property or array item.
public indirect enum TypeRef: Equatable, Sendable {
    case string(StringRule)
    case integer(Bounds<Int64>)
    case number(Bounds<Double>)
    case boolean
    /// Any JSON value (`{}`), or an object with no described members. `properties` bounds the
    /// member count when the value is an object (`minProperties`, `maxProperties`).
    case any(requireObject: Bool, properties: CountBounds = CountBounds())
    /// An array of `items`-typed elements; `count` is `minItems`/`maxItems`.
    case array(TypeRef, count: CountBounds = CountBounds())
    /// An object used as a dictionary: every member's value is of this type; `count` is
    /// `minProperties`/`maxProperties`.
    case map(TypeRef, count: CountBounds = CountBounds())
    /// A `$ref` to a definition.
    case named(String)
    /// `"type": [..]` with several JSON types (Swift type: JSONValue).
    case union([JSONType])
    /// `"type": [T, "null"]`.
    case nullable(TypeRef)
}

/// The numeric bounds of an `integer` (`Int64`) or `number` (`Double`): JSON Schema's
/// `minimum`, `exclusiveMinimum`, `maximum` and `exclusiveMaximum`, as written in the schema.
public struct Bounds<Value: Equatable & Sendable>: Equatable, Sendable {
    public var minimum: Value?
    public var exclusiveMinimum: Value?
    public var maximum: Value?
    public var exclusiveMaximum: Value?
    public init(minimum: Value? = nil, exclusiveMinimum: Value? = nil, maximum: Value? = nil, exclusiveMaximum: Value? = nil) {
        self.minimum = minimum
        self.exclusiveMinimum = exclusiveMinimum
        self.maximum = maximum
        self.exclusiveMaximum = exclusiveMaximum
    }
    public var isEmpty: Bool { minimum == nil && exclusiveMinimum == nil && maximum == nil && exclusiveMaximum == nil }
}

/// Inclusive bounds on a count: `minItems`/`maxItems` of an array, `minProperties`/
/// `maxProperties` of an object.
public struct CountBounds: Equatable, Sendable {
    public var min: Int?
    public var max: Int?
    public init(min: Int? = nil, max: Int? = nil) {
        self.min = min
        self.max = max
    }
    public var isEmpty: Bool { min == nil && max == nil }
}

/// Constraints on a string. Lengths count Unicode code points, as JSON Schema does.
public struct StringRule: Equatable, Sendable {
    public var format: String?
    public var closedValues: [String]?
    public var minLength: Int?
    public var maxLength: Int?
    public init(format: String? = nil, closedValues: [String]? = nil, minLength: Int? = nil, maxLength: Int? = nil) {
        self.format = format
        self.closedValues = closedValues
        self.minLength = minLength
        self.maxLength = maxLength
    }
}

/// One member of an object definition.
public struct Property: Equatable, Sendable {
    public var jsonName: String
    public var swiftName: String
    public var type: TypeRef
    public var required: Bool
    public var doc: String?
    public init(jsonName: String, swiftName: String, type: TypeRef, required: Bool, doc: String? = nil) {
        self.jsonName = jsonName
        self.swiftName = swiftName
        self.type = type
        self.required = required
        self.doc = doc
    }
}

/// `x-arcp-discriminator`: a property whose string value selects the schema of another
/// property (the content), mapped with `allOf: [{if: {const}, then: {...}}]`.
public struct Discriminator: Equatable, Sendable {
    public struct Case: Equatable, Sendable {
        public var value: String
        public var swiftCase: String
        public var definition: String
        /// Sibling members the mapped case additionally requires (e.g. job_id, event_seq).
        public var alsoRequired: [String]
        public init(value: String, swiftCase: String, definition: String, alsoRequired: [String] = []) {
            self.value = value
            self.swiftCase = swiftCase
            self.definition = definition
            self.alsoRequired = alsoRequired
        }
    }
    public var property: String
    public var content: String
    public var enumName: String
    public var field: String
    public var unknownCase: String
    public var vendorPrefix: String?
    public var cases: [Case]
    public init(property: String, content: String, enumName: String, field: String, unknownCase: String, vendorPrefix: String? = nil, cases: [Case]) {
        self.property = property
        self.content = content
        self.enumName = enumName
        self.field = field
        self.unknownCase = unknownCase
        self.vendorPrefix = vendorPrefix
        self.cases = cases
    }
}

public struct ObjectModel: Equatable, Sendable {
    public var properties: [Property]
    /// Groups of which at least one must be fully present (`anyOf: [{required}]`).
    public var anyOfRequired: [[String]]
    public var discriminator: Discriminator?
    /// Schema for members not in `properties` (nil: anything, kept as additional fields).
    public var additional: TypeRef?
    /// The `x-arcp-format` every member name must have (`propertyNames`).
    public var propertyNamesFormat: String?
    /// Rendered as a Swift dictionary (`x-arcp-swift-type: map`, or no properties).
    public var isMap: Bool
    /// `minProperties`/`maxProperties`: bounds on the number of members, known or not.
    public var memberCount: CountBounds
    public init(
        properties: [Property], anyOfRequired: [[String]] = [], discriminator: Discriminator? = nil, additional: TypeRef? = nil,
        propertyNamesFormat: String? = nil, isMap: Bool = false, memberCount: CountBounds = CountBounds()
    ) {
        self.properties = properties
        self.anyOfRequired = anyOfRequired
        self.discriminator = discriminator
        self.additional = additional
        self.propertyNamesFormat = propertyNamesFormat
        self.isMap = isMap
        self.memberCount = memberCount
    }
}

public struct OneOfBranch: Equatable, Sendable {
    public var swiftCase: String
    public var type: TypeRef
    /// The JSON type that selects this branch (an integer branch is `.number`: it takes every number).
    public var jsonType: JSONType
    public init(swiftCase: String, type: TypeRef, jsonType: JSONType) {
        self.swiftCase = swiftCase
        self.type = type
        self.jsonType = jsonType
    }
}

public enum DefinitionKind: Equatable, Sendable {
    case object(ObjectModel)
    case stringEnum(values: [String], open: Bool)
    case oneOf([OneOfBranch])
    case alias(TypeRef)
}

public struct Definition: Equatable, Sendable {
    public var name: String
    public var doc: String?
    public var kind: DefinitionKind
    public init(name: String, doc: String?, kind: DefinitionKind) {
        self.name = name
        self.doc = doc
        self.kind = kind
    }
}

/// Everything the renderer needs.
public struct CodegenModel: Equatable, Sendable {
    public var title: String
    public var definitions: [Definition]
    public var root: String
    public init(title: String, definitions: [Definition], root: String) {
        self.title = title
        self.definitions = definitions
        self.root = root
    }

    public func definition(named n: String) -> Definition? { definitions.first { $0.name == n } }
}
