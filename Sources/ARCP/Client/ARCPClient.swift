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
public final class ARCPClient: Sendable {
    public struct Options: Sendable {
        public var client = PeerInfo(name: "swift-arcp", version: ARCPVersion.string)
        /// Features requested in `session.hello` (the effective set is the intersection).
        public var features: [Feature] = [
            .heartbeat, .ack, .listJobs, .subscribe, .leaseExpiresAt, .costBudget, .modelUse, .progress, .resultChunk, .agentVersions,
        ]
        /// How long to wait for `session.welcome` and for each request's answer.
        public var requestTimeout: Duration = .seconds(30)
        /// Events buffered per job handle before the read loop waits for the consumer.
        public var eventBuffer = 4096
        /// Largest streamed result the client assembles (bytes).
        public var maxAssembledResult = 256 << 20
        /// Send `session.ack` after this many events (nil: not by count). Only when negotiated.
        public var autoAckEvery: Int? = 1024
        /// Send `session.ack` when this long has passed since the last one and an event
        /// arrives (nil: not by time). Only when negotiated.
        public var autoAckInterval: Duration? = .milliseconds(250)
        /// Acks are never sent closer together than this (spec §6.5: at most every event or
        /// every few hundred milliseconds, whichever is less frequent).
        public var autoAckMinimumSpacing: Duration = .milliseconds(20)
        /// Overrides the runtime's advertised heartbeat interval for client pings (nil: use it).
        public var heartbeatInterval: Duration? = nil
        /// Called for frames the client cannot parse or does not expect; it keeps going.
        public var onDiagnostic: (@Sendable (String) -> Void)? = nil
        /// Supplies the trace id for a `job.submit` whose caller passed none (spec §11, v1.0
        /// §11: clients SHOULD send the active trace id). Called on the submitting task, so
        /// it can read task-local trace context; return a W3C trace-id (32 lowercase hex
        /// characters) or nil. Anything else is ignored (and reported to `onDiagnostic`).
        /// Set it for a trace id only; `traceContextProvider`, when set and returning a
        /// context, is used instead.
        public var traceIDProvider: (@Sendable () -> String?)? = nil
        /// Supplies the full W3C trace context (`traceparent`, `tracestate`) of the submitting
        /// task, for a `job.submit`: its trace-id is sent as `trace_id` (unless the caller
        /// passed one), and the context itself travels beside it in the envelope extension
        /// `x-vendor.opentelemetry.tracecontext` (the Python SDK's form, see
        /// `W3CTraceContext`), so a runtime can make the job's span a child of the caller's
        /// span rather than of a stand-in. With an explicit `traceID:` the context is sent
        /// only when it is in that trace. Called on the submitting task; when it is nil or
        /// returns nil, `traceIDProvider` is asked. `ARCPTracing` sets it with
        /// `propagateTraceContext()`.
        public var traceContextProvider: (@Sendable () -> W3CTraceContext?)? = nil
        public var logger = Logger(label: "arcp.client")
        public init() {}
    }

    /// A request waiting for its answer: a one-slot mailbox registered before the request
    /// is sent, so an answer can never arrive before anyone waits for it.
    struct Pending {
        var type: String
        var mailbox: BoundedAsyncQueue<Envelope>
        /// For job.submit / job.subscribe: whether the handle buffers events.
        var streamEvents = true
        /// When the request fails for want of an answer (`Options.requestTimeout` after it was registered).
        var deadline: ContinuousClock.Instant
        /// For job.subscribe: the job, so frames that precede `job.subscribed` can be held.
        var subscribeJobID: String? = nil
    }

