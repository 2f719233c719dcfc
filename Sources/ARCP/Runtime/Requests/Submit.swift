import Foundation
import Logging

extension ARCPRuntime {
    /// `job.submit` (spec §7.1–§7.2, §7.5): resolves the agent, validates the lease, answers
    /// an idempotent resubmit from the `IdempotencyIndex`, provisions credentials, accepts
    /// the job into the `JobTable` and starts its agent on the cooperative pool.
    ///
    /// What the steps produce lives in one `SubmitWork` object and its synchronous steps are
    /// `@inline(never)`: this async function's frame is on the deepest chain of frames of the
    /// connection's task, which keeps that memory for its whole life (docs/BENCHMARKS.md,
    /// "Per-session memory"); held inline, the steps' values and temporaries made it 1.8 KiB.
    func submit(_ s: JobSubmitPayload, envelope: Envelope, session: RuntimeSession) async throws {
        let work = try prepareSubmit(s, session: session)
        // Idempotency (spec §7.2): a resubmit is answered with the original job.
        if work.key != nil, try await replayedResubmit(work, envelope: envelope, session: session) { return }
        let grant = try authorize(work, envelope: envelope)
        // Provisioned credentials are issued no later than job.accepted (spec §9.8.2).
        if provisions(for: session.featureSet) { try await provisionCredentials(grant, agent: work.agent, session: session) }
        let accepted = acceptance(work, grant, envelope: envelope)
        if work.key != nil, try await claimKey(work, grant, accepted: accepted, envelope: envelope, session: session) { return }
        let job = makeJob(work, grant, accepted: accepted, session: session)
        switch await tables.jobs.admit(job, limits: runningJobLimits, start: work.start) {
        case .refused(let limit):
            // Refused (issue 10 item 3, placement): undo the claim and the credentials.
            if let key = work.key { await tables.idempotency.release(principal: session.principal, key: key) }
            revokeInBackground(grant.credentials, jobID: grant.jobID)
            throw runningJobsRefusal(limit)
        case .handedOff(let announce):
            // Queued where another process may claim it (a cluster's queue): that process runs
            // it (its end duties included) and its events reach this session from there.
            session.sendControl(.jobAccepted(accepted), jobID: job.id, traceID: job.traceID)
            await announce()
        case .waiting:
            // Accepted and `pending`; it starts when a running job ends (`startWaitingJobs`).
            accept(job, accepted, session: session, start: nil)
        case .run:
            accept(job, accepted, session: session, start: work.start)
        }
    }

    /// Answers a resubmit of a key this principal used with the original job (from the
    /// `IdempotencyIndex`, or after a restart from the runtime store: issue 10 item 9).
    /// False when the key is new.
    @inline(never)
    func replayedResubmit(_ work: SubmitWork, envelope: Envelope, session: RuntimeSession) async throws -> Bool {
        guard let key = work.key, let fingerprint = work.fingerprint else { return false }
        if let holder = await tables.idempotency.holder(principal: session.principal, key: key) {
            try await replayAccepted(holder, fingerprint: fingerprint, envelope: envelope, session: session, key: key)
            return true
        }
        if let store = configuration.store, let record = try await storedIdempotency(store, principal: session.principal, key: key) {
            try await replayStored(record, fingerprint: fingerprint, envelope: envelope, session: session, key: key)
            return true
        }
        return false
    }

    /// Claims the submit's idempotency key for the new job, durably with a store (before
    /// `job.accepted`: a resubmit after a crash gets this job, not a second run). True when a
    /// concurrent identical submit won the race: it was answered like a resubmit.
    @inline(never)
    func claimKey(
        _ work: SubmitWork, _ grant: SubmitGrant, accepted: JobAcceptedPayload, envelope: Envelope, session: RuntimeSession
    ) async throws -> Bool {
        guard let key = work.key, let fingerprint = work.fingerprint else { return false }
        let claim = await tables.idempotency.claim(principal: session.principal, key: key, fingerprint: fingerprint, jobID: grant.jobID)
        if case .held(let holder) = claim {
            revokeInBackground(grant.credentials, jobID: grant.jobID)
            try await replayAccepted(holder, fingerprint: fingerprint, envelope: envelope, session: session, key: key)
            return true
        }
        if let store = configuration.store {
            do {
                try await claimDurably(store, accepted, principal: session.principal, key: key, fingerprint: fingerprint)
            } catch {
                await tables.idempotency.release(principal: session.principal, key: key)
                revokeInBackground(grant.credentials, jobID: grant.jobID)
                throw error
            }
        }
        return false
    }

