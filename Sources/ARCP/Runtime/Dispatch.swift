import Foundation
import Logging

extension ARCPRuntime {
    /// Handles one inbound frame of an established session. Returns false when the
    /// connection should end (bye / close).
    func handle(_ frame: String, session: RuntimeSession) async -> Bool {
        let env: Envelope
        switch FrameCodec.decode(frame) {
        case .failure(let e):
            session.sendControl(.sessionError(e.payload))
            return true
        case .success(let e):
            env = e
        }
        func fail(_ e: ARCPError, jobID: String? = nil) {
            var e = e
            e.requestID = e.requestID ?? env.id
            session.sendControl(.sessionError(e.payload), jobID: jobID)
        }
        func need(_ f: Feature) -> Bool {
            if session.has(f) { return true }
            fail(.invalidRequest("feature '\(f.rawValue)' not negotiated for this session"))
            return false
        }
        switch env.message {
        case .sessionHello, .sessionResume:
            fail(.invalidRequest("session.hello already sent on this connection"))
        case .sessionPing(let p):
            session.sendControl(.sessionPong(SessionPongPayload(pingNonce: p.nonce, receivedAt: ARCPTimestamp.string())))
        case .sessionPong:
            break  // liveness is recorded for every frame
        case .sessionAck(let a):
            if need(.ack) { session.acknowledge(through: a.lastProcessedSeq) }
        case .sessionListJobs(let l):
            if need(.listJobs) { listJobs(l, session: session, requestID: env.id) }
        case .sessionBye:
            session.markClosed()
            return false
        case .sessionClose(let c):
            session.markClosed()
            session.sendControl(.sessionClosed(SessionClosedPayload(reason: c.reason)))
            return false
        case .sessionError(let e):
            logger.info("client reported an error", metadata: ["session": "\(session.id)", "code": "\(e.code)", "message": "\(e.message)"])
        case .jobSubmit(let s):
            do {
                try await submit(s, envelope: env, session: session)
            } catch let e as ARCPError {
                fail(e)
            } catch {
                fail(.internalError("\(error)"))
            }
        case .jobCancel(let c):
            guard let jobID = env.jobId ?? c.jobId else {
                fail(.invalidRequest("job.cancel needs a job_id"))
                return true
            }
            cancel(jobID: jobID, reason: c.reason, session: session, requestID: env.id)
        case .jobSubscribe(let s):
            if need(.subscribe) { subscribe(s, session: session, requestID: env.id) }
        case .jobUnsubscribe(let u):
            if need(.subscribe) {
                guard let job = registry.withLock({ $0.jobs[u.jobId] }), job.unsubscribe(session.id) else {
                    fail(.jobNotFound(u.jobId))
                    return true
                }
                session.removeSubscription(u.jobId)
            }
        case .unknown(let type, _):
            fail(.invalidRequest("unknown envelope type: '\(type)'"))
        default:
            fail(.invalidRequest("\(env.message.type) is not a client-to-runtime message"))
        }
        return true
    }

    // MARK: - job.cancel

    func cancel(jobID: String, reason: String?, session: RuntimeSession, requestID: String) {
        guard let job = registry.withLock({ $0.jobs[jobID] }), observable(job, by: session.principal) else {
            session.sendControl(.sessionError(ARCPError(.jobNotFound, "unknown job_id: \(jobID)", requestID: requestID).payload))
            return
        }
        guard job.owner.id == session.id else {
            session.sendControl(.sessionError(ARCPError(
                .permissionDenied, "only the submitting session may cancel job \(jobID)", requestID: requestID).payload))
            return
        }
        guard !job.isTerminal else {
            session.sendControl(.sessionError(ARCPError(
                .invalidRequest, "job \(jobID) already ended", details: ["status": .string(job.status.rawValue)], requestID: requestID).payload))
            return
        }
        session.sendControl(.jobCancelled(JobCancelledPayload(jobId: jobID, reason: reason, requestId: requestID)), jobID: jobID, traceID: job.traceID)
        cancelTree(job, reason: .cancelled(reason))
    }

    /// Cancels a job and, recursively, its delegated children.
    func cancelTree(_ job: RuntimeJob, reason: StopReason) {
        job.stop(reason)
        let grace = configuration.cancelGracePeriod
        // If the agent ignores cancellation, end the job after the grace period anyway.
        let watchdog = Task { [weak self] in
            try? await Task.sleep(for: grace)
            guard let self, !Task.isCancelled, !job.isTerminal else { return }
            self.logger.warning("agent ignored cancellation; ending job", metadata: ["job": "\(job.id)"])
            self.finishStopped(job)
        }
        job.addWatchdog(watchdog)
        for childID in job.children {
            if let child = registry.withLock({ $0.jobs[childID] }), !child.isTerminal { cancelTree(child, reason: .parentCancelled) }
        }
    }

