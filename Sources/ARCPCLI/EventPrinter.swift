import ARCP
import Foundation
import Synchronization

/// Prints a job's events and outcome for `submit` and `tail`.
///
/// - `json`: one compact JSON object per line, shaped like the wire envelopes
///   (`{"type":"job.event","job_id":…,"event_seq":…,"payload":{"kind","body","ts"}}`, then
///   `job.result` or `job.error`).
/// - otherwise one readable line per event; on a terminal, `progress` events redraw one live
///   progress bar instead of printing a line each.
///
/// Safe to call from several tasks: output is serialized by a lock.
final class EventPrinter: Sendable {
    let json: Bool
    let live: Bool
    private struct Bar {
        var visible = false
        var last: ProgressBody?
    }
    private let bar = Mutex(Bar())

    init(json: Bool, terminal: Bool = stdoutIsTerminal) {
        self.json = json
        self.live = terminal && !json
    }

    func accepted(_ a: JobAcceptedPayload, jobID: String) {
        if json {
            emitJSON(["type": "job.accepted", "job_id": .string(jobID), "payload": a.toJSON()])
        } else {
            var line = "job \(jobID) accepted (agent \(a.agent ?? "?"))"
            if let lease = a.lease, !lease.isEmpty { line += " lease \(compactJSON(lease.toJSON()))" }
            printLine(line)
        }
    }

    func subscribed(_ s: JobSubscribedPayload) {
        if json {
            emitJSON(["type": "job.subscribed", "job_id": .string(s.jobId), "payload": s.toJSON()])
        } else {
            printLine("subscribed to job \(s.jobId) (agent \(s.agent ?? "?"), \(s.currentStatus?.rawValue ?? "?"))")
        }
    }

    func event(_ e: JobEvent, jobID: String) {
        if json {
            var payload = JSONObject()
            payload.append("kind", .string(e.body.kind))
            payload.append("body", e.body.bodyJSON)
            if let ts = e.ts { payload.append("ts", .string(ts)) }
            emitJSON(["type": "job.event", "job_id": .string(jobID), "event_seq": .int(Int64(e.seq)), "payload": .object(payload)])
            return
        }
        if case .progress(let p) = e.body, live {
            drawBar(p)
            return
        }
        printLine("[\(e.seq)] " + Self.describe(e.body))
    }

    /// The job ended successfully (`job.result success`).
    func result(_ outcome: JobOutcome, jobID: String) {
        clearBar(keepLast: true)
        if json {
            var line: JSONObject = ["type": "job.result", "job_id": .string(jobID), "payload": outcome.payload.toJSON()]
            if outcome.payload.resultId != nil, let assembled = outcome.result {
                line.append("assembled_result", assembled)
            }
            emitJSON(.object(line))
            return
        }
        var head = "result (\(outcome.finalStatus.rawValue))"
        if let id = outcome.resultID { head += " streamed as \(id), \(outcome.resultSize ?? 0) bytes" }
        if let s = outcome.summary { head += ": \(s)" }
        printLine(head)
        if let r = outcome.result {
            if case .string(let text) = r, outcome.resultID != nil {
                printLine(text)
            } else {
                printLine(prettyJSON(r))
            }
        }
    }

    /// The job failed, was cancelled or timed out.
    func failed(_ error: ARCPError, jobID: String) {
        clearBar(keepLast: true)
        let status = error.finalStatus?.rawValue ?? "error"
        if json {
            var payload: JSONObject = [
                "code": .string(error.code.rawValue), "message": .string(error.message), "retryable": .bool(error.retryable),
                "final_status": .string(status),
            ]
            if let d = error.details { payload.append("details", d) }
            emitJSON(["type": "job.error", "job_id": .string(jobID), "payload": .object(payload)])
            return
        }
        printLine("job \(jobID) ended \(status): \(error.code.rawValue): \(error.message)\(error.retryable ? " (retryable)" : "")")
    }

    func note(_ text: String) {
        if json { return }
        printLine(text)
    }

