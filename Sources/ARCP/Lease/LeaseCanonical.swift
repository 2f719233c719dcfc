// Canonicalization of lease targets and of the literal parts of lease patterns.
//
// Targets are canonicalized into the byte strings the pattern automata run on:
// - paths: absolute; `.` dropped, `..` resolved (clamped at `/`), duplicate and trailing
//   slashes removed; root is represented internally as the empty string;
// - URLs: `scheme://host[:port]` (scheme and ASCII host lowercased, one trailing host dot
//   removed, the scheme's default port omitted) followed by the canonical path; query and
//   fragment are not part of the match;
// - names: taken literally.
//
// Percent-escapes (paths and URL paths only) are decoded exactly once. Because a consumer may
// or may not decode them (a filesystem never does, an HTTP server does), a target with escapes
// has two readings, decoded and literal, and is authorized only when BOTH are covered. Escapes
// that would change the structure are refused outright: encoded `/`, `\` or NUL, encoded dot
// segments (`%2e%2e`), escapes that still look like escapes after one decoding (`%252e`), and
// escapes that decode to invalid UTF-8 (overlong `%c0%ae`).

/// The canonical form(s) of a target.
struct CanonicalTarget {
    /// The decoded reading (the only one when the target has no percent-escapes).
    var primary: [UInt8]
    /// The literal (undecoded) reading, when it differs from `primary`.
    var alternate: [UInt8]?
}

enum LeaseCanonical {
    static let maxTargetBytes = 8192
    static let maxPatternBytes = 1024

    static let slash = UInt8(ascii: "/")
    static let dot = UInt8(ascii: ".")
    static let percent = UInt8(ascii: "%")
    static let backslash = UInt8(ascii: "\\")
    static let star = UInt8(ascii: "*")
    static let colon = UInt8(ascii: ":")
    static let at = UInt8(ascii: "@")

    @inline(__always)
    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Whether `bytes` contains a valid `%XX` escape.
    static func containsEscape<C: RandomAccessCollection>(_ bytes: C) -> Bool where C.Element == UInt8, C.Index == Int {
        var i = bytes.startIndex
        while i + 2 < bytes.endIndex {
            if bytes[i] == percent, hexValue(bytes[i + 1]) != nil, hexValue(bytes[i + 2]) != nil { return true }
            i += 1
        }
        return false
    }

