/// One runnable example: `swift run arcp-examples <name>`.
///
/// Each example is a small program that starts an `ARCPRuntime` and one or more
/// `ARCPClient`s in the same process, shows one feature end to end, and prints what
/// happens. It checks its own outcome and throws `ExampleFailure` when the SDK did not
/// behave as the example says, so the test target can run every example as a test.
public protocol Example {
    /// The command-line name (the same names as the Python SDK's examples).
    static var name: String { get }
    /// What the example shows, in one line.
    static var summary: String { get }
    /// The spec sections it exercises (draft-arcp-1.1 unless noted).
    static var spec: String { get }
    /// Runs the example end to end, printing through `say(_:)`.
    static func run() async throws
}

/// Every example, in the order of the Python SDK's README.
public enum Gallery {
    /// All examples: the v1.0 core ones, one per v1.1 feature, then the host integrations.
    public static var all: [any Example.Type] {
        [
            SubmitAndStream.self, Delegate.self, Resume.self, IdempotentRetry.self, LeaseViolation.self, Cancel.self,
            Stdio.self, VendorExtensions.self, CustomAuth.self,
            Heartbeat.self, AckBackpressure.self, ListJobs.self, Subscribe.self, AgentVersions.self, LeaseExpiresAt.self,
            CostBudget.self, Progress.self, ResultChunk.self,
            HostTracing.self,
        ]
    }

    /// The example called `name`, if any.
    public static func named(_ name: String) -> (any Example.Type)? {
        all.first { $0.name == name }
    }
}
