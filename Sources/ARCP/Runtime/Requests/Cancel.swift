extension ARCPRuntime {
    /// `job.cancel` (spec §7.4): only the submitting session may cancel; the job and its
    /// delegated children are stopped, and the agent learns it through task cancellation.
    func cancel(jobID: String, reason: String?, session: RuntimeSession, requestID: String) async {
        guard let job = await tables.jobs.job(jobID), observable(job, by: session.principal) else {
            session.sendControl(.sessionError(ARCPError(.jobNotFound, "unknown job_id: \(jobID)", requestID: requestID).payload))
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
