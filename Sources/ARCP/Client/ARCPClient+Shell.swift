import Foundation
import Synchronization

/// The I/O shell: the tasks and sends that carry out what `ClientStateMachine` decides. Each
/// function takes the lock once per input, never across an `await`, and does its I/O after.
extension ARCPClient {
    // MARK: handshake

    /// Says hello on `transport` (generation `generation`) and waits for the welcome; on success
    /// starts the connection's read loop (and its heartbeat). A failure is for the caller to
    /// report to the state machine (`handshakeFailed`): a new session and a resume differ.
    func handshake(_ transport: any Transport, generation: Int, resume: ResumeBlock?) async throws {
        let welcome = try await exchangeHello(transport, resume: resume)
        let now = ContinuousClock.now
        let outcome = state.withLock {
            $0.welcomed(welcome.payload, envelopeSessionID: welcome.sessionID, generation: generation, transport: transport, at: now)
        }
        switch outcome {
        case .abandon:
            await transport.close()
            throw ARCPClientError(.closed, "the client was closed during the handshake")
        case .ready(let g, let heartbeat, _):
            start(transport, generation: g, heartbeat: heartbeat)
        }
    }

    /// The handshake of a new session (not a resume) failed: back to where `connect` started.
    func newSessionFailed(generation: Int, _ error: any Error) {
        _ = state.withLock { $0.connection.handshakeFailed(generation: generation, error) }
    }

    /// hello → welcome on a fresh transport.
    private func exchangeHello(_ transport: any Transport, resume: ResumeBlock?) async throws -> (payload: SessionWelcomePayload, sessionID: String?) {
        do {
            try await transport.send(FrameCodec.encode(Envelope.make(.sessionHello(hello(resume: resume)))))
        } catch {
            await transport.close()
            throw ARCPClientError(.connectionLost, "could not send session.hello", cause: error)
        }
        let reply: String?
        do {
            guard case .received(let r) = try await transport.receive(within: options.requestTimeout) else {
                await transport.close()
                throw ARCPClientError(.timedOut, "no session.welcome within \(options.requestTimeout)")
            }
            reply = r
        } catch let error as ARCPClientError {
            throw error
        } catch {
            await transport.close()
            throw ARCPClientError(.connectionLost, "the connection failed during the handshake", cause: error)
        }
        guard let reply else {
            throw ARCPClientError(.connectionLost, "the runtime closed the connection during the handshake")
        }
        guard case .success(let env) = FrameCodec.decode(reply, validate: false) else {
            await transport.close()
            throw ARCPClientError(.protocolViolation, "unreadable handshake reply")
        }
        switch env.message {
        case .sessionWelcome(let w):
            return (w, env.sessionId)
        case .sessionError(let e):
            await transport.close()
            throw ARCPError(e)
        default:
            await transport.close()
            throw ARCPClientError(.protocolViolation, "expected session.welcome, got \(env.message.type)")
        }
    }

    /// Starts the read loop (where the transport prefers its frames handled) and, when
    /// negotiated, the heartbeat of a connection that just became ready (an entry of the
    /// process's `ARCPClient.deadlines`, not a task).
    private func start(_ transport: any Transport, generation: Int, heartbeat: Bool) {
        // Frames are decoded, routed and answered where the transport delivers them (e.g. the
        // socket's event loop), not after a hop to the cooperative pool.
        let read = Task(executorPreference: transport.preferredExecutor) { await self.readLoop(transport, generation: generation) }
        tasks.withLock { $0 = ConnectionTasks(transport: transport, read: read) }
        // A heartbeat of an earlier connection finds its generation replaced and leaves.
        if heartbeat, let first = heartbeatCheck(generation: generation, at: .now) {
            Self.deadlines.schedule(ClientTimer(.heartbeat, client: self, generation: generation), at: first)
        }
    }

    // MARK: read loop

