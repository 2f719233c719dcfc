import ARCP
import ARCPTesting
import Foundation
import Testing

/// One subset-proof case: does `parent` (patterns in `namespace`) cover `child`?
struct LeaseSubsetCase: Sendable, CustomTestStringConvertible {
    let namespace: String
    let parent: [String]
    let child: [String]
    let proven: Bool

    var testDescription: String { "\(namespace) \(parent) \(proven ? "⊇" : "⊉") \(child)" }
}

private func sub(_ ns: String, _ parent: [String], _ child: [String], _ proven: Bool) -> LeaseSubsetCase {
    LeaseSubsetCase(namespace: ns, parent: parent, child: child, proven: proven)
}

let leaseSubsetCorpus: [LeaseSubsetCase] = [
    // Paths.
    sub("fs.read", ["/a/**"], ["/a/b/**"], true),
    sub("fs.read", ["/a/**"], ["/a/*/c"], true),
    sub("fs.read", ["/a/**"], ["/a"], true),
    sub("fs.read", ["/a/*"], ["/a/b"], true),
    sub("fs.read", ["/a/*"], ["/a/**"], false),
    sub("fs.read", ["/a/b/**"], ["/a/**"], false),
    sub("fs.read", ["/a/*.txt"], ["/a/x*.txt"], true),
    sub("fs.read", ["/a/x*.txt"], ["/a/*.txt"], false),
    sub("fs.read", ["/a/**"], ["/a/**/b"], true),
    sub("fs.read", ["/**"], ["/anything/**"], true),
    sub("fs.read", ["/a/*/c"], ["/a/**/c"], false),
    sub("fs.read", ["/a/x/**", "/a/y/**"], ["/a/y/z"], true),
    sub("fs.read", ["/a/x/**", "/a/y/**"], ["/a/*/z"], false),
    sub("fs.read", ["/a/**"], ["/b"], false),
    sub("fs.read", ["/a/./b/**"], ["/a/b//c"], true),
    sub("fs.read", ["/a/*/*"], ["/a/*/c"], true),
    sub("fs.read", ["/a/*"], ["/a/*/"], true),
    // URLs.
    sub("net.fetch", ["https://api.example.com/**"], ["https://api.example.com/v1/**"], true),
    sub("net.fetch", ["https://*.example.com/**"], ["https://api.example.com/x"], true),
    sub("net.fetch", ["https://api.example.com/**"], ["https://*.example.com/**"], false),
    sub("net.fetch", ["https://api.example.com/**"], ["http://api.example.com/**"], false),
    sub("net.fetch", ["https://api.example.com:*/**"], ["https://api.example.com:8443/x"], true),
    sub("net.fetch", ["https://api.example.com/**"], ["https://api.example.com:8443/x"], false),
    sub("net.fetch", ["https://**.example.com/**"], ["https://a.b.example.com/**"], true),
    sub("net.fetch", ["HTTPS://API.example.com/**"], ["https://api.example.com:443/v1"], true),
    sub("net.fetch", ["https://*.example.com/**"], ["https://**.example.com/**"], false),
    // Tool names.
    sub("tool.call", ["search.*"], ["search.web"], true),
    sub("tool.call", ["search.*"], ["search.**"], false),
    sub("tool.call", ["**"], ["mcp:github/*"], true),
    sub("tool.call", ["mcp:github/*"], ["mcp:github/**"], false),
    sub("tool.call", ["search.*"], ["search/web"], false),
    sub("tool.call", ["mcp:*/**"], ["mcp:github/issues.*"], true),
    // Agents.
    sub("agent.delegate", ["test-runner"], ["test-runner@1.0"], true),
    sub("agent.delegate", ["test-runner@1.0"], ["test-runner"], false),
    sub("agent.delegate", ["lint-*"], ["lint-runner@2.*"], true),
    sub("agent.delegate", ["lint-runner@2.*"], ["lint-runner@*"], false),
    // Models.
    sub("model.use", ["tier-fast/*"], ["tier-fast/gpt-4o"], true),
    sub("model.use", ["anthropic/claude-3-*"], ["anthropic/claude-3-haiku-*"], true),
    sub("model.use", ["anthropic/claude-3-haiku-*"], ["anthropic/claude-3-*"], false),
    sub("model.use", ["tier-fast/*"], ["tier-slow/*"], false),
]

@Suite("Lease subset proofs (§9.4)")
struct LeaseSubsetTests {
    @Test("corpus has at least 20 cases, both outcomes")
    func corpusSize() {
        #expect(leaseSubsetCorpus.count >= 20)
        #expect(leaseSubsetCorpus.contains { $0.proven } && leaseSubsetCorpus.contains { !$0.proven })
    }

    @Test("pattern inclusion", arguments: leaseSubsetCorpus)
    func patternInclusion(_ c: LeaseSubsetCase) throws {
        let parent = try ValidatedLease([c.namespace: c.parent])
        let child = try ValidatedLease([c.namespace: c.child])
        let result = child.subsetCheck(of: parent)
        #expect(result.isProven == c.proven, "\(result)")
        #expect(parent.isSubset(of: parent))
        #expect(child.isSubset(of: child))
    }

