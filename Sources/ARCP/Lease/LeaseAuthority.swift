import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The authority of one job: its effective lease, constraints, budget counters and clock
/// (spec §9.3–§9.7, §10). Thread-safe and cheap to call: patterns are precompiled, only
/// the budget counters sit behind a lock, and a lease without a budget never takes it.
///
/// `authorize(_:_:)` checks, in order: expiry (`LEASE_EXPIRED`), budget
/// (`BUDGET_EXHAUSTED`, including every ancestor's budget for a delegated job), then the
/// patterns (`PERMISSION_DENIED`).
public final class LeaseAuthority: Sendable {
    /// Runtime settings for lease enforcement.
    public struct Configuration: Sendable, Equatable {
        /// What a lease without `model.use` means.
        public var modelPolicy: LeaseModelPolicy
        /// How long past `expires_at` operations are still allowed (§14: small, bounded;
        /// clamped to 0…60 s).
        public var expiryGrace: Duration
        /// Resolve symlinks (`realpath`) for `fs.*` targets (default on): both the lexical
        /// path and the path the kernel would reach (symlinks followed, each `..` applied
        /// after them) must be covered, and a path that cannot be resolved (a dangling link, a
        /// loop, a `..` below a missing directory, no permission) is denied. Turn it off only
        /// where no symlink can exist under the granted trees: then a link inside a granted
        /// tree that points outside it is followed unchecked.
        public var resolveSymlinks: Bool
        /// See `BudgetCounters.emitFraction`.
        public var budgetEmitFraction: Decimal

        /// Creates a configuration; the defaults are the secure ones.
        public init(
            modelPolicy: LeaseModelPolicy = .requireModelUse, expiryGrace: Duration = .seconds(1),
            resolveSymlinks: Bool = true, budgetEmitFraction: Decimal = 0
        ) {
            self.modelPolicy = modelPolicy
            self.expiryGrace = min(max(expiryGrace, .zero), .seconds(60))
            self.resolveSymlinks = resolveSymlinks
            self.budgetEmitFraction = budgetEmitFraction
        }
    }

    /// The effective lease.
    public let lease: ValidatedLease
    /// The effective constraints (expiry).
    public let constraints: ValidatedLeaseConstraints
    /// The enforcement settings.
    public let configuration: Configuration
    /// Wall-clock time of acceptance.
    public let acceptedAt: Date
    /// The clock in use.
    public let clock: any LeaseClock
    /// The authority of the delegating job, if this one was delegated.
    public let parent: LeaseAuthority?

    /// Monotonic deadline (uptime) at which the lease expires, before grace.
    private let deadline: Duration?
    /// `fs.*` patterns re-anchored on their symlink-resolved directories.
    private let resolvedPatterns: [LeaseNamespace: [CompiledPattern]]
    private let counters: Mutex<BudgetCounters>
    /// Whether this authority or an ancestor has a budget (else the lock is never taken).
    private let budgeted: Bool

    /// Accepts a lease: starts its budget counters and its expiry deadline.
    ///
    /// Throws `INVALID_REQUEST` when `expires_at` is not in the future on `clock`.
    public convenience init(
        lease: ValidatedLease, constraints: ValidatedLeaseConstraints = ValidatedLeaseConstraints(),
        clock: any LeaseClock = SystemLeaseClock(), configuration: Configuration = Configuration()
    ) throws(LeaseError) {
        try self.init(lease: lease, constraints: constraints, clock: clock, configuration: configuration, parent: nil, budget: nil)
    }

    private init(
        lease: ValidatedLease, constraints: ValidatedLeaseConstraints, clock: any LeaseClock, configuration: Configuration,
        parent: LeaseAuthority?, budget: [String: Decimal]?
    ) throws(LeaseError) {
        let wall = clock.now()
        let mono = clock.uptime()
        var deadline: Duration?
        if let expiresAt = constraints.expiresAt {
            let left = expiresAt.duration(since: wall)
            guard left > .zero else {
                throw LeaseError(.invalidRequest, "expires_at \(LeaseText.quote(expiresAt.text)) is not in the future")
            }
            deadline = mono + left
        }
        if let parentDeadline = parent?.deadline {
            deadline = min(deadline ?? parentDeadline, parentDeadline)
        }
        self.lease = lease
        self.constraints = constraints
        self.configuration = configuration
        self.acceptedAt = wall
        self.clock = clock
        self.parent = parent
        self.deadline = deadline
        let counters = budget.map { BudgetCounters(remaining: $0, emitFraction: configuration.budgetEmitFraction) }
            ?? BudgetCounters(lease.budget, emitFraction: configuration.budgetEmitFraction)
        self.budgeted = !counters.isEmpty || (parent?.budgeted ?? false)
        self.counters = Mutex(counters)
        self.resolvedPatterns = configuration.resolveSymlinks ? LeaseAuthority.resolvePatterns(lease) : [:]
    }

