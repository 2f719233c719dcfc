import Foundation
import Logging

/// What an agent body gets: the job's identity and authority, and an emitter for every
/// event kind (spec §8.2). Emitters apply back-pressure: they suspend while the slowest
/// observer of the job is too far behind, so a chatty agent cannot grow memory without bound.
public struct JobContext: Sendable {
    let job: RuntimeJob
    let runtime: ARCPRuntime
    let features: Set<String>

    init(job: RuntimeJob, runtime: ARCPRuntime, features: Set<String>) {
        self.job = job
        self.runtime = runtime
        self.features = features
    }

    /// The lease's effective expiry (for a delegated job, possibly inherited), if any.
    public var expiresAt: Date? { job.authority.constraints.expiresAt?.date }

    /// The job's id.
    public var jobID: String { job.id }
    /// The resolved `name` or `name@version`.
    public var agent: String { job.agent }
    /// The principal the job runs for: its submitter's (a delegated job keeps its parent's).
    public var principal: String { job.principal }
    /// The job's trace id (a delegated job shares its parent's).
    public var traceID: String { job.traceID }
    /// The effective lease (spec §9).
    public var lease: Lease { job.lease }
    /// The effective lease constraints (`expires_at`), if any.
    public var leaseConstraints: LeaseConstraints? { job.leaseConstraints }
    /// For a delegated job: its parent's id.
    public var parentJobID: String? { job.parentJobID }
    /// For a delegated job: the id of the parent's `delegate` event.
    public var delegateID: String? { job.delegateID }
    /// The job's lease authority: the validated effective lease and constraints, budget
    /// counters, and expiry (spec §9).
    public var authority: LeaseAuthority { job.authority }
    /// The current budget counters per currency (empty without `cost.budget`).
    public var budgetRemaining: [String: Decimal] { job.authority.budgetRemaining }
    /// The job's provisioned credentials (spec §9.8), current values. Secrets: present
    /// them only to each credential's `endpoint`, and never log them.
    public var credentials: [Credential] { job.credentials }
    /// The runtime's logger with the job's id as metadata.
    public var logger: Logger {
        var l = runtime.logger
        l[metadataKey: "job"] = "\(job.id)"
        return l
    }

    /// Whether the submitting session negotiated `feature`.
    public func negotiated(_ feature: Feature) -> Bool { features.contains(feature.rawValue) }

    // MARK: authority (spec §9)

    /// Authorizes one operation before the agent performs it (spec §9.3): `namespace` on
    /// `target` — a path for `.fsRead`/`.fsWrite`, a URL for `.netFetch`, a tool name for
    /// `.toolCall`, an agent for `.agentDelegate`, a model id for `.modelUse`, or a target
    /// of a runtime-defined namespace. Synchronous and cheap (precompiled patterns).
    ///
    /// - Throws: `ARCPError` with `retryable == false`:
    ///   - `LEASE_EXPIRED` at or after `expires_at` (plus the configured grace); the job
    ///     then ends with `job.error LEASE_EXPIRED` (final status `error`) once the agent
    ///     unwinds (its task is cancelled);
    ///   - `BUDGET_EXHAUSTED` when a `cost.budget` counter of the job or of an ancestor is
    ///     at or below zero; with `budgetExhaustionIsFatal` the job ends with it as well;
    ///   - `PERMISSION_DENIED` when no pattern covers `target`.
    ///
    ///   With `toolCallID`, a failure is also reported as a `tool_result` error event for
    ///   that call (spec §9.5, §9.6).
    public func authorize(_ namespace: LeaseNamespace, _ target: String, toolCallID: String? = nil) throws {
        do {
            try job.authority.authorize(namespace, target)
        } catch {
            throw runtime.leaseDenied(job, error, toolCallID: toolCallID)
        }
    }

    /// Whether `authorize(namespace, target)` would succeed now; no side effects.
    public func isAuthorized(_ namespace: LeaseNamespace, _ target: String) -> Bool {
        job.authority.isAuthorized(namespace, target)
    }

    /// Runs one tool call under the lease: authorizes `tool.call` on `tool`, emits
    /// `tool_call`, runs `perform`, and emits its `tool_result` (a result, or the error it
    /// threw). A denied call emits `tool_call` then a `tool_result` error and throws.
    public func callTool(
        _ tool: String, args: JSONValue = [:], _ perform: () async throws -> JSONValue
    ) async throws -> JSONValue {
        let id = await toolCall(tool, args: args)
        try authorize(.toolCall, tool, toolCallID: id)
        do {
            let result = try await perform()
            await toolResult(callID: id, result: result)
            return result
        } catch let e as ARCPError {
            await toolError(callID: id, e)
            throw e
        } catch {
            await toolError(callID: id, ARCPError(.internalError, "tool \(tool) failed: \(type(of: error))", retryable: true))
            throw error
        }
    }

