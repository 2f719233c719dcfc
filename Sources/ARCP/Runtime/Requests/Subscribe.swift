import Logging

extension ARCPRuntime {
    /// `job.subscribe` (spec §7.6): history (optionally), then live events, through the job's
    /// fan-out; the subscriber has no authority over the job.
    func subscribe(_ req: JobSubscribePayload, session: RuntimeSession, requestID: String) async {
        guard let job = await tables.jobs.job(req.jobId) else {
            // A job another process of a cluster runs: followed from there (the same rules).
            if await tables.jobs.subscribeElsewhere(
                req.jobId, session: session, history: req.history ?? false, fromSeq: req.fromEventSeq ?? 0, requestID: requestID,
                observable: { owner in self.configuration.observePolicy.allows(observer: session.principal, owner: owner) })
            {
                return
            }
            session.sendError(ARCPError.jobNotFound(req.jobId, requestID: requestID))
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
            // A job the policy hides is answered exactly as a missing one (issue 10 item 6):
            // PERMISSION_DENIED would tell the peer that the job exists.
            session.sendError(ARCPError.jobNotFound(req.jobId, requestID: requestID))
            return
        }
        let history = req.history ?? false
        let from = req.fromEventSeq ?? 0
        let isSubmitter = job.principal == session.principal
        await job.fanOut.subscribe(session, history: history, fromSeq: from) { last, replayed in
            let credentials = isSubmitter ? job.credentials : []
            return .jobSubscribed(JobSubscribedPayload(
                jobId: job.id, currentStatus: job.status, agent: job.agent, lease: job.lease, leaseConstraints: job.leaseConstraints,
                budget: self.currentBudget(job), parentJobId: job.parentJobID, traceId: job.traceID,
                subscribedFrom: history ? from : last, replayed: .bool(replayed), requestId: requestID,
                credentials: credentials.isEmpty ? nil : credentials))
        }
    }

    /// `job.unsubscribe` (spec §7.6).
    func unsubscribe(_ req: JobUnsubscribePayload, session: RuntimeSession, requestID: String) async {
        let local = await tables.jobs.job(req.jobId)
        let removed = if let local { await local.fanOut.unsubscribe(sessionID: session.id) } else { false }
        let elsewhere = removed ? false : await tables.jobs.unsubscribeElsewhere(req.jobId, sessionID: session.id)
        guard removed || elsewhere else {
            session.sendError(ARCPError.jobNotFound(req.jobId, requestID: requestID))
            return
        }
    }

    /// The job's budget counters now (spec §9.6), in the wire form of `job.accepted`.
    func currentBudget(_ job: RuntimeJob) -> Budget? {
        budgetWire(job.authority.budgetRemaining)
    }
}

extension JobTable {
    /// A single process has no other process to follow a job on.
    package func subscribeElsewhere(
        _ id: String, session: RuntimeSession, history: Bool, fromSeq: Int, requestID: String, observable: (String) -> Bool
    ) async -> Bool { false }

    package func unsubscribeElsewhere(_ id: String, sessionID: String) async -> Bool { false }

    package func replayAcceptedElsewhere(_ id: String, principal: String, key: String, session: RuntimeSession, requestID: String) async -> Bool {
        false
    }
}