    func readLoop(_ transport: any Transport, generation: Int) async {
        // Events of a burst (what one read brought) are handed to their job's stream together:
        // its consumer is woken once per burst, not once per event (each wake-up is a thread
        // hand-off; docs/BENCHMARKS.md). Delivered before the loop would wait for the next
        // frame, before any other action, and at most `EventBatch.limit` at a time.
        var batch = EventBatch()
        // The frames already received, taken together (`takeBufferedInbound`): one lock and no
        // async call per frame (docs/BENCHMARKS.md, session 17). Emptied before the loop waits,
        // so handled frames are not kept across a wait.
        var burst: [String] = []
        var next = 0
        while true {
            if next == burst.count {
                burst = transport.takeBufferedInbound(max: Self.burstLimit, maxBytes: Self.burstByteLimit)
                next = 0
            }
            let frame: String
            if next < burst.count {
                frame = burst[next]
                next += 1
            } else {
                if !batch.isEmpty, !transport.hasBufferedInbound { await batch.deliver() }
                let received: String?
                do {
                    received = try await transport.receive()
                } catch {
                    await batch.deliver()
                    await connectionLost(generation: generation, cause: error)
                    return
                }
                guard let received else {
                    await batch.deliver()
                    await connectionLost(generation: generation, cause: nil)
                    return
                }
                frame = received
            }
            switch FrameCodec.decode(frame, validate: false) {
            case .failure(let e):
                diagnostic("unreadable frame from runtime: \(e.message)")
            case .success(let env):
                let step = receive(env, generation: generation)
                // The common case, an event that joins the batch, without an async call: each
                // one allocates the callee's frame on the task (docs/BENCHMARKS.md, session 11).
                if case .deliver(let handle, let event) = step.inbound, step.ack == .none, batch.append(event, for: handle) { continue }
                await perform(step, generation: generation, batch: &batch)
            }
        }
    }

    /// Frames the read loop takes at once, at most (`Transport.takeBufferedInbound`), and
    /// their bytes (one larger frame is taken alone): what is taken has left the transport's
    /// own bounds.
    static let burstLimit = 256
    static let burstByteLimit = 1 << 20

    /// One inbound envelope's transition.
    func receive(_ env: Envelope, generation: Int) -> ClientStateMachine.Step {
        let now = ContinuousClock.now
        return state.withLock { $0.receive(env, generation: generation, at: now, client: self) }
    }

    /// One inbound envelope: one transition, then its actions (`perform(_:generation:batch:)`).
    func handle(_ env: Envelope, generation: Int, batch: inout EventBatch) async {
        await perform(receive(env, generation: generation), generation: generation, batch: &batch)
    }

    /// The actions of one inbound transition: an event for a job's stream is added to `batch`
    /// (delivered first if it holds another job's events or is full), any other action
    /// delivers `batch` before it runs, so every job sees its frames in order.
    ///
    /// What needs no await is done by `performAtOnce`, a synchronous function: this async
    /// function's frame is on the read loop's deepest chain, whose task keeps that memory for
    /// the connection's whole life, and the bindings of every case held in it made it 3.6 KiB
    /// (docs/BENCHMARKS.md, session 16).
    func perform(_ step: ClientStateMachine.Step, generation: Int, batch: inout EventBatch) async {
        if case .deliver(let handle, let event) = step.inbound {
            await batch.add(event, for: handle)
        } else {
            await batch.deliver()
            switch performAtOnce(step.inbound) {
            case .none: break
            case .deliver(let handle, let event): await handle.deliver(event)
            case .pong(let nonce): await pong(nonce)
            case .route(let held): for frame in held { await handle(frame, generation: generation, batch: &batch) }
            }
        }
        await perform(step.ack)
    }

    /// What remains to await of an inbound action once `performAtOnce` did the rest.
    enum FollowUp {
        case none
        case deliver(JobHandle, JobEvent)
        case pong(String)
        /// Frames held for a subscription just answered, to handle in order.
        case route([Envelope])
    }

    /// The part of an inbound action that needs no await (`perform`).
    @inline(never)
    func performAtOnce(_ inbound: ClientStateMachine.Inbound) -> FollowUp {
        switch inbound {
        case .none: return .none
        case .diagnostic(let text): diagnostic(text)
        case .deliver(let handle, let event): return .deliver(handle, event)
        case .finish(let handle, let outcome): handle.complete(outcome)
        case .finishAndAnswer(let handle, let outcome, let answered):
            handle.complete(outcome)
            for c in answered { c.resume() }
        case .answer(let c): c.resume()
        case .answerAndRoute(let c, let held, let replaced):
            replaced?.complete(.failure(ARCPClientError(.cancelled, "replaced by a new subscription to the same job")))
            c.resume()
            return .route(held)
        case .child(let child, let parent):
            if let parent {
                if !parent.addChild(child) {
                    diagnostic("children buffer of job \(parent.jobID) is full; child \(child.jobID) is only listed in childJobs")
                }
            } else {
                diagnostic("job.accepted for \(child.jobID) names unknown parent job \(child.parentJobID ?? "-"); use job(_:) to find it")
            }
        case .pong(let nonce): return .pong(nonce)
        case .shutdown(let teardown): finish(teardown)
        }
        return .none
    }

