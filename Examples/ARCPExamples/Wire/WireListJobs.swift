import ARCP
import Foundation

/// `list_jobs`: three jobs that run until the runtime stops, listed with a status filter in
/// pages of two through `next_cursor` (spec §6.6, §13.3).
enum WireListJobs: WireExample {
    static let name = "list_jobs"
    static let defaultPort = 7887
    static let summary = "Three running jobs listed with status=running in pages of 2 (cursor)."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        var config = setup.configuration(name: "list-jobs-server")
        config.features = [.listJobs]
        let runtime = ARCPRuntime(configuration: config, verifier: setup.verifier)
        try runtime.register("hold") { _, _ in
            // Runs until cancelled (the runtime's shutdown cancels it).
            while true { try await Task.sleep(for: .seconds(60)) }
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let client = ARCPClient(token: setup.token, options: setup.options(name: "list-jobs-client", features: [.listJobs]))
        try await setup.connect(client)
        try check(client.negotiatedFeatures.contains(.listJobs), "list_jobs is negotiated")
        for _ in 0..<3 { _ = try await client.submit(agent: "hold", streamEvents: false) }
        // Give the runtime a tick to record the jobs as running.
        try await Task.sleep(for: .milliseconds(100))

        let filter = ListJobsFilter(status: [.running])
        let page1 = try await client.listJobs(filter: filter, limit: 2)
        say("page1: count=\(page1.jobs.count) next_cursor=\(page1.nextCursor ?? "nil")")
        try check(page1.jobs.count == 2, "the first page holds 2 jobs")
        try check(page1.nextCursor != nil, "the first page has a next_cursor")

        let page2 = try await client.listJobs(filter: filter, limit: 2, cursor: page1.nextCursor)
        say("page2: count=\(page2.jobs.count) next_cursor=\(page2.nextCursor ?? "nil")")
        try check(page2.jobs.count == 1, "the second page holds 1 job")
        try check(page2.nextCursor == nil, "the second page is the last")
        await client.close()
    }
}
