import ARCPConformance
import ArgumentParser
import Foundation
import Synchronization

/// `arcp conformance`: run the conformance kit against a runtime at a URL or on a child's stdio.
struct Conformance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check an ARCP runtime against every MUST and SHOULD of v1.1 a peer can observe on the wire.",
        discussion: """
            Runs the scenarios of the ARCP conformance kit (docs/CONFORMANCE-KIT.md) over the \
            real transport with raw frames, and prints one row per scenario: id, spec section, \
            MUST/SHOULD, and pass, FAIL or skip (with the reason: a feature the welcome does not \
            offer, a test agent that is not registered, a second principal not given). Each \
            failure is followed by the spec text, why it failed and the frames that show it.

            The runtime must register the kit's test agents (echo, slow, progress, chunked, \
            fails, kitchen, versioned@1.0.0/2.0.0: the names and inputs of the Python \
            reference's test server); scenarios whose agent is missing are skipped. Heartbeat \
            scenarios need a short heartbeat interval (e.g. 2 s) to run in reasonable time.

            Over stdio every connection starts COMMAND afresh (one session per process), so \
            the scenarios that need several sessions on one runtime are skipped.

            Exit status: 0 when no MUST scenario failed (with --strict: no scenario failed), \
            1 when one did, 2 when the runtime could not be reached or refused the first session.

            Examples:
              arcp conformance --url ws://127.0.0.1:7777/arcp --token tok --other-token tok2
              arcp conformance --url ws://127.0.0.1:7777/arcp --token tok --only 7.4 resume.
              arcp conformance --url wss://runtime.example.com/arcp --token $T --junit kit.xml
              arcp conformance --token tok --stdio -- arcp serve --stdio --token tok
              arcp conformance --list
            """)

    @Option(help: ArgumentHelp("The runtime's WebSocket URL (ws:// or wss://).", valueName: "url"))
    var url: String?

    @Flag(help: "Start the command after -- for every connection and speak ARCP over its stdin/stdout.")
    var stdio = false

    @Option(help: "Bearer token of the principal the scenarios run as.")
    var token: String?

    @Option(help: "Bearer token of a second, different principal (for the isolation scenarios; skipped without it).")
    var otherToken: String?

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "Run only these: sections (6.3, 02:7.2), scenario ids (cancel.error) or id prefixes (resume. or cancel*).",
            valueName: "selector"))
    var only: [String] = []

    @Option(help: ArgumentHelp("Also write the results, with every scenario's frames, as JSON to this file.", valueName: "file"))
    var json: String?

    @Option(help: ArgumentHelp("Also write the results as JUnit XML to this file.", valueName: "file"))
    var junit: String?

    @Option(help: "Scenarios run at the same time.")
    var concurrency = 8

    @Option(help: "How long to wait for an answer, in seconds.")
    var responseTimeout = 5.0

    @Option(help: "How long to wait for a test agent's job to end, in seconds.")
    var jobTimeout = 20.0

    @Option(help: "The longest a heartbeat scenario may wait, in seconds (longer intervals skip them).")
    var heartbeatBudget = 12.0

    @Option(help: "Size in bytes of the frame the oversized-frame scenario sends (above the runtime's cap).")
    var oversizeBytes = 17 * 1024 * 1024

    @Option(
        name: .customLong("header"),
        help: ArgumentHelp("An extra HTTP header for the WebSocket upgrade, `Name: value` (repeatable).", valueName: "header"))
    var headers: [String] = []

    @Flag(help: "Exit 1 when a SHOULD scenario fails too.")
    var strict = false

    @Flag(help: "List the scenarios (id, section, level, title) and exit.")
    var list = false

    @Flag(name: .shortAndLong, help: "Print only failures and the summary.")
    var quiet = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("With --stdio: the runtime command and its arguments.", valueName: "command"))
    var command: [String] = []

    func validate() throws {
        if list { return }
        guard token?.isEmpty == false else { throw ValidationError("give --token TOKEN") }
        if stdio {
            guard url == nil else { throw ValidationError("--url and --stdio exclude each other") }
            guard !command.isEmpty else { throw ValidationError("--stdio needs the runtime command after --, e.g. -- arcp serve --stdio --token tok") }
        } else {
            guard let url, url.hasPrefix("ws://") || url.hasPrefix("wss://") else {
                throw ValidationError("give --url ws://HOST:PORT/PATH (or --stdio -- COMMAND…)")
            }
            guard command.isEmpty else { throw ValidationError("a command after -- needs --stdio") }
        }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be ≥ 1") }
        for t in [responseTimeout, jobTimeout, heartbeatBudget] where !(t > 0 && t < 86_400) {
            throw ValidationError("timeouts must be between 0 and 86400 seconds")
        }
        guard oversizeBytes >= 1024 else { throw ValidationError("--oversize-bytes must be ≥ 1024") }
        for h in headers where !h.contains(":") { throw ValidationError("--header \(h): use `Name: value`") }
    }

    func run() async throws {
        let scenarios = ScenarioCatalog.all
        if list {
            let selected = only.isEmpty ? scenarios : scenarios.filter { s in only.contains { s.matches($0) } }
            for s in selected {
                writeStdout("\(s.id)\t\(s.sectionLabel)\t\(s.level.rawValue)\t\(s.title)\n")
            }
            return
        }
        let options = ConformanceOptions(
            token: token ?? "", otherToken: otherToken, only: only, concurrency: concurrency,
            responseTimeout: .milliseconds(Int64(responseTimeout * 1000)), jobTimeout: .milliseconds(Int64(jobTimeout * 1000)),
            heartbeatBudget: .milliseconds(Int64(heartbeatBudget * 1000)), oversizedFrameBytes: oversizeBytes)
        let target: ConformanceTarget
        if stdio {
            target = .stdio(command: command)
        } else {
            var headerMap: [String: String] = [:]
            for h in headers {
                let parts = h.split(separator: ":", maxSplits: 1)
                headerMap[String(parts[0]).trimmingCharacters(in: .whitespaces)] = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: .whitespaces) : ""
            }
            target = .webSocket(url: url ?? "", headers: headerMap, maxFrameSize: max(64 * 1024 * 1024, oversizeBytes * 2))
        }
        let total = options.only.isEmpty ? scenarios.count : scenarios.filter { s in options.only.contains { s.matches($0) } }.count
        let counter = Counter()
        let results = await ConformanceKit.run(target, options: options) { result in
            let n = counter.next()
            if !quiet || result.failed {
                writeStderr("[\(n)/\(total)] \(result.outcome.label) \(result.scenario.id)\n")
            }
        }
        var text = results.table()
        if quiet {
            text = text.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasSuffix("  pass") && !$0.contains("  skip  (") }.joined(separator: "\n")
        }
        writeStdout(text)
        do {
            if let json { try Data(results.json().utf8).write(to: URL(fileURLWithPath: json)) }
            if let junit { try Data(results.junit().utf8).write(to: URL(fileURLWithPath: junit)) }
        } catch {
            throw report("conformance", CLIFailure(message: "cannot write the report: \(error)"))
        }
        if results.profileError != nil { throw ExitCode(ExitCodes.failure) }
        if !results.conforms(strict: strict) { throw ExitCode(ExitCodes.jobFailed) }
    }
}

/// Counts finished scenarios for the progress lines.
private final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}
