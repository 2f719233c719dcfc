// Compiling lease patterns (§9.2) into automata, and canonicalizing targets for them.

/// A lease pattern compiled for matching.
struct CompiledPattern: Sendable {
    /// The pattern as written in the lease.
    let source: String
    /// The syntax it was compiled with.
    let syntax: LeasePatternSyntax
    /// The automaton over canonical targets.
    let dfa: GlobDFA
    /// For `.path` patterns: the literal leading directory (internal form, root = empty)
    /// and the remaining pattern segments, used to re-anchor the pattern on a resolved
    /// (symlink-free) directory.
    let pathSplit: (prefix: [[UInt8]], rest: [[UInt8]])?

    @inline(__always)
    func matches(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool { dfa.matches(bytes) }
}

/// Separator and wildcard classes of one glob syntax.
struct GlobSpec {
    /// Bytes that separate segments.
    let separators: ByteSet
    /// Bytes a `*` may match.
    let star: ByteSet
    /// Bytes a `**` span may contain.
    let globstar: ByteSet

    static let path = GlobSpec(separators: ByteSet([LeaseCanonical.slash]), star: ByteSet.all.subtracting(ByteSet([LeaseCanonical.slash])), globstar: .all)
    static let host = GlobSpec(
        separators: ByteSet([LeaseCanonical.dot]),
        star: ByteSet.all.subtracting(ByteSet([LeaseCanonical.dot, LeaseCanonical.slash, LeaseCanonical.colon])),
        globstar: ByteSet.all.subtracting(ByteSet([LeaseCanonical.slash, LeaseCanonical.colon])))
    static let name = GlobSpec(
        separators: ByteSet([LeaseCanonical.dot, LeaseCanonical.slash]),
        star: ByteSet.all.subtracting(ByteSet([LeaseCanonical.dot, LeaseCanonical.slash])),
        globstar: .all)
    static let agentName = GlobSpec(
        separators: ByteSet([LeaseCanonical.dot, LeaseCanonical.slash]),
        star: ByteSet.all.subtracting(ByteSet([LeaseCanonical.dot, LeaseCanonical.slash, LeaseCanonical.at])),
        globstar: ByteSet.all.subtracting(ByteSet([LeaseCanonical.at])))
    static let agentVersion = ByteSet.all.subtracting(ByteSet([LeaseCanonical.at]))
    static let model = GlobSpec(
        separators: ByteSet([LeaseCanonical.slash]), star: ByteSet.all.subtracting(ByteSet([LeaseCanonical.slash])), globstar: .all)
    static let digits = ByteSet(Array("0123456789".utf8))
}

enum LeasePatternCompiler {
    /// Longest name (tool, agent, model) accepted as a target or pattern.
    static let maxNameBytes = 1024

    /// A segment of a pattern: its bytes and the separator before it (`nil` for the first
    /// segment of a name).
    typealias Segment = (sep: UInt8?, bytes: [UInt8])

    static func isGlobstar(_ bytes: [UInt8]) -> Bool {
        bytes.count == 2 && bytes[0] == LeaseCanonical.star && bytes[1] == LeaseCanonical.star
    }

    /// One non-`**` segment: literal pieces joined by `*`. A segment made only of `*` matches
    /// one non-empty segment; a `*` next to literal text matches any run, possibly empty.
    static func segmentNode(_ bytes: [UInt8], star: ByteSet) -> GlobNode {
        if !bytes.isEmpty && bytes.allSatisfy({ $0 == LeaseCanonical.star }) { return .plus(star) }
        var parts: [GlobNode] = []
        var literal: [UInt8] = []
        var lastWasStar = false
        for b in bytes {
            if b == LeaseCanonical.star {
                if !literal.isEmpty {
                    parts.append(.bytes(literal))
                    literal = []
                }
                if !lastWasStar { parts.append(.star(star)) }
                lastWasStar = true
            } else {
                literal.append(b)
                lastWasStar = false
            }
        }
        if !literal.isEmpty { parts.append(.bytes(literal)) }
        return .concat(parts)
    }

    /// A sequence of segments with globstar handling:
    /// `X s ** s' Y` ≡ `X s (ANY+ s')? Y`, `X s **` ≡ `X (s ANY+)?`, `** s' Y` ≡ `(ANY+ s')? Y`.
    static func segmentsNode(_ segs: [Segment], spec: GlobSpec) -> GlobNode {
        var parts: [GlobNode] = []
        var i = 0
        var dropNextSep = false
        while i < segs.count {
            if isGlobstar(segs[i].bytes) {
                var j = i
                while j + 1 < segs.count && isGlobstar(segs[j + 1].bytes) { j += 1 }
                let sep = segs[i].sep
                if j == segs.count - 1 {
                    if let sep {
                        parts.append(.optional(.concat([.bytes([sep]), .plus(spec.globstar)])))
                    } else {
                        parts.append(.plus(spec.globstar))
                    }
                } else {
                    if let sep { parts.append(.bytes([sep])) }
                    let nextSep = segs[j + 1].sep ?? LeaseCanonical.slash
                    parts.append(.optional(.concat([.plus(spec.globstar), .bytes([nextSep])])))
                    dropNextSep = true
                }
                i = j + 1
            } else {
                if !dropNextSep, let sep = segs[i].sep { parts.append(.bytes([sep])) }
                dropNextSep = false
                parts.append(segmentNode(segs[i].bytes, star: spec.star))
                i += 1
            }
        }
        return .concat(parts)
    }

