extension ARCPRuntime {
    /// `job.cancel` (spec §7.4): only the submitting session may cancel; the job and its
    /// delegated children are stopped, and the agent learns it through task cancellation.
    func cancel(jobID: String, reason: String?, session: RuntimeSession, requestID: String) async {
        // A job the policy hides is answered exactly as a missing one (issue 10 item 6).
        guard let job = await tables.jobs.job(jobID), observable(job, by: session.principal) else {
            session.sendControl(.sessionError(ARCPError.jobNotFound(jobID, requestID: requestID).payload))
            return
        }
        guard job.ownerSessionID == session.id else {
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
        job.cancelTree(.cancelled(reason))
    }
}
