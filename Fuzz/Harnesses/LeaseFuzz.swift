// libFuzzer harness: the lease canonicalizer and glob compiler (Sources/ARCP/Lease). Built by
// Scripts/fuzz.sh, compiled into one module with the lease sources (so it sees their internals).
//
// Input: byte 0 picks the pattern syntax; the rest is split at newlines into pattern A,
// pattern B, a target, and (optionally) a budget amount. Properties checked:
// - compiling patterns and canonicalizing targets never traps (AddressSanitizer watches reads);
// - the in-place fast match agrees with full canonicalization (every reading must be covered);
// - canonicalization is idempotent: a canonical target canonicalizes to itself;
// - inclusion is sound: when `GlobInclusion` says L(A) ⊆ L(B), every reading of the target and
//   A's sample string that A accepts, B accepts; a counterexample is accepted by A and not by B;
// - a whole lease built from A and B validates (or is INVALID_REQUEST) and its subset proof
//   against a lease of B alone agrees with the automata.
import Foundation

private let syntaxes: [LeasePatternSyntax] = [.path, .url, .name, .agentName, .modelName]
private let namespaces: [LeasePatternSyntax: String] = [
    .path: "fs.read", .url: "net.fetch", .name: "tool.call", .agentName: "agent.delegate", .modelName: "model.use",
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLease(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let syntax = syntaxes[Int(bytes[0]) % syntaxes.count]
    let fields = bytes.dropFirst().split(separator: UInt8(ascii: "\n"), maxSplits: 3, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    let a = fields.count > 0 ? fields[0] : ""
    let b = fields.count > 1 ? fields[1] : "**"
    let target = fields.count > 2 ? fields[2] : a
    let amount = fields.count > 3 ? fields[3] : nil

    let compiledA = try? LeasePatternCompiler.compile(a, syntax: syntax).get()
    let compiledB = try? LeasePatternCompiler.compile(b, syntax: syntax).get()
    let patterns = [compiledA, compiledB].compactMap { $0 }

    // Fast path vs full canonicalization.
    let fast = LeasePatternCompiler.match(target, syntax: syntax, patterns: patterns)
    let canonical = try? LeasePatternCompiler.canonicalTarget(target, syntax: syntax).get()
    let readings = canonical.map { [$0.primary] + ($0.alternate.map { [$0] } ?? []) } ?? []
    let slow = canonical != nil && readings.allSatisfy { ValidatedLease.anyMatches(patterns, $0) }
    if case .matched = fast { precondition(slow, "fast match, slow no match: \(target.debugDescription)") } else {
        precondition(!slow, "slow match, fast no match: \(target.debugDescription)")
    }

    // Idempotence of canonicalization (paths and URLs; names are taken literally).
    if let canonical, syntax == .path || syntax == .url {
        let text = String(decoding: canonical.primary, as: UTF8.self)
        // A URL's decoded reading is bytes of a path, not URL text: a `?` or `#` there came
        // from `%3F` / `%23` (a path character, as an HTTP server decodes it) and would start a
        // query or fragment if read back as text, so it is escaped again to be re-read.
        let rendered = syntax == .path ? (text.isEmpty ? "/" : text) : urlText(canonical.primary)
        if let again = try? LeasePatternCompiler.canonicalTarget(rendered, syntax: syntax).get() {
            precondition(again.primary == canonical.primary, "canonical form moved: \(target.debugDescription) → \(rendered.debugDescription) → \(String(decoding: again.primary, as: UTF8.self).debugDescription)")
        } else if String(validating: canonical.primary, as: UTF8.self) != nil,
            // A reading may hold bytes that percent-decoding produced (`%02` → 0x02) and that
            // raw input may not contain (control characters are refused in a target): such a
            // reading is not an input, so only readings free of them must be accepted again.
            !canonical.primary.contains(where: { $0 < 0x20 || $0 == 0x7F })
        {
            preconditionFailure("canonical form rejected: \(target.debugDescription) → \(rendered.debugDescription)")
        }
    }

    // Soundness of inclusion.
    if let compiledA, let compiledB {
        var budget = 20_000
        switch GlobInclusion.check(child: compiledA.dfa, parents: [compiledB.dfa], budget: &budget) {
        case .included:
            for r in readings + (compiledA.dfa.sample.map { [$0] } ?? []) where compiledA.dfa.matches(r) {
                precondition(compiledB.dfa.matches(r), "A ⊆ B claimed, but B rejects \(r) (A \(a.debugDescription), B \(b.debugDescription))")
            }
        case .counterexample(let w):
            precondition(compiledA.dfa.matches(w) && !compiledB.dfa.matches(w), "bad counterexample \(w) for A \(a.debugDescription), B \(b.debugDescription)")
        case .undecided:
            break
        }
    }

    // The public API over the same input: a lease, a subset proof, an authorization.
    let namespace = namespaces[syntax] ?? "fs.read"
    var wire: [String: [String]] = [namespace: [a, b]]
    if let amount { wire["cost.budget"] = [amount] }
    if let lease = try? ValidatedLease(wire), let parent = try? ValidatedLease([namespace: [b]]) {
        _ = lease.covers(LeaseNamespace(rawValueUnchecked: namespace), target)
        // The full subset proof has a budget of millions of states: only for short patterns,
        // so the run explores inputs instead of proving a few.
        if a.utf8.count + b.utf8.count <= 64 { _ = lease.subsetCheck(of: parent, modelPolicy: .requireModelUse) }
        // Without symlink resolution: realpath(3) on random paths measures the filesystem, not
        // this code. `kernelPathReadings` (pure) is exercised below instead.
        if let authority = try? LeaseAuthority(lease: lease, clock: FixedLeaseClock(), configuration: .init(resolveSymlinks: false)) {
            _ = authority.isAuthorized(LeaseNamespace(rawValueUnchecked: namespace), target)
            _ = authority.recordMetric(name: "cost.usd", value: LeaseDecimal.fromDouble(Double(size) * 0.37) ?? 0, unit: "USD")
        }
    }
    if let amount { _ = try? CostAmount(parsing: amount) }
    if syntax == .path, let readings = LeaseCanonical.kernelPathReadings(target) {
        // The kernel readings keep `..`; without it they agree with the lexical canonical form.
        if let canonical, !target.utf8.split(separator: UInt8(ascii: "/")).contains(where: { $0.elementsEqual("..".utf8) }) {
            precondition(readings[0] == canonical.primary, "kernel and lexical readings differ without '..': \(target.debugDescription)")
        }
    }
    _ = LeaseDecimal.parseJSONNumber(target)
    _ = try? LeaseTimestamp(parsing: target)
    return 0
}

extension LeaseNamespace {
    /// A reserved namespace by name (the harness only passes reserved names).
    init(rawValueUnchecked name: String) {
        self = (try? LeaseNamespace(name)) ?? .fsRead
    }
}

/// A clock that never moves (the harness compiles the lease sources alone, without ARCPTesting's
/// `ManualLeaseClock`): fuzzing must not depend on the time.
struct FixedLeaseClock: LeaseClock {
    func now() -> Date { Date(timeIntervalSince1970: 1_800_000_000) }
    func uptime() -> Duration { .zero }
}

/// A canonical URL reading as URL text: `?` and `#` in its path escaped (see the idempotence
/// check); the scheme and authority never hold them.
private func urlText(_ reading: [UInt8]) -> String {
    var out: [UInt8] = []
    var slashes = 0
    for b in reading {
        if slashes >= 3, b == UInt8(ascii: "?") {
            out += Array("%3F".utf8)
        } else if slashes >= 3, b == UInt8(ascii: "#") {
            out += Array("%23".utf8)
        } else {
            if b == UInt8(ascii: "/") { slashes += 1 }
            out.append(b)
        }
    }
    return String(decoding: out, as: UTF8.self)
}
