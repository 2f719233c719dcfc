import Foundation
import Logging

// The runtime side of leases (spec §9): turning a submitted `lease_request` into a job's
// `LeaseAuthority`, echoing it on the wire, and acting on denials (tool_result errors,
// lease expiry, fatal budget exhaustion).

extension ARCPError {
    /// The wire error for a lease failure. Lease errors are never retryable (§12).
    public init(_ lease: LeaseError) {
        self.init(ErrorCode(rawValue: lease.wireCode), lease.message, retryable: false)
    }
}

/// A lease that passed validation and the runtime's policy, ready to become a job's authority.
struct AcceptedLease {
    var lease: ValidatedLease
    var constraints: ValidatedLeaseConstraints
}

extension ARCPRuntime {
    // MARK: - Submission

    /// Validates a submitted lease request and its constraints, checks that the session
    /// negotiated the features they use, and applies the lease policy (spec §9.1–§9.7).
    /// Everything malformed is `INVALID_REQUEST`.
    @inline(never)
    func acceptLease(_ wire: Lease?, constraints wireConstraints: LeaseConstraints?, session: RuntimeSession) throws -> AcceptedLease {
        let requested: ValidatedLease
        let constraints: ValidatedLeaseConstraints
        try checkLeaseSize(wire)
        do {
            requested = try ValidatedLease(wire ?? [:], registry: configuration.namespaceRegistry)
        } catch {
            throw ARCPError(error)
        }
        try checkLeaseFeatures(requested, expiresAt: wireConstraints?.expiresAt, features: session.featureSet)
        do {
            constraints = try ValidatedLeaseConstraints(expiresAt: wireConstraints?.expiresAt, now: configuration.leaseClock.now())
        } catch {
            throw ARCPError(error)
        }
        let outcome = LeasePolicyEnforcement.effectiveLease(
            requested: requested, principal: session.principal, policy: configuration.leasePolicy, modelPolicy: configuration.modelPolicy)
        if !outcome.corrections.isEmpty {
            logger.info(
                "lease reduced by policy",
                metadata: ["principal": "\(session.principal)", "corrections": "\(outcome.corrections.joined(separator: "; "))"])
        }
        return AcceptedLease(lease: outcome.lease, constraints: constraints)
    }

    /// `cost.budget`, `model.use` and `expires_at` are only accepted from sessions that
    /// negotiated them.
    func checkLeaseFeatures(_ lease: ValidatedLease, expiresAt: String?, features: Set<String>) throws {
        if lease.contains(.costBudget) && !features.contains(Feature.costBudget.rawValue) {
            throw ARCPError.invalidRequest("feature 'cost.budget' not negotiated for this session")
        }
        if lease.contains(.modelUse) && !features.contains(Feature.modelUse.rawValue) {
            throw ARCPError.invalidRequest("feature 'model.use' not negotiated for this session")
        }
        if expiresAt != nil && !features.contains(Feature.leaseExpiresAt.rawValue) {
            throw ARCPError.invalidRequest("feature 'lease_expires_at' not negotiated for this session")
        }
    }

    /// Creates the authority of a submitted job on the runtime's lease clock.
    @inline(never)
    func makeAuthority(_ accepted: AcceptedLease) throws -> LeaseAuthority {
        do {
            return try LeaseAuthority(
                lease: accepted.lease, constraints: accepted.constraints, clock: configuration.leaseClock,
                configuration: configuration.leaseEnforcement)
        } catch {
            throw ARCPError(error)
        }
    }

    // MARK: - Wire forms

    /// Budget counters as sent on the wire: numbers (spec), or with `.pythonReference`
    /// strings — at acceptance (`written` given) the amount as the client wrote it
    /// (`"USD:1.00"`), afterwards a bare decimal such as `"0.75"`.
    @inline(never)
    func budgetWire(_ counters: [String: Decimal], written: Lease? = nil) -> Budget? {
        guard !counters.isEmpty else { return nil }
        var out: Budget = [:]
        let compat = configuration.compatibility == .pythonReference
        let texts = compat ? Self.amountTexts(written) : [:]
        for (currency, value) in counters {
            if !compat {
                out[currency] = .number(NSDecimalNumber(decimal: value).doubleValue)
            } else if let text = texts[currency], text.value == value {
                out[currency] = .string(text.text)
            } else {
                out[currency] = .string(written != nil ? "\(currency):\(LeaseDecimal.format(value))" : LeaseDecimal.format(value))
            }
        }
        return out
    }

