import ARCPGenerated
import Foundation

/// `arcp-bench codec`: decode+validate and encode throughput of a real `job.event` envelope,
/// measured the way the Python reference's `bench.py codec` does (same text, same count,
/// `event_seq` and `body.current` varied), along the runtime's own path:
///
/// - decode+validate: `Envelope.decodeValidated(frame: text)`, the single-pass decoder, the
///   envelope dropped after each frame (what an inbound frame costs); the same with every
///   envelope kept in an array; and the two-pass path (`JSONParser.parse` →
///   `ARCPValidator.validate` → `Envelope(json:)`) for comparison;
/// - encode: `envelope.jsonText()`, the generated direct writer (and, for comparison,
///   `JSONWriter.string(envelope.toJSON())`).
///
/// Breakdown rows (parse only, validate only, decode only, Data input) help profiling.
enum CodecBench: BenchCommand {
    static let name = "codec"
    static let summary = "decode+validate and encode throughput of a real job.event envelope (vs the Python reference)"

    /// The Python reference's figures on this machine (../shared/reference/python-1.1.3/bench/RESULTS.md, #4).
    static let pythonRuntimeDecode = 170_031.0
    static let pythonRuntimeEncode = 140_707.0
    static let pythonPydanticDecode = 329_895.0
    static let pythonPydanticEncode = 397_547.0

    static let help = """
        usage: arcp-bench codec [--count N] [--reps N] [--json] [--transcript PATH]
                                [--python-decode X] [--python-encode X] [--pydantic-decode X] [--pydantic-encode X]

          --count N           envelopes per repetition (default 100000, as bench.py)
          --reps N            repetitions (default 7, as bench.py); median (min-max) is reported
          --json              print one JSON document instead of the table
          --transcript PATH   06_progress_events.jsonl (default: ../shared/reference/python-1.1.3/transcripts/)
          --python-decode X   Python runtime-path decode figure to compare with (default 170031, RESULTS.md)
          --python-encode X   Python runtime-path encode figure to compare with (default 140707, RESULTS.md)
          --pydantic-decode X, --pydantic-encode X
                              pydantic model_validate_json / model_dump_json figures (default 329895 / 397547)
          --only LOOP         profiling aid: run only one loop (decode, two-pass, encode, parse)
        """

    static func run(arguments: [String]) async throws {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(help)
            return
        }
        let a = try BenchArguments(
            arguments, valueFlags: ["--count", "--reps", "--transcript", "--python-decode", "--python-encode", "--pydantic-decode", "--pydantic-encode", "--only"], switchFlags: ["--json"])
        let count = try a.int("--count", default: 100_000)
        let reps = try a.int("--reps", default: 7)
        let transcript = a.string("--transcript").map { URL(fileURLWithPath: $0) }
            ?? SharedPaths.transcripts.appendingPathComponent("06_progress_events.jsonl")
        let pyDecode = try a.double("--python-decode") ?? pythonRuntimeDecode
        let pyEncode = try a.double("--python-encode") ?? pythonRuntimeEncode
        let pydDecode = try a.double("--pydantic-decode") ?? pythonPydanticDecode
        let pydEncode = try a.double("--pydantic-encode") ?? pythonPydanticEncode

        let base = try loadEventText(transcript)
        let texts = try makeTexts(from: base, count: count)
        try checkRoundTrip(texts)
        if let only = a.string("--only") {
            // Profiling aid: run one loop only, `reps` times, and print its rates.
            let loops: [String: () -> Int] = [
                "decode": { decodeValidate(texts) }, "two-pass": { decodeValidateTwoPass(texts) },
                "encode": { let e = decodeValidateRetained(texts); return encode(e).count },
                "parse": { parseOnly(texts) },
            ]
            guard let loop = loops[only] else { throw BenchError("--only takes one of \(loops.keys.sorted())") }
            var sink = 0
            for _ in 0..<reps { print("\(only): \(Format.grouped(Double(count) / measure { sink &+= loop() })) env/s") }
            blackHole(sink)
            return
        }
        let datas = texts.map { Data($0.utf8) }
        let values = try texts.map { try JSONParser.parse($0) }

