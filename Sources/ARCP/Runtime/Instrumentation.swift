import Foundation

/// Observes a runtime's sessions and jobs: the hook a tracer (spec §11, v1.0 §10.3 and §11)
/// or a metrics collector plugs into. Set it as `ARCPRuntime.Configuration.instrumentation`;
/// when it is nil (the default) the runtime makes no call and allocates nothing for it.
///
/// `ARCPTracing.TracingInstrumentation` implements it on swift-distributed-tracing, so
/// `ARCP` itself depends on no tracing package.
///
/// Every method is called synchronously on the runtime's own tasks: keep it cheap and never
/// block. Default implementations do nothing, so an instrumentation implements only what it
/// needs.
public protocol RuntimeInstrumentation: Sendable {
    /// A session changed state: `.opened` and `.resumed` when a connection is attached
    /// (called on the task that serves it, so a task-local context of the host, such as an
    /// HTTP server's request span, is visible), `.detached` / `.closed` when that
    /// connection ends, `.expired` when a detached session's resume window passed.
    func sessionEvent(_ session: InstrumentedSession, _ event: SessionLifecycleEvent)

    /// A job is about to start (once per job: a submitted job right after `job.accepted`, a
    /// delegated one right after its parent's `delegate` event). Return the job's observer,
    /// or nil to leave this job unobserved. `parent` is the observer of the parent job of a
    /// delegated job (nil for a submitted one, or when the parent was not observed).
    func startJob(_ job: InstrumentedJob, parent: (any JobInstrumentation)?) -> (any JobInstrumentation)?

    /// An error frame went out that is not a job's own `job.error` (that one comes to
    /// `JobInstrumentation.ended`): a `session.error` on session `session`, or, with `session`
    /// nil, the refusal of a connection that has no session (a bad or missing hello, a
    /// refused token, a failed resume).
    func errorSent(_ error: ARCPError, session: String?)

    /// A consumer fell behind and the runtime holds a producer back (spec §6.5): `.emitters`
    /// when a job's emitter starts waiting for room in session `session`'s outbound queue
    /// (or, with `ack`, for its acknowledgements), `.reader` when the session's reader stops
    /// reading a peer that sends without reading the answers. Once per wait.
    func backPressure(session: String, _ kind: BackPressureKind)

    /// A connection's writer took `frames` frames (≥ 1) from session `session`'s outbound
    /// queue: the queue's depth at that moment.
    func outboundDrained(session: String, frames: Int)
}

extension RuntimeInstrumentation {
    public func sessionEvent(_ session: InstrumentedSession, _ event: SessionLifecycleEvent) {}
    public func errorSent(_ error: ARCPError, session: String?) {}
    public func backPressure(session: String, _ kind: BackPressureKind) {}
    public func outboundDrained(session: String, frames: Int) {}
}

/// Who waits under back-pressure (see `RuntimeInstrumentation.backPressure`).
public enum BackPressureKind: String, Sendable, Hashable {
    /// A job's emitter, for the session's outbound queue or acknowledgements.
    case emitters
    /// The session's reader, for the session's outbound queue.
    case reader
}

/// One job's observer, returned by `RuntimeInstrumentation.startJob`.
public protocol JobInstrumentation: Sendable {
    /// Runs the job's agent. The runtime calls it once, on the job's task, and the agent
    /// runs inside it: an implementation wraps `agent` (for instance binding a task-local
    /// span context, so spans the agent starts become children of the job's span). It must
    /// call `agent` exactly once, on the same task (no detached or child task, so that
    /// cancelling the job still cancels the agent), and return what it returns or rethrow
    /// what it throws, unchanged.
    func run(_ agent: () async throws -> JSONValue) async throws -> JSONValue

    /// The job emitted `body` (a `job.event`; every kind, including `delegate` and the
    /// `cost.budget.remaining` metric). Called after the event was queued, on the emitting
    /// task. Not called for events refused after the job ended.
    func event(_ body: EventBody)

