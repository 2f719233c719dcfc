import ARCP
import Foundation
import Testing

/// The Python reference's 22 examples (`agentruntimecontrolprotocol==1.1.3`, from its sdist)
/// as two processes, in every direction: its `client.py` against `arcp-examples serve`, our
/// `arcp-examples client` against its `server.py`, and our two sides together. Each run
/// must end as `Matrix.expected` says: pass, or fail for the recorded reason with the
/// recorded evidence in the client's output. A known failure that starts passing fails the
/// test too, so the list (and the matrix in docs/INTEROP.md) shrinks as fixes land.
@Suite("Examples interop: the reference's 22 examples as two processes", ExamplesInterop.needed, .timeLimit(.minutes(5)))
struct ExamplesInteropTests {
    @Test("the reference's client.py → arcp-examples serve (spec forms)", arguments: Matrix.examples)
    func referenceClient(_ name: String) async throws {
        try await verify(name, .referenceClient)
    }

    @Test(
        "the reference's client.py → arcp-examples serve --compat python-reference (examples whose client needs off-spec forms)",
        arguments: Matrix.compatExamples)
    func referenceClientCompat(_ name: String) async throws {
        try await verify(name, .referenceClientCompat)
    }

    @Test("arcp-examples client → the reference's server.py", arguments: Matrix.examples)
    func swiftClient(_ name: String) async throws {
        try await verify(name, .swiftClient)
    }

    @Test("arcp-examples client → arcp-examples serve", arguments: Matrix.examples)
    func swiftPair(_ name: String) async throws {
        try await verify(name, .swiftPair)
    }

    @Test(
        "host_aiohttp and host_asgi on each Swift web framework (serve --framework): the reference's client.py and ours",
        arguments: Matrix.hostExamples, Matrix.frameworks)
    func hostOnFramework(_ name: String, _ framework: String) async throws {
        for direction in Matrix.frameworkDirections {
            let run = try await Pairs.run(name, direction, framework: framework)
            #expect(run.passed, "\(name) on \(framework), \(direction.rawValue)\n\(run.transcript)")
            #expect(run.client.contains("job -> success"), "\(name) on \(framework): the client ran no job\n\(run.transcript)")
            #expect(run.server.lowercased().contains("web framework: \(framework)"), "\(name) was not served on \(framework)\n\(run.server)")
        }
    }

    @Test("the examples are the reference's 22, and arcp-examples knows them all")
    func inventory() throws {
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: ExamplesInterop.examples)
            .filter { FileManager.default.fileExists(atPath: ExamplesInterop.file($0, "client.py")) }
        #expect(Set(onDisk) == Set(Matrix.examples))
        #expect(Matrix.examples.count == 22)
        for key in Matrix.expected.keys {
            #expect(Matrix.examples.contains(key.example), "the matrix names an unknown example \(key.example)")
            if key.direction == .referenceClientCompat {
                #expect(Matrix.compatExamples.contains(key.example), "\(key.example): compat expectation for an example not run with --compat")
            }
        }
    }

    func verify(_ name: String, _ direction: Direction) async throws {
        let expectation = Matrix.expectation(name, direction)
        var evidence: String? = nil
        if case .fail(_, _, let e) = expectation { evidence = e }
        let run = try await Pairs.run(name, direction, evidence: evidence)
        let elapsed = run.elapsed.formatted(.units(allowed: [.seconds, .milliseconds], width: .narrow))
        switch expectation {
        case .pass:
            #expect(run.passed, "\(name), \(direction.rawValue): expected to pass (\(elapsed))\n\(run.transcript)")
            if run.passed && name == "host_tracing" { checkOneTrace(run, direction) }
        case .fail(let cause, let why, let evidence):
            if run.passed {
                Issue.record(
                    "\(name), \(direction.rawValue) now passes: remove its known failure (\(cause.rawValue): \(why)) from Matrix.expected and docs/INTEROP.md")
            } else {
                #expect(
                    run.client.contains(evidence),
                    "\(name), \(direction.rawValue): fails, but not as recorded (\(cause.rawValue): \(why); evidence \"\(evidence)\")\n\(run.transcript)")
            }
        }
    }

    /// `host_tracing`: the job's span and the caller's span are in one trace, as both sides
    /// print them (ours: `span {…}` lines and `caller trace X`; the reference's
    /// `ConsoleSpanExporter`: `"trace_id": "0x…"`).
    func checkOneTrace(_ run: PairRun, _ direction: Direction) {
        let jobTrace = Self.spanTrace(named: "arcp.job echo", in: run.server)
        let callerTrace = run.client.firstMatch(of: /caller trace ([0-9a-f]{32})/).map { String($0.1) }
        switch direction {
        case .referenceClient, .referenceClientCompat:
            #expect(jobTrace != nil, "the Swift runtime printed no arcp.job span:\n\(run.server.suffix(2000))")
            if let jobTrace {
                #expect(run.client.contains("\"trace_id\": \"0x\(jobTrace)\""), "the job's trace \(jobTrace) is not among the reference client's spans")
            }
        case .swiftClient:
            #expect(callerTrace != nil, "the Swift client printed no caller trace")
            if let callerTrace {
                #expect(
                    run.server.contains("\"trace_id\": \"0x\(callerTrace)\""),
                    "the reference runtime printed no span in the caller's trace \(callerTrace):\n\(run.server.suffix(3000))")
            }
        case .swiftPair:
            #expect(jobTrace != nil && jobTrace == callerTrace, "job span trace \(jobTrace ?? "-") vs caller trace \(callerTrace ?? "-")")
        }
    }

    /// The trace id of the first `span {…}` line named `name`.
    static func spanTrace(named name: String, in output: String) -> String? {
        for line in output.split(separator: "\n") where line.hasPrefix("span {") {
            guard let span = try? JSONParser.parse(String(line.dropFirst("span ".count))), span["name"]?.stringValue == name else { continue }
            return span["trace_id"]?.stringValue
        }
        return nil
    }
}
