import ARCP
import ARCPTesting
import Foundation
import Testing

@Suite("Lease validation and authority")
struct LeaseAuthorityTests {
    @Test("namespace grammar and registration", arguments: [
        ("FS.read", false), ("fs..read", false), ("fs.read.", false), (".fs", false), ("1fs.read", false), ("fs.rEad", false),
        ("fs.exec", false), ("x.shell.exec", true), ("fs.read", true), ("cost.budget", true),
    ])
    func namespaces(_ name: String, _ accepted: Bool) throws {
        let registry = try LeaseNamespaceRegistry(custom: ["x.shell.exec": .name])
        let patterns = name == "cost.budget" ? ["USD:1"] : name.hasPrefix("fs") ? ["/a/**"] : ["a.*"]
        let result = Result { () throws(LeaseError) in try ValidatedLease([name: patterns], registry: registry) }
        if accepted {
            #expect(throws: Never.self) { try result.get() }
        } else {
            #expect(#expect(throws: LeaseError.self) { try result.get() }?.code == .invalidRequest)
        }
    }

    @Test("reserved namespaces cannot be registered")
    func registry() {
        #expect(throws: LeaseError.self) { try LeaseNamespaceRegistry(custom: ["fs.read": .path]) }
        #expect(throws: LeaseError.self) { try LeaseNamespaceRegistry(custom: ["x.money": .amount]) }
        #expect(throws: LeaseError.self) { try LeaseNamespaceRegistry(custom: ["Bad": .name]) }
        #expect(LeaseNamespace.custom("fs.read") == .fsRead)
        #expect((try? LeaseNamespace("model.use")) == .modelUse)
    }

    @Test("a registered custom namespace is enforced with its syntax")
    func customNamespace() throws {
        let registry = try LeaseNamespaceRegistry(custom: ["x.kv.read": .path])
        let authority = try LeaseAuthority(lease: try ValidatedLease(["x.kv.read": ["/tenants/a/**"]], registry: registry), clock: ManualLeaseClock())
        let ns = try LeaseNamespace("x.kv.read")
        #expect(authority.isAuthorized(ns, "/tenants/a/k1"))
        #expect(!authority.isAuthorized(ns, "/tenants/a/../b/k1"))
    }

    @Test("invalid patterns are INVALID_REQUEST", arguments: [
        ("fs.read", "workspace/**"), ("fs.read", "/a/../b"), ("fs.read", "/a/%2e%2e/b"), ("fs.read", "/a/%2f"),
        ("fs.read", "/a/%252e"), ("fs.read", "/a/%2a"), ("fs.read", ""), ("net.fetch", "https://u@h.example/**"),
        ("net.fetch", "https://h.example/a?q=1"), ("net.fetch", "h.example/**"), ("net.fetch", "https://h.example:x/"),
        ("tool.call", ""), ("tool.call", "a..b"), ("tool.call", ".a"), ("agent.delegate", "a@"), ("model.use", "a//b"),
        ("cost.budget", "five dollars"),
    ])
    func invalidPatterns(_ ns: String, _ pattern: String) {
        let error = #expect(throws: LeaseError.self) { try ValidatedLease([ns: [pattern]]) }
        #expect(error?.code == .invalidRequest)
    }

    @Test("oversized leases are refused")
    func limits() {
        let many = (0..<300).map { "t\($0)" }
        #expect(throws: LeaseError.self) { try ValidatedLease(["tool.call": many]) }
        #expect(throws: LeaseError.self) { try ValidatedLease(["tool.call": [String(repeating: "a", count: 2000)]]) }
        #expect(throws: LeaseError.self) { try ValidatedLease(["tool.call": [String(repeating: "*a", count: 40)]]) }
    }

    @Test("wire round trip and equality")
    func roundTrip() throws {
        let wire: [String: [String]] = ["fs.read": ["/a/**"], "cost.budget": ["USD:5.00"], "model.use": ["tier-fast/*"]]
        let lease = try ValidatedLease(wire)
        #expect(lease.wireValue == wire)
        #expect(try ValidatedLease(lease.wireValue) == lease)
        #expect(lease != (try ValidatedLease(["fs.read": ["/a/**"]])))
        #expect(lease.budget == [try CostAmount(parsing: "USD:5.00")])
        #expect(lease.namespaces == [.costBudget, .fsRead, .modelUse])
    }