    struct State {
        var transport: (any Transport)? = nil
        var welcome: SessionWelcomePayload? = nil
        var sessionID: String? = nil
        var features: [Feature] = []
        var pending: [String: Pending] = [:]
        var pendingOrder: [String] = []
        var jobs: [String: JobHandle] = [:]
        var lastSeq = 0
        /// The highest `event_seq` handled per job: replayed duplicates are dropped per job
        /// (a subscriber's seqs may restart at 1 on the Python reference, below `lastSeq`).
        var jobSeq: [String: Int] = [:]
        /// Job frames that arrived for a pending job.subscribe before its `job.subscribed`
        /// (the Python reference sends history first), delivered once the handle exists.
        var early: [String: [Envelope]] = [:]
        var earlyCount = 0
        var sinceAck = 0
        var closed = false
        var readTask: Task<Void, Never>? = nil
        var heartbeatTask: Task<Void, Never>? = nil
        var closeError: ARCPError? = nil
        var resumeToken: String? = nil
        var factory: (@Sendable () async throws -> any Transport)? = nil
        var reconnect: ReconnectPolicy? = nil
        var closing = false
        var generation = 0
        var lastReceived = ContinuousClock.now
        var lastSent = ContinuousClock.now
        var resumes = 0
        var lastAckAt = ContinuousClock.now
        var trailingAck = false
        /// Whether the task that times out unanswered requests is running.
        var requestTimerRunning = false
    }

    /// Automatic resume after a transport drop (spec §6.3): reconnect with exponential
    /// backoff, present the resume token and the last processed `event_seq`, drop replayed
    /// duplicates, and carry every `JobHandle` on as if nothing happened.
    public struct ReconnectPolicy: Sendable {
        public var maxAttempts: Int
        public var initialBackoff: Duration
        public var maxBackoff: Duration
        public init(maxAttempts: Int = 10, initialBackoff: Duration = .milliseconds(50), maxBackoff: Duration = .seconds(5)) {
            self.maxAttempts = maxAttempts
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
        }
    }

    public let token: String
    public let options: Options
    let state = Mutex(State())

    public init(token: String, options: Options = Options()) {
        self.token = token
        self.options = options
    }

    /// The session id once connected.
    public var sessionID: String? { state.withLock { $0.sessionID } }
    /// The effective features: requested ∩ offered, in request order.
    public var negotiatedFeatures: [Feature] { state.withLock { $0.features } }
    /// The runtime's welcome.
    public var welcome: SessionWelcomePayload? { state.withLock { $0.welcome } }
    /// The highest event_seq processed.
    public var lastEventSeq: Int { state.withLock { $0.lastSeq } }
    /// How many times the session was resumed after a drop.
    public var resumeCount: Int { state.withLock { $0.resumes } }

    /// Connects through `factory` and, with a `reconnect` policy, resumes the session
    /// automatically whenever the transport drops.
    public func connect(using factory: @escaping @Sendable () async throws -> any Transport, reconnect: ReconnectPolicy? = ReconnectPolicy()) async throws {
        state.withLock { s in
            s.factory = factory
            s.reconnect = reconnect
        }
        try await connect(try await factory())
    }

    // MARK: connect

    /// Performs the handshake (hello → welcome) and starts the read loop.
    /// - Throws: the runtime's `ARCPError` (e.g. UNAUTHENTICATED), or a timeout.
    public func connect(_ transport: any Transport) async throws {
        try await handshake(transport, .sessionHello(hello(resume: nil)))
    }

    /// This client's `session.hello`, resuming a session when `resume` is given.
    func hello(resume: ResumeBlock?) -> SessionHelloPayload {
        SessionHelloPayload(
            client: options.client, auth: Auth(scheme: "bearer", token: token),
            capabilities: HelloCapabilities(encodings: ["json"], features: options.features), resume: resume)
    }

