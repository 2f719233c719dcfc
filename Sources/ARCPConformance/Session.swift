import ARCPGenerated
import Foundation

/// A frame the kit sent, with the position in the received stream at which it went out:
/// its answer is searched for after that mark.
public struct Sent: Sendable {
    /// The sent envelope's `id` (answers name it in `request_id`).
    public let id: String
    /// The frame as sent, for evidence.
    public let frame: WireFrame
    /// How many frames the connection had received when this one went out.
    public let mark: Int
}

/// A job the runtime accepted.
public struct Job: Sendable {
    /// The job's id.
    public let id: String
    /// The runtime's `job.accepted`.
    public let accepted: WireFrame
    /// The `job.submit` it answers.
    public let submitted: Sent
}

/// A session after the handshake: the kit's handle for requests and their answers.
public final class Session: Sendable {
    /// The connection the session runs on.
    public let connection: Connection
    /// The scenario the session belongs to.
    public let context: ScenarioContext
    /// The runtime's `session.welcome`.
    public let welcome: WireFrame
    /// `session_id` (the envelope's, else the payload's).
    public let id: String
    /// The welcome's `resume_token`.
    public let resumeToken: String
    /// What the kit asked for in the hello.
    public let requested: [String]
    /// The effective features: the intersection of the hello's and the welcome's (§6.2).
    public let features: Set<String>

