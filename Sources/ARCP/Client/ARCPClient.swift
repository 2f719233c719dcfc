import Foundation
import Logging
import Synchronization

/// An ARCP client: connects to a runtime over any `Transport`, submits and observes jobs.
/// Safe to use from many tasks at once, with many jobs at once.
///
/// ```swift
/// let client = ARCPClient(token: "tok")
/// try await client.connect(transport)
/// let job = try await client.submit(agent: "echo", input: ["hi": 1])
/// for try await event in job.events { print(event.body) }
/// let outcome = try await job.result()
/// await client.close()
/// ```
///
/// Errors: what the runtime answers with an error is an `ARCPError` (with its wire code); what
/// fails on this side (no connection, a lost connection, a timeout, a cancelled wait, a closed
/// client) is an `ARCPClientError`, with the underlying `cause`.
///
/// Inside, the client is an I/O shell around one `ClientStateMachine` (connection lifecycle,
/// requests in flight, jobs followed, acks), held under one lock that is never held across an
/// `await`: every input is one transition, and the shell carries out what it returns. The read
/// loop handles each frame where it arrives (on the transport's `preferredExecutor`, when it
/// has one) and is the only task that feeds job handles.
public final class ARCPClient: Sendable {
    /// The bearer token sent in `session.hello` (spec §6.1).
    public let token: String
    /// How the client behaves, as given to `init`.
    public let options: Options
    let state: Mutex<ClientStateMachine>
    /// The tasks the shell runs for the current connection, to cancel on close. (Not protocol
    /// state: kept apart from the state machine.)
    let tasks = Mutex(ConnectionTasks())

    struct ConnectionTasks {
        var transport: (any Transport)? = nil
        var read: Task<Void, Never>? = nil
    }

    /// A client that authenticates with `token`; it opens no connection until `connect`.
    public init(token: String, options: Options = Options()) {
        self.token = token
        self.options = options
        self.state = Mutex(ClientStateMachine(settings: .init(options)))
    }

    /// The session id once connected.
    public var sessionID: String? { state.withLock { $0.connection.session?.id } }
    /// The effective features: requested ∩ offered, in request order.
    public var negotiatedFeatures: [Feature] { state.withLock { $0.connection.session?.features ?? [] } }
    /// The runtime's welcome.
    public var welcome: SessionWelcomePayload? { state.withLock { $0.connection.session?.welcome } }
    /// The highest event_seq processed.
    public var lastEventSeq: Int { state.withLock { $0.lastSeq } }
    /// How many times the session was resumed after a drop.
    public var resumeCount: Int { state.withLock { $0.connection.resumes } }

    /// Where this client handles the current connection's frames: the transport's
    /// `preferredExecutor` (for a `WebSocketTransport`, its socket's event loop). Nil before
    /// the first welcome, after `close()`, and for a transport without one.
    ///
    /// Code that does little but await this client can run there too: a reply then resumes it
    /// where the frame was read, with no hand-off to a thread of the cooperative pool (each
    /// costs a thread wake-up on both sides of the hand-off; docs/CLIENT.md, "Running where
    /// the frames arrive"):
    ///
    /// ```swift
    /// try await withTaskExecutorPreference(client.connectionExecutor) {
    ///     for input in inputs {
    ///         let outcome = try await client.submit(agent: "echo", input: input).result()
    ///         print(outcome.result ?? nil)
    ///     }
    /// }
    /// ```
    ///
    /// Keep work that computes for long or blocks out of such a scope: while it runs, this
    /// connection's frames wait, and so do those of every other connection on the same event
    /// loop. After a resume the connection may live elsewhere; a scope entered before it still
    /// works, with the hand-off back.
    public var connectionExecutor: (any TaskExecutor)? { tasks.withLock { $0.transport?.preferredExecutor } }

    // MARK: connect

    /// Connects through `factory` and, with a `reconnect` policy, resumes the session
    /// automatically whenever the transport drops.
    /// - Throws: the runtime's `ARCPError` (e.g. UNAUTHENTICATED), `ARCPClientError` (timed
    ///   out, connection lost during the handshake), or what `factory` throws.
    public func connect(using factory: @escaping @Sendable () async throws -> any Transport, reconnect: ReconnectPolicy? = ReconnectPolicy()) async throws {
        let reconnect = reconnect.map { ClientConnectionStateMachine.Reconnect(factory: factory, policy: $0) }
        let generation = try beginConnect(reconnect)
        do {
            try await handshake(try await factory(), generation: generation, resume: nil)
        } catch {
            newSessionFailed(generation: generation, error)
            throw error
        }
    }

