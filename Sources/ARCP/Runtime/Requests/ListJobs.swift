import Foundation

extension ARCPRuntime {
    /// `session.list_jobs` (spec §6.6): the jobs the session's principal may observe, in
    /// submission order, a page at a time behind an opaque cursor.
    func listJobs(_ req: SessionListJobsPayload, session: RuntimeSession, requestID: String) async {
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
        let principal = session.principal
        let policy = configuration.observePolicy
        let (listings, more) = await tables.jobs.page(after: after, limit: limit) { job in
            guard policy.allows(observer: principal, owner: job.principal) else { return false }
            if let statuses, !statuses.contains(job.status.rawValue) { return false }
            if let agentFilter, job.agent != agentFilter, job.agent.split(separator: "@").first.map(String.init) != agentFilter { return false }
            if let createdAfter, job.createdAt <= createdAfter { return false }
            return true
        }
        let page = listings.map { job in
            let created = ARCPTimestamp.string(job.createdAt)
            var summary = JobSummary(
                jobId: job.id, agent: job.agent, status: job.status, lease: job.lease, leaseConstraints: job.leaseConstraints,
                parentJobId: job.parentJobID, createdAt: created, traceId: job.traceID, lastEventSeq: job.lastEventSeq)
            if configuration.compatibility == .pythonReference { summary.submittedAt = created }
            // Credentials follow the submitter only (spec §14).
            if job.principal == principal, !job.credentials.isEmpty { summary.credentials = job.credentials }
            return summary
        }
        let next = more ? page.last.map { Data($0.jobId.utf8).base64EncodedString() } : nil
        session.sendControl(.sessionJobs(SessionJobsPayload(requestId: requestID, jobs: page, nextCursor: next)))
    }
}