    func observable(_ job: RuntimeJob, by principal: String) -> Bool {
        configuration.observePolicy.allows(observer: principal, owner: job.principal)
    }

    // MARK: - list_jobs (spec §6.6)

    func listJobs(_ req: SessionListJobsPayload, session: RuntimeSession, requestID: String) {
        let limit = min(max(req.limit ?? 100, 1), configuration.maxListLimit)
        var after: String? = nil
        if let c = req.cursor {
            guard let decoded = Data(base64Encoded: c).flatMap({ String(data: $0, encoding: .utf8) }), decoded.hasPrefix("job_") else {
                session.sendControl(.sessionError(ARCPError(.invalidRequest, "invalid cursor", requestID: requestID).payload))
                return
            }
            after = decoded
        }
        let createdAfter = req.filter?.createdAfter.flatMap(ARCPTimestamp.parse)
        let statuses = req.filter?.status.map { Set($0.map(\.rawValue)) }
        let agentFilter = req.filter?.agent
        let all: [RuntimeJob] = registry.withLock { r in r.jobOrder.compactMap { r.jobs[$0] } }
        var started = after == nil
        var page: [JobSummary] = []
        var more = false
        for job in all {
            if !started {
                if job.id == after { started = true }
                continue
            }
            guard observable(job, by: session.principal) else { continue }
            let status = job.status
            if let statuses, !statuses.contains(status.rawValue) { continue }
            if let agentFilter, job.agent != agentFilter, job.agent.split(separator: "@").first.map(String.init) != agentFilter { continue }
            if let createdAfter, job.createdAt <= createdAfter { continue }
            if page.count == limit {
                more = true
                break
            }
            let created = ARCPTimestamp.string(job.createdAt)
            var summary = JobSummary(
                jobId: job.id, agent: job.agent, status: status, lease: job.lease, leaseConstraints: job.leaseConstraints,
                parentJobId: job.parentJobID, createdAt: created, traceId: job.traceID, lastEventSeq: job.lastOwnerSeq)
            if configuration.compatibility == .pythonReference { summary.submittedAt = created }
            // Credentials follow the submitter only (spec §14).
            if job.principal == session.principal, case let creds = job.credentials, !creds.isEmpty { summary.credentials = creds }
            page.append(summary)
        }
        let next = more ? page.last.map { Data($0.jobId.utf8).base64EncodedString() } : nil
        session.sendControl(.sessionJobs(SessionJobsPayload(requestId: requestID, jobs: page, nextCursor: next)))
    }

    // MARK: - subscribe (spec §7.6)

    func subscribe(_ req: JobSubscribePayload, session: RuntimeSession, requestID: String) {
        guard let job = registry.withLock({ $0.jobs[req.jobId] }) else {
            session.sendControl(.sessionError(ARCPError(.jobNotFound, "unknown job_id: \(req.jobId)", requestID: requestID).payload))
            return
        }
        let allowed = observable(job, by: session.principal)
        logger.info(
            "job.subscribe",
            metadata: [
                "subscriber": "\(session.principal)", "job": "\(job.id)", "owner": "\(job.principal)",
                "decision": "\(allowed ? "allow" : "deny")",
            ])
        guard allowed else {
            // Do not reveal whether the job exists beyond what the policy already allows.
            session.sendControl(.sessionError(ARCPError(.permissionDenied, "not permitted to observe job \(req.jobId)", requestID: requestID).payload))
            return
        }
        let history = req.history ?? false
        let from = req.fromEventSeq ?? 0
        let isSubmitter = job.principal == session.principal
        session.addSubscription(job.id)
        job.subscribe(session, history: history, fromSeq: from) { status, last, replayed in
            .jobSubscribed(JobSubscribedPayload(
                jobId: job.id, currentStatus: status, agent: job.agent, lease: job.lease, leaseConstraints: job.leaseConstraints,
                budget: self.currentBudget(job), parentJobId: job.parentJobID, traceId: job.traceID,
                subscribedFrom: history ? from : last, replayed: .bool(replayed), requestId: requestID,
                credentials: isSubmitter && !job.credentials.isEmpty ? job.credentials : nil))
        }
    }

    /// The job's budget counters now (spec §9.6), in the wire form of `job.accepted`.
    func currentBudget(_ job: RuntimeJob) -> Budget? {
        budgetWire(job.authority.budgetRemaining)
    }
}