    func handshake(_ transport: any Transport, _ message: Message) async throws {
        let env = Envelope.make(message)
        try await transport.send(FrameCodec.encode(env))
        let reply: String?
        do {
            reply = try await withDeadline(options.requestTimeout) { try await transport.receive() }
        } catch is CancellationError {
            await transport.close()
            throw ARCPError(.internalError, "no session.welcome within \(options.requestTimeout)", retryable: true)
        }
        guard let reply else {
            throw ARCPError(.internalError, "the runtime closed the connection during the handshake", retryable: true)
        }
        let decoded = FrameCodec.decode(reply, validate: false)
        guard case .success(let welcomeEnv) = decoded else {
            await transport.close()
            throw ARCPError(.invalidRequest, "unreadable handshake reply")
        }
        switch welcomeEnv.message {
        case .sessionWelcome(let w):
            let offered = Set((w.capabilities?.features ?? []).map(\.rawValue))
            let effective = options.features.filter { offered.contains($0.rawValue) }
            state.withLock { s in
                s.transport = transport
                s.welcome = w
                s.sessionID = welcomeEnv.sessionId ?? w.sessionId
                s.features = effective
                s.closed = false
                s.resumeToken = w.resumeToken
                s.generation += 1
                s.lastReceived = .now
                s.lastSent = .now
            }
        case .sessionError(let e):
            await transport.close()
            throw ARCPError(e)
        default:
            await transport.close()
            throw ARCPError(.invalidRequest, "expected session.welcome, got \(welcomeEnv.message.type)")
        }
        let generation = state.withLock { $0.generation }
        let task = Task { await self.readLoop(transport, generation: generation) }
        var heartbeat: Task<Void, Never>? = nil
        if case .sessionWelcome(let w) = welcomeEnv.message, let secs = w.heartbeatIntervalSec, secs > 0,
            state.withLock({ $0.features.contains(.heartbeat) })
        {
            let interval = options.heartbeatInterval ?? .seconds(secs)
            heartbeat = Task { await self.heartbeat(transport, generation: generation, interval: interval) }
        }
        let old = state.withLock { s -> Task<Void, Never>? in
            s.readTask = task
            let o = s.heartbeatTask
            s.heartbeatTask = heartbeat
            return o
        }
        old?.cancel()
    }

