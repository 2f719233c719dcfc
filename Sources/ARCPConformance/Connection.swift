import ARCP
import ARCPGenerated
import Foundation
import Synchronization

/// Everything a scenario saw, in order, across all its connections.
final class Transcript: Sendable {
    private let frames = Mutex<[WireFrame]>([])
    let start = ContinuousClock.now

    /// Sent frames longer than this are kept as a prefix (the oversized-frame scenario sends MiBs).
    static let sentTextLimit = 64 * 1024

    @discardableResult
    func append(_ connection: String, _ direction: WireFrame.Direction, _ text: String) -> WireFrame {
        var text = text
        if direction == .sent, text.utf8.count > Self.sentTextLimit {
            text = String(text.prefix(2048)) + "… (\(text.utf8.count) bytes)"
        }
        return frames.withLock { f in
            let frame = WireFrame(
                index: f.count, connection: connection, direction: direction, text: text, at: ContinuousClock.now - start)
            f.append(frame)
            return frame
        }
    }

    var all: [WireFrame] { frames.withLock { $0 } }
}

/// A transport the kit talks over, with what it can tell about how the connection ended.
public struct RawConnection: Sendable {
    /// The carrier of frames.
    public var transport: any Transport
    /// How the runtime closed the connection (e.g. `WebSocket close 1009 "message too big"`),
    /// when the transport can tell; read after the connection ended.
    public var closeDescription: @Sendable () -> String?

    /// A connection over `transport`; `closeDescription` tells, after the end, how the runtime
    /// closed it (default: it cannot tell).
    public init(transport: any Transport, closeDescription: @escaping @Sendable () -> String? = { nil }) {
        self.transport = transport
        self.closeDescription = closeDescription
    }
}

/// One connection to the runtime under test, speaking raw frames. A background task reads
/// every frame into the transcript and answers the runtime's `session.ping` (unless told
/// not to), so a scenario only looks at what it cares about.
public final class Connection: Sendable {
    /// The connection's name in the transcript (`A`, `B`, `A2` …).
    public let name: String
    let raw: RawConnection
    let transcript: Transcript
    let options: ConformanceOptions

    struct State: Sendable {
        var received: [WireFrame] = []
        /// Why the connection ended, once it did.
        var ended: String?
        var autoPong = true
        var readingPaused = false
        /// Closed by the kit (not by the runtime).
        var closing = false
        /// When the kit last sent a frame.
        var lastSent = ContinuousClock.now
    }
    let state = Observed(State())
    private let reader = Mutex<Task<Void, Never>?>(nil)
    private let keeper = Mutex<Task<Void, Never>?>(nil)

    init(name: String, raw: RawConnection, transcript: Transcript, options: ConformanceOptions) {
        self.name = name
        self.raw = raw
        self.transcript = transcript
        self.options = options
        transcript.append(name, .note, "connected")
        let task = Task { [self] in await self.read() }
        reader.withLock { $0 = task }
    }

    private func read() async {
        while true {
            // A paused reader leaves frames in the transport: the runtime sees a slow consumer.
            _ = await state.wait(until: .now + .seconds(3600)) { $0.readingPaused ? nil : true }
            let text: String?
            do {
                text = try await raw.transport.receive()
            } catch {
                end(state.read { $0.closing } ? "closed by the kit" : "transport failed: \(error)")
                return
            }
            guard let text else {
                end(state.read { $0.closing } ? "closed by the kit" : "closed by the runtime")
                return
            }
            let frame = transcript.append(name, .received, text)
            let pong = state.update { s -> Bool in
                s.received.append(frame)
                return s.autoPong
            }
            if pong, frame.type == "session.ping" {
                var payload = JSONObject()
                payload.append("ping_nonce", frame.payload("nonce") ?? .string(""))
                payload.append("received_at", .string(ARCPTimestamp.string()))
                _ = try? await send(Envelope.make(
                    "session.pong", payload: .object(payload), sessionID: frame["session_id"]?.stringValue).text)
            }
        }
    }

    private func end(_ why: String) {
        var reason = why
        if let detail = raw.closeDescription() { reason += " (\(detail))" }
        let first = state.update { s -> Bool in
            guard s.ended == nil else { return false }
            s.ended = reason
            return true
        }
        if first { transcript.append(name, .note, reason) }
    }

    // MARK: sending

    /// Sends `text` exactly as given.
    @discardableResult
    public func send(_ text: String) async throws -> WireFrame {
        let frame = transcript.append(name, .sent, text)
        state.update { $0.lastSent = .now }
        do {
            try await raw.transport.send(text)
        } catch {
            throw ScenarioFailure("\(name): could not send \(frame.type ?? "the frame"): \(error)", evidence: [frame])
        }
        return frame
    }

    /// Closes the transport without a goodbye (the runtime sees the connection drop).
    public func close() async {
        let open = state.update { s -> Bool in
            defer { s.closing = true }
            return s.ended == nil && !s.closing
        }
        if open { transcript.append(name, .note, "closing the transport") }
        keeper.withLock { $0?.cancel() }
        await raw.transport.close()
        end("closed by the kit")
    }

