import Foundation
import Logging

extension ARCPRuntime {
    func submit(_ s: JobSubmitPayload, envelope: Envelope, session: RuntimeSession) async throws {
        // Agent and version (spec §7.5).
        let parts = s.agent.split(separator: "@", maxSplits: 1).map(String.init)
        let name = parts[0]
        let version = parts.count > 1 ? parts[1] : nil
        if version != nil && !session.has(.agentVersions) {
            throw ARCPError.invalidRequest("feature 'agent_versions' not negotiated for this session")
        }
        guard let registered = registry.withLock({ $0.agents[name] }) else {
            throw ARCPError(.agentNotAvailable, "unknown agent: \(name)")
        }
        guard let (resolvedVersion, body) = registered.resolve(version) else {
            throw ARCPError(.agentVersionNotAvailable, "unknown agent version: \(s.agent)")
        }
        let resolved = resolvedVersion.isEmpty ? name : "\(name)@\(resolvedVersion)"
        // Lease (spec §9): validated, feature-gated, reduced by policy.
        let lease = try acceptLease(s.leaseRequest, constraints: s.leaseConstraints, session: session)
        // Idempotency (spec §7.2).
        let fingerprint = s.idempotencyKey.map { _ in Self.fingerprint(s) }
        let idemKey = s.idempotencyKey.map { session.principal + "\u{0}" + $0 }
        if let idemKey, let fingerprint {
            if let existing = registry.withLock({ r in r.idempotency[idemKey].flatMap { r.jobs[$0] } }) {
                try replayAccepted(existing, fingerprint: fingerprint, envelope: envelope, session: session, key: s.idempotencyKey)
                return
            }
        }
        let authority = try makeAuthority(lease)
        let jobID = ARCPID.jobID()
        let traceContext = carriedTraceContext(envelope)
        let traceID = envelope.traceId ?? traceContext?.traceID ?? ARCPID.traceID()
        // Provisioned credentials are issued no later than job.accepted (spec §9.8.2).
        let credentials = provisions(for: session)
            ? try await issueCredentials(
                CredentialJob(jobID: jobID, agent: resolved, principal: session.principal, traceID: traceID), lease: authority.lease,
                constraints: authority.constraints, budget: authority.initialBudget)
            : []
        let accepted = JobAcceptedPayload(
            jobId: jobID, agent: resolved, lease: Self.leaseWire(authority.lease, requested: s.leaseRequest),
            leaseConstraints: Self.constraintsWire(authority.constraints),
            budget: budgetWire(authority.initialBudget, written: s.leaseRequest ?? [:]), credentials: credentials.isEmpty ? nil : credentials,
            acceptedAt: ARCPTimestamp.string(), traceId: traceID, requestId: envelope.id)
        let job = RuntimeJob(
            id: jobID, agent: resolved, principal: session.principal, traceID: traceID, lease: accepted.lease ?? [:],
            leaseConstraints: accepted.leaseConstraints, parentJobID: nil, idempotencyKey: s.idempotencyKey, fingerprint: fingerprint,
            accepted: accepted, owner: session, historyLimit: configuration.historyLimitPerJob, authority: authority,
            credentials: credentials, storeWriter: storeWriter, traceContext: traceContext)
        let raced: RuntimeJob? = registry.withLock { r in
            if let idemKey, let other = r.idempotency[idemKey].flatMap({ r.jobs[$0] }) { return other }
            r.jobs[jobID] = job
            r.jobOrder.append(jobID)
            if let idemKey { r.idempotency[idemKey] = jobID }
            return nil
        }
        if raced != nil {
            // A concurrent identical submit won the race; answer like a resubmit.
            revokeInBackground(credentials, jobID: jobID)
            return try await submit(s, envelope: envelope, session: session)
        }
        installTerminalDuties(job)
        session.sendControl(.jobAccepted(accepted), jobID: jobID, traceID: traceID)
        job.persist()
        start(job, body: body, input: s.input ?? .null, maxRuntime: s.maxRuntimeSec, session: session)
    }

    /// The W3C trace context a `job.submit` carries in its `x-vendor.opentelemetry.tracecontext`
    /// extension (the Python SDK's form), when it is valid and agrees with `trace_id` (or
    /// `trace_id` is absent). Anything else is ignored with a debug log, never an error: the
    /// extension is optional, and `trace_id` alone still names the trace.
    func carriedTraceContext(_ envelope: Envelope) -> W3CTraceContext? {
        switch W3CTraceContext.read(envelope.additionalFields) {
        case .absent:
            return nil
        case .invalid(let why):
            logger.debug("ignoring the trace-context extension", metadata: ["request": "\(envelope.id)", "reason": "\(why)"])
            return nil
        case .valid(let context, let note):
            if let traceID = envelope.traceId, traceID != context.traceID {
                logger.debug(
                    "ignoring the trace-context extension",
                    metadata: ["request": "\(envelope.id)", "reason": "its trace-id \(context.traceID) is not trace_id \(traceID)"])
                return nil
            }
            if let note { logger.debug("trace-context extension: \(note)", metadata: ["request": "\(envelope.id)"]) }
            return context
        }
    }