    /// Splits a name on `separators` into segments (callers have checked it has no empty
    /// segment).
    static func nameSegments(_ bytes: [UInt8], separators: ByteSet) -> [Segment] {
        var segs: [Segment] = []
        var current: [UInt8] = []
        var sep: UInt8?
        for b in bytes {
            if separators.contains(b) {
                segs.append((sep, current))
                current = []
                sep = b
            } else {
                current.append(b)
            }
        }
        segs.append((sep, current))
        return segs
    }

    static func compileNode(_ node: GlobNode, source: String, syntax: LeasePatternSyntax, pathSplit: (prefix: [[UInt8]], rest: [[UInt8]])? = nil)
        -> Result<CompiledPattern, LeaseError>
    {
        guard let dfa = GlobDFA.compile(node) else {
            return .failure(LeaseError(.invalidRequest, "pattern \(LeaseText.quote(source)) is too complex"))
        }
        return .success(CompiledPattern(source: source, syntax: syntax, dfa: dfa, pathSplit: pathSplit))
    }

    static func invalid(_ pattern: String, _ reason: String) -> LeaseError {
        LeaseError(.invalidRequest, "invalid pattern \(LeaseText.quote(pattern)): \(reason)")
    }

    /// Compiles `pattern` for `syntax` (never `.amount`).
    static func compile(_ pattern: String, syntax: LeasePatternSyntax) -> Result<CompiledPattern, LeaseError> {
        let bytes = Array(pattern.utf8)
        guard bytes.count <= LeaseCanonical.maxPatternBytes else { return .failure(invalid(pattern, "longer than \(LeaseCanonical.maxPatternBytes) bytes")) }
        guard bytes.count(where: { $0 == LeaseCanonical.star }) <= 32 else { return .failure(invalid(pattern, "more than 32 '*'")) }
        switch syntax {
        case .path:
            switch LeaseCanonical.pathSegments(bytes, isPattern: true) {
            case .failure(let f): return .failure(invalid(pattern, f.reason))
            case .success(let segs): return compilePath(segments: segs.decoded, source: pattern)
            }
        case .url:
            switch LeaseCanonical.urlParts(pattern, isPattern: true) {
            case .failure(let f): return .failure(invalid(pattern, f.reason))
            case .success(let parts):
                var nodes: [GlobNode] = [.bytes(parts.scheme + Array("://".utf8))]
                if parts.host.first == UInt8(ascii: "[") {
                    nodes.append(.bytes(parts.host))
                } else {
                    nodes.append(segmentsNode(nameSegments(parts.host, separators: GlobSpec.host.separators), spec: .host))
                }
                if parts.port == [LeaseCanonical.star] {
                    // Any port: the default one (omitted in canonical form) or an explicit one.
                    nodes.append(.optional(.concat([.bytes([LeaseCanonical.colon]), .plus(GlobSpec.digits)])))
                } else if !parts.port.isEmpty {
                    nodes.append(.bytes([LeaseCanonical.colon] + parts.port))
                }
                nodes.append(segmentsNode(parts.path.decoded.map { (LeaseCanonical.slash, $0) }, spec: .path))
                return compileNode(.concat(nodes), source: pattern, syntax: .url)
            }
        case .name, .modelName:
            let spec: GlobSpec = syntax == .name ? .name : .model
            if let reason = LeaseCanonical.nameFailure(bytes, separators: spec.separators, limit: maxNameBytes) {
                return .failure(invalid(pattern, reason))
            }
            return compileNode(segmentsNode(nameSegments(bytes, separators: spec.separators), spec: spec), source: pattern, syntax: syntax)
        case .agentName:
            let at = bytes.firstIndex(of: LeaseCanonical.at)
            let name = Array(bytes[..<(at ?? bytes.endIndex)])
            if let reason = LeaseCanonical.nameFailure(name, separators: GlobSpec.agentName.separators, limit: maxNameBytes) {
                return .failure(invalid(pattern, reason))
            }
            var nodes = [segmentsNode(nameSegments(name, separators: GlobSpec.agentName.separators), spec: .agentName)]
            if let at {
                let version = Array(bytes[(at + 1)...])
                guard !version.isEmpty, !version.contains(LeaseCanonical.at) else { return .failure(invalid(pattern, "malformed version")) }
                if version.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return .failure(invalid(pattern, "version contains a control character")) }
                nodes.append(.bytes([LeaseCanonical.at]))
                nodes.append(segmentNode(version, star: GlobSpec.agentVersion))
            } else {
                nodes.append(.optional(.concat([.bytes([LeaseCanonical.at]), .plus(GlobSpec.agentVersion)])))
            }
            return compileNode(.concat(nodes), source: pattern, syntax: .agentName)
        case .amount:
            return .failure(invalid(pattern, "amounts are not globs"))
        }
    }