    /// What `submit`'s checks produce, in one object so that the async function's frame holds
    /// one reference.
    final class SubmitWork {
        let request: JobSubmitPayload
        let agent: String
        let lease: AcceptedLease
        let start: JobStart
        let key: String?
        let fingerprint: String?

        init(request: JobSubmitPayload, agent: String, lease: AcceptedLease, start: JobStart, fingerprint: String?) {
            self.request = request
            self.agent = agent
            self.lease = lease
            self.start = start
            self.key = request.idempotencyKey
            self.fingerprint = fingerprint
        }
    }

    /// A job to be accepted: its lease authority, id, trace and credentials. Used by one
    /// task, one step after another.
    final class SubmitGrant {
        let authority: LeaseAuthority
        let jobID: String
        let traceID: String
        let traceContext: W3CTraceContext?
        var credentials: [Credential] = []

        init(authority: LeaseAuthority, jobID: String, traceID: String, traceContext: W3CTraceContext?) {
            self.authority = authority
            self.jobID = jobID
            self.traceID = traceID
            self.traceContext = traceContext
        }
    }

    /// The checks that need no await: shutting down, agent and version, `max_runtime_sec`,
    /// the lease.
    @inline(never)
    func prepareSubmit(_ s: JobSubmitPayload, session: RuntimeSession) throws -> SubmitWork {
        // Shutting down (draining): no new job here; the client may submit it elsewhere.
        if connections.refusesNewWork { throw shuttingDownRefusal }
        // Agent and version (spec §7.5).
        if s.agent.utf8.contains(UInt8(ascii: "@")) && !session.has(.agentVersions) {
            throw ARCPError.invalidRequest("feature 'agent_versions' not negotiated for this session")
        }
        let agent = try agents.resolve(s.agent)
        // A peer number, checked before anything converts it (issue 10): the schema already
        // caps it at 31 days; the configured ceiling may be lower.
        let maxRuntime = try s.maxRuntimeSec.map {
            try PeerNumbers.duration(seconds: Int64($0), field: "max_runtime_sec", max: configuration.maxJobRuntime)
        }
        // Lease (spec §9): validated, feature-gated, reduced by policy.
        let lease = try acceptLease(s.leaseRequest, constraints: s.leaseConstraints, session: session)
        let start = JobStart(
            body: agent.body, input: s.input ?? .null, maxRuntime: maxRuntime, restartable: agent.restartable,
            immediately: agent.startsImmediately)
        return SubmitWork(request: s, agent: agent.resolved, lease: lease, start: start, fingerprint: s.idempotencyKey.map { _ in Self.fingerprint(s) })
    }

    /// The job's lease authority, id and trace.
    @inline(never)
    func authorize(_ work: SubmitWork, envelope: Envelope) throws -> SubmitGrant {
        let authority = try makeAuthority(work.lease)
        let traceContext = carriedTraceContext(envelope)
        return SubmitGrant(
            authority: authority, jobID: ARCPID.jobID(), traceID: envelope.traceId ?? traceContext?.traceID ?? ARCPID.traceID(),
            traceContext: traceContext)
    }

    @inline(never)
    func provisionCredentials(_ grant: SubmitGrant, agent: String, session: RuntimeSession) async throws {
        let authority = grant.authority
        grant.credentials = try await issueCredentials(
            CredentialJob(jobID: grant.jobID, agent: agent, principal: session.principal, traceID: grant.traceID), lease: authority.lease,
            constraints: authority.constraints, budget: authority.initialBudget)
    }

    /// The `job.accepted` payload.
    @inline(never)
    func acceptance(_ work: SubmitWork, _ grant: SubmitGrant, envelope: Envelope) -> JobAcceptedPayload {
        let authority = grant.authority
        return JobAcceptedPayload(
            jobId: grant.jobID, agent: work.agent, lease: Self.leaseWire(authority.lease, requested: work.request.leaseRequest),
            leaseConstraints: Self.constraintsWire(authority.constraints),
            budget: budgetWire(authority.initialBudget, written: work.request.leaseRequest ?? [:]),
            credentials: grant.credentials.isEmpty ? nil : grant.credentials,
            acceptedAt: ARCPTimestamp.string(), traceId: grant.traceID, requestId: envelope.id)
    }

