import ARCP
import Foundation

/// `job.subscribe`: another session attaches to a running job as an observer. It gets
/// `job.subscribed` (status, lease, budget, trace id), optionally the history so far, then
/// live events and the outcome, numbered in its own session's `event_seq` space. It
/// cannot cancel. Who may observe whose jobs is the runtime's `observePolicy`: only the
/// submitter by default; here an auditor may observe anyone.
public enum Subscribe: Example {
    public static let name = "subscribe"
    public static let summary = "A second client (an auditor) subscribes to a running job with history; others are refused."
    public static let spec = "§7.6, §7.7, §13.3, §14"

    public static func run() async throws {
        var config = ARCPRuntime.Configuration()
        config.observePolicy = .custom { observer, _ in observer == "auditor@example.com" }
        let runtime = ARCPRuntime(
            configuration: config,
            verifier: StaticBearerVerifier([
                "alice-token": "alice@example.com", "auditor-token": "auditor@example.com", "mallory-token": "mallory@example.com",
            ]))
        let secondHalf = Gate()
        try runtime.register("migration") { _, ctx in
            for table in ["users", "orders"] { await ctx.log("info", "migrated \(table)") }
            await secondHalf.wait()
            for table in ["invoices"] { await ctx.log("info", "migrated \(table)") }
            return ["tables": 3]
        }

        // Alice submits and sees the first two events.
        let alice = ARCPClient(token: "alice-token")
        try await connectInMemory(alice, to: runtime)
        let job = try await alice.submit(agent: "migration")
        var aliceEvents = job.events.makeAsyncIterator()
        for _ in 0..<2 { if let e = try await aliceEvents.next() { say("alice   " + describe(e)) } }

        // The auditor, in its own session, subscribes with the history so far.
        let auditor = ARCPClient(token: "auditor-token")
        try await connectInMemory(auditor, to: runtime)
        let watched = try await auditor.subscribe(jobID: job.jobID, history: true)
        let sub = watched.subscribed
        say("auditor job.subscribed: status \(sub?.currentStatus?.rawValue ?? "?"), agent \(sub?.agent ?? "?")")
        say("  history replayed: \(sub?.replayed ?? .null), subscribed_from \(sub?.subscribedFrom ?? 0)")

        // Observers cannot cancel.
        let cancel = try await expectError("a cancel from the auditor") { try await watched.cancel() }
        say("auditor cancel: \(cancel.code.rawValue)")

        // Mallory is not allowed to observe Alice's jobs.
        let mallory = ARCPClient(token: "mallory-token")
        try await connectInMemory(mallory, to: runtime)
        let refused = try await expectError("mallory's subscribe") { _ = try await mallory.subscribe(jobID: job.jobID) }
        say("mallory subscribe: \(refused.code.rawValue)")

        secondHalf.open()
        var seen: [String] = []
        for try await event in watched.events {
            say("auditor " + describe(event))
            if case .log(let l) = event.body { seen.append(l.message) }
        }
        let outcome = try await watched.result()
        say("auditor saw the outcome: \(outcome.result ?? .null)")
        while let e = try await aliceEvents.next() { say("alice   " + describe(e)) }

        try check(seen == ["migrated users", "migrated orders", "migrated invoices"], "history, then live events: \(seen)")
        try check(cancel.code == .permissionDenied, "an observer cannot cancel")
        // A job hidden by the policy is answered as a missing one: mallory learns nothing.
        try check(refused.code == .jobNotFound, "the observe policy hides the job from mallory")

        for c in [alice, auditor, mallory] { await c.close() }
        await runtime.shutdown()
    }
}
