extension ARCPRuntime {
    /// `job.cancel` (spec §7.4): only the submitting session may cancel; the job and its
    /// delegated children are stopped, and the agent learns it through task cancellation.
    func cancel(jobID: String, reason: String?, session: RuntimeSession, requestID: String) async {
        // A job of this session still waiting for a slot ends without ever running.
        if let withdrawn = await tables.jobs.withdraw(jobID, sessionID: session.id) {
            endWithdrawn(withdrawn, jobID: jobID, reason: .cancelled(reason), session: session) {
                session.sendControl(.jobCancelled(JobCancelledPayload(jobId: jobID, reason: reason, requestId: requestID)), jobID: jobID, traceID: $0)
            }
            return
        }
        // A job the policy hides is answered exactly as a missing one (issue 10 item 6).
        guard let job = await tables.jobs.job(jobID), observable(job, by: session.principal) else {
            // A job another process of a cluster runs: the same answers as for a job here.
            switch await tables.jobs.cancelElsewhere(
                jobID, sessionID: session.id, reason: reason,
                observable: { owner in self.configuration.observePolicy.allows(observer: session.principal, owner: owner) })
            {
            case .passed(let traceID):
                session.sendControl(.jobCancelled(JobCancelledPayload(jobId: jobID, reason: reason, requestId: requestID)), jobID: jobID, traceID: traceID)
            case .notSubmitter:
                session.sendError(Self.notSubmitter(jobID, requestID: requestID))
            case .ended(let status):
                session.sendError(Self.alreadyEnded(jobID, status: status, requestID: requestID))
            case .notFound:
                session.sendError(ARCPError.jobNotFound(jobID, requestID: requestID))
            }
            return
        }
        guard job.ownerSessionID == session.id else {
            session.sendError(Self.notSubmitter(jobID, requestID: requestID))
            return
        }
        guard !job.isTerminal else {
            session.sendError(Self.alreadyEnded(jobID, status: job.status, requestID: requestID))
            return
        }
        session.sendControl(.jobCancelled(JobCancelledPayload(jobId: jobID, reason: reason, requestId: requestID)), jobID: jobID, traceID: job.traceID)
        job.cancelTree(.cancelled(reason))
    }
}

extension ARCPRuntime {
    /// `job.cancel` from a session that did not submit the job (spec §7.6: no cancel authority).
    static func notSubmitter(_ jobID: String, requestID: String) -> ARCPError {
        ARCPError(.permissionDenied, "only the submitting session may cancel job \(jobID)", requestID: requestID)
    }

    /// `job.cancel` of a job that already ended.
    static func alreadyEnded(_ jobID: String, status: JobStatus, requestID: String) -> ARCPError {
        ARCPError(.invalidRequest, "job \(jobID) already ended", details: ["status": .string(status.rawValue)], requestID: requestID)
    }
}

extension ARCPRuntime {
    /// Ends a job taken out of its queue before it started (`JobTable.withdraw`), for
    /// `reason`: `acknowledge` (given the job's trace id) first, then its terminal frame.
    func endWithdrawn(
        _ withdrawn: WithdrawnJob, jobID: String, reason: StopReason, session: RuntimeSession?, acknowledge: (String) -> Void = { _ in }
    ) {
        switch withdrawn {
        case .local(let job):
            acknowledge(job.traceID)
            job.end(.stopped(reason))
        case .shared(let traceID, let credentials):
            acknowledge(traceID)
            revokeInBackground(credentials, jobID: jobID)
            // No process holds the job: its terminal frame goes to the session from here.
            guard let session else { return }
            let message = JobTerminalFrame.message(
                for: .stopped(reason), context: JobTerminalFrame.Context(compatibility: configuration.compatibility),
                completedAt: ARCPTimestamp.string())
            tables.fanOut.fanOut(jobID: jobID, principal: session.principal, traceID: traceID, ownerSessionID: session.id, owner: session)
                .publishTerminal(message)
        }
    }
}