    /// Performs the handshake (hello → welcome) on `transport` and starts the read loop.
    /// - Throws: the runtime's `ARCPError` (e.g. UNAUTHENTICATED), or `ARCPClientError`.
    public func connect(_ transport: any Transport) async throws {
        let generation = try beginConnect(nil)
        do {
            try await handshake(transport, generation: generation, resume: nil)
        } catch {
            newSessionFailed(generation: generation, error)
            throw error
        }
    }

    private func beginConnect(_ reconnect: ClientConnectionStateMachine.Reconnect?) throws -> Int {
        switch state.withLock({ $0.connection.connect(reconnect: reconnect) }) {
        case .handshake(let generation): return generation
        case .reject(let error): throw error
        }
    }

    /// This client's `session.hello`, resuming a session when `resume` is given.
    func hello(resume: ResumeBlock?) -> SessionHelloPayload {
        SessionHelloPayload(
            client: options.client, auth: Auth(scheme: "bearer", token: token),
            capabilities: HelloCapabilities(encodings: ["json"], features: options.features), resume: resume)
    }

    // MARK: requests

    /// Submits a job. With `streamEvents: false` events are not buffered for `events` (use
    /// this when only the result matters).
    public func submit(
        agent: String, input: JSONValue = [:], leaseRequest: Lease? = nil, leaseConstraints: LeaseConstraints? = nil,
        idempotencyKey: String? = nil, maxRuntime: Duration? = nil, traceID: String? = nil, streamEvents: Bool = true
    ) async throws -> JobHandle {
        let payload = JobSubmitPayload(
            agent: agent, input: input, leaseRequest: leaseRequest, leaseConstraints: leaseConstraints,
            idempotencyKey: idempotencyKey, maxRuntimeSec: maxRuntime.map { max(1, Int($0.components.seconds)) })
        let (traceID, traceContext) = activeTrace(explicit: traceID)
        let reply = try await request(.jobSubmit(payload), traceID: traceID, traceContext: traceContext, streamEvents: streamEvents)
        switch reply.envelope.message {
        case .jobAccepted:
            // The read loop registered the handle before any of the job's frames could arrive.
            guard let handle = reply.job else { throw ARCPClientError(.protocolViolation, "job.accepted without a job") }
            return handle
        case .sessionError(let e): throw ARCPError(e)
        default: throw ARCPClientError(.protocolViolation, "unexpected reply \(reply.envelope.message.type) to job.submit")
        }
    }

    /// Submits with an Encodable input.
    public func submit<Input: Encodable>(
        agent: String, input: Input, leaseRequest: Lease? = nil, leaseConstraints: LeaseConstraints? = nil,
        idempotencyKey: String? = nil, maxRuntime: Duration? = nil, traceID: String? = nil, streamEvents: Bool = true
    ) async throws -> JobHandle {
        let json = try JSONParser.parse(JSONEncoder().encode(input))
        return try await submit(
            agent: agent, input: json, leaseRequest: leaseRequest, leaseConstraints: leaseConstraints,
            idempotencyKey: idempotencyKey, maxRuntime: maxRuntime, traceID: traceID, streamEvents: streamEvents)
    }

    /// The `trace_id` and trace-context extension of a `job.submit`: an explicit trace id
    /// wins (the provider's context goes along only when it is in that trace); else the
    /// context `options.traceContextProvider` gives, with its trace id; else
    /// `options.traceIDProvider`'s trace id alone.
    func activeTrace(explicit: String?) -> (traceID: String?, context: W3CTraceContext?) {
        if let provider = options.traceContextProvider, let context = provider() {
            guard let explicit else { return (context.traceID, context) }
            return (explicit, explicit == context.traceID ? context : nil)
        }
        return (explicit ?? activeTraceID(), nil)
    }

    /// The trace id `options.traceIDProvider` gives, if it is a valid W3C trace-id.
    func activeTraceID() -> String? {
        guard let provider = options.traceIDProvider, let id = provider() else { return nil }
        guard ARCPFormat.isTraceID(id) else {
            options.onDiagnostic?("traceIDProvider returned \"\(id)\", not a W3C trace-id; job.submit sent without trace_id")
            return nil
        }
        return id
    }