    /// Answers the runtime's `session.ping`.
    @inline(never)
    func pong(_ nonce: String) async {
        try? await send(.sessionPong(SessionPongPayload(pingNonce: nonce, receivedAt: ARCPTimestamp.string())))
    }

    // MARK: loss and resume

    /// The transport of `generation` ended without `close()`: resume if configured, else end.
    func connectionLost(generation: Int, cause: (any Error)?) async {
        let step = state.withLock { s -> ClientConnectionStateMachine.OnConnectionLost in
            s.connection.connectionLost(generation: generation, cause: cause)
        }
        switch step {
        case .none:
            return
        case .shutdown(let error):
            finish(state.withLock { $0.end(error, requests: error, jobs: error) })
        case .resume(let error):
            // Requests in flight may or may not have been processed: they fail as retryable.
            for c in state.withLock({ $0.failRequestsInFlight(error) }) { c.resume() }
            await resumeSession()
        }
    }

    /// Reconnects with backoff until a resume succeeds, is refused, or the attempts run out.
    private func resumeSession() async {
        while true {
            let attempt = state.withLock { s -> (ClientConnectionStateMachine.OnResumeAttempt, Int) in
                (s.connection.nextResumeAttempt(), s.lastSeq)
            }
            guard case .attempt(let generation, let factory, let sid, let token) = attempt.0 else { return }
            let resume = ResumeBlock(sessionId: sid, resumeToken: token, lastEventSeq: attempt.1)
            let failure: any Error
            do {
                let transport = try await factory()
                try await handshake(transport, generation: generation, resume: resume)
                return
            } catch {
                failure = error
            }
            switch state.withLock({ $0.connection.handshakeFailed(generation: generation, failure) }) {
            case .retry(let backoff):
                try? await Task.sleep(for: backoff)
            case .giveUp(let e):
                giveUp(e)
                return
            case .none, .fail:
                // Closed meanwhile (`.fail` is for new sessions and cannot happen here).
                return
            }
        }
    }

    /// The session could not be resumed: it ends, and what waited on it fails.
    private func giveUp(_ error: any Error) {
        let lost = ARCPClientError(.connectionLost, "the session could not be resumed", cause: error)
        finish(state.withLock { $0.end(lost, requests: lost, jobs: lost) })
    }

    // MARK: sending

    /// Sends a frame that answers nothing and waits for nothing.
    func send(_ message: Message, jobID: String? = nil) async throws {
        let now = ContinuousClock.now
        let out = try state.withLock { try $0.outbound(at: now).get() }
        let env = Envelope.make(message, sessionID: out.sessionID, jobID: jobID)
        do {
            try await out.transport.send(FrameCodec.encode(env))
        } catch {
            throw ARCPClientError(.connectionLost, "could not send \(message.type)", cause: error)
        }
    }