    /// Decodes each valid `%XX` once; a `%` not followed by two hex digits stays literal.
    static func decodeOnce<C: RandomAccessCollection>(_ bytes: C) -> [UInt8] where C.Element == UInt8, C.Index == Int {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == percent, i + 2 < bytes.endIndex, let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(b)
                i += 1
            }
        }
        return out
    }

    /// Strict UTF-8 validation (no overlongs, no surrogates, nothing above U+10FFFF).
    static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 {
                i += 1
                continue
            }
            let need: Int
            var lower: UInt8 = 0x80
            var upper: UInt8 = 0xBF
            switch b0 {
            case 0xC2...0xDF: need = 1
            case 0xE0: need = 2; lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: need = 2
            case 0xED: need = 2; upper = 0x9F
            case 0xF0: need = 3; lower = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4: need = 3; upper = 0x8F
            default: return false
            }
            guard i + need < n else { return false }
            let b1 = bytes[i + 1]
            guard b1 >= lower && b1 <= upper else { return false }
            var k = 2
            while k <= need {
                let bk = bytes[i + k]
                guard bk >= 0x80 && bk <= 0xBF else { return false }
                k += 1
            }
            i += need + 1
        }
        return true
    }

    // MARK: - Paths

    /// The canonical segments of an absolute path, decoded and literal.
    struct PathSegments {
        var decoded: [[UInt8]] = []
        var literal: [[UInt8]] = []
        var hasEscapes = false
    }

    /// Splits and normalizes an absolute path. `isPattern` forbids `..` and escaped `*`.
    /// With `resolvingDotDot` false, `..` segments are kept as segments (the kernel resolves
    /// them after following the symlinks before them, so a lexical `..` is only right for a
    /// symlink-free path). Returns a reason on failure.
    static func pathSegments<C: RandomAccessCollection>(_ bytes: C, isPattern: Bool, resolvingDotDot: Bool = true) -> Result<PathSegments, PathFailure>
    where C.Element == UInt8, C.Index == Int {
        guard let first = bytes.first, first == slash else { return .failure(.relative) }
        var result = PathSegments()
        var i = bytes.startIndex
        let end = bytes.endIndex
        while i < end {
            while i < end && bytes[i] == slash { i += 1 }
            if i == end { break }
            let start = i
            var sawPercent = false
            while i < end && bytes[i] != slash {
                let b = bytes[i]
                if b == 0 { return .failure(.nul) }
                if b == backslash { return .failure(.backslash) }
                if b == percent { sawPercent = true }
                i += 1
            }
            let segment = bytes[start..<i]
            if segment.count == 1 && segment[start] == dot { continue }
            if segment.count == 2 && segment[start] == dot && segment[start + 1] == dot {
                if isPattern { return .failure(.dotDotInPattern) }
                if !resolvingDotDot {
                    result.decoded.append([dot, dot])
                    result.literal.append([dot, dot])
                    continue
                }
                if !result.decoded.isEmpty {
                    result.decoded.removeLast()
                    result.literal.removeLast()
                }
                continue
            }
            let literal = Array(segment)
            var decoded = literal
            if sawPercent && containsEscape(literal) {
                decoded = decodeOnce(literal)
                if decoded.contains(where: { $0 == 0 || $0 == slash || $0 == backslash }) {
                    return .failure(.encodedSeparator)
                }
                if decoded == [dot] || decoded == [dot, dot] { return .failure(.encodedDotSegment) }
                if containsEscape(decoded) { return .failure(.doubleEncoding) }
                if !isValidUTF8(decoded) { return .failure(.invalidUTF8) }
                if isPattern && decoded.count(where: { $0 == star }) != literal.count(where: { $0 == star }) {
                    return .failure(.encodedStar)
                }
                result.hasEscapes = true
            }
            result.decoded.append(decoded)
            result.literal.append(literal)
        }
        return .success(result)
    }

    /// Why a path was refused.
    enum PathFailure: Error {
        case relative, nul, backslash, dotDotInPattern, encodedSeparator, encodedDotSegment, doubleEncoding, invalidUTF8,
            encodedStar, tooLong

        var reason: String {
            switch self {
            case .relative: return "path is not absolute"
            case .nul: return "path contains NUL"
            case .backslash: return "path contains a backslash"
            case .dotDotInPattern: return "pattern contains a '..' segment"
            case .encodedSeparator: return "path contains an encoded separator or NUL"
            case .encodedDotSegment: return "path contains an encoded dot segment"
            case .doubleEncoding: return "path is percent-encoded more than once"
            case .invalidUTF8: return "path decodes to invalid UTF-8"
            case .encodedStar: return "pattern contains an encoded '*'"
            case .tooLong: return "path is too long"
            }
        }
    }

    /// Joins segments into the internal form (`/a/b`; root is empty).
    static func join(_ segments: [[UInt8]], into out: inout [UInt8]) {
        for s in segments {
            out.append(slash)
            out.append(contentsOf: s)
        }
    }

    /// Canonical readings of a filesystem path target.
    static func pathTarget(_ target: String) -> Result<CanonicalTarget, PathFailure> {
        var target = target
        return target.withUTF8 { buf -> Result<CanonicalTarget, PathFailure> in
            guard buf.count <= maxTargetBytes else { return .failure(.tooLong) }
            if isCanonicalPath(buf) { return .success(CanonicalTarget(primary: Array(buf), alternate: nil)) }
            switch pathSegments(buf, isPattern: false) {
            case .failure(let f): return .failure(f)
            case .success(let segs):
                var primary: [UInt8] = []
                primary.reserveCapacity(buf.count)
                join(segs.decoded, into: &primary)
                var alternate: [UInt8]?
                if segs.hasEscapes {
                    var lit: [UInt8] = []
                    join(segs.literal, into: &lit)
                    alternate = lit
                }
                return .success(CanonicalTarget(primary: primary, alternate: alternate))
            }
        }
    }

    /// The readings of a filesystem path target as the kernel walks it: empty and `.` segments
    /// dropped, `..` kept, in the internal form (root = empty); the decoded reading first, then
    /// the literal one when the path has percent-escapes. For symlink resolution (`realpath`
    /// applies each `..` after the symlinks before it); `nil` when the target is malformed.
    static func kernelPathReadings(_ target: String) -> [[UInt8]]? {
        let bytes = Array(target.utf8)
        guard bytes.count <= maxTargetBytes, case .success(let segs) = pathSegments(bytes, isPattern: false, resolvingDotDot: false) else {
            return nil
        }
        var decoded: [UInt8] = []
        join(segs.decoded, into: &decoded)
        guard segs.hasEscapes else { return [decoded] }
        var literal: [UInt8] = []
        join(segs.literal, into: &literal)
        return [decoded, literal]
    }

    /// Whether `buf` is already a canonical path in internal form: absolute, at least one
    /// segment, no empty, `.` or `..` segments, no trailing slash, no `%`, NUL or backslash.
    @inline(__always)
    static func isCanonicalPath(_ buf: UnsafeBufferPointer<UInt8>) -> Bool {
        guard buf.count >= 2, buf[0] == slash, buf[buf.count - 1] != slash else { return false }
        var segStart = 1
        var i = 1
        while i <= buf.count {
            if i == buf.count || buf[i] == slash {
                let len = i - segStart
                if len == 0 { return false }
                if buf[segStart] == dot && (len == 1 || (len == 2 && buf[segStart + 1] == dot)) { return false }
                segStart = i + 1
            } else {
                let b = buf[i]
                if b == percent || b == 0 || b == backslash { return false }
            }
            i += 1
        }
        return true
    }

    /// When `buf` is a URL whose canonical form is a prefix of it (lowercase scheme and
    /// host, no userinfo, port, escapes or dot segments, no trailing slash or host dot),
    /// the length of that prefix (the query and fragment are cut off); otherwise `nil`
    /// and the full parser decides.
    @inline(__always)
    static func canonicalURLPrefixEnd(_ buf: UnsafeBufferPointer<UInt8>) -> Int? {
        let n = buf.count
        var i = 0
        // Scheme.
        while i < n {
            let c = buf[i]
            if c == colon { break }
            let ok = (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z"))
                || (i > 0 && ((c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") || c == dot))
            if !ok { return nil }
            i += 1
        }
        guard i > 0, i + 2 < n, buf[i + 1] == slash, buf[i + 2] == slash else { return nil }
        i += 3
        // Host: lowercase letters, digits, '-', '_', '~', non-ASCII; non-empty labels.
        var labelLength = 0
        while i < n {
            let c = buf[i]
            if c == slash || c == UInt8(ascii: "?") || c == UInt8(ascii: "#") { break }
            if c == dot {
                if labelLength == 0 { return nil }
                labelLength = 0
            } else {
                let ok = (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                    || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: "~") || c >= 0x80
                if !ok { return nil }
                labelLength += 1
            }
            i += 1
        }
        if labelLength == 0 { return nil }
        // Path.
        var end = i
        if i < n && buf[i] == slash {
            var segStart = i + 1
            var j = i + 1
            while true {
                let atEnd = j == n || buf[j] == UInt8(ascii: "?") || buf[j] == UInt8(ascii: "#")
                if atEnd || buf[j] == slash {
                    let len = j - segStart
                    if len == 0 {
                        // "/" alone is the root (internal form: nothing); any other empty segment needs the full parser.
                        guard atEnd && segStart == i + 1 else { return nil }
                        end = i
                        break
                    }
                    if buf[segStart] == dot && (len == 1 || (len == 2 && buf[segStart + 1] == dot)) { return nil }
                    if atEnd {
                        end = j
                        break
                    }
                    segStart = j + 1
                } else {
                    let c = buf[j]
                    if c <= 0x20 || c == 0x7F || c == percent || c == backslash { return nil }
                }
                j += 1
            }
        }
        // Query and fragment: only checked for forbidden bytes.
        var k = end
        while k < n {
            let c = buf[k]
            if c <= 0x20 || c == 0x7F || c == backslash { return nil }
            k += 1
        }
        return end
    }

    // MARK: - URLs

    /// A parsed URL or URL pattern.
    struct URLParts {
        /// The scheme, lowercased.
        var scheme: [UInt8]
        /// The host, ASCII-lowercased, without a trailing dot.
        var host: [UInt8]
        /// The port digits, `*` for a pattern's any-port, or empty for the scheme's default.
        var port: [UInt8]
        var path: PathSegments
    }

    static func defaultPort(_ scheme: [UInt8]) -> [UInt8]? {
        switch String(decoding: scheme, as: UTF8.self) {
        case "http", "ws": return Array("80".utf8)
        case "https", "wss": return Array("443".utf8)
        default: return nil
        }
    }

    /// Parses a URL target or pattern into canonical parts; returns a reason on failure.
    static func urlParts(_ input: String, isPattern: Bool) -> Result<URLParts, URLFailure> {
        let b = Array(input.utf8)
        guard b.count <= (isPattern ? maxPatternBytes : maxTargetBytes) else { return .failure(.tooLong) }
        for c in b where c <= 0x20 || c == 0x7F || c == backslash { return .failure(.badCharacter) }
        // Scheme.
        guard let schemeEnd = b.firstIndex(of: colon), schemeEnd > 0 else { return .failure(.noScheme) }
        var scheme: [UInt8] = []
        for (k, c) in b[0..<schemeEnd].enumerated() {
            let lower = (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) ? c + 32 : c
            let ok = (lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "z"))
                || (k > 0 && ((lower >= UInt8(ascii: "0") && lower <= UInt8(ascii: "9")) || lower == UInt8(ascii: "+")
                    || lower == UInt8(ascii: "-") || lower == UInt8(ascii: ".")))
            guard ok else { return .failure(.noScheme) }
            scheme.append(lower)
        }
        guard b.count >= schemeEnd + 3, b[schemeEnd + 1] == slash, b[schemeEnd + 2] == slash else {
            return .failure(.noAuthority)
        }
        // Authority.
        let authStart = schemeEnd + 3
        var authEnd = authStart
        while authEnd < b.count, b[authEnd] != slash, b[authEnd] != UInt8(ascii: "?"), b[authEnd] != UInt8(ascii: "#") {
            authEnd += 1
        }
        let authority = b[authStart..<authEnd]
        if authority.contains(at) { return .failure(.userinfo) }
        if authority.contains(percent) { return .failure(.encodedHost) }
        var host: [UInt8]
        var portBytes: ArraySlice<UInt8>?
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return .failure(.badHost) }
            host = []
            for c in authority[authority.startIndex...close] {
                let lower = (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F")) ? c + 32 : c
                let ok = (lower >= UInt8(ascii: "0") && lower <= UInt8(ascii: "9")) || (lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "f"))
                    || lower == colon || lower == dot || lower == UInt8(ascii: "[") || lower == UInt8(ascii: "]")
                guard ok else { return .failure(.badHost) }
                host.append(lower)
            }
            let rest = authority[(close + 1)...]
            if !rest.isEmpty {
                guard rest.first == colon else { return .failure(.badHost) }
                portBytes = rest.dropFirst()
            }
        } else {
            let hostEnd = authority.firstIndex(of: colon) ?? authority.endIndex
            host = authority[authority.startIndex..<hostEnd].map { c in
                (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) ? c + 32 : c
            }
            if hostEnd < authority.endIndex { portBytes = authority[(hostEnd + 1)...] }
            if host.last == dot { host.removeLast() }
            guard !host.isEmpty else { return .failure(.badHost) }
            // Labels must be non-empty; only a pattern may use `*`.
            var labelLength = 0
            for c in host {
                if c == dot {
                    if labelLength == 0 { return .failure(.badHost) }
                    labelLength = 0
                } else {
                    if c == UInt8(ascii: "[") || c == UInt8(ascii: "]") || c == colon { return .failure(.badHost) }
                    labelLength += 1
                }
            }
            if labelLength == 0 { return .failure(.badHost) }
        }
        guard !host.isEmpty else { return .failure(.badHost) }
        // Port.
        var port: [UInt8] = []
        if let p = portBytes, !p.isEmpty {
            if isPattern && p.count == 1 && p.first == star {
                port = [star]
            } else {
                var value = 0
                for c in p {
                    guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { return .failure(.badPort) }
                    value = value * 10 + Int(c - UInt8(ascii: "0"))
                    if value > 65535 { return .failure(.badPort) }
                }
                guard value > 0 else { return .failure(.badPort) }
                port = Array(String(value).utf8)
                if port == defaultPort(scheme) { port = [] }
            }
        }
        // Path, query, fragment.
        var pathEnd = authEnd
        while pathEnd < b.count, b[pathEnd] != UInt8(ascii: "?"), b[pathEnd] != UInt8(ascii: "#") { pathEnd += 1 }
        if isPattern && pathEnd < b.count { return .failure(.queryInPattern) }
        var path = PathSegments()
        if pathEnd > authEnd {
            switch pathSegments(b[authEnd..<pathEnd], isPattern: isPattern) {
            case .success(let segs): path = segs
            case .failure(let f): return .failure(.path(f))
            }
        }
        return .success(URLParts(scheme: scheme, host: host, port: port, path: path))
    }

    /// Why a URL was refused.
    enum URLFailure: Error {
        case tooLong, badCharacter, noScheme, noAuthority, userinfo, encodedHost, badHost, badPort, queryInPattern
        case path(PathFailure)

        var reason: String {
            switch self {
            case .tooLong: return "URL is too long"
            case .badCharacter: return "URL contains whitespace, a control character or a backslash"
            case .noScheme: return "URL has no valid scheme"
            case .noAuthority: return "URL has no '//' authority"
            case .userinfo: return "URL contains userinfo ('@')"
            case .encodedHost: return "URL host contains percent-encoding"
            case .badHost: return "URL host is malformed"
            case .badPort: return "URL port is malformed"
            case .queryInPattern: return "URL pattern contains a query or fragment"
            case .path(let f): return "URL " + f.reason
            }
        }
    }

    /// `scheme://host[:port]`, the fixed prefix of a canonical URL.
    static func urlOrigin(_ parts: URLParts) -> [UInt8] {
        var out = parts.scheme
        out.append(contentsOf: Array("://".utf8))
        out.append(contentsOf: parts.host)
        if !parts.port.isEmpty {
            out.append(colon)
            out.append(contentsOf: parts.port)
        }
        return out
    }

    /// Canonical readings of a URL target.
    static func urlTarget(_ target: String) -> Result<CanonicalTarget, URLFailure> {
        switch urlParts(target, isPattern: false) {
        case .failure(let f): return .failure(f)
        case .success(let parts):
            let origin = urlOrigin(parts)
            var primary = origin
            join(parts.path.decoded, into: &primary)
            var alternate: [UInt8]?
            if parts.path.hasEscapes {
                var lit = origin
                join(parts.path.literal, into: &lit)
                alternate = lit
            }
            return .success(CanonicalTarget(primary: primary, alternate: alternate))
        }
    }

    // MARK: - Names

    /// Checks a name target or pattern: non-empty, bounded, no control characters, no empty
    /// segments around `separators`. Returns a reason on failure.
    static func nameFailure<C: Collection>(_ bytes: C, separators: ByteSet, limit: Int) -> String? where C.Element == UInt8 {
        guard !bytes.isEmpty else { return "name is empty" }
        guard bytes.count <= limit else { return "name is too long" }
        var segmentLength = 0
        for c in bytes {
            if c < 0x20 || c == 0x7F { return "name contains a control character" }
            if separators.contains(c) {
                if segmentLength == 0 { return "name has an empty segment" }
                segmentLength = 0
            } else {
                segmentLength += 1
            }
        }
        return segmentLength == 0 ? "name has an empty segment" : nil
    }
}