    @inline(never)
    func makeJob(_ work: SubmitWork, _ grant: SubmitGrant, accepted: JobAcceptedPayload, session: RuntimeSession) -> RuntimeJob {
        RuntimeJob(
            id: grant.jobID, agent: work.agent, principal: session.principal, traceID: grant.traceID, lease: accepted.lease ?? [:],
            leaseConstraints: accepted.leaseConstraints, parentJobID: nil, idempotencyKey: work.key, fingerprint: work.fingerprint,
            accepted: accepted, features: session.featureSet,
            fanOut: tables.fanOut.fanOut(
                jobID: grant.jobID, principal: session.principal, traceID: grant.traceID, ownerSessionID: session.id, owner: session),
            policy: jobPolicy, authority: grant.authority, credentials: grant.credentials, storeWriter: storeWriter,
            traceContext: grant.traceContext)
    }

    /// An admitted job: its end duties and retention, `job.accepted`, persisted; started
    /// now with `start`, or (nil) when a running job ends.
    @inline(never)
    func accept(_ job: RuntimeJob, _ accepted: JobAcceptedPayload, session: RuntimeSession, start: JobStart?) {
        installTerminalDuties(job)
        armRetention(job)
        session.sendControl(.jobAccepted(accepted), jobID: job.id, traceID: job.traceID)
        job.persist()
        if let start { self.start(job, body: start.body, input: start.input, maxRuntime: start.maxRuntime, immediately: start.immediately) }
    }

    /// The W3C trace context a `job.submit` carries in its `x-vendor.opentelemetry.tracecontext`
    /// extension (the Python SDK's form), when it is valid and agrees with `trace_id` (or
    /// `trace_id` is absent). Anything else is ignored with a debug log, never an error: the
    /// extension is optional, and `trace_id` alone still names the trace.
    @inline(never)
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
    func replayAccepted(
        _ holder: IdempotencyClaim.Holder, fingerprint: String, envelope: Envelope, session: RuntimeSession, key: String
    ) async throws {
        guard holder.fingerprint == fingerprint else {
            throw ARCPError(.duplicateKey, "idempotency key '\(key)' already used with different parameters")
        }
        // The holder claimed the key just before adding its job to the table: wait (briefly) for it.
        var found = await tables.jobs.job(holder.jobID)
        var waited = 0
        while found == nil && waited < 1000 {
            await Task.yield()
            waited += 1
            found = await tables.jobs.job(holder.jobID)
        }
        guard let existing = found else {
            // A job another process of a cluster accepted: replayed from there.
            if await tables.jobs.replayAcceptedElsewhere(
                holder.jobID, principal: session.principal, key: key, session: session, requestID: envelope.id)
            {
                return
            }
            throw ARCPError(.internalError, "idempotency key '\(key)' names job \(holder.jobID), which is not available", retryable: true)
        }
        var accepted = existing.accepted
        accepted.requestId = envelope.id
        let current = existing.credentials
        accepted.credentials = existing.principal == session.principal && !current.isEmpty ? current : nil
        if existing.isTerminal {
            session.sendControl(.jobAccepted(accepted), jobID: existing.id, traceID: existing.traceID)
            await existing.fanOut.replayTerminal(to: session)
        } else if existing.ownerSessionID != session.id {
            // Same principal, another session: stream the running job's events here too. The
            // acceptance is sent once, under the fan-out's lock, so no event can precede it (and
            // a job that ends meanwhile still delivers its outcome).
            await existing.fanOut.subscribe(session, history: false, fromSeq: 0) { _, _ in .jobAccepted(accepted) }
        } else {
            session.sendControl(.jobAccepted(accepted), jobID: existing.id, traceID: existing.traceID)
        }
    }

    /// The key's record in the runtime store, read off the connection's executor.
    func storedIdempotency(_ store: any RuntimeStore, principal: String, key: String) async throws -> IdempotencyRecord? {
        do {
            return try await offConnectionExecutor { try await store.idempotency(principal: principal, key: key) }
        } catch {
            logger.error("idempotency lookup failed", metadata: ["error": "\(error)"])
            throw ARCPError(.internalError, "runtime store unavailable", retryable: true)
        }
    }

    /// Records `(principal, key)` for the job of `accepted` in the runtime store (its
    /// `job.accepted` without credential values), awaited. A key some other job already
    /// holds there (another process won) is `INTERNAL_ERROR`, retryable: the retry replays it.
    func claimDurably(_ store: any RuntimeStore, _ accepted: JobAcceptedPayload, principal: String, key: String, fingerprint: String) async throws {
        var stored = accepted
        stored.credentials = nil
        stored.requestId = nil
        let record = IdempotencyRecord(
            principal: principal, key: key, fingerprint: fingerprint, jobID: accepted.jobId, acceptedPayloadJSON: stored.jsonText(),
            createdAt: Date())
        let winner: IdempotencyRecord
        do {
            winner = try await offConnectionExecutor { try await store.claimIdempotency(record) }
        } catch {
            logger.error("idempotency claim failed", metadata: ["job": "\(accepted.jobId)", "error": "\(error)"])
            throw ARCPError(.internalError, "runtime store unavailable", retryable: true)
        }
        guard winner.jobID == accepted.jobId else {
            throw ARCPError(.internalError, "idempotency key '\(key)' was claimed concurrently; retry", retryable: true)
        }
    }

