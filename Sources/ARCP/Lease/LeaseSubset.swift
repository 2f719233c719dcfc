import Foundation

/// What a lease without `model.use` means (spec §9.7, a deployment choice).
public enum LeaseModelPolicy: Sendable, Hashable {
    /// A lease without `model.use` forbids every model (the secure default).
    case requireModelUse
    /// A lease without `model.use` allows any model.
    case allowAnyWhenAbsent
}

/// The outcome of a subset proof (§9.4).
public enum LeaseSubsetResult: Sendable, Equatable {
    /// Every grant of the candidate is covered by the parent.
    case proven
    /// Subset could not be proven; the reason names the first offending grant (and, when
    /// one was found, a target it would allow that the parent does not).
    case violation(String)

    /// Whether this is `.proven`.
    public var isProven: Bool { self == .proven }
}

extension ValidatedLease {
    /// Whether this lease is provably a subset of `parent` (§9.4), comparing budgets with
    /// the parent's budget as written. See `subsetCheck(of:parentRemaining:modelPolicy:)`.
    public func isSubset(of parent: ValidatedLease, modelPolicy: LeaseModelPolicy = .requireModelUse) -> Bool {
        subsetCheck(of: parent, modelPolicy: modelPolicy).isProven
    }

    /// Proves, conservatively, that this lease grants nothing `parent` does not (§9.4).
    ///
    /// - Glob namespaces: each pattern's language must be included in the union of the
    ///   parent's patterns for the namespace. Inclusion is decided exactly on the compiled
    ///   automata (so `/a/**` covers `/a/*/b`, `search.*` covers `search.web`, `**`
    ///   covers everything); if the search exceeds its bound, the proof fails.
    /// - A namespace the parent does not name is a violation, except `model.use` under
    ///   `.allowAnyWhenAbsent` (the parent may use any model). Under that policy a child
    ///   without `model.use` when the parent has one would allow any model: a violation.
    /// - `cost.budget`: if the parent has a budget, the child must budget every parent
    ///   currency, only those, each at most `parentRemaining` (or the parent's amount when
    ///   `parentRemaining` is nil). A parent without a budget accepts any child budget.
    public func subsetCheck(
        of parent: ValidatedLease, parentRemaining: [String: Decimal]? = nil, modelPolicy: LeaseModelPolicy = .requireModelUse
    ) -> LeaseSubsetResult {
        var work = GlobInclusion.defaultBudget
        for namespace in namespaces where namespace != .costBudget {
            let childPatterns = compiled[namespace] ?? []
            guard let parentPatterns = parent.compiled[namespace] else {
                if namespace == .modelUse && modelPolicy == .allowAnyWhenAbsent { continue }
                if childPatterns.isEmpty { continue }
                return .violation("the parent lease grants no \(namespace)")
            }
            guard syntaxes[namespace] == parent.syntaxes[namespace] else {
                return .violation("\(namespace) uses a different pattern syntax than in the parent lease")
            }
            for pattern in childPatterns {
                switch GlobInclusion.check(child: pattern.dfa, parents: parentPatterns.map(\.dfa), budget: &work) {
                case .included: continue
                case .counterexample(let witness):
                    return .violation(
                        "\(namespace) pattern \(LeaseText.quote(pattern.source)) is not covered by the parent lease "
                            + "(it would allow \(LeaseText.quote(bytes: witness)))")
                case .undecided:
                    return .violation("cannot prove \(namespace) pattern \(LeaseText.quote(pattern.source)) is covered by the parent lease")
                }
            }
        }
        if modelPolicy == .allowAnyWhenAbsent && parent.contains(.modelUse) && !contains(.modelUse) {
            return .violation("model.use is absent, which would allow any model; the parent lease restricts models")
        }
        return budgetSubset(of: parent, parentRemaining: parentRemaining)
    }

    private func budgetSubset(of parent: ValidatedLease, parentRemaining: [String: Decimal]?) -> LeaseSubsetResult {
        guard !parent.budget.isEmpty else { return .proven }
        let limits = parentRemaining ?? Dictionary(parent.budget.map { ($0.currency, $0.value) }, uniquingKeysWith: { a, _ in a })
        for amount in budget {
            guard let limit = limits[amount.currency] else {
                return .violation("cost.budget names \(LeaseText.quote(amount.currency)), which the parent lease does not budget")
            }
            if amount.value > max(limit, 0) {
                return .violation(
                    "cost.budget \(amount) exceeds the parent's remaining \(amount.currency):\(LeaseDecimal.format(max(limit, 0)))")
            }
        }
        let childCurrencies = Set(budget.map(\.currency))
        for currency in limits.keys.sorted() where !childCurrencies.contains(currency) {
            return .violation("cost.budget does not bound \(LeaseText.quote(currency)), which the parent lease budgets")
        }
        return .proven
    }

    /// Copies this lease with `namespace` replaced (or removed when `patterns` is nil),
    /// reusing compiled patterns.
    func replacing(_ namespace: LeaseNamespace, with patterns: [CompiledPattern]?, syntax: LeasePatternSyntax?) -> ValidatedLease {
        var grants = self.grants
        var compiled = self.compiled
        var syntaxes = self.syntaxes
        grants[namespace] = patterns?.map(\.source)
        compiled[namespace] = patterns
        syntaxes[namespace] = patterns == nil ? nil : syntax
        return ValidatedLease(grants: grants, budget: budget, compiled: compiled, syntaxes: syntaxes)
    }

    /// Copies this lease with `cost.budget` set to `amounts` (removed when empty).
    func replacingBudget(_ amounts: [CostAmount]) -> ValidatedLease {
        var grants = self.grants
        var syntaxes = self.syntaxes
        if amounts.isEmpty {
            grants[.costBudget] = nil
            syntaxes[.costBudget] = nil
        } else {
            grants[.costBudget] = amounts.map(\.description)
            syntaxes[.costBudget] = .amount
        }
        return ValidatedLease(grants: grants, budget: amounts, compiled: compiled, syntaxes: syntaxes)
    }
}