    @Test("model policy: required model.use forbids models when absent")
    func requireModelUse() throws {
        let without = try LeaseAuthority(lease: try ValidatedLease(["tool.call": ["**"]]), clock: ManualLeaseClock())
        #expect(#expect(throws: LeaseError.self) { try without.authorize(.modelUse, "tier-fast/x") }?.code == .permissionDenied)
        let with = try LeaseAuthority(lease: try ValidatedLease(["model.use": ["tier-fast/*"]]), clock: ManualLeaseClock())
        #expect(with.isAuthorized(.modelUse, "tier-fast/x"))
        #expect(!with.isAuthorized(.modelUse, "tier-slow/x"))
    }

    @Test("model policy: permissive allows any model when absent, still enforces when present")
    func allowAnyModel() throws {
        let config = LeaseAuthority.Configuration(modelPolicy: .allowAnyWhenAbsent)
        let without = try LeaseAuthority(lease: try ValidatedLease(["tool.call": ["**"]]), clock: ManualLeaseClock(), configuration: config)
        #expect(without.isAuthorized(.modelUse, "anything/at-all"))
        #expect(!without.isAuthorized(.modelUse, ""))
        let with = try LeaseAuthority(lease: try ValidatedLease(["model.use": ["tier-fast/*"]]), clock: ManualLeaseClock(), configuration: config)
        #expect(with.isAuthorized(.modelUse, "tier-fast/x"))
        #expect(!with.isAuthorized(.modelUse, "tier-slow/x"))
        let empty = try LeaseAuthority(lease: try ValidatedLease(["model.use": []]), clock: ManualLeaseClock(), configuration: config)
        #expect(!empty.isAuthorized(.modelUse, "tier-fast/x"))
    }

    @Test("cost.budget and absent namespaces are not authorizable")
    func notAuthorizable() throws {
        let a = try LeaseAuthority(lease: try ValidatedLease(["cost.budget": ["USD:1"]]), clock: ManualLeaseClock())
        #expect(#expect(throws: LeaseError.self) { try a.authorize(.costBudget, "USD:1") }?.code == .permissionDenied)
        #expect(#expect(throws: LeaseError.self) { try a.authorize(.fsRead, "/") }?.code == .permissionDenied)
        #expect(#expect(throws: LeaseError.self) { try a.authorize(.custom("x.y"), "z") }?.code == .permissionDenied)
    }

    @Test("policy may narrow but never expand a request")
    func policyClamp() throws {
        struct Greedy: LeasePolicy {
            func effectiveLease(requested: ValidatedLease, principal: String?) -> ValidatedLease {
                (try? ValidatedLease([
                    "fs.read": ["/workspace/app/src/**", "/**"],
                    "fs.write": ["/tmp/**"],
                    "cost.budget": ["USD:50", "credits:5"],
                ])) ?? requested
            }
        }
        let requested = try ValidatedLease([
            "fs.read": ["/workspace/app/**"], "cost.budget": ["USD:10", "EUR:3"], "model.use": ["tier-fast/*"],
        ])
        let outcome = LeasePolicyEnforcement.effectiveLease(requested: requested, principal: "alice", policy: Greedy())
        #expect(outcome.lease.patterns(for: .fsRead) == ["/workspace/app/src/**"])
        #expect(!outcome.lease.contains(.fsWrite))
        #expect(!outcome.lease.contains(.modelUse))
        #expect(Set(outcome.lease.budget.map(\.description)) == ["USD:10", "credits:5", "EUR:3"])
        #expect(!outcome.corrections.isEmpty)
        #expect(outcome.lease.subsetCheck(of: requested.replacingBudgetForTest(outcome.lease)).isProven)
        // Under the permissive model policy, dropping model.use would allow any model: restored.
        let permissive = LeasePolicyEnforcement.effectiveLease(
            requested: requested, principal: nil, policy: Greedy(), modelPolicy: .allowAnyWhenAbsent)
        #expect(permissive.lease.patterns(for: .modelUse) == ["tier-fast/*"])
        // The pass-through policy changes nothing.
        let same = LeasePolicyEnforcement.effectiveLease(requested: requested, principal: nil, policy: GrantRequestedLeasePolicy())
        #expect(same.lease == requested)
        #expect(same.corrections.isEmpty)
    }
}

extension ValidatedLease {
    /// The request with the policy's extra currencies added (a ceiling only narrows), so
    /// the remaining grants can be compared with `subsetCheck`.
    fileprivate func replacingBudgetForTest(_ effective: ValidatedLease) -> ValidatedLease {
        var wire = wireValue
        wire["cost.budget"] = effective.budget.map(\.description)
        return (try? ValidatedLease(wire)) ?? self
    }
}