    /// Answers a resubmit whose key only the runtime store remembers (the runtime restarted
    /// since): the original `job.accepted`, then the job's outcome from the event log, or,
    /// for a job that was still running when the runtime stopped, `job.error INTERNAL_ERROR`
    /// (retryable) saying it was lost, as a resumed session reports it.
    func replayStored(
        _ record: IdempotencyRecord, fingerprint: String, envelope: Envelope, session: RuntimeSession, key: String
    ) async throws {
        guard record.fingerprint == fingerprint else {
            throw ARCPError(.duplicateKey, "idempotency key '\(key)' already used with different parameters")
        }
        if await tables.jobs.job(record.jobID) != nil {
            let holder = IdempotencyClaim.Holder(jobID: record.jobID, fingerprint: record.fingerprint)
            try await replayAccepted(holder, fingerprint: fingerprint, envelope: envelope, session: session, key: key)
            return
        }
        // In a cluster the store is shared: the job may be running on another process.
        if await tables.jobs.replayAcceptedElsewhere(
            record.jobID, principal: session.principal, key: key, session: session, requestID: envelope.id)
        {
            return
        }
        guard let json = try? JSONParser.parse(record.acceptedPayloadJSON), var accepted = try? JobAcceptedPayload(json: json) else {
            throw ARCPError(.internalError, "idempotency key '\(key)' names job \(record.jobID), whose record is unreadable", retryable: false)
        }
        accepted.requestId = envelope.id
        accepted.credentials = nil
        let traceID = accepted.traceId
        session.sendControl(.jobAccepted(accepted), jobID: record.jobID, traceID: traceID)
        let outcome: Message
        switch await storedOutcome(jobID: record.jobID) {
        case .terminal(let m):
            outcome = m
        case .released(let status):
            // Acknowledged (and so released from the event log) before the restart.
            outcome = .jobError(JobErrorPayload(
                code: .internalError,
                message: "job \(record.jobID) ended (\(status.rawValue)) before the runtime restarted; its outcome is no longer stored",
                retryable: false, details: ["final_status": .string(status.rawValue)], finalStatus: .error,
                completedAt: ARCPTimestamp.string()))
        case .lost:
            outcome = .jobError(JobErrorPayload(
                code: .internalError, message: "the runtime restarted while the job was running; the job is lost", retryable: true,
                finalStatus: .error, completedAt: ARCPTimestamp.string()))
        }
        session.sendEvent(outcome, jobID: record.jobID, traceID: traceID)
    }

    enum StoredOutcome {
        /// The job's terminal frame, from the event log.
        case terminal(Message)
        /// The job ended with `status`, but its terminal frame is no longer stored.
        case released(JobRecord.Status)
        /// The job did not end (it was running when the runtime stopped), or is unknown.
        case lost
    }

    /// How stored job `jobID` ended, from its record and the event log.
    func storedOutcome(jobID: String) async -> StoredOutcome {
        guard let store = configuration.store else { return .lost }
        let found = try? await offConnectionExecutor { () async throws -> (JobRecord.Status, Message?)? in
            guard let job = try await store.job(jobID), job.status.isTerminal else { return nil }
            var after: Int64 = 0
            var terminal: Message? = nil
            // Bounded: a job's events in one session, a page at a time.
            for _ in 0..<1000 {
                let page = try await store.events(session: job.sessionID, job: jobID, after: after, limit: 1000)
                guard let last = page.last else { break }
                after = last.seq
                for e in page.reversed() {
                    guard case .success(let env) = FrameCodec.decode(e.frame) else { continue }
                    if case .jobResult = env.message {
                        terminal = env.message
                        break
                    }
                    if case .jobError = env.message {
                        terminal = env.message
                        break
                    }
                }
            }
            return (job.status, terminal)
        }
        guard let (status, terminal) = found ?? nil else { return .lost }
        return terminal.map { .terminal($0) } ?? .released(status)
    }

    /// The parameters two submits must share to be "identical" (spec §7.2).
    @inline(never)
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
}