    /// Rotates provisioned credential `id` (spec §9.8.2): the provisioner issues a new
    /// value under the same id, a `status` event `credential_rotated` carries the id and
    /// the new value (observers of other principals get it without the value), and the
    /// prior value is revoked.
    /// - Throws: INVALID_REQUEST for an unknown id or without a provisioner;
    ///   INTERNAL_ERROR (retryable) when the provisioner fails.
    @discardableResult
    public func rotateCredential(_ id: String) async throws -> Credential {
        let fresh = try await runtime.rotateCredential(id, of: job)
        await job.waitForCapacity()
        return fresh
    }

    /// Delegates work to a sub-agent (spec §10): emits a `delegate` event on this job,
    /// derives the child's lease from `leaseRequest` (which must be a subset of this job's
    /// lease, §9.4), and starts the child job, whose `job.accepted` (with `parent_job_id`
    /// and `delegate_id`) goes to this job's session. The child inherits the trace id;
    /// omitted budget currencies and an omitted `expires_at` are inherited from this job
    /// (budgets at their remaining amount). The child's costs count against this job's
    /// budget too. Cancelling or ending this job cancels the child.
    ///
    /// - Throws: `ARCPError`, after a `tool_result` error whose `call_id` is the
    ///   delegate id: PERMISSION_DENIED (no `agent.delegate` grant for `agent`, or too
    ///   deep), LEASE_SUBSET_VIOLATION (the request exceeds this lease, its remaining
    ///   budget or its expiry), AGENT_NOT_AVAILABLE / AGENT_VERSION_NOT_AVAILABLE,
    ///   INVALID_REQUEST (malformed lease), LEASE_EXPIRED, BUDGET_EXHAUSTED.
    public func delegate(
        agent: String, input: JSONValue = [:], leaseRequest: Lease = [:], leaseConstraints: LeaseConstraints? = nil,
        maxRuntime: Duration? = nil
    ) async throws -> DelegatedJob {
        let child = try await runtime.delegate(
            from: job, agent: agent, input: input, leaseRequest: leaseRequest, leaseConstraints: leaseConstraints, maxRuntime: maxRuntime)
        await job.waitForCapacity()
        return child
    }

    // MARK: emitters

    /// Emits any event body. Returns the event's seq in the submitting session (nil if the
    /// job already ended, or the event was refused).
    ///
    /// A `metric` body goes through the same budget accounting as `metric(_:_:unit:dimensions:)`.
    /// A `delegate` body or a `status` `credential_rotated` body is refused (logged): use
    /// `delegate(agent:input:leaseRequest:leaseConstraints:maxRuntime:)` and
    /// `rotateCredential(_:)`, which also act on them.
    @discardableResult
    public func emit(_ body: EventBody) async -> Int? {
        switch body {
        case .metric(let m):
            return await recordMetric(m)
        case .delegate:
            logger.warning("raw delegate event refused; use JobContext.delegate")
            return nil
        case .status(let st) where st.phase == "credential_rotated":
            logger.warning("raw credential_rotated status refused; use JobContext.rotateCredential")
            return nil
        default:
            return await emitRaw(body)
        }
    }

    /// Emits without inspecting the body.
    @discardableResult
    func emitRaw(_ body: EventBody) async -> Int? {
        // A stopped job past its clean-up allowance: refused before anything is built, so an
        // agent that ignores cancellation runs out its loop quickly.
        guard job.acceptsEvents else { return nil }
        let emitted = job.emitNotingPressure(.jobEvent(JobEventPayload(body: body, ts: ARCPTimestamp.string())))
        // The common case: the submitter's queue has room and no report is due, so the checks
        // below (two more locks each, and async calls) are skipped (docs/BENCHMARKS.md, session 12).
        if let emitted, !emitted.pressed { return emitted.seq }
        if job.acknowledges && job.fanOut.ownerShouldReportBackPressure() {
            job.emit(.jobEvent(JobEventPayload(
                body: .status(StatusBody(phase: "back_pressure", message: "the client lags behind its acknowledgements; emitters are throttled")),
                ts: ARCPTimestamp.string())))
        }
        await job.waitForCapacity()
        return emitted?.seq
    }

    /// Emits a `log` event (`level`: `debug`, `info`, `warn`, `error`); suspends while the
    /// client is behind.
    public func log(_ level: String, _ message: String, attributes: JSONValue? = nil) async {
        await emit(.log(LogBody(level: level, message: message, attributes: attributes)))
    }

    /// Emits a `thought` event (the agent's reasoning, for display).
    public func thought(_ text: String) async {
        await emit(.thought(ThoughtBody(text: text)))
    }

