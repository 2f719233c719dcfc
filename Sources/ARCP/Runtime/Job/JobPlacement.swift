import Foundation

// Placement (issue 12): where and when an accepted job runs. A process runs at most
// `Configuration.maxRunningJobs` submitted jobs at once; beyond it an accepted job waits, as
// `pending`, in a queue of at most `maxQueuedJobs`. The `JobTable` decides, atomically with
// its running-job counts (`admit`): run now, wait in this process's queue (`InMemoryJobTable`),
// or be handed to a queue other processes claim from (a cluster's, in PostgreSQL). The
// engine starts what the table says may start (`jobsToStart`, after each job ends), and runs
// what a cluster node claimed (`runQueued`).

/// What starting an accepted job takes, kept while it waits for a slot.
package struct JobStart: Sendable {
    package var body: AgentBody
    package var input: JSONValue
    package var maxRuntime: Duration?
    /// Its agent was registered restartable (`ARCPRuntime.register(_:restartable:)`).
    package var restartable: Bool
    /// Its agent was registered to start immediately
    /// (`ARCPRuntime.register(_:startsImmediately:)`). Honoured only when the job starts
    /// as its `job.submit` is handled; a job that waited for a slot starts on the pool.
    package var immediately: Bool

    package init(body: @escaping AgentBody, input: JSONValue, maxRuntime: Duration?, restartable: Bool = false, immediately: Bool = false) {
        self.body = body
        self.input = input
        self.maxRuntime = maxRuntime
        self.restartable = restartable
        self.immediately = immediately
    }
}

/// A job table's answer to a submitted job (`JobTable.admit`).
package enum Admission: Sendable {
    /// Added; start it now.
    case run
    /// Added, waiting in this process's queue: the table hands it back from `jobsToStart`.
    case waiting
    /// Not added here: the job waits in a queue another process may claim it from (a
    /// cluster's). The runtime sends its `job.accepted`, then calls `announce` (which lets
    /// the other processes know), and keeps nothing of it.
    case handedOff(announce: @Sendable () async -> Void)
    /// Refused by `limit`; nothing added.
    case refused(RuntimeLimit)
}

/// A queued job taken out of its queue before it started (`JobTable.withdraw`).
package enum WithdrawnJob: Sendable {
    /// It waited in this process's queue: the runtime ends it.
    case local(RuntimeJob)
    /// It waited in a shared queue (a cluster's) and its record is ended there; no process
    /// holds it. The runtime delivers its terminal frame to the submitting session and
    /// revokes the credentials provisioned at its acceptance.
    case shared(traceID: String, credentials: [Credential])
}

/// Everything a process needs to run a job another process accepted (or that it accepted
/// itself and queued): the job's identity, its acceptance as sent, and its start. Carried as
/// JSON text (`jsonText`) in a cluster's queue.
package struct QueuedJob: Sendable {
    package var jobID: String
    package var agent: String
    package var principal: String
    package var sessionID: String
    package var traceID: String
    package var createdAt: Date
    package var input: JSONValue
    /// `max_runtime_sec`, as accepted.
    package var maxRuntimeSeconds: Int64?
    /// The `job.accepted` sent (its lease, constraints, budget, credentials).
    package var accepted: JobAcceptedPayload
    package var features: [String]
    package var idempotencyKey: String?
    package var fingerprint: String?
    /// Its agent was registered restartable: a cluster runs it again once if its node is lost.
    package var restartable: Bool

    package func jsonText() -> String {
        var o = JSONObject()
        o.append("job_id", .string(jobID))
        o.append("agent", .string(agent))
        o.append("principal", .string(principal))
        o.append("session_id", .string(sessionID))
        o.append("trace_id", .string(traceID))
        o.append("created_at", .double(createdAt.timeIntervalSinceReferenceDate))
        o.append("input", input)
        o.append("max_runtime_sec", maxRuntimeSeconds.map { .int($0) } ?? .null)
        o.append("accepted", accepted.toJSON())
        o.append("features", .array(features.map { .string($0) }))
        o.append("idempotency_key", idempotencyKey.map { .string($0) } ?? .null)
        o.append("fingerprint", fingerprint.map { .string($0) } ?? .null)
        if restartable { o.append("restartable", .bool(true)) }
        return JSONWriter.string(.object(o))
    }

    /// Reads `jsonText()`'s form; nil when it is not that.
    package init?(jsonText text: String) {
        guard let v = try? JSONParser.parse(text), let jobID = v["job_id"]?.stringValue, let agent = v["agent"]?.stringValue,
            let principal = v["principal"]?.stringValue, let sessionID = v["session_id"]?.stringValue,
            let traceID = v["trace_id"]?.stringValue, let created = v["created_at"]?.doubleValue, created.isFinite,
            let acceptedJSON = v["accepted"], let accepted = try? JobAcceptedPayload(json: acceptedJSON)
        else { return nil }
        self.jobID = jobID
        self.agent = agent
        self.principal = principal
        self.sessionID = sessionID
        self.traceID = traceID
        self.createdAt = Date(timeIntervalSinceReferenceDate: created)
        self.input = v["input"] ?? .null
        self.maxRuntimeSeconds = v["max_runtime_sec"]?.int64Value
        self.accepted = accepted
        self.features = v["features"]?.arrayValue?.compactMap(\.stringValue) ?? []
        self.idempotencyKey = v["idempotency_key"]?.stringValue
        self.fingerprint = v["fingerprint"]?.stringValue
        self.restartable = v["restartable"]?.boolValue ?? false
    }

    package init(_ job: RuntimeJob, start: JobStart) {
        jobID = job.id
        agent = job.agent
        principal = job.principal
        sessionID = job.ownerSessionID
        traceID = job.traceID
        createdAt = job.createdAt
        input = start.input
        // Whole seconds, as the peer sent them (`PeerNumbers` checked them).
        maxRuntimeSeconds = start.maxRuntime.map { $0.components.seconds }
        accepted = job.accepted
        features = job.features.sorted()
        idempotencyKey = job.idempotencyKey
        fingerprint = job.fingerprint
        restartable = start.restartable
    }
}

