import ARCPGenerated
import Foundation

/// The results of a run, and their renderings: a table, JSON, JUnit XML.
public struct ConformanceReport: Sendable {
    /// What was tested (URL or command).
    public let target: String
    /// The runtime's name and version from its welcome.
    public let runtime: String?
    /// Why no scenario could run (the probe session failed), if so.
    public let profileError: String?
    /// Every scenario's result, in the order of the scenarios given.
    public let results: [ScenarioResult]
    /// How long the whole run took.
    public let duration: Duration

    /// The scenarios that passed.
    public var passed: [ScenarioResult] { results.filter(\.passed) }
    /// The scenarios that failed.
    public var failed: [ScenarioResult] { results.filter(\.failed) }
    /// The scenarios that were skipped, each with its reason.
    public var skipped: [ScenarioResult] { results.filter(\.skipped) }

    /// The ids of the failed scenarios.
    public var failedIDs: Set<String> { Set(failed.map(\.scenario.id)) }

    /// Whether no MUST scenario failed (and, with `strict`, no SHOULD scenario either).
    public func conforms(strict: Bool = false) -> Bool {
        profileError == nil && !failed.contains { strict || $0.scenario.level == .must }
    }

    /// One line: `90 passed, 3 failed (2 MUST, 1 SHOULD), 5 skipped in 12.3 s`.
    public var summary: String {
        let must = failed.filter { $0.scenario.level == .must }.count
        let should = failed.count - must
        let detail = failed.isEmpty ? "" : " (\(must) MUST, \(should) SHOULD)"
        return "\(passed.count) passed, \(failed.count) failed\(detail), \(skipped.count) skipped in \(Connection.format(duration))"
    }

    // MARK: table

    /// The human-readable report: one row per scenario, then each failure with its frames.
    /// - Parameter frames: how many frames to show per failure (the evidence, else the last ones).
    public func table(frames: Int = 12) -> String {
        var out = "ARCP conformance: \(target)\(runtime.map { " (\($0))" } ?? "")\n"
        if let profileError { out += "error: \(profileError)\n" }
        let idWidth = max(10, results.map(\.scenario.id.count).max() ?? 10)
        let secWidth = max(7, results.map(\.scenario.sectionLabel.count).max() ?? 7)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        out += "\(pad("SCENARIO", idWidth))  \(pad("SECTION", secWidth))  LEVEL   RESULT\n"
        for r in results {
            var line = "\(pad(r.scenario.id, idWidth))  \(pad(r.scenario.sectionLabel, secWidth))  \(pad(r.scenario.level.rawValue, 6))  \(r.outcome.label)"
            if case .skipped(let why) = r.outcome { line += "  (\(why))" }
            out += line + "\n"
        }
        for r in failed {
            guard case .failed(let why) = r.outcome else { continue }
            out += "\nFAIL \(r.scenario.id) (\(r.scenario.sectionLabel) \(r.scenario.level.rawValue)): \(r.scenario.title)\n"
            out += "  spec: \(r.scenario.requirement)\n"
            out += "  why:  \(why)\n"
            let shown = r.evidence.isEmpty ? Array(r.transcript.suffix(frames)) : Array(r.evidence.prefix(frames))
            if !shown.isEmpty {
                out += r.evidence.isEmpty ? "  last frames:\n" : "  frames:\n"
                for f in shown { out += "    \(f.line(limit: 400))\n" }
            }
            out += "  reproduce: arcp conformance --only \(r.scenario.id) …\n"
        }
        out += "\n\(summary)\n"
        return out
    }

    // MARK: JSON

