import ARCP
import ArgumentParser
import Foundation

/// `arcp tail`: subscribe to a job and print its events until it ends.
struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow a job (job.subscribe) and print its events until it ends.",
        discussion: """
            Works from any session of a principal allowed to observe the job. For a job that \
            has already ended it prints the outcome and exits (the Python reference's `tail` \
            waits forever there). With --history the events so far are replayed first.

            Exit status: 0 when the job succeeded; 1 when it ended with job.error, was \
            cancelled or timed out; 2 when the job is unknown, not observable, or the \
            connection failed.

            Examples:
              arcp tail --token tok --job-id job_01JC0ZQ6S3V6M8D3R4X2K1N0PZ
              arcp tail --url ws://10.0.0.5:7777/arcp --token tok \\
                  --job-id job_01JC0ZQ6S3V6M8D3R4X2K1N0PZ --history
              arcp tail --token tok --job-id job_01JC… --json | jq .payload
            """)

    @Option(help: ArgumentHelp("The job to follow.", valueName: "id"))
    var jobId: String

    @Flag(help: "Replay the job's earlier events before the live ones.")
    var history = false

    @Flag(help: "Machine-readable output: one JSON object per line.")
    var json = false

    @Flag(name: .shortAndLong, help: "Log client diagnostics to stderr.")
    var verbose = false

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        bootstrapLogging(verbose ? .info : .error)
        do {
            try await tail()
        } catch let e as ExitCode {
            throw e
        } catch {
            throw report("tail", error)
        }
    }

    func tail() async throws {
        let (client, _) = try await connection.connect(logLevel: verbose ? .info : .critical)
        let job: JobHandle
        do {
            job = try await client.subscribe(jobID: jobId, history: history)
        } catch let e as ARCPError {
            await client.close()
            throw CLIFailure(message: "cannot follow \(jobId): \(e.code.rawValue): \(e.message)")
        }
        let printer = EventPrinter(json: json)
        if let s = job.subscribed { printer.subscribed(s) }
        let ended = job.subscribed?.currentStatus?.isTerminal ?? false
        let code: Int32
        if ended {
            // The runtime sends the terminal right after job.subscribed; a runtime that sent it
            // before (the Python reference, with history) leaves the handle open: stop anyway.
            code = await finishEnded(job, printer: printer)
        } else {
            code = await Submit.follow(job, printer: printer)
        }
        await client.close()
        if code != 0 { throw ExitCode(code) }
    }

    func finishEnded(_ job: JobHandle, printer: EventPrinter) async -> Int32 {
        let drained = Task {
            do {
                for try await event in job.events { printer.event(event, jobID: job.jobID) }
            } catch {}
        }
        let finished = await waitUntil(.seconds(2)) { job.isFinished }
        if finished {
            await drained.value
            return await Submit.finish(job, printer: printer)
        }
        drained.cancel()
        let status = job.subscribed?.currentStatus ?? JobStatus.unknown("?")
        printer.note("job \(job.jobID) had already ended: \(status.rawValue) (the runtime sent no terminal frame to this subscription)")
        if json {
            writeStdout(compactJSON(["type": "job.status", "job_id": .string(job.jobID), "status": .string(status.rawValue)]) + "\n")
        }
        return status == .success ? 0 : ExitCodes.jobFailed
    }
}

/// Polls `condition` every 10 ms until it holds or `limit` passes.
func waitUntil(_ limit: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}
