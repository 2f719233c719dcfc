import ARCPGenerated
import Foundation

/// One entry of a scenario's transcript: a frame a connection sent or received, exactly as it
/// went over the wire, or a note (a connection opened or closed, a pause, a decision).
public struct WireFrame: Sendable, CustomStringConvertible {
    /// Which way the frame went, from the kit's side.
    public enum Direction: String, Sendable, Codable {
        /// The kit sent it to the runtime.
        case sent = ">"
        /// The runtime sent it to the kit.
        case received = "<"
        /// Not a frame: something that happened (open, close, drop, wait).
        case note = "#"
    }

    /// Position in the scenario's transcript (0-based).
    public let index: Int
    /// The connection's name within the scenario (`A`, `B`, `A2` …).
    public let connection: String
    /// Which way it went (or a note).
    public let direction: Direction
    /// The exact text (for a note, the note).
    public let text: String
    /// The parsed frame, or nil when the text is not JSON (or for a note).
    public let json: JSONValue?
    /// When it happened, from the start of the scenario.
    public let at: Duration

    init(index: Int, connection: String, direction: Direction, text: String, at: Duration) {
        self.index = index
        self.connection = connection
        self.direction = direction
        self.text = text
        self.at = at
        let json = direction == .note ? nil : (try? JSONParser.parse(text))
        self.json = json
        type = json?["type"]?.stringValue
        jobID = json?["job_id"]?.stringValue ?? json?["payload"]?["job_id"]?.stringValue
        eventSeq = json?["event_seq"]?.int64Value
        kind = json?["payload"]?["kind"]?.stringValue
    }

    // MARK: envelope fields

    /// An envelope member (`type`, `id`, `session_id`, `job_id`, `event_seq`, `trace_id` …).
    public subscript(_ key: String) -> JSONValue? { json?[key] }
    /// `type`.
    public let type: String?
    /// `id`.
    public var id: String? { json?["id"]?.stringValue }
    /// `payload`.
    public var payload: JSONValue? { json?["payload"] }
    /// A payload member.
    public func payload(_ key: String) -> JSONValue? { json?["payload"]?[key] }
    /// The envelope's `job_id`, else the payload's.
    public let jobID: String?
    /// `event_seq` when it is an integer.
    public let eventSeq: Int64?
    /// `trace_id`.
    public var traceID: String? { json?["trace_id"]?.stringValue }
    /// `payload.kind` of a `job.event`.
    public let kind: String?
    /// `payload.body` of a `job.event`.
    public var body: JSONValue? { payload("body") }
    /// `payload.code` of an error.
    public var code: String? { payload("code")?.stringValue }
    /// `payload.request_id`: the request this frame answers, when it says.
    public var requestID: String? { payload("request_id")?.stringValue }
    /// `payload.final_status` of a terminal frame.
    public var finalStatus: String? { payload("final_status")?.stringValue }

    /// Whether this is a `job.result` or `job.error`.
    public var isTerminal: Bool { type == "job.result" || type == "job.error" }
    /// Whether this is a frame the runtime numbers with `event_seq` (§8.3).
    public var isSequenced: Bool { type == "job.event" || type == "job.result" || type == "job.error" }
    /// Whether this is heartbeat traffic (`session.ping` / `session.pong`).
    public var isHeartbeat: Bool { type == "session.ping" || type == "session.pong" }

    /// `A< {...}` with the text cut to `limit` characters.
    public func line(limit: Int = 600) -> String {
        let shown = text.count > limit ? String(text.prefix(limit)) + "… (\(text.utf8.count) bytes)" : text
        let ms = Int(at.components.seconds * 1000 + at.components.attoseconds / 1_000_000_000_000_000)
        return "\(String(format: "%6d", ms))ms \(connection)\(direction.rawValue) \(shown)"
    }

    public var description: String { line() }
}