    // MARK: - Authorization

    /// Authorizes one operation: `namespace` on `target` (a path, URL, tool name, agent
    /// reference or model id). Throws `LEASE_EXPIRED`, `BUDGET_EXHAUSTED` or
    /// `PERMISSION_DENIED`; returns normally when the operation may proceed.
    public func authorize(_ namespace: LeaseNamespace, _ target: String) throws(LeaseDenial) {
        try checkExpiry()
        if budgeted, let currency = exhaustedCurrency() {
            throw LeaseError(.budgetExhausted, "cost.budget for \(currency) is exhausted")
        }
        try checkPatterns(namespace, target)
    }

    /// Whether `authorize(namespace, target)` would succeed now.
    public func isAuthorized(_ namespace: LeaseNamespace, _ target: String) -> Bool {
        do {
            try authorize(namespace, target)
            return true
        } catch {
            return false
        }
    }

    private func checkPatterns(_ namespace: LeaseNamespace, _ target: String) throws(LeaseDenial) {
        if namespace == .costBudget {
            throw LeaseError(.permissionDenied, "cost.budget is not an operation namespace")
        }
        guard let entry = lease.entry(for: namespace) else {
            if namespace == .modelUse && configuration.modelPolicy == .allowAnyWhenAbsent {
                if case .rejected(let reason) = LeasePatternCompiler.match(target, syntax: .modelName, patterns: []) {
                    throw LeaseError(.permissionDenied, .rejected(namespace, target, reason: reason))
                }
                return
            }
            throw LeaseError(.permissionDenied, .namespaceNotGranted(namespace, target))
        }
        let patterns = entry.patterns
        let syntax = entry.syntax
        switch LeasePatternCompiler.match(target, syntax: syntax, patterns: patterns) {
        case .matched: break
        case .notCovered: throw LeaseError(.permissionDenied, .notCovered(namespace, target))
        case .rejected(let reason): throw LeaseError(.permissionDenied, .rejected(namespace, target, reason: reason))
        }
        if syntax == .path && configuration.resolveSymlinks {
            // The kernel's readings, not the lexical ones: `/granted/link/../x` is `/granted/x`
            // lexically but the parent of the link's target for `open(2)`.
            guard let readings = LeaseCanonical.kernelPathReadings(target) else {
                throw LeaseError(.permissionDenied, .notCovered(namespace, target))
            }
            let all = patterns + (resolvedPatterns[namespace] ?? [])
            for reading in readings {
                guard let real = LeaseAuthority.realPath(reading) else {
                    throw LeaseError(.permissionDenied, "\(namespace) of \(LeaseText.quote(target)) denied: the path cannot be resolved")
                }
                guard ValidatedLease.anyMatches(all, real) else {
                    throw LeaseError(
                        .permissionDenied,
                        "\(namespace) of \(LeaseText.quote(target)) denied: it resolves to \(LeaseText.quote(bytes: real)), outside the lease")
                }
            }
        }
    }

    // MARK: - Expiry

