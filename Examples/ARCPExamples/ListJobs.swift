import ARCP
import Foundation

/// `session.list_jobs`: the jobs this principal may see, across its sessions, with filters
/// (status, agent, created_after) and cursor paging.
public enum ListJobs: Example {
    public static let name = "list-jobs"
    public static let summary = "List this principal's jobs: filter by status and agent, page with limit and cursor."
    public static let spec = "§6.6, §13.3"

    public static func run() async throws {
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        let release = Gate()
        try runtime.register("echo") { input, _ in input }
        try runtime.register("batch") { _, ctx in
            await ctx.status("running", "waiting for the batch window")
            await release.wait()
            return ["done": true]
        }

        let client = ARCPClient(token: "demo-token")
        try await connectInMemory(client, to: runtime)
        // Three finished jobs and two running ones.
        for i in 1...3 { _ = try await client.submit(agent: "echo", input: ["n": .int(Int64(i))]).result() }
        var running: [JobHandle] = []
        for _ in 1...2 {
            let job = try await client.submit(agent: "batch")
            var events = job.events.makeAsyncIterator()
            _ = try await events.next()  // its first event: it is running now
            running.append(job)
        }

        step("all jobs")
        let all = try await client.listJobs()
        for job in all.jobs {
            say("\(job.jobId)  \(job.agent ?? "?")  \(job.status.rawValue)  last_event_seq \(job.lastEventSeq ?? 0)")
        }

        step("filter: status running")
        let active = try await client.listJobs(filter: ListJobsFilter(status: [.running]))
        say(active.jobs.map { "\($0.jobId) \($0.agent ?? "?")" }.joined(separator: "\n"))

        step("filter: agent echo, pages of 2")
        var pages: [[String]] = []
        var cursor: String? = nil
        repeat {
            let page = try await client.listJobs(filter: ListJobsFilter(agent: "echo"), limit: 2, cursor: cursor)
            pages.append(page.jobs.map(\.jobId))
            say("page \(pages.count): \(page.jobs.map(\.jobId).joined(separator: ", "))\(page.nextCursor == nil ? " (last)" : "")")
            cursor = page.nextCursor
        } while cursor != nil

        release.open()
        for job in running { _ = try await job.result() }
        let done = try await client.listJobs(filter: ListJobsFilter(status: [.success]))
        say("\nafter the batch window: \(done.jobs.count) jobs succeeded")

        try check(all.jobs.count == 5, "five jobs listed")
        try check(Set(active.jobs.map(\.jobId)) == Set(running.map(\.jobID)), "the running filter finds the two batch jobs")
        try check(pages.map(\.count) == [2, 1], "echo jobs come in pages of 2 and 1")
        try check(done.jobs.count == 5, "all five succeeded")

        await client.close()
        await runtime.shutdown()
    }
}