    /// The report as JSON: target, runtime, summary, and per scenario its metadata, outcome,
    /// evidence and full transcript.
    public func json() -> String {
        func frameJSON(_ f: WireFrame) -> JSONValue {
            var o = JSONObject()
            o.append("n", .int(Int64(f.index)))
            o.append("t_ms", .int(Int64(f.at.components.seconds * 1000 + f.at.components.attoseconds / 1_000_000_000_000_000)))
            o.append("conn", .string(f.connection))
            o.append("dir", .string(f.direction == .sent ? "c2s" : f.direction == .received ? "s2c" : "note"))
            o.append(f.direction == .note ? "note" : "raw", .string(f.text))
            return .object(o)
        }
        var results: [JSONValue] = []
        for r in self.results {
            var o = JSONObject()
            o.append("id", .string(r.scenario.id))
            o.append("section", .string(r.scenario.section))
            o.append("draft", .string(r.scenario.draft.rawValue))
            o.append("level", .string(r.scenario.level.rawValue))
            o.append("title", .string(r.scenario.title))
            o.append("requirement", .string(r.scenario.requirement))
            switch r.outcome {
            case .passed: o.append("outcome", "pass")
            case .failed(let why):
                o.append("outcome", "fail")
                o.append("reason", .string(why))
            case .skipped(let why):
                o.append("outcome", "skip")
                o.append("reason", .string(why))
            }
            o.append("duration_ms", .int(Int64(r.duration.components.seconds * 1000 + r.duration.components.attoseconds / 1_000_000_000_000_000)))
            if !r.evidence.isEmpty { o.append("evidence", .array(r.evidence.map(frameJSON))) }
            if !r.transcript.isEmpty { o.append("transcript", .array(r.transcript.map(frameJSON))) }
            results.append(.object(o))
        }
        var root = JSONObject()
        root.append("target", .string(target))
        if let runtime { root.append("runtime", .string(runtime)) }
        if let profileError { root.append("error", .string(profileError)) }
        root.append("summary", [
            "passed": .int(Int64(passed.count)), "failed": .int(Int64(failed.count)), "skipped": .int(Int64(skipped.count)),
            "failed_must": .int(Int64(failed.filter { $0.scenario.level == .must }.count)),
        ])
        root.append("results", .array(results))
        return JSONWriter.string(.object(root))
    }

    // MARK: JUnit

    /// JUnit XML: one test case per scenario (class `arcp.<section>`), failures with their
    /// frames, skips with the reason.
    public func junit() -> String {
        func esc(_ s: String) -> String {
            var out = ""
            for u in s.unicodeScalars {
                switch u {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&quot;"
                case "\n", "\t": out.unicodeScalars.append(u)
                default:
                    // XML 1.0 has no place for other control characters.
                    if u.value < 0x20 { out += "?" } else { out.unicodeScalars.append(u) }
                }
            }
            return out
        }
        let seconds = { (d: Duration) in String(format: "%.3f", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) }
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"arcp-conformance\" tests=\"\(results.count)\" failures=\"\(failed.count)\" skipped=\"\(skipped.count)\" time=\"\(seconds(duration))\">\n"
        out += "  <testsuite name=\"\(esc(target))\" tests=\"\(results.count)\" failures=\"\(failed.count)\" skipped=\"\(skipped.count)\" time=\"\(seconds(duration))\">\n"
        for r in results {
            let cls = "arcp.\(r.scenario.draft == .v1_0 ? "02." : "")\(r.scenario.section)"
            out += "    <testcase classname=\"\(esc(cls))\" name=\"\(esc(r.scenario.id)) [\(r.scenario.level.rawValue)]\" time=\"\(seconds(r.duration))\""
            switch r.outcome {
            case .passed:
                out += "/>\n"
            case .skipped(let why):
                out += ">\n      <skipped message=\"\(esc(why))\"/>\n    </testcase>\n"
            case .failed(let why):
                let frames = (r.evidence.isEmpty ? Array(r.transcript.suffix(20)) : r.evidence).map { $0.line(limit: 2000) }
                out += ">\n      <failure message=\"\(esc(why))\">\(esc(r.scenario.requirement + "\n\n" + frames.joined(separator: "\n")))</failure>\n    </testcase>\n"
            }
        }
        out += "  </testsuite>\n</testsuites>\n"
        return out
    }
}
