import Logging

extension ARCPRuntime {
    /// `job.subscribe` (spec §7.6): history (optionally), then live events, through the job's
    /// fan-out; the subscriber has no authority over the job.
    func subscribe(_ req: JobSubscribePayload, session: RuntimeSession, requestID: String) async {
        guard let job = await tables.jobs.job(req.jobId) else {
            session.sendControl(.sessionError(ARCPError.jobNotFound(req.jobId, requestID: requestID).payload))
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
            session.sendControl(.sessionError(ARCPError.jobNotFound(req.jobId, requestID: requestID).payload))
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
        guard let job = await tables.jobs.job(req.jobId), await job.fanOut.unsubscribe(sessionID: session.id) else {
            session.sendControl(.sessionError(ARCPError.jobNotFound(req.jobId, requestID: requestID).payload))
            return
        }
    }

    /// The job's budget counters now (spec §9.6), in the wire form of `job.accepted`.
    func currentBudget(_ job: RuntimeJob) -> Budget? {
        budgetWire(job.authority.budgetRemaining)
    }
}
