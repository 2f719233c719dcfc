import Foundation

extension ARCPRuntime {
    /// `session.list_jobs` (spec §6.6): the jobs the session's principal may observe, in
    /// submission order, a page at a time behind an opaque cursor.
    func listJobs(_ req: SessionListJobsPayload, session: RuntimeSession, requestID: String) async {
        let limit = min(max(req.limit ?? 100, 1), configuration.maxListLimit)
        var after: JobListingKey? = nil
        if let c = req.cursor {
            // Only a cursor this runtime gave this principal is honoured; any other (forged,
            // another principal's, naming a job that never existed) gets the same answer.
            guard let signed = ListCursor.position(c, principal: session.principal, key: listCursorKey),
                let key = JobListingKey(cursor: signed)
            else {
                session.sendError(ARCPError(.invalidRequest, "invalid cursor", requestID: requestID))
                return
            }
            after = key
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
        let next = more ? listings.last.map { ListCursor.make(after: JobListingKey(createdAt: $0.createdAt, id: $0.id).cursor, principal: principal, key: listCursorKey) } : nil
        session.sendControl(.sessionJobs(SessionJobsPayload(requestId: requestID, jobs: page, nextCursor: next)))
    }

    /// `Configuration.listCursorKey` when it is long enough, else the process's key.
    var listCursorKey: [UInt8] {
        guard let key = configuration.listCursorKey, key.count >= ListCursor.minimumKeyBytes else { return ListCursor.processKey }
        return key
    }
}

/// The opaque `next_cursor` of `session.list_jobs` (issue 10 item 6: no cross-principal
/// signal). A cursor carries the keyset position of a page's last job (`JobListingKey.cursor`:
/// created-at and id, so a listing goes on after that job is dropped) and is bound to the principal it was given
/// to by an HMAC-SHA-256 under the runtime's key (`Configuration.listCursorKey`: shared by a
/// cluster's nodes; by default drawn at random once per process): a peer cannot forge one,
/// nor use another principal's, so a cursor can never probe whether a job id exists. With the
/// process key, cursors do not survive a restart of the runtime (a listing then starts again).
enum ListCursor {
    /// The shortest `Configuration.listCursorKey` used (128 bits).
    static let minimumKeyBytes = 16

    /// The process's cursor key (32 random bytes), used when none is configured.
    static let processKey: [UInt8] = {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
    }()

    /// Bytes of the tag kept in a cursor (128 bits).
    static let tagBytes = 16

    /// The cursor continuing after `position` (a `JobListingKey.cursor`), for `principal`.
    static func make(after position: String, principal: String, key: [UInt8]) -> String {
        var bytes = Array(position.utf8)
        bytes.append(UInt8(ascii: "."))
        bytes += tag(position: position, principal: principal, key: key)
        return Data(bytes).base64EncodedString()
    }

    /// The position `cursor` continues after, when it was made under `key` for `principal`.
    static func position(_ cursor: String, principal: String, key: [UInt8]) -> String? {
        guard cursor.utf8.count <= 512, let data = Data(base64Encoded: cursor), data.count > tagBytes + 1 else { return nil }
        let bytes = Array(data)
        let dot = bytes.count - tagBytes - 1
        guard bytes[dot] == UInt8(ascii: "."), let position = String(bytes: bytes[..<dot], encoding: .utf8) else { return nil }
        let expected = tag(position: position, principal: principal, key: key)
        guard ResumeTokenHasher.constantTimeEquals(Array(bytes[(dot + 1)...]), expected) else { return nil }
        return position
    }

    /// The first `tagBytes` of HMAC-SHA-256(key, principal NUL position).
    static func tag(position: String, principal: String, key: [UInt8]) -> [UInt8] {
        var message = Array(principal.utf8)
        message.append(0)
        message += Array(position.utf8)
        return Array(ResumeTokenHasher.SHA256.hmac(key: key, message: message).prefix(tagBytes))
    }
}