    /// Emits `tool_call` and returns its call id.
    @discardableResult
    public func toolCall(_ tool: String, args: JSONValue = [:], callID: String? = nil) async -> String {
        let id = callID ?? ARCPID.make("call")
        await emit(.toolCall(ToolCallBody(tool: tool, args: args, callId: id)))
        return id
    }

    /// Emits the `tool_result` of call `callID` (the id `toolCall` returned).
    public func toolResult(callID: String, result: JSONValue) async {
        await emit(.toolResult(ToolResultBody(callId: callID, result: result)))
    }

    /// Emits a `tool_result` carrying an error payload.
    public func toolError(callID: String, _ error: ARCPError) async {
        await emit(.toolResult(ToolResultBody(callId: callID, error: error.payload.toJSON())))
    }

    /// Emits a `status` event: the agent's current `phase`, with an optional message.
    public func status(_ phase: String, _ message: String? = nil) async {
        await emit(.status(StatusBody(phase: phase, message: message)))
    }

    /// Emits a `metric` event. A `cost.*` metric whose `unit` is a budgeted currency
    /// decrements that `cost.budget` counter by `value`, exactly (as the decimal the
    /// double prints as), here and in every ancestor budgeting the currency (spec §9.6).
    /// After a material decrement (see `LeaseAuthority.Configuration.budgetEmitFraction`),
    /// when the session negotiated `cost.budget`, a `cost.budget.remaining` metric follows.
    ///
    /// Rejected (not emitted, no decrement): a non-finite value, and a negative value on a
    /// `cost.*` metric. The rejection is reported as a `log` event at level `warn` and the
    /// method returns false.
    @discardableResult
    public func metric(_ name: String, _ value: Double, unit: String? = nil, dimensions: JSONValue? = nil) async -> Bool {
        await recordMetric(MetricBody(name: name, value: value, unit: unit, dimensions: dimensions)) != nil
    }

    func recordMetric(_ m: MetricBody) async -> Int? {
        let isCost = m.name.hasPrefix("cost.") && !m.name.hasPrefix("cost.budget.")
        var remaining: (currency: String, value: Decimal)? = nil
        if !m.value.isFinite || (isCost && m.value < 0) {
            let why = m.value.isFinite ? "cost metrics cannot be negative" : "metric values must be finite numbers"
            logger.warning("metric rejected", metadata: ["name": "\(m.name)", "reason": "\(why)"])
            await emitRaw(.log(LogBody(level: "warn", message: "metric \(m.name) rejected: \(why); no budget decrement")))
            return nil
        }
        if isCost, let amount = LeaseDecimal.fromDouble(m.value),
            case .decremented(let currency, let left, let report) = job.authority.recordMetric(name: m.name, value: amount, unit: m.unit),
            report
        {
            remaining = (currency, left)
        }
        let seq = await emitRaw(.metric(m))
        if let remaining, seq != nil, negotiated(.costBudget) {
            await emitRaw(.metric(MetricBody(
                name: "cost.budget.remaining", value: NSDecimalNumber(decimal: remaining.value).doubleValue, unit: remaining.currency)))
        }
        return seq
    }

    /// Emits an `artifact_ref` event pointing at an artifact the agent produced (`byteSize` in
    /// bytes; `sha256` in hex).
    public func artifact(uri: String, contentType: String, byteSize: Int? = nil, sha256: String? = nil) async {
        await emit(.artifactRef(ArtifactRefBody(uri: uri, contentType: contentType, byteSize: byteSize, sha256: sha256)))
    }

    /// Emits `progress` (spec §8.2.1). Not sent when the session did not negotiate `progress`.
    /// - Throws: INVALID_REQUEST when `current` is negative or not finite.
    public func progress(_ current: Double, total: Double? = nil, units: String? = nil, message: String? = nil) async throws {
        guard current.isFinite, current >= 0 else { throw ARCPError.invalidRequest("progress current must be a non-negative number") }
        if let total, !(total.isFinite && total >= 0) { throw ARCPError.invalidRequest("progress total must be a non-negative number") }
        guard negotiated(.progress) else { return }
        await emit(.progress(ProgressBody(current: current, total: total, units: units, message: message)))
    }

    /// Emits a vendor event kind (`x-vendor.*`).
    public func vendor(_ kind: String, _ body: JSONValue) async throws {
        guard kind.hasPrefix("x-vendor.") else { throw ARCPError.invalidRequest("vendor event kinds start with x-vendor.") }
        await emit(.vendor(kind: kind, body: body))
    }

    /// Starts streaming the job's result as `result_chunk` events (spec §8.4).
    public func streamResult() -> ResultStream {
        ResultStream(context: self, chunkSize: runtime.configuration.chunkSizeCap, maxTotal: runtime.configuration.maxStreamedResultBytes)
    }
}
