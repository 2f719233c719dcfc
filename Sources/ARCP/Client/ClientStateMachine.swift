/// Everything an `ARCPClient` knows, and the protocol rules that connect its parts: the
/// connection lifecycle (`ClientConnectionStateMachine`, with the heartbeat), the requests in
/// flight (`ClientRequestTable`), the jobs followed (`ClientJobTable`), automatic acks
/// (`AutoAckStateMachine`) and the highest `event_seq` processed. Pure: each input (a frame, a
/// request, a tick) is one call that returns what the I/O shell (`ARCPClient`) must do; the
/// shell holds it under one lock and never awaits while holding it.
package struct ClientStateMachine: Sendable {
    package typealias Waiter = CheckedContinuation<Reply, any Error>
    package typealias Requests = ClientRequestTable<Waiter, Reply>

    /// A request's answer: the envelope, and for `job.submit` / `job.subscribe` the job's
    /// handle (registered before any of the job's frames could be routed).
    package struct Reply: Sendable {
        package var envelope: Envelope
        package var job: JobHandle?
    }

    /// What the state machine needs from `ARCPClient.Options`.
    package struct Settings: Sendable {
        package var requestedFeatures: [Feature]
        package var eventBuffer: Int
        package var maxAssembledResult: Int
        package var acks: AutoAckStateMachine.Configuration
        package var heartbeatOverride: Duration?

        package init(_ o: ARCPClient.Options) {
            requestedFeatures = o.features
            eventBuffer = o.eventBuffer
            maxAssembledResult = o.maxAssembledResult
            acks = .init(every: o.autoAckEvery, interval: o.autoAckInterval, minimumSpacing: o.autoAckMinimumSpacing)
            heartbeatOverride = o.heartbeatInterval
        }
    }

    package let settings: Settings
    package var connection = ClientConnectionStateMachine()
    package var requests = Requests()
    package var jobs = ClientJobTable()
    /// Present when `ack` was negotiated.
    package private(set) var acks: AutoAckStateMachine? = nil
    /// The highest `event_seq` processed (sent as `last_event_seq` on resume).
    package private(set) var lastSeq = 0
    /// The task that times out unanswered requests: its generation, and the deadline it sleeps
    /// towards (nil: none runs). A request due earlier than that starts a new timer (the old one
    /// sees it is stale when it wakes, and ends).
    package private(set) var requestTimer: (generation: Int, target: ContinuousClock.Instant)? = nil
    private var requestTimerGeneration = 0

    package init(settings: Settings) {
        self.settings = settings
    }

    // MARK: handshake

    /// The welcome for `generation`'s hello came; `resumed` tells a resume from a new session.
    package mutating func welcomed(
        _ welcome: SessionWelcomePayload, envelopeSessionID: String?, generation: Int, transport: any Transport, at now: ContinuousClock.Instant
    ) -> ClientConnectionStateMachine.OnHandshakeSucceeded {
        let offered = Set((welcome.capabilities?.features ?? []).map(\.rawValue))
        let features = settings.requestedFeatures.filter { offered.contains($0.rawValue) }
        let session = ClientConnectionStateMachine.Session(
            id: envelopeSessionID ?? welcome.sessionId, welcome: welcome, features: features, resumeToken: welcome.resumeToken)
        let advertised = HeartbeatStateMachine<ContinuousClock.Instant>.Configuration.interval(advertisedSeconds: welcome.heartbeatIntervalSec)
        let heartbeat = features.contains(.heartbeat) ? advertised.map { settings.heartbeatOverride ?? $0 } : nil
        let previous = connection.session?.id
        let outcome = connection.handshakeSucceeded(
            generation: generation, transport: transport, session: session, heartbeatInterval: heartbeat, at: now)
        if case .ready(_, _, let resumed) = outcome, !resumed || previous != session.id {
            // A new session: numbering starts afresh.
            lastSeq = 0
            acks = features.contains(.ack) ? AutoAckStateMachine(settings.acks, now: now) : nil
        }
        return outcome
    }

    // MARK: requests

    package struct Outbound: Sendable {
        package var transport: any Transport
        package var sessionID: String?
        /// Start a request timer of this generation (none runs, or it sleeps past this deadline).
        package var startTimer: Int? = nil
    }

    /// Registers request `id` about to be sent (and counts it as sent, for heartbeats).
    package mutating func register(
        id: String, type: String, deadline: ContinuousClock.Instant, streamEvents: Bool, subscribeJobID: String?, echo: String? = nil,
        cancelJobID: String? = nil, allowClosing: Bool = false, at now: ContinuousClock.Instant
    ) -> Result<Outbound, ARCPClientError> {
        switch connection.sendable(allowClosing: allowClosing) {
        case .failure(let e): return .failure(e)
        case .success(let (transport, sid)):
            requests.register(
                id: id,
                .init(
                    type: type, deadline: deadline, timeout: now.duration(to: deadline), streamEvents: streamEvents, subscribeJobID: subscribeJobID,
                    echo: echo, cancelJobID: cancelJobID))
            connection.frameSent(at: now)
            var out = Outbound(transport: transport, sessionID: sid)
            if requestTimer.map({ deadline < $0.target }) ?? true {
                requestTimerGeneration += 1
                requestTimer = (requestTimerGeneration, deadline)
                out.startTimer = requestTimerGeneration
            }
            return .success(out)
        }
    }

    /// A frame that answers nothing is about to be sent (ack, pong, unsubscribe, ping).
    package mutating func outbound(at now: ContinuousClock.Instant) -> Result<Outbound, ARCPClientError> {
        switch connection.sendable() {
        case .failure(let e): return .failure(e)
        case .success(let (transport, sid)):
            connection.frameSent(at: now)
            return .success(Outbound(transport: transport, sessionID: sid))
        }
    }

    /// Ends request `id` without an answer (timed out, cancelled, or its send failed).
    package mutating func fail(request id: String, _ error: any Error) -> Requests.Completion? {
        guard let c = requests.complete(id: id, .failure(error)) else { return nil }
        dropHeld(for: c)
        return c
    }

    /// The request timer of `generation` woke at `now`: times out what is due; returns the next
    /// deadline to sleep towards (nil: nothing pending, or this timer was replaced; it ends).
    package mutating func expireRequests(
        timer generation: Int, at now: ContinuousClock.Instant, _ error: (Requests.Entry) -> any Error
    ) -> (expired: [Requests.Completion], next: ContinuousClock.Instant?) {
        let expired = requests.expire(at: now, error)
        for c in expired { dropHeld(for: c) }
        guard requestTimer?.generation == generation else { return (expired, nil) }
        let next = requests.nextDeadline
        requestTimer = next.map { (generation, $0) }
        return (expired, next)
    }

    /// A subscription that ended without `job.subscribed`: the frames held for it go nowhere.
    private mutating func dropHeld(for c: Requests.Completion) {
        guard let job = c.entry.subscribeJobID else { return }
        if case .success(let reply) = c.outcome, case .jobSubscribed = reply.envelope.message { return }
        _ = jobs.takeHeld(job)
    }

    // MARK: inbound

    /// What the shell does with one inbound frame.
    ///
    /// The rare cases with large payloads (an outcome, a reply, a teardown) are `indirect`: one
    /// `Inbound` per frame is made and moved several times, and at their inline size (385 bytes)
    /// every job event paid for copying them (docs/BENCHMARKS.md, session 17).
    package enum Inbound: Sendable {
        case none
        case diagnostic(String)
        /// Hand `event` to the job's consumer (suspending while its buffer is full).
        case deliver(JobHandle, JobEvent)
        /// The job is over: complete its handle.
        indirect case finish(JobHandle, Result<JobOutcome, any Error>)
        /// The job is over while `job.cancel`s for it were pending without a `job.cancelled`
        /// (the Python reference never sends one): complete its handle, then answer them with
        /// the terminal frame.
        indirect case finishAndAnswer(JobHandle, Result<JobOutcome, any Error>, [Requests.Completion])
        /// A request was answered: resume its waiter (if parked).
        indirect case answer(Requests.Completion)
        /// A subscription was answered: resume its waiter, then route the frames held for it. A
        /// handle it `replaced` (a second subscription to one job) ends as cancelled.
        indirect case answerAndRoute(Requests.Completion, held: [Envelope], replaced: JobHandle?)
        /// A delegated job was accepted: hand it to its parent's `children` (nil: unknown parent).
        case child(JobHandle, parent: JobHandle?)
        /// Answer the runtime's ping.
        case pong(nonce: String)
        /// The session ended: fail what waits on it.
        indirect case shutdown(Teardown)
    }

    package struct Step: Sendable {
        package var inbound: Inbound
        package var ack: AutoAckStateMachine.Action = .none
        init(_ inbound: Inbound, ack: AutoAckStateMachine.Action = .none) {
            self.inbound = inbound
            self.ack = ack
        }
    }

    /// One frame from `generation`'s transport, decoded.
    package mutating func receive(_ env: Envelope, generation: Int, at now: ContinuousClock.Instant, client: ARCPClient) -> Step {
        connection.frameReceived(generation: generation, at: now)
        if let frame = ClientJobStateMachine.Frame(env.message) {
            return route(env, frame, at: now)
        }
        switch env.message {
        case .jobAccepted(let a):
            if a.parentJobId != nil && a.requestId == nil { return Step(acceptChild(a, client: client)) }
            guard let (id, entry) = pending(requestID: a.requestId, types: ["job.submit"]) else {
                return Step(.diagnostic("job.accepted for \(a.jobId) answers no pending submit"))
            }
            // Registered here, before the submitter can run and before any of the job's frames is
            // routed. (A resubmit with the same idempotency key names a job already followed.)
            let handle =
                jobs[a.jobId]
                ?? JobHandle(jobID: a.jobId, accepted: a, subscribed: nil, client: client, buffer: settings.eventBuffer, streamEvents: entry.streamEvents)
            if jobs[a.jobId] == nil { jobs.add(handle, maxAssembledResult: settings.maxAssembledResult) }
            return Step(complete(id, Reply(envelope: env, job: handle)).map(Inbound.answer) ?? .none)
        case .jobSubscribed(let sub):
            guard let (id, entry) = pending(requestID: sub.requestId, types: ["job.subscribe"]) else {
                let dropped = jobs.takeHeld(sub.jobId).count
                return Step(.diagnostic("job.subscribed for \(sub.jobId) answers no pending subscribe" + (dropped > 0 ? "; \(dropped) frames held for it dropped" : "")))
            }
            let handle = JobHandle(
                jobID: sub.jobId, accepted: nil, subscribed: sub, client: client, buffer: settings.eventBuffer, streamEvents: entry.streamEvents)
            let replaced = jobs.add(handle, maxAssembledResult: settings.maxAssembledResult)
            guard let c = complete(id, Reply(envelope: env, job: handle)) else { return Step(.none) }
            return Step(.answerAndRoute(c, held: jobs.takeHeld(sub.jobId), replaced: replaced))
        case .jobCancelled(let c):
            return answerOrNone(env, requestID: c.requestId, types: ["job.cancel"])
        case .sessionJobs(let j):
            return answerOrNone(env, requestID: j.requestId, types: ["session.list_jobs"])
        case .sessionPong(let p):
            // By nonce: a pong for this side's heartbeat ping must not answer a caller's ping.
            return answerOrNone(env, requestID: nil, types: ["session.ping"], echo: p.pingNonce)
        case .sessionClosed:
            return answerOrNone(env, requestID: nil, types: ["session.close"])
        case .sessionError(let e):
            if e.code == .heartbeatLost {
                // The runtime is closing this connection; the read loop ends and the session
                // resumes if configured. Kept as the cause of that loss.
                connection.runtimeReportedLoss(ARCPError(e))
                return Step(.diagnostic("runtime reported HEARTBEAT_LOST: \(e.message)"))
            }
            if e.code == .unauthenticated {
                return Step(.shutdown(end(ARCPError(e), requests: ARCPError(e), jobs: ARCPError(e))))
            }
            if let (id, _) = pending(requestID: e.requestId, types: []), let c = complete(id, Reply(envelope: env)) { return Step(.answer(c)) }
            // A job's error that answers no request: the runtime detached this subscriber (its
            // buffer overflowed); the job's handle ends with it.
            if e.requestId == nil, let jobID = env.jobId, let handle = jobs.remove(jobID) { return Step(.finish(handle, .failure(ARCPError(e)))) }
            return Step(.diagnostic("session.error from runtime: \(e.code.rawValue): \(e.message)"))
        case .sessionPing(let p):
            return Step(.pong(nonce: p.nonce))
        case .sessionBye(let b):
            let error = ARCPClientError(.closed, "the runtime ended the session (session.bye\(b.reason.map { ": \($0)" } ?? ""))")
            return Step(.shutdown(end(error, requests: error, jobs: error)))
        case .unknown(let type, _):
            return Step(.diagnostic("unknown message type from runtime: \(type)"))
        default:
            return Step(.diagnostic("unexpected \(env.message.type) from runtime"))
        }
    }

    /// The pending request an answer is for.
    private func pending(requestID: String?, types: Set<String>, echo: String? = nil) -> (String, Requests.Entry)? {
        guard let id = requests.match(requestID: requestID, types: types, echo: echo), let entry = requests.entries[id] else { return nil }
        return (id, entry)
    }

    private mutating func complete(_ id: String, _ reply: Reply) -> Requests.Completion? {
        guard let c = requests.complete(id: id, .success(reply)) else { return nil }
        dropHeld(for: c)
        return c
    }

    private mutating func answerOrNone(_ env: Envelope, requestID: String?, types: Set<String>, echo: String? = nil) -> Step {
        guard let (id, _) = pending(requestID: requestID, types: types, echo: echo) else { return Step(.none) }
        return Step(complete(id, Reply(envelope: env)).map(Inbound.answer) ?? .none)
    }

    private mutating func route(_ env: Envelope, _ frame: ClientJobStateMachine.Frame, at now: ContinuousClock.Instant) -> Step {
        let requests = self.requests
        let route = jobs.route(env, frame) { requests.isSubscribing(to: $0) }
        switch route {
        case .held, .duplicate:
            return Step(.none)
        case .overflow:
            return Step(
                .diagnostic(
                    "more than \(jobs.heldCapacity) frames arrived ahead of job.subscribed; \(env.message.type) seq \(env.eventSeq ?? 0) of \(env.jobId ?? "-") is not delivered"),
                ack: processed(env.eventSeq, at: now))
        case .unknownJob:
            return Step(.diagnostic("\(env.message.type) for an unknown job \(env.jobId ?? "-")"), ack: processed(env.eventSeq, at: now))
        case .deliver(let h, let event):
            return Step(.deliver(h, event), ack: processed(env.eventSeq, at: now))
        case .finish(let h, let outcome):
            let answered = self.requests.cancels(of: h.jobID).compactMap { complete($0, Reply(envelope: env)) }
            let inbound: Inbound = answered.isEmpty ? .finish(h, outcome) : .finishAndAnswer(h, outcome, answered)
            return Step(inbound, ack: processed(env.eventSeq, at: now))
        }
    }

    /// A delegated job's unsolicited `job.accepted` (spec §10).
    private mutating func acceptChild(_ a: JobAcceptedPayload, client: ARCPClient) -> Inbound {
        // Already known: the runtime sends a delegated job's acceptance again on resume.
        guard jobs.isNew(a.jobId) else { return .none }
        let parent = a.parentJobId.flatMap { jobs[$0] }
        let child = JobHandle(
            jobID: a.jobId, accepted: a, subscribed: nil, client: client, buffer: settings.eventBuffer, streamEvents: parent?.streamEvents ?? true)
        jobs.add(child, maxAssembledResult: settings.maxAssembledResult)
        return .child(child, parent: parent)
    }

    /// Notes a processed `event_seq`; returns the ack to send, if any.
    private mutating func processed(_ seq: Int?, at now: ContinuousClock.Instant) -> AutoAckStateMachine.Action {
        guard let seq else { return .none }
        if seq > lastSeq { lastSeq = seq }
        return acks?.processed(seq: seq, at: now) ?? .none
    }

    /// The trailing ack's timer fired.
    package mutating func trailingAckDue(at now: ContinuousClock.Instant) -> AutoAckStateMachine.Action {
        guard !connection.isClosed else { return .none }
        return acks?.trailingTimerFired(at: now) ?? .none
    }

    /// Gives up a subscribed job locally (`unsubscribe`).
    package mutating func unsubscribe(_ jobID: String) -> JobHandle? { jobs.remove(jobID) }

    // MARK: ending

    /// What waited on a session that ended: requests to fail and handles to complete.
    package struct Teardown: Sendable {
        package var requests: [Requests.Completion] = []
        package var jobs: [(JobHandle, any Error)] = []
    }

    /// The session ended (or the connection was lost and is being resumed: then only the
    /// requests fail and the jobs carry on). Everything it held is dropped.
    package mutating func end(_ reason: any Error, requests requestError: any Error, jobs jobError: (any Error)?) -> Teardown {
        _ = connection.sessionEnded(reason)
        var t = Teardown()
        t.requests = requests.failAll { _ in requestError }
        for c in t.requests { dropHeld(for: c) }
        if let jobError { t.jobs = jobs.removeAll().map { ($0, jobError) } }
        return t
    }

    /// The connection was lost and the session resumes: requests in flight fail (they may or
    /// may not have been processed), jobs carry on.
    package mutating func failRequestsInFlight(_ error: any Error) -> [Requests.Completion] {
        let failed = requests.failAll { _ in error }
        for c in failed { dropHeld(for: c) }
        return failed
    }
}