    @Test("a violation names a witness the parent does not cover")
    func witness() throws {
        let parent = try ValidatedLease(["fs.read": ["/workspace/app/**"]])
        let child = try ValidatedLease(["fs.read": ["/workspace/**"]])
        guard case .violation(let why) = child.subsetCheck(of: parent) else {
            Issue.record("expected a violation")
            return
        }
        #expect(why.contains("/workspace/**"))
        #expect(why.contains("would allow"))
    }

    @Test("namespaces the parent lacks")
    func missingNamespace() throws {
        let parent = try ValidatedLease(["fs.read": ["/a/**"]])
        #expect(!(try ValidatedLease(["fs.write": ["/a/b"]])).isSubset(of: parent))
        #expect(try ValidatedLease(["fs.write": []]).isSubset(of: parent))
        #expect(ValidatedLease.empty.isSubset(of: parent))
        #expect(!(try ValidatedLease(["net.fetch": ["https://a.example/**"]])).isSubset(of: .empty))
    }

    @Test("model.use subset follows the model policy")
    func modelPolicy() throws {
        let noModels = try ValidatedLease(["tool.call": ["x.*"]])
        let someModels = try ValidatedLease(["model.use": ["tier-fast/*"]])
        #expect(!someModels.isSubset(of: noModels, modelPolicy: .requireModelUse))
        #expect(someModels.isSubset(of: noModels, modelPolicy: .allowAnyWhenAbsent))
        // A child without model.use would allow any model under the permissive policy.
        #expect(!noModels.isSubset(of: try ValidatedLease(["tool.call": ["x.*"], "model.use": ["tier-fast/*"]]), modelPolicy: .allowAnyWhenAbsent))
        #expect(noModels.isSubset(of: try ValidatedLease(["tool.call": ["x.*"], "model.use": ["tier-fast/*"]]), modelPolicy: .requireModelUse))
    }

    @Test("budget subset against the parent's amount and remaining")
    func budgets() throws {
        let parent = try ValidatedLease(["cost.budget": ["USD:5.00"]])
        #expect(try ValidatedLease(["cost.budget": ["USD:2.00"]]).isSubset(of: parent))
        #expect(try ValidatedLease(["cost.budget": ["USD:5.00"]]).isSubset(of: parent))
        #expect(!(try ValidatedLease(["cost.budget": ["USD:5.01"]])).isSubset(of: parent))
        #expect(!(try ValidatedLease(["cost.budget": ["USD:1", "credits:10"]])).isSubset(of: parent))
        #expect(!(try ValidatedLease(["tool.call": []])).isSubset(of: parent), "omitting the parent's currency is unbounded")
        let noBudget = try ValidatedLease(["tool.call": ["a"]])
        #expect(try ValidatedLease(["cost.budget": ["USD:100"]]).isSubset(of: noBudget))
        let remaining: [String: Decimal] = ["USD": exactDecimal("2.00")]
        #expect(try ValidatedLease(["cost.budget": ["USD:2.00"]]).subsetCheck(of: parent, parentRemaining: remaining).isProven)
        #expect(!(try ValidatedLease(["cost.budget": ["USD:2.01"]])).subsetCheck(of: parent, parentRemaining: remaining).isProven)
        #expect(!(try ValidatedLease(["cost.budget": ["USD:0.01"]])).subsetCheck(of: parent, parentRemaining: ["USD": -1]).isProven)
        #expect(try ValidatedLease(["cost.budget": ["USD:0"]]).subsetCheck(of: parent, parentRemaining: ["USD": -1]).isProven)
    }
}

@Suite("Delegation (§10)")
struct LeaseDelegationTests {
    let wall = Date(timeIntervalSince1970: 1_800_000_000)

    func ts(_ offset: TimeInterval) -> String { LeaseTimestamp(wall.addingTimeInterval(offset)).text }