    /// Cancels a job this session submitted; returns once `job.cancelled` arrives, or, from a
    /// runtime that sends no `job.cancelled` (the Python reference), once the job's terminal
    /// frame does (the job's `result()` says how it ended).
    public func cancel(jobID: String, reason: String? = nil) async throws {
        let reply = try await request(.jobCancel(JobCancelPayload(reason: reason)), jobID: jobID)
        if case .sessionError(let e) = reply.envelope.message { throw ARCPError(e) }
    }

    /// Lists jobs visible to this principal (spec §6.6).
    public func listJobs(filter: ListJobsFilter? = nil, limit: Int? = nil, cursor: String? = nil) async throws -> SessionJobsPayload {
        let reply = try await request(.sessionListJobs(SessionListJobsPayload(filter: filter, limit: limit, cursor: cursor)))
        switch reply.envelope.message {
        case .sessionJobs(let j): return j
        case .sessionError(let e): throw ARCPError(e)
        default: throw ARCPClientError(.protocolViolation, "unexpected reply \(reply.envelope.message.type) to session.list_jobs")
        }
    }

    /// Subscribes to a job (spec §7.6). The handle streams its events; it cannot cancel.
    public func subscribe(jobID: String, history: Bool = false, fromEventSeq: Int? = nil) async throws -> JobHandle {
        let reply = try await request(.jobSubscribe(JobSubscribePayload(jobId: jobID, fromEventSeq: fromEventSeq, history: history)))
        switch reply.envelope.message {
        case .jobSubscribed:
            guard let handle = reply.job else { throw ARCPClientError(.protocolViolation, "job.subscribed without a job") }
            return handle
        case .sessionError(let e): throw ARCPError(e)
        default: throw ARCPClientError(.protocolViolation, "unexpected reply \(reply.envelope.message.type) to job.subscribe")
        }
    }

    /// Stops receiving a subscribed job's events. Its handle ends with
    /// `ARCPClientError.cancelled`.
    public func unsubscribe(jobID: String) async throws {
        try await send(.jobUnsubscribe(JobUnsubscribePayload(jobId: jobID)))
        let h = state.withLock { $0.unsubscribe(jobID) }
        h?.complete(.failure(ARCPClientError(.cancelled, "unsubscribed from job \(jobID)")))
    }

    /// Acknowledges events through `seq` (spec §6.5).
    public func ack(through seq: Int) async throws {
        try await send(.sessionAck(SessionAckPayload(lastProcessedSeq: seq)))
    }

    /// Sends `session.ping` and returns the round-trip time.
    public func ping() async throws -> Duration {
        let start = ContinuousClock.now
        _ = try await request(.sessionPing(SessionPingPayload(nonce: ARCPID.make("p"), sentAt: ARCPTimestamp.string())))
        return ContinuousClock.now - start
    }

    /// The handle of a job this client is following: submitted, subscribed, or delegated by
    /// one of those (spec §10), until it ends. (A finished job's handle stays with whoever holds
    /// it; the client lets go of it so a long-lived client does not grow.)
    public func job(_ id: String) -> JobHandle? { state.withLock { $0.jobs[id] } }

    /// What the client holds right now, for tests and monitoring: jobs followed, requests in
    /// flight, frames held for unanswered subscriptions, finished job ids remembered (bounded).
    package var retained: (jobs: Int, requests: Int, heldFrames: Int) {
        state.withLock { ($0.jobs.count, $0.requests.count, $0.jobs.heldCount) }
    }

    // MARK: close

    /// Says goodbye (`session.close`, waiting briefly for `session.closed`) and closes the
    /// transport. Jobs on the runtime keep running; requests and job handles still waiting
    /// here end with `ARCPClientError.closed`.
    public func close() async {
        let step = state.withLock { $0.connection.close() }
        if case .sayGoodbye = step {
            _ = try? await request(
                .sessionClose(SessionClosePayload(reason: "client_close")), allowClosing: true, timeout: min(options.requestTimeout, .seconds(2)))
        }
        let reason = ARCPClientError(.closed, "the client was closed")
        let teardown = state.withLock { s in
            _ = s.connection.closeFinished(reason)
            return s.end(reason, requests: reason, jobs: reason)
        }
        finish(teardown)
        let t = tasks.withLock { t -> ConnectionTasks in
            defer { t = ConnectionTasks() }
            return t
        }
        await t.transport?.close()
        t.read?.cancel()
    }

    func diagnostic(_ text: String) {
        options.logger.warning("\(text)")
        options.onDiagnostic?(text)
    }
}