    // MARK: rendering

    static func describe(_ body: EventBody) -> String {
        switch body {
        case .log(let l):
            return "log \(l.level): \(l.message)" + (l.attributes.map { " " + shortJSON($0) } ?? "")
        case .thought(let t):
            return "thought: \(t.text)"
        case .toolCall(let c):
            let tool = c.tool ?? c.name ?? "?"
            let id = c.callId ?? c.toolCallId
            return "tool_call \(tool) \(shortJSON(c.args ?? c.arguments))" + (id.map { " (call \($0))" } ?? "")
        case .toolResult(let r):
            let id = r.callId ?? r.toolCallId ?? "?"
            if let err = r.error { return "tool_result \(id) error \(shortJSON(err))" }
            return "tool_result \(id) \(shortJSON(r.result ?? r.output))"
        case .status(let s):
            return "status \(s.phase)" + (s.message.map { ": \($0)" } ?? "")
        case .metric(let m):
            return "metric \(m.name) = \(formatNumber(m.value))" + (m.unit.map { " \($0)" } ?? "")
        case .artifactRef(let a):
            var extra: [String] = []
            if let t = a.contentType ?? a.mediaType { extra.append(t) }
            if let n = a.byteSize ?? a.sizeBytes { extra.append("\(n) bytes") }
            return "artifact_ref \(a.uri)" + (extra.isEmpty ? "" : " (\(extra.joined(separator: ", ")))")
        case .delegate(let d):
            return "delegate → \(d.agent)" + (d.childJobId.map { " (job \($0))" } ?? "")
        case .progress(let p):
            return "progress " + progressText(p)
        case .resultChunk(let c):
            let size = c.encoding == .base64 ? (Data(base64Encoded: c.data)?.count ?? 0) : c.data.utf8.count
            return "result_chunk #\(c.chunkSeq) \(size) bytes \(c.encoding.rawValue)\(c.more ? "" : " (last)")"
        case .vendor(let kind, let b):
            return "\(kind) \(shortJSON(b))"
        @unknown default:  // a kind a later schema adds (docs/CODEGEN.md, "Evolution policy")
            return "\(body.kind) \(shortJSON(body.bodyJSON))"
        }
    }

    static func progressText(_ p: ProgressBody) -> String {
        var s = formatNumber(p.current)
        if let t = p.total { s += "/\(formatNumber(t))" }
        if let u = p.units { s += " \(u)" }
        if let m = p.message { s += ": \(m)" }
        return s
    }

    private func drawBar(_ p: ProgressBody) {
        bar.withLock { Self.draw(p, &$0) }
    }

    private static func draw(_ p: ProgressBody, _ state: inout Bar) {
        let width = 30
        var bar = ""
        if let total = p.total, total > 0 {
            let fraction = min(1, max(0, p.current / total))
            let filled = Int((fraction * Double(width)).rounded(.down))
            bar = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
            bar += String(format: "%3d%% ", Int((fraction * 100).rounded(.down)))
        }
        var text = bar + progressText(p)
        if text.count > 100 { text = String(text.prefix(99)) + "…" }
        writeStdout("\r\u{1B}[2K" + text)
        state.visible = true
        state.last = p
    }

    /// Removes the live bar; with `keepLast`, leaves the last progress as a plain line.
    private func clearBar(keepLast: Bool) {
        bar.withLock { state in
            guard state.visible else { return }
            writeStdout("\r\u{1B}[2K")
            state.visible = false
            if keepLast, let p = state.last { writeStdout("progress " + Self.progressText(p) + "\n") }
            state.last = nil
        }
    }

    private func printLine(_ text: String) {
        bar.withLock { state in
            if state.visible, let p = state.last {
                writeStdout("\r\u{1B}[2K" + text + "\n")
                Self.draw(p, &state)
            } else {
                writeStdout(text + "\n")
            }
        }
    }

    private func emitJSON(_ value: JSONValue) {
        bar.withLock { _ in writeStdout(compactJSON(value) + "\n") }
    }
}
