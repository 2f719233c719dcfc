@testable import ARCP
import Testing

/// A small deterministic PRNG (LeaseFuzzRNG), so failures reproduce.
struct LeaseFuzzRNG: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func randomString(_ tokens: [String], maxTokens: Int, using rng: inout LeaseFuzzRNG) -> String {
    let n = Int.random(in: 0...maxTokens, using: &rng)
    var s = ""
    for _ in 0..<n { s += tokens[Int.random(in: 0..<tokens.count, using: &rng)] }
    return s
}

/// The slow path alone: canonicalize fully, then require every reading to match.
private func slowMatch(_ target: String, _ syntax: LeasePatternSyntax, _ patterns: [CompiledPattern]) -> Bool {
    guard case .success(let c) = LeasePatternCompiler.canonicalTarget(target, syntax: syntax) else { return false }
    return ValidatedLease.anyMatches(patterns, c.primary) && (c.alternate.map { ValidatedLease.anyMatches(patterns, $0) } ?? true)
}

@Suite("Lease matcher differential and fuzz checks")
struct LeaseFuzzTests {
    @Test("fast in-place matching agrees with full canonicalization")
    func fastPathAgrees() throws {
        var rng = LeaseFuzzRNG(state: 0xA11CE)
        // (syntax, patterns, prefixes, tail tokens): a target is one prefix plus random tokens.
        let cases: [(LeasePatternSyntax, [String], [String], [String])] = [
            (.path, ["/workspace/app/**", "/data/*.csv", "/"], ["/workspace/app", "/data", "/", "", "/workspace/app/"],
             ["/", "workspace", "app", "data", "x.csv", ".", "..", "//", "%2e", "%20", "%2f", "%", "a", "\\", "/x.csv"]),
            (.url, ["https://api.example.com/v1/**", "https://*.example.com/", "http://h:8080/**", "https://h:*/x"],
             ["https://api.example.com", "HTTPS://API.example.com", "http://h:8080", "https://h:443", "https://h", "https://www.example.com",
              "https://h.", "http://h:080", "https://u@h", "https:/h"],
             ["/", "v1", "..", ".", "?q", "#f", "%2e", "%41", "x", "//", " ", "/x", "/v1"]),
            (.name, ["search.*", "mcp:github/*", "**"], ["search", "mcp:github", ""], ["search", ".", "/", "web", "mcp:github", "*", "\n"]),
            (.agentName, ["test-runner", "lint-*@2.*"], ["test-runner", "lint-x", ""], ["@", "2", ".", "1", "x", "-"]),
        ]
        for (syntax, patternTexts, prefixes, tokens) in cases {
            let patterns = patternTexts.compactMap { try? LeasePatternCompiler.compile($0, syntax: syntax).get() }
            #expect(patterns.count == patternTexts.count)
            var matched = 0
            for _ in 0..<3000 {
                let target = prefixes[Int.random(in: 0..<prefixes.count, using: &rng)] + randomString(tokens, maxTokens: 6, using: &rng)
                let fast: Bool
                if case .matched = LeasePatternCompiler.match(target, syntax: syntax, patterns: patterns) { fast = true } else { fast = false }
                let slow = slowMatch(target, syntax, patterns)
                #expect(fast == slow, "\(syntax) \(target.debugDescription)")
                if fast { matched += 1 }
            }
            // Both outcomes occur, so the comparison is not vacuous.
            #expect(matched > 100 && matched < 2900, "\(syntax): \(matched) matched")
        }
    }

    @Test("subset proofs are sound: included means no target escapes; a witness really escapes")
    func inclusionSound() throws {
        var rng = LeaseFuzzRNG(state: 0x5EED)
        let segments = ["a", "b", "*", "**", "a*", "*b", "x.y"]
        func randomPattern() -> String {
            let n = Int.random(in: 0...4, using: &rng)
            return "/" + (0..<n).map { _ in segments[Int.random(in: 0..<segments.count, using: &rng)] }.joined(separator: "/")
        }
        let targetTokens = ["/a", "/b", "/ab", "/x.y", "/c", "/aab", "/b.a"]
        var included = 0
        var refuted = 0
        for _ in 0..<400 {
            guard case .success(let parent) = LeasePatternCompiler.compile(randomPattern(), syntax: .path),
                case .success(let child) = LeasePatternCompiler.compile(randomPattern(), syntax: .path)
            else {
                Issue.record("pattern failed to compile")
                continue
            }
            switch GlobInclusion.check(child: child.dfa, parents: [parent.dfa]) {
            case .included:
                included += 1
                for _ in 0..<60 {
                    let t = Array(randomString(targetTokens, maxTokens: 5, using: &rng).utf8)
                    if child.dfa.matches(t) { #expect(parent.dfa.matches(t), "\(child.source) ⊆ \(parent.source) but \(t)") }
                }
            case .counterexample(let w):
                refuted += 1
                #expect(child.dfa.matches(w) && !parent.dfa.matches(w), "\(child.source) vs \(parent.source)")
            case .undecided:
                Issue.record("undecided on a tiny pattern")
            }
        }
        #expect(included > 20 && refuted > 20)
    }

    @Test("hostile inputs never crash and are bounded")
    func hostileInputs() {
        var rng = LeaseFuzzRNG(state: 0xBAD)
        let tokens = ["*", "**", "/", ".", "..", "%", "%2", "%2e", "%25", "%c0", "%ae", "@", ":", "[", "]", "://", "\u{0}", "é", "\u{FF0F}", "a", "?", "#"]
        let syntaxes: [LeasePatternSyntax] = [.path, .url, .name, .agentName, .modelName]
        for _ in 0..<2000 {
            let text = randomString(tokens, maxTokens: 12, using: &rng)
            for syntax in syntaxes {
                if case .success(let p) = LeasePatternCompiler.compile(text, syntax: syntax) {
                    _ = LeasePatternCompiler.match(text, syntax: syntax, patterns: [p])
                    _ = GlobInclusion.check(child: p.dfa, parents: [p.dfa])
                } else {
                    _ = LeasePatternCompiler.match(text, syntax: syntax, patterns: [])
                }
            }
        }
        // Many stars stay within the DFA budget or are refused, never explode.
        let starry = "/" + Array(repeating: "*a*b", count: 8).joined(separator: "/") + "/**"
        _ = try? ValidatedLease(["fs.read": [starry]])
        let long = String(repeating: "/a", count: 5000)
        #expect(!coveredByGlobstar(long))
    }
}

private func coveredByGlobstar(_ target: String) -> Bool {
    guard case .success(let p) = LeasePatternCompiler.compile("/**", syntax: .path) else { return false }
    if case .matched = LeasePatternCompiler.match(target, syntax: .path, patterns: [p]) { return true }
    return false
}
