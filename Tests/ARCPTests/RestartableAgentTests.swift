import ARCP
import Foundation
import Testing

/// `ARCPRuntime.register(_:restartable:)` (issue 12): the flag a cluster reads when a job's
/// node is lost (docs/CLUSTER.md, "Restartable agents"); one process ignores it.
@Suite("Restartable agents: the registration flag", .timeLimit(.minutes(1)))
struct RestartableAgentTests {
    @Test func theFlagIsPerRegisteredVersionAndOffByDefault() throws {
        let h = try Harness()
        try h.runtime.register("indexer", restartable: true) { input, _ in input }
        try h.runtime.register("multi", version: "1.0.0", isDefault: true, restartable: true) { input, _ in input }
        try h.runtime.register("multi", version: "2.0.0") { input, _ in input }
        #expect(h.runtime.isRestartable(agent: "indexer"))
        #expect(!h.runtime.isRestartable(agent: "echo"))
        #expect(h.runtime.isRestartable(agent: "multi@1.0.0"))
        #expect(!h.runtime.isRestartable(agent: "multi@2.0.0"))
        #expect(!h.runtime.isRestartable(agent: "unknown"))
        // The inventory does not change.
        #expect(h.runtime.agentInventory.first { $0.name == "multi" }?.versions == ["1.0.0", "2.0.0"])
    }

    @Test func inOneProcessARestartableAgentsJobRunsOnceAsAnyOther() async throws {
        let h = try Harness()
        let runs = Counter()
        try h.runtime.register("indexer", restartable: true) { input, _ in
            runs.increment()
            return input
        }
        let peer = h.raw()
        let sid = try #require(try await peer.hello()?.sessionId)
        let job = try await PlacementTests.accept(peer, sid, "indexer", ["n": 1])
        let end = try #require(try await peer.next { PlacementTests.isTerminal($0, of: job) })
        guard case .jobResult(let r) = end.message else {
            Issue.record("expected job.result, got \(end.message.type)")
            return
        }
        #expect(r.result == ["n": 1])
        #expect(runs.value == 1, "the agent ran once")
    }
}
