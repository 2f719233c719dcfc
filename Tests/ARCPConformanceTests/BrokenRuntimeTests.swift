import ARCPConformance
import Foundation
import Testing

extension ConformanceKitTests {
    /// Each scenario shown able to fail: our runtime behind a proxy that breaks one rule
    /// (``Mutations``) must fail the scenarios that check it. And without a mutation the same
    /// in-process runtime fails only what `arcp serve` fails.
    @Suite("broken runtimes")
    struct BrokenRuntimeTests {
        @Test func everyScenarioCanFail() {
            let covered = Set(Mutations.all.flatMap(\.fails))
            let ids = Set(ScenarioCatalog.all.map(\.id))
            #expect(ids.subtracting(covered).isEmpty, "no mutation shows these scenarios can fail: \(ids.subtracting(covered).sorted())")
            #expect(covered.subtracting(ids).isEmpty, "mutations name scenarios that do not exist: \(covered.subtracting(ids).sorted())")
            let names = Mutations.all.map(\.mutation.name)
            #expect(Set(names).count == names.count, "two mutations share a name")
        }

        /// In process the runtime also offers `provisioned_credentials` (`arcp serve` has no
        /// provisioner), so nothing is skipped: every scenario runs against our runtime somewhere.
        @Test func theUnbrokenRuntimeFailsOnlyTheKnownFindings() async throws {
            let runtime = try InProcessRuntime(credentials: true)
            let report = await ConformanceKit.run(runtime.target(), options: Kit.options())
            await runtime.shutdown()
            Kit.expect(report, failures: ArcpServeTests.knownFailures, name: "in-process")
            let skipped = report.skipped.map { r in "\(r.scenario.id): \(r.outcome)" }
            #expect(skipped.isEmpty, "skipped in process: \(skipped)")
        }

        @Test func eachMutationFailsItsScenarios() async throws {
            var found: [String] = []
            await withTaskGroup(of: [String].self) { group in
                var running = 0
                for (mutation, fails) in Mutations.all {
                    if running >= 8, let problems = await group.next() {
                        found += problems
                        running -= 1
                    }
                    running += 1
                    group.addTask {
                        do {
                            let runtime = try InProcessRuntime()
                            let report = await ConformanceKit.run(runtime.target(mutation), options: Kit.options(only: fails, concurrency: 4, responseTimeout: .seconds(4), jobTimeout: .seconds(15)))
                            await runtime.shutdown()
                            return fails.filter { !report.failedIDs.contains($0) }.map { id in
                                let outcome = report.results.first { $0.scenario.id == id }.map { "\($0.outcome)" } ?? "not run"
                                return "\(mutation.name): \(id) did not fail (\(outcome))"
                            }
                        } catch {
                            return ["\(mutation.name): \(error)"]
                        }
                    }
                }
                for await problems in group { found += problems }
            }
            #expect(found.isEmpty, "\(found.count) scenarios missed their broken runtime:\n\(found.sorted().joined(separator: "\n"))")
        }
    }
}
