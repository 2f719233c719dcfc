import ARCP
import ArgumentParser

/// The `arcp` command line: serve a runtime, submit and follow jobs, validate frames.
@main
struct ArcpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "arcp",
        abstract: "ARCP (Agent Runtime Control Protocol) runtime and client tools.",
        discussion: """
            Examples:
              arcp serve --port 7777 --token tok=me@example.com
              arcp submit --token tok --agent echo --input '{"hello":"world"}'
              arcp submit --token tok --agent progress --input '{"steps":10,"delay":0.2}'
              arcp tail --token tok --job-id job_01JC0ZQ6S3V6M8D3R4X2K1N0PZ
              arcp jobs --token tok --status running
              arcp replay --db arcp.sqlite --session sess_01JC0ZQ6S3V6M8D3R4X2K1N0PZ
              arcp validate session.jsonl

            `arcp help COMMAND` (or `arcp COMMAND --help`) shows a command's options and examples.
            """,
        version: "arcp \(ARCPVersion.string) (ARCP \(arcpProtocolVersion))",
        subcommands: [Serve.self, Submit.self, Tail.self, Jobs.self, Replay.self, Validate.self, Conformance.self]
    )
}
