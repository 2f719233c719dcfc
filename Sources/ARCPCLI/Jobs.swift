import ARCP
import ArgumentParser
import Foundation

/// `arcp jobs`: list the jobs this principal can see (session.list_jobs).
struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List jobs visible to the token's principal (session.list_jobs), following every page.",
        discussion: """
            Examples:
              arcp jobs --token tok
              arcp jobs --token tok --status running --status pending
              arcp jobs --token tok --agent echo --json
            """)

    @Option(help: ArgumentHelp("Only jobs in this status (repeatable): pending, running, success, error, cancelled, timed_out.", valueName: "status"))
    var status: [String] = []

    @Option(help: ArgumentHelp("Only jobs of this agent (NAME or NAME@VERSION).", valueName: "agent"))
    var agent: String?

    @Option(help: "Page size asked of the runtime.")
    var pageSize = 100

    @Flag(help: "One JSON object per job.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        for s in status where !JobStatus.allKnown.map(\.rawValue).contains(s) {
            throw ValidationError("unknown --status \(s)")
        }
        guard pageSize >= 1 else { throw ValidationError("--page-size must be ≥ 1") }
    }

    func run() async throws {
        bootstrapLogging(.error)
        do {
            let (client, _) = try await connection.connect(logLevel: .critical)
            var filter: ListJobsFilter? = nil
            if !status.isEmpty || agent != nil {
                filter = ListJobsFilter(status: status.isEmpty ? nil : status.map { JobStatus(rawValue: $0) }, agent: agent)
            }
            var cursor: String? = nil
            var count = 0
            repeat {
                let page: SessionJobsPayload
                do {
                    page = try await client.listJobs(filter: filter, limit: pageSize, cursor: cursor)
                } catch let e as ARCPError {
                    await client.close()
                    throw CLIFailure(message: "list_jobs failed: \(e.code.rawValue): \(e.message)")
                }
                for job in page.jobs {
                    count += 1
                    if json {
                        writeStdout(compactJSON(job.toJSON()) + "\n")
                    } else {
                        let created = job.createdAt ?? job.submittedAt ?? ""
                        writeStdout("\(job.jobId)  \(job.status.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))  \(job.agent ?? "?")  \(created)\n")
                    }
                }
                cursor = page.nextCursor
            } while cursor != nil
            if !json { writeStderr("\(count) job\(count == 1 ? "" : "s")\n") }
            await client.close()
        } catch let e as ExitCode {
            throw e
        } catch {
            throw report("jobs", error)
        }
    }
}
