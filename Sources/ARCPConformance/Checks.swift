import ARCPGenerated
import Foundation

/// Small predicates the scenarios share.
public enum Checks {
    /// Whether `v` is a JSON object.
    public static func isObject(_ v: JSONValue?) -> Bool { v?.objectValue != nil }

    /// Whether `v` is an RFC 3339 timestamp string.
    public static func isTimestamp(_ v: JSONValue?, utc: Bool = false) -> Bool {
        v?.stringValue.map { ARCPFormat.isTimestamp($0, requireZ: utc) } ?? false
    }

    /// Whether `v` is a W3C trace id (32 lowercase hex, not all zero).
    public static func isTraceID(_ v: JSONValue?) -> Bool { v?.stringValue.map(ARCPFormat.isTraceID) ?? false }

    /// The first place where `frames`' `event_seq`s are not consecutive (each one more than the
    /// one before), as a message and the two frames; nil when they are.
    public static func gap(in frames: [WireFrame]) -> (String, [WireFrame])? {
        var previous: WireFrame?
        for f in frames {
            guard let seq = f.eventSeq else { return ("\(f.type ?? "frame") without an integer event_seq", [f]) }
            if let p = previous, let ps = p.eventSeq, seq != ps + 1 {
                return ("event_seq \(seq) follows \(ps) (expected \(ps + 1))", [p, f])
            }
            previous = f
        }
        return nil
    }

    /// The agent name of an agent reference (`name@version` → `name`).
    public static func agentName(_ ref: String?) -> String? {
        ref.map { String($0.split(separator: "@", maxSplits: 1).first ?? "") }
    }

    /// A number, or a string holding one (some runtimes send amounts as strings; the scenario
    /// that checks the form says so).
    public static func amount(_ v: JSONValue?) -> Double? {
        if let d = v?.doubleValue { return d }
        guard var s = v?.stringValue else { return nil }
        if let colon = s.lastIndex(of: ":") { s = String(s[s.index(after: colon)...]) }
        return Double(s)
    }

    /// Whether two amounts are equal to the cent's hundredth.
    public static func same(_ a: Double?, _ b: Double) -> Bool {
        guard let a else { return false }
        return abs(a - b) < 1e-6
    }

    /// The payload without `request_id` (which differs per request), for comparing answers.
    public static func withoutRequestID(_ payload: JSONValue?) -> JSONValue {
        guard var o = payload?.objectValue else { return payload ?? .null }
        o["request_id"] = nil
        return .object(o)
    }

    /// A UTC timestamp `seconds` from now, e.g. `2026-05-13T23:42:00.000Z`.
    public static func timestamp(in seconds: Double) -> String {
        ARCPTimestamp.string(Date().addingTimeInterval(seconds))
    }

    /// A fresh W3C trace id.
    public static func traceID() -> String { ARCPID.traceID() }
}