    /// The job ended: called once, right after its terminal frame (`job.result` or
    /// `job.error`) was queued, from whichever task ended it.
    func ended(_ outcome: InstrumentedJobOutcome)
}

extension JobInstrumentation {
    public func run(_ agent: () async throws -> JSONValue) async throws -> JSONValue { try await agent() }
    public func event(_ body: EventBody) {}
}

/// What happened to a session (see `RuntimeInstrumentation.sessionEvent`).
public enum SessionLifecycleEvent: String, Sendable, Hashable {
    /// A new session was opened by `session.hello`.
    case opened
    /// A connection resumed an existing session (§6.3).
    case resumed
    /// The connection ended without `session.bye`/`session.close`: the session stays
    /// resumable for the resume window.
    case detached
    /// The client ended the session (`session.bye` or `session.close`).
    case closed
    /// A detached session's resume window passed and it was removed.
    case expired
}

/// A session as instrumentation sees it.
public struct InstrumentedSession: Sendable {
    /// The session id (`arcp.session_id`).
    public let id: String
    /// The authenticated principal.
    public let principal: String
    /// The features in effect for the session.
    public let features: [Feature]
    /// The connection the event is about, unique within the runtime: a resumed session gets
    /// a new one, and the `.detached` of a replaced connection can come after the
    /// `.resumed` of its successor. Nil for `.expired`.
    public let connection: UInt64?
}

/// A job as instrumentation sees it when it starts.
public struct InstrumentedJob: Sendable {
    /// The job id (`arcp.job_id`).
    public let id: String
    /// The resolved agent, `name` or `name@version` (`arcp.agent`).
    public let agent: String
    /// The submitting session's id (a delegated job's is its root's).
    public let sessionID: String
    /// The submitting principal.
    public let principal: String
    /// The job's W3C trace-id, 32 lowercase hex characters: the client's, or one the runtime
    /// generated; a delegated job's is its parent's (v1.0 §10.3).
    public let traceID: String
    /// The submitting client's full W3C trace context (`traceparent` with its span id, and
    /// `tracestate`), from `job.submit`'s `x-vendor.opentelemetry.tracecontext` extension
    /// when it was valid and in trace `traceID`: the parent for the job's span. Nil when the
    /// client sent none (only `trace_id`, or nothing) and for a delegated job.
    public let traceContext: W3CTraceContext?
    /// The effective lease (spec §9).
    public let lease: Lease
    /// The effective lease constraints (`expires_at`, possibly inherited).
    public let leaseConstraints: LeaseConstraints?
    /// The budget counters when the job starts, per currency (empty without `cost.budget`).
    public let budget: [String: Decimal]
    /// For a delegated job: its parent's id and the parent's `delegate` event id.
    public let parentJobID: String?
    /// For a delegated job: the id of the parent's `delegate` event.
    public let delegateID: String?
    /// Delegation depth: 0 for a submitted job.
    public let depth: Int
}

/// How a job ended (see `JobInstrumentation.ended`).
public struct InstrumentedJobOutcome: Sendable {
    /// The final status.
    public let status: JobStatus
    /// For `job.error`: the error's code, message and retryability; nil for `job.result`.
    public let error: ARCPError?
    /// The budget counters at the end, per currency (empty without `cost.budget`).
    public let budgetRemaining: [String: Decimal]
}

extension RuntimeJob {
    /// The job as instrumentation sees it.
    var instrumented: InstrumentedJob {
        InstrumentedJob(
            id: id, agent: agent, sessionID: ownerSessionID, principal: principal, traceID: traceID, traceContext: traceContext, lease: lease,
            leaseConstraints: leaseConstraints, budget: authority.budgetRemaining, parentJobID: parentJobID,
            delegateID: delegateID, depth: depth)
    }
}

extension RuntimeSession {
    /// The session as instrumentation sees it, on connection `connection`.
    func instrumented(connection: UInt64?) -> InstrumentedSession {
        InstrumentedSession(id: id, principal: principal, features: features, connection: connection)
    }
}
