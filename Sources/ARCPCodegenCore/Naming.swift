/// Swift naming for schema names.
public enum Naming {
    static let keywords: Set<String> = [
        "default", "class", "struct", "enum", "protocol", "extension", "func", "var", "let", "in", "is", "as",
        "if", "else", "for", "while", "repeat", "return", "switch", "case", "break", "continue", "import",
        "init", "deinit", "self", "Self", "super", "true", "false", "nil", "throw", "throws", "try", "catch",
        "where", "operator", "public", "private", "internal", "static", "subscript", "typealias", "inout",
        "associatedtype", "defer", "do", "guard", "fallthrough", "any", "some", "Type", "Protocol",
    ]

    /// `session.hello` → `sessionHello`, `PERMISSION_DENIED` → `permissionDenied`,
    /// `lease_request` → `leaseRequest`, `cost.budget` → `costBudget`, `x-vendor.kind` → `xVendorKind`.
    public static func camelCase(_ s: String) -> String {
        let parts = s.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init)
        guard !parts.isEmpty else { return "_" }
        let allUpper = s.uppercased() == s && s.contains(where: \.isLetter)
        var out = ""
        for (i, p) in parts.enumerated() {
            let w = allUpper ? p.lowercased() : p
            if i == 0 {
                out += w.prefix(1).lowercased() + w.dropFirst()
            } else {
                out += w.prefix(1).uppercased() + w.dropFirst()
            }
        }
        if let f = out.first, f.isNumber { out = "_" + out }
        return out
    }

    /// `[A-Za-z_][A-Za-z0-9_]*` and not a keyword: usable as a Swift name without backticks.
    public static func isIdentifier(_ s: String) -> Bool {
        guard let f = s.utf8.first, f == UInt8(ascii: "_") || isLetter(f) else { return false }
        return s.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isLetter($0) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) }
            && !keywords.contains(s)
    }

    /// An identifier that can name a type (not `Type`, `Protocol`, `Self`, `Any`).
    public static func isTypeName(_ s: String) -> Bool { isIdentifier(s) && s != "Any" }

    static func isLetter(_ c: UInt8) -> Bool { (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) }

    /// Escapes Swift keywords with backticks.
    public static func identifier(_ s: String) -> String {
        keywords.contains(s) ? "`\(s)`" : s
    }

    /// A Swift string literal for `s`.
    public static func literal(_ s: String) -> String {
        "\"" + escaped(s) { "\\u{\(String($0, radix: 16))}" } + "\""
    }

    /// `s` with quotes, backslashes, newlines, returns and tabs escaped, and other control
    /// characters written by `control` (Swift and JSON spell those differently).
    static func escaped(_ s: String, control: (UInt32) -> String) -> String {
        var out = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if ch.value < 0x20 { out += control(ch.value) } else { out.unicodeScalars.append(ch) }
            }
        }
        return out
    }
}
