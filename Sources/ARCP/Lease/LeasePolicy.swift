import Foundation

/// Runtime policy that may reduce a requested lease (spec §9.1: the runtime may narrow a
/// request, never silently expand it).
///
/// Whatever `effectiveLease(requested:principal:)` returns is passed through
/// `LeasePolicyEnforcement.effectiveLease(requested:principal:policy:modelPolicy:)`,
/// which removes anything not provably inside the request, so a buggy policy cannot
/// widen authority.
public protocol LeasePolicy: Sendable {
    /// The lease the runtime is willing to grant for `requested` to `principal`
    /// (the authenticated submitter, when known).
    func effectiveLease(requested: ValidatedLease, principal: String?) -> ValidatedLease
}

/// The policy that grants exactly what was requested.
public struct GrantRequestedLeasePolicy: LeasePolicy {
    /// Creates the pass-through policy.
    public init() {}

    public func effectiveLease(requested: ValidatedLease, principal: String?) -> ValidatedLease { requested }
}

/// The result of applying a policy.
public struct LeasePolicyOutcome: Sendable, Equatable {
    /// The effective lease, provably within the request; echo it in `job.accepted`.
    public let lease: ValidatedLease
    /// What the enforcement step removed or restored from the policy's proposal,
    /// readable, for logs. Empty when the policy stayed within the request.
    public let corrections: [String]
}

/// Applies a `LeasePolicy` safely.
public enum LeasePolicyEnforcement {
    /// Runs `policy` and clamps its proposal to `requested`:
    /// - a namespace the request does not name is dropped (for `model.use` under
    ///   `.allowAnyWhenAbsent` it is kept: restricting models narrows "any model");
    /// - a pattern not provably covered by the request's patterns is dropped;
    /// - `model.use` removed under `.allowAnyWhenAbsent` would mean "any model", so the
    ///   request's `model.use` is restored;
    /// - each budget is the smaller of proposed and requested; a requested currency the
    ///   proposal drops is restored; a currency the proposal adds is kept (a ceiling only
    ///   narrows).
    public static func effectiveLease(
        requested: ValidatedLease, principal: String?, policy: any LeasePolicy, modelPolicy: LeaseModelPolicy = .requireModelUse
    ) -> LeasePolicyOutcome {
        clamp(policy.effectiveLease(requested: requested, principal: principal), to: requested, modelPolicy: modelPolicy)
    }

    /// Clamps `proposed` to `requested` as described in
    /// `effectiveLease(requested:principal:policy:modelPolicy:)`.
    public static func clamp(_ proposed: ValidatedLease, to requested: ValidatedLease, modelPolicy: LeaseModelPolicy = .requireModelUse) -> LeasePolicyOutcome {
        var result = ValidatedLease.empty
        var corrections: [String] = []
        var work = GlobInclusion.defaultBudget
        for namespace in proposed.namespaces where namespace != .costBudget {
            let patterns = proposed.compiled[namespace] ?? []
            guard let allowed = requested.compiled[namespace] else {
                if namespace == .modelUse && modelPolicy == .allowAnyWhenAbsent {
                    result = result.replacing(namespace, with: patterns, syntax: proposed.syntaxes[namespace])
                } else {
                    corrections.append("dropped \(namespace): not requested")
                }
                continue
            }
            guard proposed.syntaxes[namespace] == requested.syntaxes[namespace] else {
                corrections.append("dropped \(namespace): syntax differs from the request")
                continue
            }
            var kept: [CompiledPattern] = []
            for p in patterns {
                if GlobInclusion.check(child: p.dfa, parents: allowed.map(\.dfa), budget: &work) == .included {
                    kept.append(p)
                } else {
                    corrections.append("dropped \(namespace) pattern \(LeaseText.quote(p.source)): not within the request")
                }
            }
            result = result.replacing(namespace, with: kept, syntax: requested.syntaxes[namespace])
        }
        if modelPolicy == .allowAnyWhenAbsent, let requestedModels = requested.compiled[.modelUse], !result.contains(.modelUse) {
            result = result.replacing(.modelUse, with: requestedModels, syntax: .modelName)
            corrections.append("restored model.use: removing it would allow any model")
        }
        var budget: [CostAmount] = []
        let requestedBudget = Dictionary(requested.budget.map { ($0.currency, $0) }, uniquingKeysWith: { a, _ in a })
        for amount in proposed.budget {
            if let cap = requestedBudget[amount.currency], cap.value < amount.value {
                budget.append(cap)
                corrections.append("clamped cost.budget \(amount) to \(cap)")
            } else {
                budget.append(amount)
            }
        }
        let proposedCurrencies = Set(proposed.budget.map(\.currency))
        for amount in requested.budget where !proposedCurrencies.contains(amount.currency) {
            budget.append(amount)
            corrections.append("restored cost.budget \(amount)")
        }
        result = result.replacingBudget(budget)
        return LeasePolicyOutcome(lease: result, corrections: corrections)
    }
}
