/// The life of one connection on the runtime side (spec §6.1–§6.3, §6.7) as a value: from the
/// first frame to an attached session, and from the end of reading to the transport closed.
/// No I/O: `ConnectionHandler` feeds it what happened and carries out what it answers.
///
/// ```
///  awaitingHello ──hello──▶ authenticating ──verified──▶ attaching ──attached──▶ serving
///        │                        │                          │                      │ readerEnded
///        │ not hello / bad frame  │ bad token                │ resume refused       ▼
///        └──────────────▶ closed ◀┴──────────────────────────┘        draining (writer flushes)
///                            ▲                                                      │ writerEnded
///                            └──────────────────────────────────────────────────────┘
/// ```
///
/// The first frame must be `session.hello` (optionally carrying `resume`) or `session.resume`
/// (with or without `auth`); anything else, a malformed frame, or no frame within the hello
/// timeout is answered with one `session.error` and the connection closes. Inputs that do
/// not fit the state (a second first frame, a verification nobody asked for) change nothing
/// and answer `.none`.
package struct ConnectionStateMachine: Sendable {
    // The enums are `indirect`: a hello is large, and the connection's async frames hold
    // several copies of states and actions (docs/BENCHMARKS.md, "Per-session memory").

    /// What the first frame asked for.
    package indirect enum Opening: Sendable, Equatable {
        /// A new session.
        case open(SessionHelloPayload, requestID: String)
        /// A resume of session `sessionID` from `lastSeq`. `authenticates` when the frame
        /// carried a bearer token (then the resumer's principal must match the session's).
        case resume(sessionID: String, token: String, lastSeq: Int, requestID: String, authenticates: Bool)
    }

    package enum State: Sendable, Equatable {
        case awaitingHello
        case authenticating(Opening)
        case attaching(Opening)
        case serving(sessionID: String, connection: UInt64)
        /// The reader ended; the writer flushes what is queued, then the transport closes.
        case draining(sessionID: String, connection: UInt64)
        case closed
    }

    /// How the wait for the first frame ended.
    package indirect enum FirstFrame: Sendable, Equatable {
        case frame(Result<Envelope, ARCPError>)
        /// The peer closed cleanly before sending anything.
        case peerClosed
        /// Nothing within the hello timeout (or the transport failed meanwhile).
        case timedOut(Duration)
    }

    package indirect enum Action: Sendable, Equatable {
        case none
        /// Send `error` as `session.error`, then close.
        case reject(ARCPError)
        /// Close without a word (the peer is gone).
        case close
        /// Verify `token` with the bearer verifier, then call `verified(principal:)`.
        case verify(token: String)
        /// Open a new session for `principal`.
        case open(principal: String, hello: SessionHelloPayload, requestID: String)
        /// Resume `sessionID`; `principal` nil when the resume carried no bearer token.
        case resume(sessionID: String, token: String, lastSeq: Int, principal: String?, requestID: String)
        /// The reader ended: ask the session to close this connection once its queue is written.
        case closeAfterFlush(connection: UInt64)
        /// The writer ended: detach the session from this connection and close the transport.
        case detachAndClose(connection: UInt64)
    }

    package private(set) var state: State = .awaitingHello

    package init() {}

    // MARK: Opening

    package mutating func firstFrame(_ first: FirstFrame) -> Action {
        guard case .awaitingHello = state else { return .none }
        switch first {
        case .peerClosed:
            state = .closed
            return .close
        case .timedOut(let limit):
            state = .closed
            return .reject(.invalidRequest("no session.hello within \(limit)"))
        case .frame(.failure(let e)):
            state = .closed
            return .reject(e)
        case .frame(.success(let envelope)):
            switch envelope.message {
            case .sessionHello(let hello):
                if let r = hello.resume {
                    state = .authenticating(.resume(
                        sessionID: r.sessionId, token: r.resumeToken, lastSeq: r.lastEventSeq ?? 0, requestID: envelope.id,
                        authenticates: true))
                } else {
                    state = .authenticating(.open(hello, requestID: envelope.id))
                }
                return .verify(token: hello.auth.token)
            case .sessionResume(let r):
                let opening = Opening.resume(
                    sessionID: r.sessionId, token: r.resumeToken, lastSeq: r.lastEventSeq ?? 0, requestID: envelope.id,
                    authenticates: r.auth != nil)
                if let auth = r.auth {
                    state = .authenticating(opening)
                    return .verify(token: auth.token)
                }
                state = .attaching(opening)
                return action(for: opening, principal: nil)
            default:
                state = .closed
                return .reject(ARCPError(
                    .invalidRequest, "expected session.hello as first envelope, got '\(envelope.message.type)'", requestID: envelope.id))
            }
        }
    }

    /// The verifier answered (`principal` nil: the token is not valid).
    package mutating func verified(principal: String?) -> Action {
        guard case .authenticating(let opening) = state else { return .none }
        guard let principal else {
            state = .closed
            return .reject(ARCPError(.unauthenticated, "invalid bearer token", requestID: opening.requestID))
        }
        state = .attaching(opening)
        return action(for: opening, principal: principal)
    }

    private func action(for opening: Opening, principal: String?) -> Action {
        switch opening {
        case .open(let hello, let requestID):
            // `verified` only reaches here with a principal.
            guard let principal else { return .reject(ARCPError(.unauthenticated, "invalid bearer token", requestID: requestID)) }
            return .open(principal: principal, hello: hello, requestID: requestID)
        case .resume(let id, let token, let lastSeq, let requestID, _):
            return .resume(sessionID: id, token: token, lastSeq: lastSeq, principal: principal, requestID: requestID)
        }
    }

    /// The session was attached as `connection`.
    package mutating func attached(sessionID: String, connection: UInt64) {
        guard case .attaching = state else { return }
        state = .serving(sessionID: sessionID, connection: connection)
    }

    /// Opening or resuming the session failed (and the peer was answered).
    package mutating func openingFailed() {
        guard case .attaching = state else { return }
        state = .closed
    }

    // MARK: Ending

    /// The reader ended (peer closed, `session.bye`/`session.close`, heartbeat lost, failure).
    package mutating func readerEnded() -> Action {
        guard case .serving(let id, let c) = state else { return .none }
        state = .draining(sessionID: id, connection: c)
        return .closeAfterFlush(connection: c)
    }

    /// The writer ended (everything written, the connection replaced, or the transport failed).
    package mutating func writerEnded() -> Action {
        switch state {
        case .serving(_, let c), .draining(_, let c):
            state = .closed
            return .detachAndClose(connection: c)
        default:
            return .none
        }
    }
}

extension ConnectionStateMachine.Opening {
    package var requestID: String {
        switch self {
        case .open(_, let id): return id
        case .resume(_, _, _, let id, _): return id
        }
    }
}
