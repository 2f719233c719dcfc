import ARCPConformance
import ARCPTestSupport
import Foundation
import Testing

extension ConformanceKitTests {
    /// The kit against our own runtime, as `arcp serve` runs it: every scenario passes or is
    /// skipped with a reason, except the findings listed here (docs/CONFORMANCE-KIT.md and
    /// /work/notes/conformance-failures.md). When the runtime is fixed, the test says which ids to
    /// remove; a new failure is reported with its frames.
    @Suite("arcp serve")
    struct ArcpServeTests {
        /// Scenarios our runtime fails today, over WebSocket.
        static let knownFailures: Set<String> = []

        /// Over stdio: the same, less those that need several sessions on one runtime (skipped there).
        static let knownStdioFailures: Set<String> = []

        @Test func overWebSocket() async throws {
            let url = try await arcpServe.url()
            let report = await ConformanceKit.run(.webSocket(url: url), options: Kit.options())
            Kit.expect(report, failures: Self.knownFailures, name: "arcp-serve-websocket")
            #expect(report.results.count == ScenarioCatalog.all.count)
            // Over WebSocket with two principals and a --credentials-file nothing is skipped.
            for r in report.skipped {
                if case .skipped(let why) = r.outcome { Issue.record("\(r.scenario.id) skipped: \(why)") }
            }
            let passed = Set(report.passed.map(\.scenario.id))
            #expect(Self.credentialScenarios.isSubset(of: passed), "\(Self.credentialScenarios.subtracting(passed).sorted())")
        }

        /// What `--credentials-file` makes testable against `arcp serve`.
        static let credentialScenarios: Set<String> = ["credentials.issued", "credentials.per-job", "credentials.redacted"]

        @Test func overStdio() async throws {
            let arcp = try ArcpBinary.require()
            let command = [arcp] + Kit.serveArguments + ["--stdio"]
            let report = await ConformanceKit.run(.stdio(command: command), options: Kit.options(concurrency: 8))
            Kit.expect(report, failures: Self.knownStdioFailures, name: "arcp-serve-stdio")
            #expect(report.passed.count >= 80, "only \(report.passed.count) scenarios passed over stdio")
            // One session per process: credentials.redacted needs a second principal on the same runtime.
            let passed = Set(report.passed.map(\.scenario.id))
            #expect(passed.isSuperset(of: ["credentials.issued", "credentials.per-job"]))
        }
    }
}