    @Test("child budget is bounded by the parent's remaining budget, omitted currencies are inherited")
    func budgetDerivation() throws {
        let clock = ManualLeaseClock(wall: wall)
        let parent = try LeaseAuthority(lease: try ValidatedLease(["tool.call": ["**"], "cost.budget": ["USD:5.00"]]), clock: clock)
        parent.recordMetric(name: "cost.inference", value: 3, unit: "USD")
        let ok = try parent.deriveChild(requested: try ValidatedLease(["tool.call": ["search.*"], "cost.budget": ["USD:2.00"]]))
        #expect(ok.budget == ["USD": 2])
        let error = #expect(throws: LeaseError.self) {
            try parent.deriveChild(requested: try ValidatedLease(["tool.call": ["search.*"], "cost.budget": ["USD:2.01"]]))
        }
        #expect(error?.code == .leaseSubsetViolation)
        let inherited = try parent.deriveChild(requested: try ValidatedLease(["tool.call": ["search.*"]]))
        #expect(inherited.budget == ["USD": 2])
        #expect(inherited.lease.patterns(for: .costBudget) == ["USD:2"])
        let wider = #expect(throws: LeaseError.self) { try parent.deriveChild(requested: try ValidatedLease(["fs.read": ["/**"]])) }
        #expect(wider?.code == .leaseSubsetViolation)
    }

    @Test("child expiry is at most the parent's and inherited when omitted")
    func expiryDerivation() throws {
        let clock = ManualLeaseClock(wall: wall)
        let parentConstraints = try ValidatedLeaseConstraints(expiresAt: ts(100), now: clock.now())
        let parent = try LeaseAuthority(lease: try ValidatedLease(["tool.call": ["**"]]), constraints: parentConstraints, clock: clock)
        let childLease = try ValidatedLease(["tool.call": ["a.*"]])
        let inherited = try parent.deriveChild(requested: childLease)
        #expect(inherited.constraints.expiresAt == parentConstraints.expiresAt)
        let earlier = try parent.deriveChild(requested: childLease, constraints: ValidatedLeaseConstraints(expiresAt: ts(50), now: clock.now()))
        #expect(earlier.constraints.expiresAt?.text == ts(50))
        let later = #expect(throws: LeaseError.self) {
            try parent.deriveChild(requested: childLease, constraints: ValidatedLeaseConstraints(expiresAt: ts(101), now: clock.now()))
        }
        #expect(later?.code == .leaseSubsetViolation)
        let past = #expect(throws: LeaseError.self) {
            try parent.deriveChild(requested: childLease, constraints: ValidatedLeaseConstraints(expiresAt: try LeaseTimestamp(parsing: ts(-1))))
        }
        #expect(past?.code == .invalidRequest)
        // The child authority never outlives the parent, and expires with it.
        let child = try parent.makeChild(inherited)
        clock.advance(by: .seconds(100))
        #expect(child.isAuthorized(.toolCall, "a.b"))
        clock.advance(by: .seconds(1))
        let expired = #expect(throws: LeaseError.self) { try child.authorize(.toolCall, "a.b") }
        #expect(expired?.code == .leaseExpired)
    }

    @Test("an omitted model.use is inherited under the permissive policy")
    func modelInheritance() throws {
        let config = LeaseAuthority.Configuration(modelPolicy: .allowAnyWhenAbsent)
        let parent = try LeaseAuthority(
            lease: try ValidatedLease(["model.use": ["tier-fast/*"], "tool.call": ["**"]]), clock: ManualLeaseClock(), configuration: config)
        let child = try parent.deriveChild(requested: try ValidatedLease(["tool.call": ["x"]]))
        #expect(child.lease.patterns(for: .modelUse) == ["tier-fast/*"])
        let childAuthority = try parent.makeChild(child)
        #expect(childAuthority.isAuthorized(.modelUse, "tier-fast/m"))
        #expect(!childAuthority.isAuthorized(.modelUse, "tier-slow/m"))
        let wider = #expect(throws: LeaseError.self) { try parent.deriveChild(requested: try ValidatedLease(["model.use": ["tier-*/*"]])) }
        #expect(wider?.code == .leaseSubsetViolation)
    }

    @Test("a three-deep delegation tree shares the root budget")
    func threeDeep() throws {
        let clock = ManualLeaseClock(wall: wall)
        let root = try LeaseAuthority(lease: try ValidatedLease(["tool.call": ["**"], "cost.budget": ["USD:1.00"]]), clock: clock)
        let child = try root.makeChild(try root.deriveChild(requested: try ValidatedLease(["tool.call": ["a.**"], "cost.budget": ["USD:0.80"]])))
        let grandchild = try child.makeChild(try child.deriveChild(requested: try ValidatedLease(["tool.call": ["a.b.*"], "cost.budget": ["USD:0.50"]])))
        #expect(grandchild.budgetRemaining == ["USD": exactDecimal("0.50")])
        // Cannot delegate wider than the middle job.
        #expect(throws: LeaseError.self) { try grandchild.deriveChild(requested: try ValidatedLease(["tool.call": ["a.*"]])) }
        grandchild.recordMetric(name: "cost.tool", value: exactDecimal("0.30"), unit: "USD")
        #expect(child.budgetRemaining["USD"] == Decimal(string: "0.50"))
        #expect(root.budgetRemaining["USD"] == Decimal(string: "0.70"))
        root.recordMetric(name: "cost.inference", value: exactDecimal("0.70"), unit: "USD")
        // The root is exhausted, so the whole tree is.
        let error = #expect(throws: LeaseError.self) { try grandchild.authorize(.toolCall, "a.b.c") }
        #expect(error?.code == .budgetExhausted)
        #expect(grandchild.budgetRemaining["USD"] == Decimal(string: "0.20"))
    }

    @Test("an expired parent cannot delegate")
    func expiredParent() throws {
        let clock = ManualLeaseClock(wall: wall)
        let parent = try LeaseAuthority(
            lease: try ValidatedLease(["tool.call": ["**"]]), constraints: try ValidatedLeaseConstraints(expiresAt: ts(5), now: clock.now()), clock: clock,
            configuration: .init(expiryGrace: .zero))
        clock.advance(by: .seconds(5))
        let error = #expect(throws: LeaseError.self) { try parent.deriveChild(requested: try ValidatedLease(["tool.call": ["a"]])) }
        #expect(error?.code == .leaseExpired)
    }
}