extension ARCPRuntime {
    /// The retention hook of an accepted job, installed once whether it starts now or waits:
    /// once its end duties ran, whoever ended it, the job table learns it ended (and the
    /// jobs waiting for its slot start).
    @inline(never)
    func armRetention(_ job: RuntimeJob) {
        job.setRetirement { [weak self] in await self?.jobEnded(job) }
    }

    /// Whether `shutdown` began (nothing more is started or claimed).
    package var isShuttingDown: Bool { connections.isShuttingDown }

    /// Whether a draining shutdown (`shutdown(drainingFor:)`) or a shutdown began: no new
    /// connection, submitted job or claim from a cluster's queue is taken (a job already
    /// waiting in this process's own queue still starts while it drains).
    package var refusesNewWork: Bool { connections.refusesNewWork }

    /// Starts the jobs that waited for a slot and now fit (after a job ended). Nothing starts
    /// once the runtime is shutting down (shutdown ends the waiting jobs).
    func startWaitingJobs() async {
        guard !connections.isShuttingDown else { return }
        for (job, start) in await tables.jobs.jobsToStart(limits: runningJobLimits) {
            self.start(job, body: start.body, input: start.input, maxRuntime: start.maxRuntime)
        }
    }

    /// Runs job `queued`, which waited in a shared queue and which this process claimed:
    /// rebuilds it (agent, lease authority, fan-out to its session wherever that is held),
    /// hands it to `insert` (the job table's reserved slot), and starts it. A job that can
    /// no longer run here (its agent is not registered in this process, its lease cannot be
    /// rebuilt) ends at once with `job.error`. Returns the job.
    /// (nil only when not even an empty lease authority can be made, which the log says).
    @discardableResult
    package func runQueued(_ queued: QueuedJob, insert: (RuntimeJob) async -> Void) async -> RuntimeJob? {
        var failure: ARCPError? = nil
        var body: AgentBody? = nil
        do {
            body = try agents.resolve(queued.agent).body
        } catch {
            failure = ARCPError(.internalError, "the node that claimed the queued job cannot run agent \(queued.agent): \(error)", retryable: true)
        }
        var authority: LeaseAuthority? = nil
        do {
            let lease = try ValidatedLease(queued.accepted.lease ?? [:], registry: configuration.namespaceRegistry)
            let expiry = try queued.accepted.leaseConstraints?.expiresAt.map { try LeaseTimestamp(parsing: $0) }
            authority = try makeAuthority(AcceptedLease(lease: lease, constraints: ValidatedLeaseConstraints(expiresAt: expiry)))
        } catch {
            failure = failure ?? ARCPError(.internalError, "the queued job's lease could not be rebuilt: \(error)", retryable: false)
            // An authority that grants nothing: the job ends before anything uses it.
            authority = try? makeAuthority(AcceptedLease(lease: ValidatedLease([:]), constraints: ValidatedLeaseConstraints()))
        }
        guard let authority else {
            logger.error("a claimed queued job could not be rebuilt", metadata: ["job": "\(queued.jobID)"])
            return nil
        }
        // This process's copy only (a cluster node forwards to the node holding the session).
        let owner = tables.sessions.localSession(queued.sessionID)
        let job = RuntimeJob(
            id: queued.jobID, agent: queued.agent, principal: queued.principal, traceID: queued.traceID, lease: queued.accepted.lease ?? [:],
            leaseConstraints: queued.accepted.leaseConstraints, parentJobID: nil, idempotencyKey: queued.idempotencyKey,
            fingerprint: queued.fingerprint, accepted: queued.accepted, features: Set(queued.features),
            fanOut: tables.fanOut.fanOut(
                jobID: queued.jobID, principal: queued.principal, traceID: queued.traceID, ownerSessionID: queued.sessionID, owner: owner),
            policy: jobPolicy, authority: authority, credentials: queued.accepted.credentials ?? [], storeWriter: storeWriter,
            createdAt: queued.createdAt)
        await insert(job)
        installTerminalDuties(job)
        armRetention(job)
        job.persist()
        guard let body, failure == nil else {
            job.end(.failure(failure ?? ARCPError(.internalError, "the queued job cannot run", retryable: true)))
            return job
        }
        // Checked by the accepting process (`PeerNumbers`); clamped again here.
        let maxRuntime = queued.maxRuntimeSeconds.map { Duration.seconds(min(max($0, 0), PeerNumbers.maxDuration.components.seconds)) }
        start(job, body: body, input: queued.input, maxRuntime: maxRuntime)
        return job
    }
}