        var rows: [(key: String, label: String, rates: [Double])] = [
            ("decode_validate", "decode+validate, single pass, dropped", []),
            ("decode_validate_retained", "decode+validate, single pass, all kept", []),
            ("encode", "encode (envelope.jsonText(), direct writer)", []),
            ("encode_via_json_value", "encode via toJSON() + JSONWriter", []),
            ("decode_validate_two_pass", "decode+validate, two-pass path, dropped", []),
            ("decode_validate_data", "decode+validate, single pass, from Data", []),
            ("parse_only", "  parse only (JSONParser → JSONValue)", []),
            ("validate_only", "  validate only (parsed JSONValue)", []),
            ("decode_only", "  decode only (JSONValue → Envelope)", []),
        ]
        var checksum = 0
        // One untimed warm-up pass over everything.
        checksum &+= decodeValidate(texts) &+ decodeValidateTwoPass(texts)
        for rep in 0..<reps {
            var r: [Double] = []
            var sink = 0
            r.append(Double(count) / measure { sink &+= decodeValidate(texts) })
            var kept: [Envelope] = []
            r.append(Double(count) / measure { kept = decodeValidateRetained(texts) })
            var outs: [String] = []
            r.append(Double(count) / measure { outs = encode(kept) })
            guard kept.count == count, outs.last == texts.last else { throw BenchError("decode/encode does not reproduce the input text") }
            r.append(Double(count) / measure { outs = encodeViaJSONValue(kept) })
            guard outs.last == texts.last else { throw BenchError("toJSON route does not reproduce the input text") }
            r.append(Double(count) / measure { sink &+= decodeValidateTwoPass(texts) })
            r.append(Double(count) / measure { sink &+= decodeValidate(datas) })
            r.append(Double(count) / measure { sink &+= parseOnly(texts) })
            r.append(Double(count) / measure { sink &+= validateOnly(values) })
            r.append(Double(count) / measure { sink &+= decodeOnly(values) })
            blackHole(kept)
            blackHole(outs)
            checksum &+= sink
            for i in rows.indices { rows[i].rates.append(r[i]) }
            if !a.has("--json") {
                FileHandle.standardError.write(Data("rep \(rep + 1)/\(reps): decode+validate \(Format.grouped(r[0])) env/s, encode \(Format.grouped(r[2])) env/s\n".utf8))
            }
        }
        blackHole(checksum)

        let summaries = rows.map { ($0.key, $0.label, Summary($0.rates)) }
        let decode = summaries[0].2.median, encodeRate = summaries[2].2.median
        if a.has("--json") {
            var results: [String: Any] = [:]
            for (key, _, s) in summaries { results[key + "_per_s"] = s.json }
            let doc: [String: Any] = [
                "benchmark": "codec", "count": count, "reps": reps, "text_bytes": base.utf8.count, "sample_text": base,
                "machine": Machine.description, "results": results,
                "python_reference": [
                    "runtime_path_decode_per_s": pyDecode, "runtime_path_encode_per_s": pyEncode,
                    "pydantic_json_decode_per_s": pydDecode, "pydantic_json_encode_per_s": pydEncode,
                ],
                "ratios": [
                    "decode_validate_vs_python_runtime": decode / pyDecode, "encode_vs_python_runtime": encodeRate / pyEncode,
                    "decode_validate_vs_pydantic": decode / pydDecode, "encode_vs_pydantic": encodeRate / pydEncode,
                ],
            ]
            let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("codec: \(count) job.event envelopes (\(base.utf8.count) B) × \(reps) reps; envelopes/s, median (min–max)")
        for (_, label, s) in summaries {
            print("  \(label.padding(toLength: 46, withPad: " ", startingAt: 0)) \(Format.grouped(s.median)) (\(Format.grouped(s.min))–\(Format.grouped(s.max)))")
        }
        print("vs Python reference (runtime path): decode+validate \(Format.ratio(decode / pyDecode)) of \(Format.grouped(pyDecode)), encode \(Format.ratio(encodeRate / pyEncode)) of \(Format.grouped(pyEncode))")
        print("vs pydantic direct JSON path:       decode+validate \(Format.ratio(decode / pydDecode)) of \(Format.grouped(pydDecode)), encode \(Format.ratio(encodeRate / pydEncode)) of \(Format.grouped(pydEncode))")
    }

    // MARK: - Input