    /// Client heartbeats (spec §6.4): ping when nothing was sent for an interval; two silent
    /// intervals from the runtime count as a dropped connection.
    func heartbeat(_ transport: any Transport, generation: Int, interval: Duration) async {
        var pinged = false
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval / 4) } catch { return }
            let (current, sinceReceived, sinceSent) = state.withLock { s in
                (s.generation == generation && !s.closed, ContinuousClock.now - s.lastReceived, ContinuousClock.now - s.lastSent)
            }
            guard current else { return }
            if sinceReceived < interval { pinged = false }
            // Loss needs two silent intervals and at least one unanswered ping.
            if sinceReceived >= interval * 2 && pinged {
                diagnostic("no message from the runtime for \(sinceReceived): heartbeat lost")
                await transport.close()
                return
            }
            if sinceSent >= interval || (sinceReceived >= interval && !pinged) {
                _ = try? await send(.sessionPing(SessionPingPayload(nonce: ARCPID.make("p"), sentAt: ARCPTimestamp.string())))
                pinged = true
            }
        }
    }

    /// Called when a connection ends without `close()`: resume if configured, else shut down.
    func connectionLost(_ error: ARCPError, generation: Int) async {
        let (factory, policy, sid, token, stale) = state.withLock { s in
            (s.factory, s.reconnect, s.sessionID, s.resumeToken, s.generation != generation || s.closing || s.closed)
        }
        if stale { return }
        guard let factory, let policy, let sid, let token else {
            shutdown(error)
            return
        }
        // Requests in flight may or may not have been processed: fail them as retryable.
        let pending: [Pending] = state.withLock { s in
            let p = Array(s.pending.values)
            s.pending = [:]
            s.pendingOrder = []
            return p
        }
        for p in pending { p.mailbox.finish(throwing: ARCPError(.heartbeatLost, "connection lost before an answer", retryable: true)) }
        var backoff = policy.initialBackoff
        var lastError = error
        for _ in 0..<max(1, policy.maxAttempts) {
            if state.withLock({ $0.closing }) { return }
            do {
                let transport = try await factory()
                let resume = ResumeBlock(sessionId: sid, resumeToken: token, lastEventSeq: state.withLock { $0.lastSeq })
                try await handshake(transport, .sessionHello(hello(resume: resume)))
                state.withLock { $0.resumes += 1 }
                return
            } catch let e as ARCPError where e.code == .resumeWindowExpired || e.code == .unauthenticated {
                shutdown(e)
                return
            } catch {
                lastError = (error as? ARCPError) ?? ARCPError(.heartbeatLost, "reconnect failed: \(error)", retryable: true)
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, policy.maxBackoff)
            }
        }
        shutdown(lastError)
    }

    // MARK: requests

    func send(_ message: Message, jobID: String? = nil, traceID: String? = nil) async throws -> String {
        let (transport, sid) = state.withLock { ($0.transport, $0.sessionID) }
        guard let transport else { throw ARCPError(.invalidRequest, "not connected") }
        let env = Envelope.make(message, sessionID: sid, jobID: jobID, traceID: traceID)
        try await write(env, to: transport)
        return env.id
    }

    /// Encodes and sends `env`, and notes the send for the heartbeat's idle check.
    /// - Throws: `HEARTBEAT_LOST` (retryable) when the transport fails.
    private func write(_ env: Envelope, to transport: any Transport) async throws {
        do {
            try await transport.send(FrameCodec.encode(env))
        } catch {
            throw ARCPError(.heartbeatLost, "transport closed: \(error)", retryable: true)
        }
        state.withLock { $0.lastSent = .now }
    }

    /// Sends a request and waits for the envelope that answers it.
    func request(
        _ message: Message, jobID: String? = nil, traceID: String? = nil, traceContext: W3CTraceContext? = nil, streamEvents: Bool = true
    ) async throws -> Envelope {
        let (transport, sid) = state.withLock { ($0.transport, $0.sessionID) }
        guard let transport else { throw ARCPError(.invalidRequest, "not connected") }
        var env = Envelope.make(message, sessionID: sid, jobID: jobID, traceID: traceID)
        if let traceContext { env.traceContext = traceContext }
        let mailbox = BoundedAsyncQueue<Envelope>(capacity: 1)
        let deadline = ContinuousClock.now + options.requestTimeout
        let (closed, startTimer): (ARCPError?, Bool) = state.withLock { s in
            if s.closed { return (s.closeError ?? ARCPError(.invalidRequest, "session closed"), false) }
            var pending = Pending(type: message.type, mailbox: mailbox, streamEvents: streamEvents, deadline: deadline)
            if case .jobSubscribe(let sub) = message { pending.subscribeJobID = sub.jobId }
            s.pending[env.id] = pending
            s.pendingOrder.append(env.id)
            if s.requestTimerRunning { return (nil, false) }
            s.requestTimerRunning = true
            return (nil, true)
        }
        if let closed { throw closed }
        if startTimer { startRequestTimer() }
        do {
            try await write(env, to: transport)
        } catch let e as ARCPError {
            failPending(env.id, e)
        }
        // The request timer finishes the mailbox with the timeout error at the deadline.
        let reply: Envelope?
        do {
            reply = try await mailbox.next()
        } catch is CancellationError {
            // The caller was cancelled: the request is abandoned, not timed out.
            failPending(env.id, ARCPError(.cancelled, "\(message.type) abandoned: the waiting task was cancelled", retryable: true))
            throw CancellationError()
        }
        guard let reply else { throw state.withLock { $0.closeError } ?? ARCPError(.invalidRequest, "session closed") }
        return reply
    }

    /// Times out unanswered requests: one task per client that sleeps until the earliest
    /// pending deadline (not a timer and a task group per request, which cost about a tenth
    /// of the client's CPU per echo job over WebSocket), and ends once nothing is pending.
    func startRequestTimer() {
        Task { [weak self] in
            while let next = self?.nextRequestDeadline() {
                try? await Task.sleep(until: next, clock: .continuous)
                self?.expireRequests()
            }
        }
    }

    /// The earliest pending deadline; nil (and the timer marked stopped) when nothing is pending.
    func nextRequestDeadline() -> ContinuousClock.Instant? {
        state.withLock { s in
            guard !s.closed, let first = s.pending.values.min(by: { $0.deadline < $1.deadline }) else {
                s.requestTimerRunning = false
                return nil
            }
            return first.deadline
        }
    }

    /// Fails every pending request whose deadline has passed.
    func expireRequests() {
        let now = ContinuousClock.now
        let expired: [Pending] = state.withLock { s in
            let ids = s.pending.filter { $0.value.deadline <= now }.map(\.key)
            if ids.isEmpty { return [] }
            let gone = Set(ids)
            s.pendingOrder.removeAll { gone.contains($0) }
            return ids.compactMap { s.pending.removeValue(forKey: $0) }
        }
        for p in expired {
            p.mailbox.finish(throwing: ARCPError(.internalError, "no answer to \(p.type) within \(options.requestTimeout)", retryable: true))
        }
    }

    func failPending(_ id: String, _ error: ARCPError) {
        let p = state.withLock { s -> Pending? in
            s.pendingOrder.removeAll { $0 == id }
            return s.pending.removeValue(forKey: id)
        }
        p?.mailbox.finish(throwing: error)
    }

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
        switch reply.message {
        case .jobAccepted(let a):
            // The read loop registered the handle before any of the job's events could arrive.
            guard let handle = state.withLock({ $0.jobs[a.jobId] }) else {
                throw ARCPError(.internalError, "job \(a.jobId) was accepted but its handle is gone", retryable: true)
            }
            return handle
        case .sessionError(let e): throw ARCPError(e)
        default: throw ARCPError(.invalidRequest, "unexpected reply \(reply.message.type) to job.submit")
        }
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

    /// Cancels a job this session submitted; returns once `job.cancelled` arrives.
    public func cancel(jobID: String, reason: String? = nil) async throws {
        let reply = try await request(.jobCancel(JobCancelPayload(reason: reason)), jobID: jobID)
        if case .sessionError(let e) = reply.message { throw ARCPError(e) }
    }

    /// Lists jobs visible to this principal (spec §6.6).
    public func listJobs(filter: ListJobsFilter? = nil, limit: Int? = nil, cursor: String? = nil) async throws -> SessionJobsPayload {
        let reply = try await request(.sessionListJobs(SessionListJobsPayload(filter: filter, limit: limit, cursor: cursor)))
        switch reply.message {
        case .sessionJobs(let j): return j
        case .sessionError(let e): throw ARCPError(e)
        default: throw ARCPError(.invalidRequest, "unexpected reply \(reply.message.type) to session.list_jobs")
        }
    }

    /// Subscribes to a job (spec §7.6). The handle streams its events; it cannot cancel.
    public func subscribe(jobID: String, history: Bool = false, fromEventSeq: Int? = nil) async throws -> JobHandle {
        let reply = try await request(.jobSubscribe(JobSubscribePayload(jobId: jobID, fromEventSeq: fromEventSeq, history: history)))
        switch reply.message {
        case .jobSubscribed:
            guard let handle = state.withLock({ $0.jobs[jobID] }) else {
                throw ARCPError(.internalError, "subscription to \(jobID) has no handle", retryable: true)
            }
            return handle
        case .sessionError(let e): throw ARCPError(e)
        default: throw ARCPError(.invalidRequest, "unexpected reply \(reply.message.type) to job.subscribe")
        }
    }

    /// Stops receiving a subscribed job's events.
    public func unsubscribe(jobID: String) async throws {
        _ = try await send(.jobUnsubscribe(JobUnsubscribePayload(jobId: jobID)))
        let h = state.withLock { s -> JobHandle? in
            s.jobSeq.removeValue(forKey: jobID)
            return s.jobs.removeValue(forKey: jobID)
        }
        h?.complete(.failure(ARCPError(.cancelled, "unsubscribed", retryable: false)))
    }

    /// Acknowledges events through `seq` (spec §6.5).
    public func ack(through seq: Int) async throws {
        _ = try await send(.sessionAck(SessionAckPayload(lastProcessedSeq: seq)))
    }

    /// Sends `session.ping` and returns the round-trip time.
    public func ping() async throws -> Duration {
        let start = ContinuousClock.now
        _ = try await request(.sessionPing(SessionPingPayload(nonce: ARCPID.make("p"), sentAt: ARCPTimestamp.string())))
        return ContinuousClock.now - start
    }

    /// Says goodbye (`session.close`, waiting briefly for `session.closed`) and closes the
    /// transport. Jobs on the runtime keep running.
    public func close() async {
        let transport = state.withLock { s -> (any Transport)? in
            s.closing = true
            return s.transport
        }
        guard let transport else { return }
        if !state.withLock({ $0.closed }) {
            _ = try? await withDeadline(.seconds(2)) { try await self.request(.sessionClose(SessionClosePayload(reason: "client_close"))) }
        }
        shutdown(ARCPError(.invalidRequest, "session closed by the client"))
        await transport.close()
        let (t, hb) = state.withLock { ($0.readTask, $0.heartbeatTask) }
        t?.cancel()
        hb?.cancel()
    }

    func shutdown(_ error: ARCPError) {
        let (pending, jobs): ([Pending], [JobHandle]) = state.withLock { s in
            if s.closed { return ([], []) }
            s.closed = true
            s.closeError = error
            let p = Array(s.pending.values)
            s.pending = [:]
            s.pendingOrder = []
            return (p, Array(s.jobs.values))
        }
        for p in pending { p.mailbox.finish(throwing: error) }
        for j in jobs { j.complete(.failure(error)) }
    }

    // MARK: read loop

    func readLoop(_ transport: any Transport, generation: Int) async {
        while true {
            let frame: String?
            do {
                frame = try await transport.receive()
            } catch {
                await connectionLost(ARCPError(.heartbeatLost, "connection lost: \(error)", retryable: true), generation: generation)
                return
            }
            guard let frame else {
                await connectionLost(ARCPError(.heartbeatLost, "the runtime closed the connection", retryable: true), generation: generation)
                return
            }
            state.withLock { $0.lastReceived = .now }
            await handleFrame(frame, transport: transport)
        }
    }

    func diagnostic(_ text: String) {
        options.logger.warning("\(text)")
        options.onDiagnostic?(text)
    }

    func resolvePending(_ env: Envelope, requestID: String?, types: Set<String>) -> Bool {
        let p: Pending? = state.withLock { s in
            var id = requestID.flatMap { s.pending[$0] != nil ? $0 : nil }
            if id == nil {
                // Peers that omit request ids (the Python reference's session.error) answer in order.
                id = s.pendingOrder.first { types.isEmpty || types.contains(s.pending[$0]?.type ?? "") }
            }
            guard let id else { return nil }
            s.pendingOrder.removeAll { $0 == id }
            guard let p = s.pending.removeValue(forKey: id) else { return nil }
            if let job = p.subscribeJobID, env.message.type != "job.subscribed", let held = s.early.removeValue(forKey: job) {
                // The subscription failed: what the runtime sent ahead of its answer goes nowhere.
                s.earlyCount -= held.count
            }
            // Register job handles here, in the read loop, so no event can beat them.
            switch env.message {
            case .jobAccepted(let a) where s.jobs[a.jobId] == nil:
                s.jobs[a.jobId] = JobHandle(
                    jobID: a.jobId, accepted: a, subscribed: nil, client: self, buffer: options.eventBuffer, streamEvents: p.streamEvents)
            case .jobSubscribed(let sub):
                s.jobs[sub.jobId] = JobHandle(
                    jobID: sub.jobId, accepted: nil, subscribed: sub, client: self, buffer: options.eventBuffer, streamEvents: p.streamEvents)
            default: break
            }
            return p
        }
        guard let p else { return false }
        p.mailbox.trySend(env)
        p.mailbox.finish()
        return true
    }

    func handleFrame(_ frame: String, transport: any Transport) async {
        let env: Envelope
        switch FrameCodec.decode(frame, validate: false) {
        case .failure(let e):
            diagnostic("unreadable frame from runtime: \(e.message)")
            return
        case .success(let e):
            env = e
        }
        switch env.message {
        case .jobEvent, .jobResult, .jobError:
            await routeJobFrame(env)
            return
        default: break
        }
        switch env.message {
        case .jobAccepted(let a):
            if a.parentJobId != nil && a.requestId == nil {
                acceptChild(a)
            } else if !resolvePending(env, requestID: a.requestId, types: ["job.submit"]) {
                diagnostic("job.accepted for \(a.jobId) answers no pending submit")
            }
        case .jobCancelled(let c):
            _ = resolvePending(env, requestID: c.requestId, types: ["job.cancel"])
        case .sessionJobs(let j):
            _ = resolvePending(env, requestID: j.requestId, types: ["session.list_jobs"])
        case .jobSubscribed(let s):
            _ = resolvePending(env, requestID: s.requestId, types: ["job.subscribe"])
            let held: [Envelope] = state.withLock { st in
                let held = st.early.removeValue(forKey: s.jobId) ?? []
                st.earlyCount -= held.count
                return held
            }
            for frame in held { await routeJobFrame(frame) }
        case .sessionPong:
            _ = resolvePending(env, requestID: nil, types: ["session.ping"])
        case .sessionClosed:
            _ = resolvePending(env, requestID: nil, types: ["session.close"])
        case .sessionError(let e):
            if e.code == .heartbeatLost {
                // The runtime is closing this connection; the read loop ends and we resume if configured.
                diagnostic("runtime reported HEARTBEAT_LOST: \(e.message)")
            } else if e.code == .unauthenticated {
                shutdown(ARCPError(e))
            } else if !resolvePending(env, requestID: e.requestId, types: []) {
                diagnostic("session.error from runtime: \(e.code.rawValue): \(e.message)")
            }
        case .sessionPing(let p):
            _ = try? await send(.sessionPong(SessionPongPayload(pingNonce: p.nonce, receivedAt: ARCPTimestamp.string())))
        case .sessionBye(let b):
            shutdown(ARCPError(.heartbeatLost, "runtime said goodbye: \(b.reason ?? "")", retryable: true))
        case .unknown(let type, _):
            diagnostic("unknown message type from runtime: \(type)")
        default:
            diagnostic("unexpected \(env.message.type) from runtime")
        }
    }

    /// A delegated job's unsolicited `job.accepted` (spec §10): registers its handle here,
    /// in the read loop, before any of its events can arrive, and hands it to the parent's
    /// handle (`JobHandle.children`).
    func acceptChild(_ a: JobAcceptedPayload) {
        let (child, parent): (JobHandle?, JobHandle?) = state.withLock { s in
            guard s.jobs[a.jobId] == nil else { return (nil, nil) }
            let parent = a.parentJobId.flatMap { s.jobs[$0] }
            let h = JobHandle(
                jobID: a.jobId, accepted: a, subscribed: nil, client: self, buffer: options.eventBuffer,
                streamEvents: parent?.streamEvents ?? true)
            s.jobs[a.jobId] = h
            return (h, parent)
        }
        // Already known: the runtime sends a delegated job's acceptance again on resume.
        guard let child else { return }
        guard let parent else {
            diagnostic("job.accepted for \(a.jobId) names unknown parent job \(a.parentJobId ?? "-"); use job(_:) to find it")
            return
        }
        if !parent.addChild(child) {
            diagnostic("children buffer of job \(parent.jobID) is full; child \(a.jobId) is only listed in childJobs")
        }
    }

    /// The handle of a job this client knows: submitted, subscribed, or delegated by one of
    /// those (spec §10).
    public func job(_ id: String) -> JobHandle? { state.withLock { $0.jobs[id] } }

    func noteSeq(_ seq: Int?) async {
        guard let seq else { return }
        enum AckPlan { case none, now(Int), later(Duration) }
        let plan: AckPlan = state.withLock { s in
            if seq > s.lastSeq { s.lastSeq = seq }
            s.sinceAck += 1
            guard s.features.contains(.ack) else { return .none }
            let sinceLast = ContinuousClock.now - s.lastAckAt
            let byCount = options.autoAckEvery.map { s.sinceAck >= $0 } ?? false
            let byTime = options.autoAckInterval.map { sinceLast >= $0 } ?? false
            guard byCount || byTime else { return .none }
            if sinceLast < options.autoAckMinimumSpacing {
                // Too soon: one trailing ack covers everything that arrives meanwhile.
                if s.trailingAck { return .none }
                s.trailingAck = true
                return .later(options.autoAckMinimumSpacing - sinceLast)
            }
            s.sinceAck = 0
            s.lastAckAt = .now
            return .now(s.lastSeq)
        }
        switch plan {
        case .none: break
        case .now(let through): try? await ack(through: through)
        case .later(let delay):
            Task {
                try? await Task.sleep(for: delay)
                let through: Int? = self.state.withLock { s in
                    s.trailingAck = false
                    guard !s.closed, s.sinceAck > 0 else { return nil }
                    s.sinceAck = 0
                    s.lastAckAt = .now
                    return s.lastSeq
                }
                if let through { try? await self.ack(through: through) }
            }
        }
    }

    /// Most job frames held for subscriptions that have not been answered yet.
    static let maxEarlyFrames = 65_536

    /// A job.event, job.result or job.error: held when it precedes the `job.subscribed` of a
    /// pending subscription, dropped when its job already had that `event_seq` (a replay
    /// after resume), otherwise delivered to the job's handle.
    func routeJobFrame(_ env: Envelope) async {
        enum Route { case deliver(JobHandle?), duplicate, held, overflow }
        // One look at the state decides, and finds the job's handle.
        let route: Route = state.withLock { s in
            guard let job = env.jobId else { return .deliver(nil) }
            let handle = s.jobs[job]
            if handle == nil, s.pending.values.contains(where: { $0.subscribeJobID == job }) {
                guard s.earlyCount < Self.maxEarlyFrames else { return .overflow }
                s.early[job, default: []].append(env)
                s.earlyCount += 1
                return .held
            }
            guard let seq = env.eventSeq else { return .deliver(handle) }
            if seq <= s.jobSeq[job] ?? 0 { return .duplicate }
            s.jobSeq[job] = seq
            return .deliver(handle)
        }
        let handle: JobHandle
        switch route {
        case .held, .duplicate:
            return
        case .overflow:
            diagnostic("more than \(Self.maxEarlyFrames) frames arrived ahead of job.subscribed; \(env.message.type) seq \(env.eventSeq ?? 0) of \(env.jobId ?? "-") is not delivered")
            await noteSeq(env.eventSeq)
            return
        case .deliver(nil):
            diagnostic("\(env.message.type) for an unknown job \(env.jobId ?? "-")")
            await noteSeq(env.eventSeq)
            return
        case .deliver(let h?):
            handle = h
        }
        switch env.message {
        case .jobEvent(let p):
            await handle.deliver(JobEvent(seq: env.eventSeq ?? 0, ts: p.ts, body: p.body), maxAssembled: options.maxAssembledResult)
            await noteSeq(env.eventSeq)
        case .jobResult(let r):
            await noteSeq(env.eventSeq)
            handle.completeResult(r)
        case .jobError(let e):
            await noteSeq(env.eventSeq)
            handle.complete(.failure(ARCPError(e)))
        default:
            break
        }
    }
}
