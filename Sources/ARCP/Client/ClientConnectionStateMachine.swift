/// The client's connection lifecycle, as a pure state machine:
///
/// ```
/// idle ─connect─▶ handshaking ─welcome─▶ ready ─transport lost─▶ resuming ─backoff─▶ handshaking(resume) ─▶ ready …
///                     │                    │                        │ attempts spent / resume refused
///                     └─refused──▶ idle    ├─close()─▶ closing ─▶ closed
///                                          └─bye / UNAUTHENTICATED / lost without a policy─▶ closed
/// ```
///
/// `closed` holds why the session ended; `connect` may start a new session from there. The
/// session (id, welcome, features, resume token) outlives its connections; each connection
/// (`Connection`) carries its transport, a generation number that tells a stale read loop or
/// heartbeat from the current one, and its own `HeartbeatStateMachine`.
///
/// Inputs that make no sense in a state (a welcome after `close()`, a loss reported by a stale
/// connection, a second `connect`) return an action that says so and change nothing else.
package struct ClientConnectionStateMachine: Sendable {
    /// What survives reconnects.
    package struct Session: Sendable {
        /// The session id (from the welcome's envelope, else its payload).
        package var id: String?
        package var welcome: SessionWelcomePayload
        /// requested ∩ offered, in request order.
        package var features: [Feature]
        package var resumeToken: String

        package init(id: String?, welcome: SessionWelcomePayload, features: [Feature], resumeToken: String) {
            self.id = id
            self.welcome = welcome
            self.features = features
            self.resumeToken = resumeToken
        }
    }

    /// One live transport.
    package struct Connection: Sendable {
        package var transport: any Transport
        package var generation: Int
        package var heartbeat = HeartbeatStateMachine<ContinuousClock.Instant>()
        /// Why this connection is about to end, when known before the transport says so: the
        /// runtime's `session.error HEARTBEAT_LOST`, or this side's heartbeat finding the runtime
        /// silent. It becomes the cause of the loss that follows.
        package var lossCause: (any Error)? = nil
    }

    /// How to get a new transport, and how hard to try.
    package struct Reconnect: Sendable {
        package var factory: @Sendable () async throws -> any Transport
        package var policy: ARCPClient.ReconnectPolicy

        package init(factory: @escaping @Sendable () async throws -> any Transport, policy: ARCPClient.ReconnectPolicy) {
            self.factory = factory
            self.policy = policy
        }
    }

    package struct Resuming: Sendable {
        /// Attempts made so far.
        package var attempts = 0
        package var backoff: Duration
        package var lastError: any Error
    }

    package enum State: Sendable {
        case idle
        /// Hello sent on `generation`'s transport; waiting for the welcome. With `resume`, this
        /// handshake resumes the session after a drop (and counts as one of its attempts).
        case handshaking(generation: Int, resume: Resuming?)
        case ready(Connection)
        /// Between connections after a drop.
        case resuming(Resuming)
        /// `close()` was called; `session.close` may be in flight on the connection.
        case closing(Connection?)
        /// The session ended, for this reason.
        case closed(any Error)
    }

    package private(set) var state: State = .idle
    /// The last session (kept after it ends, for `ARCPClient.sessionID` and friends).
    package private(set) var session: Session?
    package private(set) var reconnect: Reconnect?
    package private(set) var generation = 0
    /// How many times the session was resumed after a drop.
    package private(set) var resumes = 0
    /// Whether any connection of this machine ever ran heartbeats. Until one does, a frame in
    /// or out has nothing to note: `frameReceived` and `frameSent` return at once. Never reset.
    private var heartbeatsEverRan = false
    /// The last frame received and the last sent on a connection, by generation, not yet noted
    /// in that connection's heartbeat machine: they are noted when the heartbeat next asks
    /// (`heartbeat(generation:at:)`), before it decides anything. A frame costs a store here
    /// instead of copying the connection out of `state` and back (3.7 % of a client's CPU per
    /// streamed event; docs/BENCHMARKS.md, sessions 11 and 16). Only the last of each matters:
    /// the machine keeps the latest instant and clears the outstanding ping on any frame in.
    private var unnotedReceived: (generation: Int, at: ContinuousClock.Instant)? = nil
    private var unnotedSent: (generation: Int, at: ContinuousClock.Instant)? = nil

    package init() {}

    // MARK: connect

    package enum OnConnect: Sendable {
        /// Send the hello on a transport of this generation.
        case handshake(generation: Int)
        /// Already connected (or connecting): refused.
        case reject(ARCPClientError)
    }

    /// The caller asks for a new session (with `reconnect` when it gave a factory).
    package mutating func connect(reconnect: Reconnect?) -> OnConnect {
        switch state {
        case .idle, .closed:
            generation += 1
            self.reconnect = reconnect
            state = .handshaking(generation: generation, resume: nil)
            return .handshake(generation: generation)
        case .handshaking, .ready, .resuming, .closing:
            return .reject(ARCPClientError(.protocolViolation, "connect called on a client that is already connected; use a new ARCPClient"))
        }
    }

    package enum OnHandshakeSucceeded: Sendable {
        /// Start the read loop (and heartbeats, when negotiated) for this connection.
        case ready(generation: Int, heartbeat: Bool, resumed: Bool)
        /// `close()` came first: close the new transport.
        case abandon
    }

    /// The welcome came. `heartbeatInterval` is nil when heartbeats are off for this session.
    package mutating func handshakeSucceeded(
        generation g: Int, transport: any Transport, session new: Session, heartbeatInterval: Duration?, at now: ContinuousClock.Instant
    ) -> OnHandshakeSucceeded {
        guard case .handshaking(let current, let resume) = state, current == g else { return .abandon }
        let resuming = resume != nil
        var connection = Connection(transport: transport, generation: g)
        if let heartbeatInterval {
            connection.heartbeat.negotiated(.init(interval: heartbeatInterval), at: now)
            heartbeatsEverRan = true
        }
        session = new
        if resuming { resumes += 1 }
        state = .ready(connection)
        return .ready(generation: g, heartbeat: heartbeatInterval != nil, resumed: resuming)
    }

    package enum OnHandshakeFailed: Sendable {
        /// A new session was refused: throw `error` to the caller of `connect`.
        case fail(any Error)
        /// A resume attempt failed: try again after this.
        case retry(after: Duration)
        /// The session cannot be resumed: it ends with `error` (fail what waits on it).
        case giveUp(any Error)
        /// `close()` came first; nothing to do.
        case none
    }

    /// The handshake on `generation` failed (transport error, timeout, `session.error`).
    package mutating func handshakeFailed(generation g: Int, _ error: any Error) -> OnHandshakeFailed {
        guard case .handshaking(let current, let resume) = state, current == g else { return .none }
        guard var r = resume else {
            state = session == nil ? .idle : .closed(error)
            return .fail(error)
        }
        r.attempts += 1
        r.lastError = error
        guard let policy = reconnect?.policy, !Self.isFinal(error), r.attempts < max(1, policy.maxAttempts) else {
            state = .closed(error)
            return .giveUp(error)
        }
        r.backoff = Self.backoff(after: r.attempts, policy)
        state = .resuming(r)
        return .retry(after: r.backoff)
    }

    /// A resume is refused for good when the runtime says the session is gone or the token bad.
    static func isFinal(_ error: any Error) -> Bool {
        guard let e = error as? ARCPError else { return false }
        return e.code == .resumeWindowExpired || e.code == .unauthenticated
    }

    static func backoff(after attempts: Int, _ policy: ARCPClient.ReconnectPolicy) -> Duration {
        var d = policy.initialBackoff
        for _ in 1..<max(1, attempts) {
            d = d * 2
            if d >= policy.maxBackoff { return policy.maxBackoff }
        }
        return min(d, policy.maxBackoff)
    }

    // MARK: loss and resume

    package enum OnConnectionLost: Sendable {
        /// A stale connection, or one being closed anyway: nothing to do.
        case none
        /// Fail the requests in flight with `error` (they may or may not have been processed) and
        /// start resuming.
        case resume(ARCPClientError)
        /// No way to resume: the session ends with `error`.
        case shutdown(ARCPClientError)
    }

    /// The transport of `generation` ended (`cause`: its error, or nil for a clean close).
    package mutating func connectionLost(generation g: Int, cause: (any Error)?) -> OnConnectionLost {
        guard case .ready(let c) = state, c.generation == g else { return .none }
        let why = c.lossCause ?? cause
        let message = why == nil ? "the runtime closed the connection" : "the connection to the runtime was lost"
        let error = ARCPClientError(.connectionLost, message, cause: why)
        guard let policy = reconnect?.policy, session?.id != nil else {
            state = .closed(error)
            return .shutdown(error)
        }
        state = .resuming(Resuming(backoff: policy.initialBackoff, lastError: error))
        return .resume(error)
    }

    package enum OnResumeAttempt: Sendable {
        /// Get a transport from `factory` and say hello with `resume` on it.
        case attempt(generation: Int, factory: @Sendable () async throws -> any Transport, sessionID: String, token: String)
        /// Nothing to resume any more (closed meanwhile).
        case stop
    }

    /// The next resume attempt (after the backoff, if any, has passed).
    package mutating func nextResumeAttempt() -> OnResumeAttempt {
        guard case .resuming(let r) = state, let reconnect, let session, let sid = session.id else { return .stop }
        generation += 1
        state = .handshaking(generation: generation, resume: r)
        return .attempt(generation: generation, factory: reconnect.factory, sessionID: sid, token: session.resumeToken)
    }

    // MARK: while ready

    /// The runtime reported `HEARTBEAT_LOST` on the current connection: it is about to close it.
    package mutating func runtimeReportedLoss(_ error: ARCPError) {
        guard case .ready(var c) = state, c.lossCause == nil else { return }
        c.lossCause = error
        state = .ready(c)
    }

    /// The session ended while ready (`session.bye`, `UNAUTHENTICATED`). Returns false when it
    /// was not live (nothing to shut down).
    package mutating func sessionEnded(_ error: any Error) -> Bool {
        switch state {
        case .ready, .handshaking, .resuming:
            state = .closed(error)
            return true
        case .idle, .closing, .closed:
            return false
        }
    }

    /// The transport to send on, with the session id; or why there is none.
    package func sendable(allowClosing: Bool = false) -> Result<(any Transport, String?), ARCPClientError> {
        switch state {
        case .ready(let c): return .success((c.transport, session?.id))
        case .closing(let c?) where allowClosing: return .success((c.transport, session?.id))
        case .idle: return .failure(ARCPClientError(.notConnected, "not connected: call connect first"))
        case .handshaking(_, resume: nil): return .failure(ARCPClientError(.notConnected, "not connected yet: the handshake is in progress"))
        case .handshaking, .resuming:
            return .failure(ARCPClientError(.connectionLost, "the connection was lost and is being resumed; try again", cause: resumingCause))
        case .closing: return .failure(ARCPClientError(.closed, "the client is closing"))
        case .closed(let why): return .failure(ARCPClientError(.notConnected, "the session has ended", cause: why))
        }
    }

    private var resumingCause: (any Error)? {
        switch state {
        case .resuming(let r), .handshaking(_, let r?): return r.lastError
        default: return nil
        }
    }

    /// Notes a frame received on `generation` (for heartbeats; a frame of an earlier connection
    /// is not noted).
    package mutating func frameReceived(generation g: Int, at now: ContinuousClock.Instant) {
        guard heartbeatsEverRan, g == generation else { return }
        if let u = unnotedReceived, u.generation == g, u.at >= now { return }
        unnotedReceived = (g, now)
    }

    /// Notes a frame sent on the current connection (for heartbeats).
    package mutating func frameSent(at now: ContinuousClock.Instant) {
        guard heartbeatsEverRan else { return }
        if let u = unnotedSent, u.generation == generation, u.at >= now { return }
        unnotedSent = (generation, now)
    }

    /// Notes in `c`'s heartbeat machine the frames in and out not noted yet (those of another
    /// connection are dropped).
    private mutating func noteFrames(in c: inout Connection) {
        if let u = unnotedReceived, u.generation == c.generation { c.heartbeat.frameReceived(at: u.at) }
        if let u = unnotedSent, u.generation == c.generation { c.heartbeat.frameSent(at: u.at) }
        unnotedReceived = nil
        unnotedSent = nil
    }

    package enum OnHeartbeat: Sendable {
        /// Check again at this instant.
        case wait(until: ContinuousClock.Instant)
        /// Send `session.ping` on this transport, then check again.
        case ping(any Transport)
        /// The runtime went silent: close this transport (the read loop then reports the loss).
        case lost(any Transport, silence: Duration)
        /// This connection is gone, or heartbeats are off: the heartbeat ends.
        case stop
    }

    /// The heartbeat of `generation` (`ARCPClient.heartbeatCheck`) asks what to do at `now`.
    package mutating func heartbeat(generation g: Int, at now: ContinuousClock.Instant) -> OnHeartbeat {
        guard case .ready(var c) = state, c.generation == g else { return .stop }
        noteFrames(in: &c)
        let action = c.heartbeat.tick(at: now)
        state = .ready(c)
        switch action {
        case .none:
            guard let next = c.heartbeat.nextCheck else { return .stop }
            return .wait(until: next)
        case .sendPing: return .ping(c.transport)
        case .declareLoss(let silence):
            c.lossCause = ARCPClientError(.timedOut, "no message from the runtime for \(silence) despite a ping (heartbeat lost)")
            state = .ready(c)
            return .lost(c.transport, silence: silence)
        }
    }

    // MARK: close

    package enum OnClose: Sendable {
        /// Say `session.close` on this transport (briefly waiting for `session.closed`), then finish.
        case sayGoodbye(any Transport)
        /// No live connection: finish now.
        case finish
        /// Already closing or closed.
        case none
    }

    /// The caller asked to close.
    package mutating func close() -> OnClose {
        switch state {
        case .ready(let c):
            state = .closing(c)
            return .sayGoodbye(c.transport)
        case .handshaking, .resuming:
            state = .closing(nil)
            return .finish
        case .idle, .closing, .closed:
            return .none
        }
    }

    /// `close()` is done. Returns the transport to close, if any.
    package mutating func closeFinished(_ reason: any Error) -> (any Transport)? {
        guard case .closing(let c) = state else { return nil }
        state = .closed(reason)
        return c?.transport
    }

    /// Whether the session has ended (or is ending).
    package var isClosed: Bool {
        switch state {
        case .closing, .closed: return true
        default: return false
        }
    }
}