    /// Compiles canonical path segments (already decoded) into a `.path` pattern.
    static func compilePath(segments: [[UInt8]], source: String) -> Result<CompiledPattern, LeaseError> {
        let firstWild = segments.firstIndex { $0.contains(LeaseCanonical.star) } ?? segments.count
        let split = (prefix: Array(segments[..<firstWild]), rest: Array(segments[firstWild...]))
        let node = segmentsNode(segments.map { (LeaseCanonical.slash, $0) }, spec: .path)
        return compileNode(node, source: source, syntax: .path, pathSplit: split)
    }

    /// Why a target was refused before matching.
    struct Rejection: Error {
        let reason: String
    }

    /// The outcome of matching a target against a namespace's patterns.
    enum MatchOutcome {
        /// Every reading of the target is covered.
        case matched
        /// The target is well-formed but not covered.
        case notCovered
        /// The target was refused before matching.
        case rejected(String)
    }

    /// Whether some pattern accepts `bytes`.
    @inline(__always)
    static func anyMatches(_ patterns: [CompiledPattern], _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        patterns.withUnsafeBufferPointer { ps in
            for i in ps.indices where ps[i].dfa.matches(bytes) { return true }
            return false
        }
    }

    /// Matches `target` against `patterns` of `syntax`. Targets that are already canonical
    /// (the common case) are matched in place, without allocation; the rest go through
    /// `canonicalTarget`, and every reading must be covered.
    static func match(_ target: String, syntax: LeasePatternSyntax, patterns: [CompiledPattern]) -> MatchOutcome {
        var target = target
        let fast: MatchOutcome? = target.withUTF8 { buf -> MatchOutcome? in
            switch syntax {
            case .path:
                guard buf.count <= LeaseCanonical.maxTargetBytes, LeaseCanonical.isCanonicalPath(buf) else { return nil }
                return anyMatches(patterns, buf) ? .matched : .notCovered
            case .url:
                guard buf.count <= LeaseCanonical.maxTargetBytes, let end = LeaseCanonical.canonicalURLPrefixEnd(buf) else { return nil }
                return anyMatches(patterns, UnsafeBufferPointer(rebasing: buf[..<end])) ? .matched : .notCovered
            case .name, .modelName, .agentName:
                if let reason = nameTargetFailure(buf, syntax: syntax) { return .rejected(reason) }
                return anyMatches(patterns, buf) ? .matched : .notCovered
            case .amount:
                return .rejected("cost.budget is not an operation namespace")
            }
        }
        if let fast { return fast }
        switch canonicalTarget(target, syntax: syntax) {
        case .failure(let rejection):
            return .rejected(rejection.reason)
        case .success(let canonical):
            let primary = canonical.primary.withUnsafeBufferPointer { anyMatches(patterns, $0) }
            let alternate = canonical.alternate.map { alt in alt.withUnsafeBufferPointer { anyMatches(patterns, $0) } } ?? true
            return primary && alternate ? .matched : .notCovered
        }
    }

    /// Why a tool, model or agent target is malformed, or `nil`.
    static func nameTargetFailure(_ buf: UnsafeBufferPointer<UInt8>, syntax: LeasePatternSyntax) -> String? {
        switch syntax {
        case .name: return LeaseCanonical.nameFailure(buf, separators: GlobSpec.name.separators, limit: maxNameBytes)
        case .modelName: return LeaseCanonical.nameFailure(buf, separators: GlobSpec.model.separators, limit: maxNameBytes)
        default:
            let at = buf.firstIndex(of: LeaseCanonical.at)
            if let reason = LeaseCanonical.nameFailure(buf[..<(at ?? buf.endIndex)], separators: GlobSpec.agentName.separators, limit: maxNameBytes) {
                return reason
            }
            if let at {
                let version = buf[(at + 1)...]
                if version.isEmpty || version.contains(LeaseCanonical.at) || version.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
                    return "malformed agent version"
                }
            }
            return nil
        }
    }

    /// Canonical readings of `target` for `syntax`; a failure carries the reason.
    static func canonicalTarget(_ target: String, syntax: LeasePatternSyntax) -> Result<CanonicalTarget, Rejection> {
        switch syntax {
        case .path:
            switch LeaseCanonical.pathTarget(target) {
            case .success(let t): return .success(t)
            case .failure(let f): return .failure(Rejection(reason: f.reason))
            }
        case .url:
            switch LeaseCanonical.urlTarget(target) {
            case .success(let t): return .success(t)
            case .failure(let f): return .failure(Rejection(reason: f.reason))
            }
        case .name, .modelName, .agentName:
            let bytes = Array(target.utf8)
            if let reason = bytes.withUnsafeBufferPointer({ nameTargetFailure($0, syntax: syntax) }) {
                return .failure(Rejection(reason: reason))
            }
            return .success(CanonicalTarget(primary: bytes, alternate: nil))
        case .amount:
            return .failure(Rejection(reason: "cost.budget is not an operation namespace"))
        }
    }
}
