import ARCP
import ServiceLifecycle

/// Ties an `ARCPRuntime` to ServiceLifecycle: runs until graceful shutdown, then calls
/// `runtime.shutdown()` (running jobs end, every attached session gets `session.bye` and its
/// connection is closed).
///
/// Put it **after** the Hummingbird application in the `ServiceGroup`: services are shut down
/// in reverse order, so the sessions say goodbye while the HTTP server still runs, and the
/// server stops afterwards.
///
/// ```swift
/// let group = ServiceGroup(
///     services: [app, ARCPRuntimeService(runtime)],
///     gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
///
/// Cancellation (rather than graceful shutdown) ends it without the goodbye.
public struct ARCPRuntimeService: Service {
    /// The runtime shut down at graceful shutdown.
    public let runtime: ARCPRuntime

    /// A service that shuts `runtime` down at graceful shutdown.
    public init(_ runtime: ARCPRuntime) {
        self.runtime = runtime
    }

    /// Waits for graceful shutdown, then shuts the runtime down (its sessions get
    /// `session.bye`); returns at once when cancelled instead.
    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            return  // cancelled: the group is being torn down, not shut down gracefully
        }
        await runtime.shutdown()
    }
}