    init(connection: Connection, context: ScenarioContext, welcome: WireFrame, requested: [String]) {
        self.connection = connection
        self.context = context
        self.welcome = welcome
        self.requested = requested
        id = welcome["session_id"]?.stringValue ?? welcome.payload("session_id")?.stringValue ?? ""
        resumeToken = welcome.payload("resume_token")?.stringValue ?? ""
        let offered = Set(welcome.payload("capabilities")?["features"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        features = Set(requested).intersection(offered)
        if features.contains("heartbeat"), let seconds = welcome.payload("heartbeat_interval_sec")?.int64Value, seconds > 0, seconds < 86_400 {
            connection.keepAlive(sessionID: id, interval: .seconds(seconds))
        }
    }

    /// The connection's name in the transcript.
    public var name: String { connection.name }
    var options: ConformanceOptions { context.options }

    // MARK: sending

    /// Sends an envelope in this session.
    @discardableResult
    public func send(
        _ type: String, _ payload: JSONValue = [:], jobID: String? = nil, traceID: String? = nil, extra: JSONObject = [:]
    ) async throws -> Sent {
        let mark = connection.mark
        let env = Envelope.make(type, payload: payload, sessionID: id, jobID: jobID, traceID: traceID, extra: extra)
        let frame = try await connection.send(env.text)
        return Sent(id: env.id, frame: frame, mark: mark)
    }

    /// Sends raw text (e.g. a malformed frame) and returns the mark before it.
    @discardableResult
    public func sendRaw(_ text: String) async throws -> Sent {
        let mark = connection.mark
        let frame = try await connection.send(text)
        return Sent(id: "", frame: frame, mark: mark)
    }

    /// The `job.submit` payload.
    public static func submitPayload(
        _ agent: String, input: JSONValue = [:], lease: JSONValue? = nil, constraints: JSONValue? = nil,
        idempotencyKey: String? = nil, maxRuntimeSec: JSONValue? = nil, extra: JSONObject = [:]
    ) -> JSONValue {
        var p = JSONObject()
        p.append("agent", .string(agent))
        p.append("input", input)
        if let lease { p.append("lease_request", lease) }
        if let constraints { p.append("lease_constraints", constraints) }
        if let idempotencyKey { p.append("idempotency_key", .string(idempotencyKey)) }
        if let maxRuntimeSec { p.append("max_runtime_sec", maxRuntimeSec) }
        for m in extra { p[m.key] = m.value }
        return .object(p)
    }

    /// Sends `job.submit`.
    @discardableResult
    public func submit(
        _ agent: String, input: JSONValue = [:], lease: JSONValue? = nil, constraints: JSONValue? = nil,
        idempotencyKey: String? = nil, maxRuntimeSec: JSONValue? = nil, traceID: String? = nil
    ) async throws -> Sent {
        try await send(
            "job.submit",
            Self.submitPayload(
                agent, input: input, lease: lease, constraints: constraints, idempotencyKey: idempotencyKey,
                maxRuntimeSec: maxRuntimeSec),
            traceID: traceID)
    }

    /// Submits and waits for `job.accepted`.
    public func start(
        _ agent: String, input: JSONValue = [:], lease: JSONValue? = nil, constraints: JSONValue? = nil,
        idempotencyKey: String? = nil, maxRuntimeSec: JSONValue? = nil, traceID: String? = nil
    ) async throws -> Job {
        let sent = try await submit(
            agent, input: input, lease: lease, constraints: constraints, idempotencyKey: idempotencyKey,
            maxRuntimeSec: maxRuntimeSec, traceID: traceID)
        return try await accepted(sent)
    }

    /// Submits, waits for `job.accepted` and for the job's terminal frame.
    public func run(
        _ agent: String, input: JSONValue = [:], lease: JSONValue? = nil, constraints: JSONValue? = nil,
        idempotencyKey: String? = nil, maxRuntimeSec: JSONValue? = nil, traceID: String? = nil
    ) async throws -> (job: Job, terminal: WireFrame) {
        let job = try await start(
            agent, input: input, lease: lease, constraints: constraints, idempotencyKey: idempotencyKey,
            maxRuntimeSec: maxRuntimeSec, traceID: traceID)
        return (job, try await terminal(job.id))
    }

    // MARK: answers

    /// The answer to `sent`: the first frame after it whose type is one of `types` or
    /// `session.error`, and that names `sent` in `request_id` or names no request at all (a
    /// runtime that does not correlate its answers is still understood).
    public func reply(to sent: Sent, _ types: Set<String>, timeout: Duration? = nil) async throws -> WireFrame {
        let want = types.union(["session.error"])
        let id = sent.id
        return try await connection.frame(
            "answer (\(types.sorted().joined(separator: " / "))) to \(sent.frame.type ?? "the frame")", after: sent.mark,
            timeout: timeout
        ) { f in
            guard let t = f.type, want.contains(t) else { return false }
            if t == "job.accepted", f.payload("parent_job_id").map({ !$0.isNull }) == true { return false }
            guard let rid = f.requestID else { return true }
            return rid == id
        }
    }

    /// Waits for the `job.accepted` answering `sent`.
    /// - Throws: ``ScenarioFailure`` when the submit is refused.
    public func accepted(_ sent: Sent) async throws -> Job {
        let f = try await reply(to: sent, ["job.accepted"])
        guard f.type == "job.accepted", let jobID = f.payload("job_id")?.stringValue ?? f.jobID else {
            throw ScenarioFailure(
                "\(name): job.submit was refused: \(f.code ?? f.type ?? "?") \(f.payload("message")?.stringValue ?? "")",
                evidence: [sent.frame, f])
        }
        return Job(id: jobID, accepted: f, submitted: sent)
    }

    /// Waits for the error answering `sent` (a `session.error`, or a `job.error` naming it).
    /// - Parameters:
    ///   - sent: the request that must be refused.
    ///   - codes: the acceptable codes (empty: any).
    ///   - what: what was expected, for the failure message.
    /// - Returns: the error frame.
    /// - Throws: ``ScenarioFailure`` when the answer is not an error, or has another code.
    @discardableResult
    public func expectError(_ sent: Sent, codes: [String] = [], _ what: String) async throws -> WireFrame {
        let f = try await reply(to: sent, ["job.accepted", "job.error", "session.jobs", "job.subscribed", "job.cancelled", "session.pong", "session.welcome"])
        if f.type == "job.error", f.requestID != sent.id {
            throw ScenarioFailure("\(name): \(what): expected an error, got \(f.type ?? "?")", evidence: [sent.frame, f])
        }
        guard f.type == "session.error" || f.type == "job.error" else {
            throw ScenarioFailure(
                "\(name): \(what): expected session.error\(codes.isEmpty ? "" : " " + codes.joined(separator: " or ")), got \(f.type ?? "a non-JSON frame")",
                evidence: [sent.frame, f])
        }
        if !codes.isEmpty, !codes.contains(f.code ?? "") {
            throw ScenarioFailure(
                "\(name): \(what): expected \(codes.joined(separator: " or ")), got \(f.code ?? "no code")", evidence: [sent.frame, f])
        }
        return f
    }

    /// The job's terminal frame (`job.result` or `job.error`).
    public func terminal(_ jobID: String, after mark: Int = 0, timeout: Duration? = nil) async throws -> WireFrame {
        try await connection.frame("job.result / job.error for \(jobID)", after: mark, timeout: timeout ?? options.jobTimeout) {
            $0.isTerminal && $0.jobID == jobID
        }
    }

    /// The first `job.event` of `jobID` (optionally of `kind`) after `mark`.
    public func event(_ jobID: String, kind: String? = nil, after mark: Int = 0, timeout: Duration? = nil) async throws -> WireFrame {
        try await connection.frame(
            "job.event\(kind.map { " " + $0 } ?? "") for \(jobID)", after: mark, timeout: timeout ?? options.jobTimeout
        ) { $0.type == "job.event" && $0.jobID == jobID && (kind == nil || $0.kind == kind) }
    }

    /// The `job.event` frames received so far for `jobID`.
    public func events(_ jobID: String) -> [WireFrame] {
        connection.received.filter { $0.type == "job.event" && $0.jobID == jobID }
    }

    /// Every received frame about `jobID`.
    public func frames(_ jobID: String) -> [WireFrame] {
        connection.received.filter { $0.jobID == jobID }
    }

    /// Every received frame numbered with `event_seq` (job.event, job.result, job.error).
    public var sequenced: [WireFrame] { connection.received.filter(\.isSequenced) }

    /// The highest `event_seq` received.
    public var lastSeq: Int64? { connection.received.compactMap(\.eventSeq).max() }

    /// A round trip (`session.ping` → `session.pong`): everything the runtime sent before the
    /// pong has arrived once this returns.
    public func barrier() async throws {
        let nonce = "barrier-" + ARCPID.ulid()
        let sent = try await send("session.ping", ["nonce": .string(nonce), "sent_at": .string(ARCPTimestamp.string())])
        _ = try await connection.frame("session.pong to the kit's ping", after: sent.mark) {
            $0.type == "session.pong" && $0.payload("ping_nonce")?.stringValue == nonce
        }
    }

    /// Says goodbye (`session.bye`) and closes the transport.
    public func bye() async {
        _ = try? await send("session.bye", ["reason": "conformance kit done"])
        await connection.close()
    }

    /// Closes the transport without a goodbye: the runtime sees a dropped connection.
    public func drop() async {
        await connection.close()
    }
}