    /// The first `job.event` raw text in the transcript (what bench.py uses).
    static func loadEventText(_ url: URL) throws -> String {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw BenchError("cannot read \(url.path) (set ARCP_SHARED_DIR or pass --transcript)")
        }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let record = try JSONParser.parse(String(line))
            if let raw = record["raw"]?.stringValue, raw.contains("\"type\":\"job.event\"") { return raw }
        }
        throw BenchError("no job.event in \(url.path)")
    }

    /// `count` distinct texts: event_seq = i + 1 and payload.body.current = i % 5, written compactly
    /// with member order kept, exactly as bench.py's `json.dumps(d, separators=(",", ":"))`.
    static func makeTexts(from base: String, count: Int) throws -> [String] {
        guard case .object(let template) = try JSONParser.parse(base),
              case .object(var payload)? = template["payload"], case .object(var body)? = payload["body"]
        else { throw BenchError("unexpected job.event shape") }
        var out: [String] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            var env = template
            env["event_seq"] = .int(Int64(i + 1))
            body["current"] = .int(Int64(i % 5))
            payload["body"] = .object(body)
            env["payload"] = .object(payload)
            out.append(JSONWriter.string(.object(env)))
        }
        return out
    }

    /// The runtime path must reproduce each text byte for byte, and every text must be valid.
    static func checkRoundTrip(_ texts: [String]) throws {
        for t in [texts.first, texts.last].compactMap({ $0 }) {
            let v = try JSONParser.parse(t)
            let violations = ARCPValidator.validate(v)
            guard violations.isEmpty else { throw BenchError("sample is not valid: \(violations)") }
            let env = try Envelope(json: v)
            guard JSONWriter.string(env.toJSON()) == t else { throw BenchError("round trip differs:\n\(t)\n\(JSONWriter.string(env.toJSON()))") }
        }
    }

    // MARK: - Measured loops

    /// The inbound path: `Envelope.decodeValidated(frame:)`, one pass over the text. Returns a
    /// checksum so nothing is optimized away.
    @inline(never)
    static func decodeValidate(_ texts: [String]) -> Int {
        var sum = 0
        for t in texts {
            let r = Envelope.decodeValidated(frame: t)
            guard r.violations.isEmpty, let env = r.value else { continue }
            sum &+= env.eventSeq ?? 0
        }
        return sum
    }

    @inline(never)
    static func decodeValidate(_ datas: [Data]) -> Int {
        var sum = 0
        for d in datas {
            let r = Envelope.decodeValidated(frame: d)
            guard r.violations.isEmpty, let env = r.value else { continue }
            sum &+= env.eventSeq ?? 0
        }
        return sum
    }

    @inline(never)
    static func decodeValidateRetained(_ texts: [String]) -> [Envelope] {
        var out: [Envelope] = []
        out.reserveCapacity(texts.count)
        for t in texts {
            let r = Envelope.decodeValidated(frame: t)
            guard r.violations.isEmpty, let env = r.value else { continue }
            out.append(env)
        }
        return out
    }

    /// The two-pass path: `JSONParser.parse` → `ARCPValidator.validate` → `Envelope(json:)`.
    @inline(never)
    static func decodeValidateTwoPass(_ texts: [String]) -> Int {
        var sum = 0
        for t in texts {
            guard let v = try? JSONParser.parse(t), ARCPValidator.validate(v).isEmpty, let env = try? Envelope(json: v) else { continue }
            sum &+= env.eventSeq ?? 0
        }
        return sum
    }

    /// The outbound path: the generated direct writer.
    @inline(never)
    static func encode(_ envs: [Envelope]) -> [String] {
        envs.map { $0.jsonText() }
    }

    @inline(never)
    static func encodeViaJSONValue(_ envs: [Envelope]) -> [String] {
        envs.map { JSONWriter.string($0.toJSON()) }
    }

    @inline(never)
    static func parseOnly(_ texts: [String]) -> Int {
        var sum = 0
        for t in texts {
            if case .object(let o)? = try? JSONParser.parse(t) { sum &+= o.count }
        }
        return sum
    }

    @inline(never)
    static func validateOnly(_ values: [JSONValue]) -> Int {
        var sum = 0
        for v in values { sum &+= ARCPValidator.validate(v).count + 1 }
        return sum
    }

    @inline(never)
    static func decodeOnly(_ values: [JSONValue]) -> Int {
        var sum = 0
        for v in values {
            if let env = try? Envelope(json: v) { sum &+= env.eventSeq ?? 0 }
        }
        return sum
    }
}
