import Foundation
import Logging

/// A delegated child job, as its parent agent sees it (spec §10). Await `result()` for
/// its outcome; `cancel(reason:)` stops it (and its own children).
public struct DelegatedJob: Sendable {
    /// The child's job id.
    public let jobID: String
    /// The id of the `delegate` event on the parent job.
    public let delegateID: String
    /// The resolved agent (`name` or `name@version`).
    public let agent: String
    /// The child's effective lease (a subset of the parent's, §9.4).
    public let lease: Lease
    /// The child's effective constraints (its own or the inherited `expires_at`).
    public let leaseConstraints: LeaseConstraints?
    /// The child's initial budget counters, as on the wire.
    public let budget: Budget?
    let job: RuntimeJob
    let runtime: ARCPRuntime

    /// The child's current status.
    public var status: JobStatus { job.status }

    /// The child's current budget counters.
    public var budgetRemaining: [String: Decimal] { job.authority.budgetRemaining }

    /// Waits for the child to end. Returns its inline result (for a streamed result,
    /// `{"result_id": …, "result_size": …}`); throws its `ARCPError` (with `finalStatus`)
    /// when it failed, was cancelled or timed out, and `CancellationError` when the
    /// waiting task is cancelled first.
    public func result() async throws -> JSONValue {
        await job.waitUntilFinished()
        guard let terminal = job.terminal else { throw CancellationError() }
        switch terminal {
        case .jobResult(let r):
            guard r.finalStatus == .success else {
                let code: ErrorCode = r.finalStatus == .timedOut ? .timeout : .cancelled
                throw ARCPError(code, "delegated job ended with final_status \(r.finalStatus.rawValue)", retryable: false, finalStatus: r.finalStatus)
            }
            if let value = r.result { return value }
            if let id = r.resultId {
                var o = JSONObject()
                o.append("result_id", .string(id))
                if let size = r.resultSize { o.append("result_size", .int(Int64(size))) }
                return .object(o)
            }
            return .null
        case .jobError(let e):
            var error = ARCPError(e)
            error.finalStatus = e.finalStatus
            throw error
        default:
            throw ARCPError(.internalError, "delegated job ended with \(terminal.type)", retryable: true)
        }
    }

    /// Cancels the child (and its children). Its outcome then arrives through `result()`.
    public func cancel(reason: String? = nil) {
        guard !job.isTerminal else { return }
        job.cancelTree(.cancelled(reason))
    }
}

