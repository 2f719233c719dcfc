import ARCP
import Testing

/// Frame-level helpers for driving a session by hand.
public enum Frames {
    public static func hello(token: String = "tok") -> String {
        FrameCodec.encode(Envelope.make(.sessionHello(SessionHelloPayload(
            client: PeerInfo(name: "arcp-test", version: "1"), auth: Auth(scheme: "bearer", token: token),
            capabilities: HelloCapabilities(encodings: ["json"], features: [.listJobs, .subscribe, .progress])))))
    }

    /// A `session.hello` that resumes `session` after `lastSeq` (spec §6.2: resume in hello).
    public static func resume(_ session: String, token resumeToken: String, after lastSeq: Int, bearer: String = "tok") -> String {
        FrameCodec.encode(Envelope.make(.sessionHello(SessionHelloPayload(
            auth: Auth(scheme: "bearer", token: bearer),
            resume: ResumeBlock(sessionId: session, resumeToken: resumeToken, lastEventSeq: lastSeq)))))
    }

    public static func ping(_ nonce: String, session: String? = nil) -> String {
        FrameCodec.encode(Envelope.make(.sessionPing(SessionPingPayload(nonce: nonce)), sessionID: session))
    }

    public static func submit(_ agent: String, _ input: JSONValue, session: String? = nil) -> String {
        FrameCodec.encode(Envelope.make(.jobSubmit(JobSubmitPayload(agent: agent, input: input)), sessionID: session))
    }

    public static func decode(_ text: String) -> Envelope? {
        if case .success(let e) = FrameCodec.decode(text, validate: false) { return e }
        return nil
    }
}

/// Says hello on a raw transport and returns the session id.
public func handshake(_ t: any Transport, token: String = "tok") async throws -> String {
    try await t.send(Frames.hello(token: token))
    let reply = try #require(try await t.receive())
    let env = try #require(Frames.decode(reply))
    guard case .sessionWelcome(let w) = env.message else {
        Issue.record("expected session.welcome, got \(reply)")
        throw CancellationError()
    }
    return try #require(w.sessionId ?? env.sessionId)
}

/// Receives frames until one of `type`; returns it.
public func next(_ t: any Transport, _ type: String) async throws -> Envelope {
    while let frame = try await t.receive() {
        if let env = Frames.decode(frame), env.message.type == type { return env }
    }
    Issue.record("the connection ended before a \(type)")
    throw CancellationError()
}

/// Runs `body`, failing with a clear message instead of hanging when it takes longer than `limit`.
/// `what` is evaluated when the time is up, so it can name the progress made until then.
public func within<T: Sendable>(
    _ limit: Duration, _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withDeadline(
        limit,
        timedOut: {
            Issue.record("timed out after \(limit): \(what())", sourceLocation: sourceLocation)
            return CancellationError()
        }, body)
}
