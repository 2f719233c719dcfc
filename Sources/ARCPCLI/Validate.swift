import ARCP
import ArgumentParser
import Foundation

/// `arcp validate`: check frames against the ARCP schema with the generated validators.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate ARCP frames (JSON or JSONL) against the schema and print each violation with its path.",
        discussion: """
            Input: one JSON envelope, a JSON array of envelopes, or JSONL (one envelope per \
            line). Transcript records are understood too: a line {"raw": "<frame text>"} is \
            checked as that exact text, a line {"frame": {…}} as that value, and records with \
            neither (e.g. {"close": …}, {"note": …}) are skipped.

            Each invalid frame is reported as `SOURCE:LINE: TYPE ID: N violation(s)` followed \
            by one `  /json/pointer: [rule] message` line per violation. Exit status: 0 when \
            every frame is valid, 1 when any is invalid, 2 when the input cannot be read or \
            holds no frame.

            Examples:
              arcp validate frame.json
              arcp validate session.jsonl
              some-tool --dump-frames | arcp validate -
              arcp validate --definition JobSubmitPayload payload.json
              arcp validate --quiet transcripts/*.jsonl && echo all valid
            """)

    @Argument(help: ArgumentHelp("Files to check; `-` or none reads stdin.", valueName: "file"))
    var files: [String] = []

    @Option(help: ArgumentHelp("Validate against this schema definition instead of Envelope (e.g. JobSubmitPayload).", valueName: "name"))
    var definition = "Envelope"

    @Flag(name: .shortAndLong, help: "Print only the summary line (and nothing when all is valid).")
    var quiet = false

    @Flag(help: "One JSON object per frame: {source, line, valid, type, id, violations:[{path, rule, message}]}.")
    var json = false

    func validate() throws {
        guard SchemaDefinition(rawValue: definition) != nil else {
            let names = SchemaDefinition.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("unknown --definition \(definition); one of: \(names)")
        }
    }

    /// A frame that is not even JSON.
    struct BadFrame: Error {
        var violation: Violation
    }

    /// One frame to check, and where it came from.
    struct Item {
        var line: Int
        var value: Result<JSONValue, BadFrame>
        var text: String?
    }

    func run() throws {
        let def = SchemaDefinition(rawValue: definition) ?? .envelope
        let sources = files.isEmpty ? ["-"] : files
        var total = 0
        var invalid = 0
        for source in sources {
            let text: String
            do {
                text = try Self.read(source)
            } catch {
                writeStderr("arcp validate: cannot read \(source): \(error.localizedDescription)\n")
                throw ExitCode(ExitCodes.failure)
            }
            let items = Self.items(in: text, records: def == .envelope)
            let name = source == "-" ? "<stdin>" : source
            for item in items {
                total += 1
                let violations: [Violation]
                switch item.value {
                case .failure(let bad): violations = [bad.violation]
                case .success(let value):
                    violations = item.text.map { ARCPValidator.validate(frame: $0, as: def) } ?? ARCPValidator.validate(value, as: def)
                }
                if !violations.isEmpty { invalid += 1 }
                report(name, item, violations)
            }
        }
        if total == 0 {
            writeStderr("arcp validate: no frames found in \(sources.joined(separator: ", "))\n")
            throw ExitCode(ExitCodes.failure)
        }
        if !json && (!quiet || invalid > 0) {
            let line = "\(total) frame\(total == 1 ? "" : "s"), \(invalid) invalid\n"
            if invalid > 0 { writeStderr(line) } else { writeStdout(line) }
        }
        if invalid > 0 { throw ExitCode(ExitCodes.jobFailed) }
    }

    func report(_ source: String, _ item: Item, _ violations: [Violation]) {
        var type: String?
        var id: String?
        if case .success(let v) = item.value {
            type = v["type"]?.stringValue
            id = v["id"]?.stringValue
        }
        if json {
            var o: JSONObject = ["source": .string(source), "line": .int(Int64(item.line)), "valid": .bool(violations.isEmpty)]
            if let type { o.append("type", .string(type)) }
            if let id { o.append("id", .string(id)) }
            o.append("violations", .array(violations.map {
                ["path": .string($0.path), "rule": .string($0.rule), "message": .string($0.message)]
            }))
            writeStdout(compactJSON(.object(o)) + "\n")
            return
        }
        guard !violations.isEmpty, !quiet else { return }
        let what = [type, id].compactMap { $0 }.joined(separator: " ")
        var out = "\(source):\(item.line): \(what.isEmpty ? "frame" : what): \(violations.count) violation\(violations.count == 1 ? "" : "s")\n"
        for v in violations { out += "  \(v.path.isEmpty ? "/" : v.path): [\(v.rule)] \(v.message)\n" }
        writeStdout(out)
    }

    static func read(_ source: String) throws -> String {
        let data: Data
        if source == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            data = try Data(contentsOf: URL(fileURLWithPath: source))
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Splits input into frames: a whole JSON document (object or array), else JSONL.
    static func items(in text: String, records: Bool = true) -> [Item] {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return [] }
        if let whole = try? JSONParser.parse(trimmed) {
            switch whole {
            case .array(let elements):
                return elements.compactMap { item(from: $0, text: nil, line: 1, records: records) }
            default:
                if let one = item(from: whole, text: trimmed, line: 1, records: records) { return [one] }
                return []
            }
        }
        var out: [Item] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? String(rawLine.dropLast()) : String(rawLine)
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            do {
                let value = try JSONParser.parse(line)
                if let item = item(from: value, text: line, line: index + 1, records: records) { out.append(item) }
            } catch {
                out.append(Item(line: index + 1, value: .failure(BadFrame(violation: Violation(path: "", rule: "json", message: error.description))), text: nil))
            }
        }
        return out
    }

    /// An envelope as is; a transcript record by its `raw` text or `frame` value; nil for
    /// records that hold no frame.
    static func item(from value: JSONValue, text: String?, line: Int, records: Bool) -> Item? {
        guard records, case .object(let o) = value, o["type"] == nil, o["arcp"] == nil else {
            return Item(line: line, value: .success(value), text: text)
        }
        if case .string(let raw)? = o["raw"] {
            do {
                return Item(line: line, value: .success(try JSONParser.parse(raw)), text: raw)
            } catch {
                return Item(line: line, value: .failure(BadFrame(violation: Violation(path: "", rule: "json", message: error.description))), text: nil)
            }
        }
        if let frame = o["frame"] { return Item(line: line, value: .success(frame), text: nil) }
        if o["close"] != nil || o["note"] != nil { return nil }
        return Item(line: line, value: .success(value), text: text)
    }
}
