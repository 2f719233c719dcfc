import Foundation
import Logging

extension ARCPRuntime {
    /// Lease namespaces the runtime understands (spec §9.2).
    static let reservedNamespaces: Set<String> = ["fs.read", "fs.write", "net.fetch", "tool.call", "agent.delegate", "cost.budget", "model.use"]

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
        // Lease (spec §9).
        let lease = s.leaseRequest ?? [:]
        for (ns, _) in lease where !Self.reservedNamespaces.contains(ns) {
            throw ARCPError.invalidRequest("unknown lease capability namespace: '\(ns)'")
        }
        if lease["cost.budget"] != nil && !session.has(.costBudget) {
            throw ARCPError.invalidRequest("feature 'cost.budget' not negotiated for this session")
        }
        if lease["model.use"] != nil && !session.has(.modelUse) {
            throw ARCPError.invalidRequest("feature 'model.use' not negotiated for this session")
        }
        var expiresAt: Date? = nil
        if let c = s.leaseConstraints, let e = c.expiresAt {
            guard session.has(.leaseExpiresAt) else {
                throw ARCPError.invalidRequest("feature 'lease_expires_at' not negotiated for this session")
            }
            guard ARCPFormat.isTimestamp(e, requireZ: true), let date = ARCPTimestamp.parse(e) else {
                throw ARCPError.invalidRequest("lease_constraints.expires_at must be an RFC 3339 UTC timestamp ending in Z: '\(e)'")
            }
            guard date > Date() else {
                throw ARCPError.invalidRequest("lease_constraints.expires_at must be in the future: '\(e)'")
            }
            expiresAt = date
        }
        let budget = try initialBudget(lease)
        // Idempotency (spec §7.2).
        let fingerprint = s.idempotencyKey.map { _ in Self.fingerprint(s) }
        let idemKey = s.idempotencyKey.map { session.principal + "\u{0}" + $0 }
        if let idemKey, let fingerprint {
            if let existing = registry.withLock({ r in r.idempotency[idemKey].flatMap { r.jobs[$0] } }) {
                guard existing.fingerprint == fingerprint else {
                    throw ARCPError(.duplicateKey, "idempotency key '\(s.idempotencyKey ?? "")' already used with different parameters")
                }
                var accepted = existing.accepted
                accepted.requestId = envelope.id
                if existing.principal != session.principal { accepted.credentials = nil }
                session.sendControl(.jobAccepted(accepted), jobID: existing.id, traceID: existing.traceID)
                if existing.isTerminal {
                    existing.replayTerminal(to: session)
                } else if existing.owner.id != session.id {
                    // Same principal, another session: stream the running job's events here too.
                    session.addSubscription(existing.id)
                    existing.subscribe(session, history: false, fromSeq: 0) { _, _, _ in .jobAccepted(accepted) }
                }
                return
            }
        }
        let jobID = ARCPID.jobID()
        let traceID = envelope.traceId ?? ARCPID.traceID()
        let accepted = JobAcceptedPayload(
            jobId: jobID, agent: resolved, lease: lease, leaseConstraints: s.leaseConstraints, budget: budget,
            acceptedAt: ARCPTimestamp.string(), traceId: traceID, requestId: envelope.id)
        let job = RuntimeJob(
            id: jobID, agent: resolved, principal: session.principal, traceID: traceID, lease: lease,
            leaseConstraints: s.leaseConstraints, parentJobID: nil, idempotencyKey: s.idempotencyKey, fingerprint: fingerprint,
            accepted: accepted, owner: session, historyLimit: configuration.historyLimitPerJob, persister: persister)
        let raced: RuntimeJob? = registry.withLock { r in
            if let idemKey, let other = r.idempotency[idemKey].flatMap({ r.jobs[$0] }) { return other }
            r.jobs[jobID] = job
            r.jobOrder.append(jobID)
            if let idemKey { r.idempotency[idemKey] = jobID }
            return nil
        }
        if raced != nil {
            // A concurrent identical submit won the race; answer like a resubmit.
            return try await submit(s, envelope: envelope, session: session)
        }
        session.sendControl(.jobAccepted(accepted), jobID: jobID, traceID: traceID)
        job.persist()
        start(job, body: body, input: s.input ?? .null, maxRuntime: s.maxRuntimeSec, expiresAt: expiresAt, session: session)
    }

    /// Initial budget counters for `cost.budget` amounts: numbers on the wire (spec), or the
    /// amount strings with `.pythonReference` compatibility.
    func initialBudget(_ lease: Lease) throws -> Budget? {
        guard let amounts = lease["cost.budget"] else { return nil }
        var out: Budget = [:]
        for a in amounts {
            let parts = a.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, ARCPFormat.isAmount(a), let value = Decimal(string: parts[1], locale: Locale(identifier: "en_US_POSIX")) else {
                throw ARCPError.invalidRequest("invalid budget amount: '\(a)' (expected currency:decimal, e.g. USD:5.00)")
            }
            out[parts[0]] = configuration.compatibility == .pythonReference ? .string(a) : .number(NSDecimalNumber(decimal: value).doubleValue)
        }
        return out
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

    func start(_ job: RuntimeJob, body: @escaping AgentBody, input: JSONValue, maxRuntime: Int?, expiresAt: Date?, session: RuntimeSession) {
        let ctx = JobContext(job: job, runtime: self, features: Set(session.features.map(\.rawValue)), expiresAt: expiresAt)
        let task = Task {
            job.markRunning()
            do {
                let output = try await body(input, ctx)
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
        if let expiresAt {
            let delay = max(0, expiresAt.timeIntervalSinceNow)
            job.addWatchdog(Task { [weak self] in
                try? await Task.sleep(for: .seconds(delay))
                guard let self, !Task.isCancelled, !job.isTerminal else { return }
                self.stopWithGrace(job, .leaseExpired)
            })
        }
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
            finishError(job, ARCPError(.cancelled, "parent job cancelled", retryable: false, finalStatus: .cancelled))
        case .timedOut:
            if compat {
                job.finish(.jobResult(JobResultPayload(finalStatus: .timedOut, completedAt: ARCPTimestamp.string())), status: .timedOut)
            } else {
                finishError(job, ARCPError(.timeout, "job exceeded max_runtime_sec", retryable: false, finalStatus: .timedOut))
            }
        case .leaseExpired:
            finishError(job, ARCPError(.leaseExpired, "lease expired", retryable: false, finalStatus: .error))
        case .shutdown:
            finishError(job, ARCPError(.cancelled, "runtime shutting down", retryable: true, finalStatus: .cancelled))
        }
    }
}