extension ARCPRuntime {
    /// Creates a delegated child of `parent` (spec §10). See `JobContext.delegate`.
    func delegate(
        from parent: RuntimeJob, agent ref: String, input: JSONValue, leaseRequest: Lease, leaseConstraints: LeaseConstraints?,
        maxRuntime: Duration?
    ) async throws -> DelegatedJob {
        let delegateID = ARCPID.delegateID()
        let childID = ARCPID.jobID()
        // The root's session (events of the child go there too); nil once it expired.
        let owner = await tables.sessions.session(parent.ownerSessionID)
        /// The `delegate` event on the parent, naming the child once it exists.
        func announce(_ childJobID: String?) {
            parent.emit(.jobEvent(JobEventPayload(
                body: .delegate(DelegateBody(
                    delegateId: delegateID, agent: ref, input: input, leaseRequest: leaseRequest, leaseConstraints: leaseConstraints,
                    childJobId: childJobID)),
                ts: ARCPTimestamp.string())))
        }
        /// A refused delegation: the `delegate` event, then a `tool_result` error for it on
        /// the parent (spec §10.2: not a session error).
        func refuse(_ e: ARCPError) -> ARCPError {
            announce(nil)
            parent.emit(.jobEvent(JobEventPayload(
                body: .toolResult(ToolResultBody(callId: delegateID, error: e.payload.toJSON())), ts: ARCPTimestamp.string())))
            logger.info("delegation refused", metadata: ["job": "\(parent.id)", "delegate": "\(delegateID)", "code": "\(e.code.rawValue)"])
            return e
        }
        func denied(_ e: LeaseError) -> ARCPError {
            announce(nil)
            return leaseDenied(parent, e, toolCallID: delegateID)
        }

        // 1. The parent may delegate to this agent.
        do {
            try parent.authority.authorize(.agentDelegate, ref)
        } catch {
            throw denied(error)
        }
        guard parent.depth < configuration.maxDelegationDepth else {
            throw refuse(.permissionDenied("delegation deeper than \(configuration.maxDelegationDepth) levels is not allowed"))
        }
        // 2. The agent exists.
        let agent: ResolvedAgent
        do {
            agent = try agents.resolve(ref)
        } catch let e as ARCPError {
            throw refuse(e)
        }
        // 3. The requested lease is well formed and uses only negotiated features.
        let requested: ValidatedLease
        let constraints: ValidatedLeaseConstraints
        do {
            requested = try ValidatedLease(leaseRequest, registry: configuration.namespaceRegistry)
            constraints = try ValidatedLeaseConstraints(expiresAt: leaseConstraints?.expiresAt, now: configuration.leaseClock.now())
        } catch {
            throw refuse(ARCPError(error))
        }
        do {
            try checkLeaseFeatures(requested, expiresAt: leaseConstraints?.expiresAt, features: parent.features)
        } catch let e as ARCPError {
            throw refuse(e)
        }
        // 4. It is a subset of the parent's lease, remaining budget and expiry (§9.4).
        let authority: LeaseAuthority
        do {
            authority = try parent.authority.makeChild(parent.authority.deriveChild(requested: requested, constraints: constraints))
        } catch {
            throw denied(error)
        }
        // 5. Credentials, no later than job.accepted (§9.8.2).
        var credentials: [Credential] = []
        if provisions(for: parent.features) {
            do {
                credentials = try await issueCredentials(
                    CredentialJob(jobID: childID, agent: agent.resolved, principal: parent.principal, parentJobID: parent.id, traceID: parent.traceID),
                    lease: authority.lease, constraints: authority.constraints, budget: authority.initialBudget)
            } catch let e as ARCPError {
                throw refuse(e)
            }
        }
        if parent.isTerminal || parent.stopReason != nil {
            revokeInBackground(credentials, jobID: childID)
            throw CancellationError()
        }
        // 6. The child job: same owner session and principal, inherited trace id.
        let accepted = JobAcceptedPayload(
            jobId: childID, agent: agent.resolved, lease: Self.leaseWire(authority.lease, requested: leaseRequest),
            leaseConstraints: Self.constraintsWire(authority.constraints), budget: budgetWire(authority.initialBudget, written: leaseRequest), credentials: credentials.isEmpty ? nil : credentials,
            acceptedAt: ARCPTimestamp.string(), traceId: parent.traceID, parentJobId: parent.id, delegateId: delegateID)
        let child = RuntimeJob(
            id: childID, agent: agent.resolved, principal: parent.principal, traceID: parent.traceID, lease: accepted.lease ?? [:],
            leaseConstraints: accepted.leaseConstraints, parentJobID: parent.id, idempotencyKey: nil, fingerprint: nil, accepted: accepted,
            features: parent.features,
            fanOut: tables.fanOut.fanOut(
                jobID: childID, principal: parent.principal, traceID: parent.traceID, ownerSessionID: parent.ownerSessionID, owner: owner),
            policy: jobPolicy, authority: authority, delegateID: delegateID, depth: parent.depth + 1, credentials: credentials,
            storeWriter: storeWriter)
        await tables.jobs.insert(child)
        parent.addChild(child)
        installTerminalDuties(child)
        announce(childID)
        owner?.sendChildAccepted(accepted, jobID: childID, traceID: parent.traceID)
        child.persist()
        logger.debug("delegated", metadata: ["job": "\(parent.id)", "child": "\(childID)", "agent": "\(agent.resolved)"])
        armRetention(child)
        start(child, body: agent.body, input: input, maxRuntime: maxRuntime.map { max(.seconds(1), $0) })
        if parent.isTerminal || parent.stopReason != nil {
            // The parent ended or was stopped while the child was being created.
            child.cancelTree(.parentCancelled)
        }
        return DelegatedJob(
            jobID: childID, delegateID: delegateID, agent: agent.resolved, lease: accepted.lease ?? [:],
            leaseConstraints: accepted.leaseConstraints, budget: accepted.budget, job: child, runtime: self)
    }
}