    /// Throws `LEASE_EXPIRED` when the lease has expired (monotonic time since acceptance
    /// has reached the deadline plus grace).
    public func checkExpiry() throws(LeaseDenial) {
        guard let deadline else { return }
        if clock.uptime() >= deadline + configuration.expiryGrace {
            throw LeaseError(.leaseExpired, "the lease expired at \(constraints.expiresAt?.text ?? "the parent's expiry")")
        }
    }

    /// Whether the lease has expired (see `checkExpiry()`).
    public var isExpired: Bool {
        guard let deadline else { return false }
        return clock.uptime() >= deadline + configuration.expiryGrace
    }

    /// Time left until `checkExpiry()` starts failing (grace included); `nil` without an
    /// expiry, `.zero` once expired. Useful to arm a proactive-termination timer.
    public var timeUntilExpiry: Duration? {
        guard let deadline else { return nil }
        return max(.zero, deadline + configuration.expiryGrace - clock.uptime())
    }

    // MARK: - Budget

    /// The current budget counters (for `job.accepted.budget` at acceptance, and for
    /// `job.subscribed.budget`).
    public var budgetRemaining: [String: Decimal] { counters.withLock { $0.remaining } }

    /// The budget counters at acceptance.
    public var initialBudget: [String: Decimal] { counters.withLock { $0.initial } }

    /// The first exhausted currency of this authority or an ancestor, if any.
    public func exhaustedCurrency() -> String? {
        if let own = counters.withLock({ $0.isExhausted ? $0.exhaustedCurrency : nil }) { return own }
        return parent?.exhaustedCurrency()
    }

    /// Feeds a `metric` event of this job to the budget (§9.6). A decrement is also
    /// applied to every ancestor budgeting the same currency, so a job tree never spends
    /// more than its root's budget. Call it only for metrics this job emitted.
    @discardableResult
    public func recordMetric(name: String, value: Decimal, unit: String?) -> BudgetRecordOutcome {
        let outcome = counters.withLock { $0.record(metricName: name, value: value, unit: unit) }
        switch outcome {
        case .decremented(let currency, _, _):
            parent?.absorb(currency: currency, value: value)
        case .unbudgetedCurrency:
            if name.hasPrefix("cost."), let unit, value > 0 { parent?.absorb(currency: unit, value: value) }
        case .notCost, .rejectedNegative:
            break
        }
        return outcome
    }

    private func absorb(currency: String, value: Decimal) {
        counters.withLock { $0.absorb(currency: currency, value: value) }
        parent?.absorb(currency: currency, value: value)
    }

    // MARK: - Delegation

    /// Derives the effective lease of a delegated job (§9.4, §10) from the lease it
    /// requests, without creating it.
    ///
    /// - Omitted parent currencies are inherited at the parent's remaining amount;
    ///   under `.allowAnyWhenAbsent` an omitted `model.use` inherits the parent's.
    /// - The result must pass `subsetCheck` against this lease with the current
    ///   remaining budget, else `LEASE_SUBSET_VIOLATION`.
    /// - `expires_at` later than the parent's is `LEASE_SUBSET_VIOLATION`; one not in the
    ///   future is `INVALID_REQUEST`; an omitted one inherits the parent's.
    /// - An expired parent gets `LEASE_EXPIRED`.
    ///
    /// Authorize the delegation itself first: `authorize(.agentDelegate, agent)`.
    public func deriveChild(
        requested: ValidatedLease, constraints requestedConstraints: ValidatedLeaseConstraints = ValidatedLeaseConstraints()
    ) throws(LeaseError) -> DelegatedLease {
        try checkExpiry()
        var child = requested
        let remaining = budgetRemaining
        if !lease.budget.isEmpty {
            let named = Set(child.budget.map(\.currency))
            var amounts = child.budget
            for currency in remaining.keys.sorted() where !named.contains(currency) {
                if let a = CostAmount(currency: currency, value: max(remaining[currency] ?? 0, 0)) { amounts.append(a) }
            }
            child = child.replacingBudget(amounts)
        }
        if configuration.modelPolicy == .allowAnyWhenAbsent, !child.contains(.modelUse), let models = lease.compiled[.modelUse] {
            child = child.replacing(.modelUse, with: models, syntax: .modelName)
        }
        if case .violation(let why) = child.subsetCheck(of: lease, parentRemaining: remaining, modelPolicy: configuration.modelPolicy) {
            throw LeaseError(.leaseSubsetViolation, why)
        }
        var effective = requestedConstraints
        if let childExpiry = requestedConstraints.expiresAt {
            if let parentExpiry = constraints.expiresAt, childExpiry > parentExpiry {
                throw LeaseError(.leaseSubsetViolation, "expires_at \(childExpiry.text) is later than the parent's \(parentExpiry.text)")
            }
            guard childExpiry.duration(since: clock.now()) > .zero else {
                throw LeaseError(.invalidRequest, "expires_at \(LeaseText.quote(childExpiry.text)) is not in the future")
            }
        } else {
            effective.expiresAt = constraints.expiresAt
        }
        var budget: [String: Decimal] = [:]
        for a in child.budget { budget[a.currency] = a.value }
        return DelegatedLease(lease: child, constraints: effective, budget: budget)
    }

    /// Creates the authority of a delegated job from `deriveChild(requested:constraints:)`'s
    /// result. It shares this authority's clock and configuration, never outlives this
    /// lease's monotonic deadline, checks every ancestor's budget, and passes its cost
    /// metrics up to them.
    public func makeChild(_ delegated: DelegatedLease) throws(LeaseError) -> LeaseAuthority {
        var constraints = delegated.constraints
        if let expiresAt = constraints.expiresAt, expiresAt.duration(since: clock.now()) <= .zero {
            // Inherited from a parent that is within its grace period: keep the parent's cap.
            constraints.expiresAt = nil
        }
        let child = try LeaseAuthority(
            lease: delegated.lease, constraints: constraints, clock: clock, configuration: configuration, parent: self,
            budget: delegated.budget)
        return child
    }

    // MARK: - Symlinks

    /// `realpath` of an internal-form path (root = empty), allowing a missing tail: the
    /// longest existing ancestor is resolved and the missing components appended. A
    /// component that exists but cannot be resolved (a dangling symlink, a loop, no
    /// permission) makes the whole resolution fail, and so does a `..` in the missing tail
    /// (the kernel would fail on the missing directory before it; resolving it lexically could
    /// climb out of the resolved ancestor).
    static func realPath(_ path: [UInt8]) -> [UInt8]? {
        var existing = path
        var missing: [[UInt8]] = []
        while true {
            let text = existing.isEmpty ? "/" : String(decoding: existing, as: UTF8.self)
            if let resolved = realpathString(text) {
                var out = resolved == "/" ? [] : Array(resolved.utf8)
                for component in missing.reversed() {
                    out.append(LeaseCanonical.slash)
                    out.append(contentsOf: component)
                }
                return out
            }
            guard errno == ENOENT, !existing.isEmpty, !pathExistsNoFollow(text) else { return nil }
            guard let lastSlash = existing.lastIndex(of: LeaseCanonical.slash) else { return nil }
            let component = Array(existing[(lastSlash + 1)...])
            if component == [LeaseCanonical.dot, LeaseCanonical.dot] { return nil }
            missing.append(component)
            existing.removeSubrange(lastSlash...)
            if missing.count > 256 { return nil }
        }
    }

    private static func realpathString(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    private static func pathExistsNoFollow(_ path: String) -> Bool {
        var st = stat()
        let saved = errno
        defer { errno = saved }
        return lstat(path, &st) == 0
    }

    /// For every `fs.*` pattern whose literal directory resolves elsewhere, the same
    /// pattern anchored on the resolved directory.
    private static func resolvePatterns(_ lease: ValidatedLease) -> [LeaseNamespace: [CompiledPattern]] {
        var out: [LeaseNamespace: [CompiledPattern]] = [:]
        for (namespace, patterns) in lease.compiled where lease.syntaxes[namespace] == .path {
            for p in patterns {
                guard let split = p.pathSplit, !split.prefix.isEmpty else { continue }
                var prefix: [UInt8] = []
                LeaseCanonical.join(split.prefix, into: &prefix)
                guard let real = realPath(prefix), real != prefix else { continue }
                var segments = real.split(separator: LeaseCanonical.slash, omittingEmptySubsequences: true).map(Array.init)
                segments.append(contentsOf: split.rest)
                if case .success(let c) = LeasePatternCompiler.compilePath(segments: segments, source: p.source) {
                    out[namespace, default: []].append(c)
                }
            }
        }
        return out
    }
}

/// The effective lease of a delegated job, as derived by `LeaseAuthority.deriveChild`.
public struct DelegatedLease: Sendable, Equatable {
    /// The child's effective lease (with inherited budget and, when applicable,
    /// `model.use`); echo it in the child's `job.accepted`.
    public let lease: ValidatedLease
    /// The child's effective constraints (inherited or earlier `expires_at`).
    public let constraints: ValidatedLeaseConstraints
    /// The child's initial budget counters (for its `job.accepted.budget`).
    public let budget: [String: Decimal]
}
