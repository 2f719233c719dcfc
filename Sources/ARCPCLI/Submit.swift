import ARCP
import ArgumentParser
import Foundation
import Logging
import UnixSignals

/// `arcp submit`: submit one job, stream its events, print its result.
struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit a job, stream its events as they come, and print its result.",
        discussion: """
            Events are printed one line each as they arrive; on a terminal, progress events \
            draw one live progress bar. With --json every line is a JSON object shaped like the \
            wire envelope (job.accepted, job.event…, then job.result or job.error).

            Exit status: 0 when the job succeeded; 1 when it ended with job.error, was \
            cancelled or timed out; 2 when the connection or the submit failed. Ctrl-C once \
            cancels the job (and waits for its end); twice exits at once (130).

            Examples:
              arcp submit --token tok --agent echo --input '{"hello":"world"}'
              arcp submit --url ws://10.0.0.5:7777/arcp --token tok --agent kitchen
              arcp submit --token tok --agent progress --input '{"steps":20}'
              arcp submit --token tok --agent kitchen \\
                  --lease '{"cost.budget":["USD:1.00"]}'
              arcp submit --token tok --agent slow --input '{"seconds":9}' \\
                  --max-runtime 2
              arcp submit --token tok --agent echo --idempotency-key k42 --json
              ARCP_TOKEN=tok arcp submit --agent echo --stdio -- \\
                  arcp serve --stdio --token tok
            """)

    @Option(help: ArgumentHelp("The agent, NAME or NAME@VERSION.", valueName: "agent"))
    var agent: String

    @Option(help: ArgumentHelp("The job input, as JSON.", valueName: "json"))
    var input = "{}"

    @Option(help: ArgumentHelp(#"The lease request, as JSON: {"namespace": ["pattern", …]}."#, valueName: "json"))
    var lease: String?

    @Option(help: ArgumentHelp("Idempotency key: resubmitting with the same key gives the same job.", valueName: "key"))
    var idempotencyKey: String?

    @Option(help: ArgumentHelp("Maximum run time in seconds (the job then times out).", valueName: "seconds"))
    var maxRuntime: Int?

    @Flag(help: "Machine-readable output: one JSON object per line.")
    var json = false

    @Flag(name: .shortAndLong, help: "Log client diagnostics to stderr.")
    var verbose = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        _ = try parseJSONOption(input, "--input")
        if let lease { _ = try Self.parseLease(lease) }
        if let maxRuntime, maxRuntime < 1 { throw ValidationError("--max-runtime must be ≥ 1 second") }
        if agent.isEmpty { throw ValidationError("--agent is empty") }
    }

    static func parseLease(_ text: String) throws -> Lease {
        guard case .object(let object) = try parseJSONOption(text, "--lease") else {
            throw ValidationError(#"--lease must be a JSON object like {"fs.read": ["/tmp/**"]}"#)
        }
        var lease: Lease = [:]
        for member in object.members {
            switch member.value {
            case .string(let s): lease[member.key] = [s]
            case .array(let items):
                lease[member.key] = try items.map {
                    guard case .string(let s) = $0 else { throw ValidationError("--lease: \(member.key) must list strings") }
                    return s
                }
            default: throw ValidationError("--lease: \(member.key) must be a list of strings")
            }
        }
        return lease
    }

    func run() async throws {
        bootstrapLogging(verbose ? .info : .error)
        do {
            try await submitAndFollow()
        } catch let e as ExitCode {
            throw e
        } catch {
            throw report("submit", error)
        }
    }

    func submitAndFollow() async throws {
        let inputValue = try parseJSONOption(input, "--input")
        let leaseValue = try lease.map(Self.parseLease)
        let (client, _) = try await connection.connect(logLevel: verbose ? .info : .critical)
        let job: JobHandle
        do {
            job = try await client.submit(
                agent: agent, input: inputValue, leaseRequest: leaseValue, idempotencyKey: idempotencyKey,
                maxRuntime: maxRuntime.map { .seconds($0) })
        } catch let e as ARCPError {
            await client.close()
            throw CLIFailure(message: "the runtime refused the job: \(e.code.rawValue): \(e.message)")
        }
        let printer = EventPrinter(json: json)
        if let accepted = job.accepted { printer.accepted(accepted, jobID: job.jobID) }
        let interrupts = Task { await Self.cancelOnInterrupt(job, printer: printer) }
        let code = await Self.follow(job, printer: printer)
        interrupts.cancel()
        await client.close()
        if code != 0 { throw ExitCode(code) }
    }

    /// Prints events until the terminal, then the outcome; returns the exit status.
    static func follow(_ job: JobHandle, printer: EventPrinter) async -> Int32 {
        do {
            for try await event in job.events { printer.event(event, jobID: job.jobID) }
        } catch {
            // The outcome below says why the stream ended.
        }
        return await Self.finish(job, printer: printer)
    }

    static func finish(_ job: JobHandle, printer: EventPrinter) async -> Int32 {
        do {
            let outcome = try await job.result()
            printer.result(outcome, jobID: job.jobID)
            return 0
        } catch let e as ARCPClientError where e.code == .connectionLost {
            writeStderr("arcp: lost the connection before job \(job.jobID) ended: \(e.message)\n")
            return ExitCodes.failure
        } catch let e as ARCPError {
            printer.failed(e, jobID: job.jobID)
            return ExitCodes.jobFailed
        } catch {
            writeStderr("arcp: \(error)\n")
            return ExitCodes.failure
        }
    }

    /// First Ctrl-C: cancel the job and keep following it. Second: exit 130.
    static func cancelOnInterrupt(_ job: JobHandle, printer: EventPrinter) async {
        let signals = await UnixSignalsSequence(trapping: .sigint)
        var count = 0
        for await _ in signals {
            count += 1
            if count > 1 { Foundation.exit(ExitCodes.interrupted) }
            writeStderr("arcp: cancelling job \(job.jobID) (Ctrl-C again to quit at once)\n")
            Task {
                do {
                    try await job.cancel(reason: "interrupted from the arcp CLI")
                } catch {
                    if !job.isFinished { writeStderr("arcp: cancel: \(describe(error).0)\n") }
                }
            }
        }
    }
}