    /// Sends a request and waits for the envelope that answers it (and, for `job.submit` /
    /// `job.subscribe`, the job's handle).
    func request(
        _ message: Message, jobID: String? = nil, traceID: String? = nil, traceContext: W3CTraceContext? = nil, streamEvents: Bool = true,
        allowClosing: Bool = false, timeout: Duration? = nil
    ) async throws -> ClientStateMachine.Reply {
        let id = ARCPID.ulid()
        let now = ContinuousClock.now
        var subscribeJobID: String? = nil
        var echo: String? = nil
        var cancelJobID: String? = nil
        switch message {
        case .jobSubscribe(let sub): subscribeJobID = sub.jobId
        case .sessionPing(let p): echo = p.nonce
        case .jobCancel: cancelJobID = jobID
        default: break
        }
        let registered = state.withLock {
            $0.register(
                id: id, type: message.type, deadline: now + (timeout ?? options.requestTimeout), streamEvents: streamEvents,
                subscribeJobID: subscribeJobID, echo: echo, cancelJobID: cancelJobID, allowClosing: allowClosing, at: now)
        }
        let out = try registered.get()
        if let timer = out.startTimer { startRequestTimer(timer, until: now + (timeout ?? options.requestTimeout)) }
        var env = Envelope(arcp: arcpProtocolVersion, id: id, message: message, sessionId: out.sessionID, traceId: traceID, jobId: jobID)
        if let traceContext { env.traceContext = traceContext }
        do {
            try await out.transport.send(FrameCodec.encode(env))
        } catch {
            // Resolves the request; the wait below returns this at once.
            let c = state.withLock { $0.fail(request: id, ARCPClientError(.connectionLost, "could not send \(message.type)", cause: error)) }
            c?.resume()
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: ClientStateMachine.Waiter) in
                let now = state.withLock { $0.requests.wait(id: id, waiter) }
                if case .resume(let outcome) = now { waiter.resume(with: outcome) }
            }
        } onCancel: {
            // The caller was cancelled: the request is abandoned, not timed out.
            let c = state.withLock {
                $0.fail(request: id, ARCPClientError(.cancelled, "\(message.type) abandoned: the waiting task was cancelled", cause: CancellationError()))
            }
            c?.resume()
        }
    }

    /// Times out unanswered requests: an entry of the process's `ARCPClient.deadlines` that
    /// fires at the earliest pending deadline (``expireRequests(timer:at:)``), not a timer per request.
    func startRequestTimer(_ generation: Int, until first: ContinuousClock.Instant) {
        Self.deadlines.schedule(ClientTimer(.requestTimeouts, client: self, generation: generation), at: first)
    }

    // MARK: acks

    func perform(_ ack: AutoAckStateMachine.Action) async {
        switch ack {
        case .none: break
        case .ack(let through): try? await self.ack(through: through)
        case .scheduleTrailing(let delay):
            Task { [weak self] in
                try? await Task.sleep(for: delay)
                guard let self else { return }
                let now = ContinuousClock.now
                await self.perform(self.state.withLock { $0.trailingAckDue(at: now) })
            }
        }
    }

    // MARK: ending

    /// Fails the requests and completes the job handles a teardown returned.
    func finish(_ teardown: ClientStateMachine.Teardown) {
        for c in teardown.requests { c.resume() }
        for (handle, error) in teardown.jobs { handle.complete(.failure(error)) }
    }
}

extension ClientRequestTable.Completion {
    /// Resumes the waiter, if it is parked (else the outcome waits in the table for it).
    func resume() where Waiter == ClientStateMachine.Waiter, Answer == ClientStateMachine.Reply {
        waiter?.resume(with: outcome)
    }
}

/// Events bound for one job's stream, handed over together (``ARCPClient/readLoop(_:generation:)``).
struct EventBatch {
    /// Events held at most before they are delivered. (64 before session 16: 256 wakes the
    /// stream's consumer a quarter as often in a long stream, docs/BENCHMARKS.md.)
    static let limit = 256
    /// The capacity a new batch starts with at most: a connection idle after a burst holds no
    /// more than this many events' room.
    static let keptCapacity = 64

    private var handle: JobHandle?
    private var events: [JobEvent] = []

    var isEmpty: Bool { events.isEmpty }

    mutating func add(_ event: JobEvent, for handle: JobHandle) async {
        if let current = self.handle, current !== handle || events.count >= Self.limit {
            await deliver()
        }
        self.handle = handle
        events.append(event)
    }

    /// Adds `event` when that needs no delivery first (the batch is empty, or holds fewer
    /// than `limit` events of the same job); false, and nothing added, otherwise.
    mutating func append(_ event: JobEvent, for handle: JobHandle) -> Bool {
        if let current = self.handle, current !== handle || events.count >= Self.limit { return false }
        self.handle = handle
        events.append(event)
        return true
    }

    mutating func deliver() async {
        guard let handle else { return }
        let events = self.events
        self.handle = nil
        // A new buffer (the delivered array keeps the old one), as large as this batch up to
        // `keptCapacity`.
        self.events = []
        self.events.reserveCapacity(Swift.min(events.count, Self.keptCapacity))
        await handle.deliver(contentsOf: events)
    }
}