    /// The effective lease for the wire, keeping the client's spelling of every
    /// `cost.budget` amount the runtime did not change (`USD:1.00`, not `USD:1`).
    @inline(never)
    static func leaseWire(_ lease: ValidatedLease, requested: Lease?) -> Lease {
        var wire = lease.wireValue
        let texts = amountTexts(requested)
        if let amounts = wire["cost.budget"] {
            wire["cost.budget"] = amounts.map { a in
                guard let parsed = try? CostAmount(parsing: a), let t = texts[parsed.currency], t.value == parsed.value else { return a }
                return t.text
            }
        }
        return wire
    }

    /// `cost.budget` amounts of a wire lease by currency, as written and parsed.
    static func amountTexts(_ lease: Lease?) -> [String: (text: String, value: Decimal)] {
        var out: [String: (text: String, value: Decimal)] = [:]
        for text in lease?["cost.budget"] ?? [] {
            if let a = try? CostAmount(parsing: text) { out[a.currency] = (text, a.value) }
        }
        return out
    }

    /// The `lease_constraints` to echo: the effective expiry, if any.
    @inline(never)
    static func constraintsWire(_ c: ValidatedLeaseConstraints) -> LeaseConstraints? {
        c.expiresAt.map { LeaseConstraints(expiresAt: $0.text) }
    }

    // MARK: - Denials and expiry

    /// Reports a failed authorization of `job`: emits a `tool_result` error for
    /// `toolCallID` when the operation belongs to a tool call, ends the job on
    /// `LEASE_EXPIRED` (and on `BUDGET_EXHAUSTED` when configured fatal), and returns the
    /// error for the agent.
    func leaseDenied(_ job: RuntimeJob, _ denial: LeaseError, toolCallID: String?) -> ARCPError {
        let error = ARCPError(denial)
        if let toolCallID {
            job.emit(.jobEvent(JobEventPayload(
                body: .toolResult(ToolResultBody(callId: toolCallID, error: error.payload.toJSON())), ts: ARCPTimestamp.string())))
        }
        switch denial.code {
        case .leaseExpired:
            expireLease(job)
        case .budgetExhausted where configuration.budgetExhaustionIsFatal:
            logger.notice("budget exhausted; ending job", metadata: ["job": "\(job.id)"])
            job.cancelTree(.budgetExhausted)
        default:
            break
        }
        return error
    }

    /// Ends a job whose lease has expired: `job.error LEASE_EXPIRED`, final status
    /// `error`, not retryable (§9.5). Expirations are logged for audit (§14).
    func expireLease(_ job: RuntimeJob) {
        guard !job.isTerminal, job.stopReason == nil else { return }
        logger.notice(
            "lease expired; ending job",
            metadata: ["job": "\(job.id)", "expires_at": "\(job.authority.constraints.expiresAt?.text ?? "inherited")"])
        job.cancelTree(.leaseExpired)
    }

    /// Arms the proactive expiry watchdog of a job whose lease has an expiry: it sleeps
    /// until the expiry (re-checking the lease clock at least every `expiryCheckInterval`)
    /// and then ends the job.
    func armExpiryWatchdog(_ job: RuntimeJob) {
        guard job.authority.timeUntilExpiry != nil else { return }
        let cap = max(configuration.expiryCheckInterval, .milliseconds(1))
        job.addWatchdog(Task { [weak self] in
            while let left = job.authority.timeUntilExpiry {
                if left == .zero {
                    self?.expireLease(job)
                    return
                }
                do { try await Task.sleep(for: min(left, cap)) } catch { return }
                if job.isTerminal { return }
            }
        })
    }

    /// Ends every running job whose lease has expired on the lease clock, and returns
    /// their ids. The per-job watchdog does this by itself; with a `ManualLeaseClock`,
    /// call this after advancing the clock to make expiry deterministic.
    @discardableResult
    public func enforceLeaseExpiry() -> [String] {
        let jobs = tables.jobs.localUnfinished()
        var ended: [String] = []
        for job in jobs where job.authority.isExpired && job.stopReason == nil {
            expireLease(job)
            ended.append(job.id)
        }
        return ended.sorted()
    }

    /// The current budget counters of job `id` (nil for unknown jobs or unbudgeted leases).
    public func budgetRemaining(job id: String) -> [String: Decimal]? {
        guard let job = tables.jobs.localJob(id) else { return nil }
        let remaining = job.authority.budgetRemaining
        return remaining.isEmpty ? nil : remaining
    }
}