    /// Keeps the connection alive as a good peer does (§6.4): a `session.ping` whenever the
    /// kit has sent nothing for half of `interval`. Started for sessions that negotiated
    /// `heartbeat`; ``goSilent()`` stops it.
    func keepAlive(sessionID: String, interval: Duration) {
        let half = interval / 2
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: half)
                guard let self, !Task.isCancelled else { return }
                let (idle, quiet) = self.state.read { (ContinuousClock.now - $0.lastSent >= half, !$0.autoPong || $0.ended != nil || $0.closing) }
                if quiet { return }
                if idle {
                    let payload: JSONValue = ["nonce": .string("keepalive-" + ARCPID.ulid()), "sent_at": .string(ARCPTimestamp.string())]
                    _ = try? await self.send(Envelope.make("session.ping", payload: payload, sessionID: sessionID).text)
                }
            }
        }
        keeper.withLock { $0 = task }
    }

    /// Stops answering the runtime's pings and sending keep-alive pings: the kit says nothing
    /// more unless a scenario sends something (to test heartbeat loss).
    public func goSilent() {
        state.update { $0.autoPong = false }
        keeper.withLock { $0?.cancel() }
        transcript.append(name, .note, "silent: no more pongs or keep-alive pings")
    }

    /// Stops reading: frames stay in the transport until ``resumeReading()``.
    public func pauseReading() {
        state.update { $0.readingPaused = true }
        transcript.append(name, .note, "reading paused")
    }

    /// Reads again after ``pauseReading()``: the frames that waited in the transport come in.
    public func resumeReading() {
        state.update { $0.readingPaused = false }
        transcript.append(name, .note, "reading resumed")
    }

    // MARK: reading

    /// Every frame received so far.
    public var received: [WireFrame] { state.read { $0.received } }

    /// The number of frames received so far: a mark to search after.
    public var mark: Int { state.read { $0.received.count } }

    /// Why the connection ended, or nil while it is open.
    public var ended: String? { state.read { $0.ended } }

    /// The first received frame at or after position `mark` that matches, waiting up to
    /// `timeout` (default: the options' response timeout).
    /// - Throws: ``ScenarioFailure`` when none arrives in time or the connection ends first.
    public func frame(
        _ what: String, after mark: Int = 0, timeout: Duration? = nil, where match: @Sendable (WireFrame) -> Bool
    ) async throws -> WireFrame {
        let limit = timeout ?? options.responseTimeout
        var next = mark  // each frame is looked at once, however often the waiter wakes
        let found = await state.wait(until: .now + limit) { s -> Result<WireFrame, ScenarioFailure>? in
            while next < s.received.count {
                let f = s.received[next]
                next += 1
                if match(f) { return .success(f) }
            }
            if let ended = s.ended {
                return .failure(ScenarioFailure("\(self.name): the connection ended (\(ended)) before \(what)"))
            }
            return nil
        }
        switch found {
        case .success(let f)?: return f
        case .failure(let e)?: throw e
        case nil:
            if Task.isCancelled { throw CancellationError() }
            throw ScenarioFailure("\(name): no \(what) within \(Self.format(limit))", evidence: Array(received.suffix(6)))
        }
    }

    /// The first frame at or after `mark` that matches, or nil if none arrives within `timeout`
    /// (or the connection ends). For checking that something does not happen.
    public func frameIfAny(
        after mark: Int = 0, within timeout: Duration, where match: @Sendable (WireFrame) -> Bool
    ) async -> WireFrame? {
        var next = mark
        return await state.wait(until: .now + timeout) { s -> WireFrame?? in
            while next < s.received.count {
                let f = s.received[next]
                next += 1
                if match(f) { return .some(f) }
            }
            if s.ended != nil { return .some(nil) }
            return nil
        } ?? nil
    }

    /// Waits for the connection to end; returns why, or nil if it is still open after `timeout`.
    public func waitEnded(timeout: Duration) async -> String? {
        await state.wait(until: .now + timeout) { $0.ended }
    }

    static func format(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000) s" : String(format: "%.1f s", Double(ms) / 1000)
    }
}

/// Building envelopes.
public enum Envelope {
    /// The protocol version the kit speaks.
    public static let version = "1.1"

    /// A frame: `{arcp, id, type, session_id?, trace_id?, job_id?, payload, extra…}`.
    public static func make(
        _ type: String, payload: JSONValue, id: String = ARCPID.ulid(), sessionID: String? = nil, jobID: String? = nil,
        traceID: String? = nil, extra: JSONObject = [:]
    ) -> (id: String, text: String) {
        var o = JSONObject()
        o.append("arcp", .string(version))
        o.append("id", .string(id))
        o.append("type", .string(type))
        if let sessionID { o.append("session_id", .string(sessionID)) }
        if let traceID { o.append("trace_id", .string(traceID)) }
        if let jobID { o.append("job_id", .string(jobID)) }
        o.append("payload", payload)
        for m in extra { o[m.key] = m.value }
        return (id, JSONWriter.string(.object(o)))
    }
}