    /// Answers an idempotent resubmit (spec §7.2) with the original `job.accepted`. Its
    /// credentials are the current ones (after rotations), and only for the submitting
    /// principal (spec §14).
    func replayAccepted(_ existing: RuntimeJob, fingerprint: String, envelope: Envelope, session: RuntimeSession, key: String?) throws {
        guard existing.fingerprint == fingerprint else {
            throw ARCPError(.duplicateKey, "idempotency key '\(key ?? "")' already used with different parameters")
        }
        var accepted = existing.accepted
        accepted.requestId = envelope.id
        let current = existing.credentials
        accepted.credentials = existing.principal == session.principal && !current.isEmpty ? current : nil
        if existing.isTerminal {
            session.sendControl(.jobAccepted(accepted), jobID: existing.id, traceID: existing.traceID)
            existing.replayTerminal(to: session)
        } else if existing.owner.id != session.id {
            // Same principal, another session: stream the running job's events here too. The
            // acceptance is sent once, under the job's lock, so no event can precede it (and a
            // job that ends meanwhile still delivers its outcome).
            session.addSubscription(existing.id)
            existing.subscribe(session, history: false, fromSeq: 0) { _, _, _ in .jobAccepted(accepted) }
        } else {
            session.sendControl(.jobAccepted(accepted), jobID: existing.id, traceID: existing.traceID)
        }
    }

    /// The parameters two submits must share to be "identical" (spec §7.2).
    static func fingerprint(_ s: JobSubmitPayload) -> String {
        var o = JSONObject()
        o.append("agent", .string(s.agent))
        o.append("input", canonical(s.input ?? .null))
        o.append("lease_request", canonical((s.leaseRequest ?? [:]).toJSON()))
        o.append("lease_constraints", canonical(s.leaseConstraints?.toJSON() ?? .null))
        o.append("max_runtime_sec", s.maxRuntimeSec.map { .int(Int64($0)) } ?? .null)
        return JSONWriter.string(.object(o))
    }

    static func canonical(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let o):
            return .object(JSONObject(o.members.filter { !$0.value.isNull }.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: canonical($0.value)) }))
        case .array(let a): return .array(a.map(canonical))
        case .int(let i): return .double(Double(i))
        default: return v
        }
    }

    // MARK: - Running jobs

    func start(_ job: RuntimeJob, body: @escaping AgentBody, input: JSONValue, maxRuntime: Int?, session: RuntimeSession) {
        let ctx = JobContext(job: job, runtime: self, features: session.featureSet)
        var observer: (any JobInstrumentation)? = nil
        if let instrumentation = configuration.instrumentation {
            let parent = job.parentJobID.flatMap { id in registry.withLock { $0.jobs[id] } }?.instrumentation
            observer = instrumentation.startJob(job.instrumented, parent: parent)
            job.instrumentation = observer
        }
        let task = Task { [observer] in
            job.markRunning()
            do {
                let output = if let observer { try await observer.run { try await body(input, ctx) } } else { try await body(input, ctx) }
                if job.resultStreamed || job.isTerminal { return }
                if job.stopReason != nil {
                    self.finishStopped(job)
                } else {
                    job.finish(.jobResult(JobResultPayload(finalStatus: .success, result: output, completedAt: ARCPTimestamp.string())), status: .success)
                }
            } catch {
                if job.stopReason != nil || (error is CancellationError && Task.isCancelled) {
                    self.finishStopped(job)
                } else if let e = error as? ARCPError {
                    self.finishError(job, e)
                } else {
                    self.finishError(job, ARCPError(.internalError, "\(error)", retryable: true))
                }
            }
        }
        job.setTask(task)
        if let maxRuntime {
            let limit = Duration.seconds(maxRuntime)
            job.addWatchdog(Task { [weak self] in
                try? await Task.sleep(for: limit)
                guard let self, !Task.isCancelled, !job.isTerminal else { return }
                self.stopWithGrace(job, .timedOut)
            })
        }
        armExpiryWatchdog(job)
    }

    func stopWithGrace(_ job: RuntimeJob, _ reason: StopReason) {
        cancelTree(job, reason: reason)
    }

    func finishError(_ job: RuntimeJob, _ e: ARCPError) {
        let final = e.finalStatus ?? .error
        job.finish(
            .jobError(JobErrorPayload(
                code: e.code, message: e.message, retryable: e.retryable, details: e.details, finalStatus: final,
                completedAt: ARCPTimestamp.string())),
            status: JobStatus(rawValue: final.rawValue))
    }

    /// Ends a job whose task was stopped, with the frame its stop reason calls for.
    func finishStopped(_ job: RuntimeJob) {
        let compat = configuration.compatibility == .pythonReference
        switch job.stopReason ?? .cancelled(nil) {
        case .cancelled(let reason):
            if compat {
                job.finish(.jobResult(JobResultPayload(finalStatus: .cancelled, completedAt: ARCPTimestamp.string())), status: .cancelled)
            } else {
                finishError(job, ARCPError(.cancelled, reason.map { "cancelled: \($0)" } ?? "job cancelled", retryable: false, finalStatus: .cancelled))
            }
        case .parentCancelled:
            finishError(job, ARCPError(.cancelled, "the parent job was cancelled or ended", retryable: false, finalStatus: .cancelled))
        case .timedOut:
            if compat {
                job.finish(.jobResult(JobResultPayload(finalStatus: .timedOut, completedAt: ARCPTimestamp.string())), status: .timedOut)
            } else {
                finishError(job, ARCPError(.timeout, "job exceeded max_runtime_sec", retryable: false, finalStatus: .timedOut))
            }
        case .leaseExpired:
            let at = job.authority.constraints.expiresAt.map { "the lease expired at \($0.text)" } ?? "the lease expired"
            finishError(job, ARCPError(.leaseExpired, at, retryable: false, finalStatus: .error))
        case .budgetExhausted:
            let currency = job.authority.exhaustedCurrency().map { " for \($0)" } ?? ""
            finishError(job, ARCPError(.budgetExhausted, "cost.budget\(currency) is exhausted", retryable: false, finalStatus: .error))
        case .shutdown:
            finishError(job, ARCPError(.cancelled, "runtime shutting down", retryable: true, finalStatus: .cancelled))
        }
    }
}
