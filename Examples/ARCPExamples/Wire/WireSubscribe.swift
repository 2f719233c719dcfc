import ARCP
import Foundation

/// `subscribe`: client A submits; client B, another principal, lists the running jobs,
/// subscribes to A's with history, tails it, and tries to cancel it. The runtime's
/// `observePolicy` lets any authenticated principal list and observe; cancelling stays with
/// the submitter, so B's `job.cancel` is PERMISSION_DENIED (spec §6.6, §7.6, §13.3, §14).
enum WireSubscribe: WireExample {
    static let name = "subscribe"
    static let defaultPort = 7888
    static let summary = "B lists and subscribes to A's job with history; B's cancel is PERMISSION_DENIED."
    static let tokenB = "demo-token-b"

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        var config = setup.configuration(name: "subscribe-server")
        config.features = [.listJobs, .subscribe]
        // List and subscribe are open to any authenticated session; cancel is the submitter's.
        config.observePolicy = .custom { _, _ in true }
        let runtime = ARCPRuntime(
            configuration: config, verifier: StaticBearerVerifier([setup.token: "principal-a", tokenB: "principal-b"]))
        try runtime.register("slow") { _, ctx in
            for i in 0..<20 {
                await ctx.log("info", "step \(i)", attributes: ["i": .int(Int64(i))])
                try await Task.sleep(for: .milliseconds(300))
            }
            return ["steps": 20]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        func client(_ name: String, _ token: String) -> ARCPClient {
            var options = setup.options(name: name, features: [.listJobs, .subscribe])
            // The reference gives B's cancel 5 s to be refused.
            options.requestTimeout = .seconds(5)
            return ARCPClient(token: token, options: options)
        }
        let a = client("subscribe-client-A", setup.token)
        let b = client("subscribe-client-B", tokenB)
        try await setup.connect(a)
        try await setup.connect(b)

        let job = try await a.submit(agent: "slow", streamEvents: false)
        // Let a few events accrue for B to replay.
        try await Task.sleep(for: .seconds(1))

        let running = try await b.listJobs(filter: ListJobsFilter(status: [.running]))
        try check(running.jobs.contains { $0.jobId == job.jobID }, "B lists A's running job")

        let watched = try await b.subscribe(jobID: job.jobID, history: true)
        let replayed = watched.subscribed?.replayed
        say("subscribed: replayed=\(compact(replayed)) from=\(watched.subscribed?.subscribedFrom.map { "\($0)" } ?? "-")")
        try check(replayed == true || (replayed?.int64Value ?? 0) > 0, "history was replayed")

        var tail = 0
        for try await event in watched.events {
            tail += 1
            say("B: \(describe(event))")
            if tail >= 1 { break }
        }
        say("B observed \(tail) event(s)")
        try check(tail >= 1, "B tails the job")

        let denied = try await expectError("B's cancel of A's job") { try await b.cancel(jobID: job.jobID, reason: "subscriber.cancel") }
        say("B's cancel: \(denied.code.rawValue): \(denied.message)")
        try check(denied.code == .permissionDenied, "expected B's cancel to be denied, got \(denied.code.rawValue)")

        // A's job runs on to its end.
        let outcome = try await job.result()
        say("A's job: \(outcome.finalStatus.rawValue) \(compact(outcome.result))")
        try check(outcome.finalStatus == .success, "A's job still succeeds")
        await b.close()
        await a.close()
    }
}
