import ARCP
import Foundation

/// One of the Python reference's examples as two processes.
///
/// The reference (`agentruntimecontrolprotocol==1.1.3`) ships 22 examples, each a
/// `server.py` and a `client.py` talking over WebSocket at `ws://127.0.0.1:PORT/arcp`
/// (`stdio` over a child's pipes instead). For each one:
///
/// - `arcp-examples serve <name>` is a Swift runtime hosting the same agents (names, inputs,
///   behaviour, tokens and principals, environment variables, path `/arcp`) as its
///   `server.py`, so the reference's `client.py` runs unmodified against it;
/// - `arcp-examples client <name> --url URL` does what its `client.py` does, with the same
///   checks, and exits non-zero when one fails.
///
/// `docs/EXAMPLES.md` lists them; `docs/INTEROP.md` has the matrix of which side passes
/// against which, and why each failure fails.
protocol WireExample {
    /// The reference's directory name, e.g. `ack_backpressure` (`ack-backpressure` is accepted too).
    static var name: String { get }
    /// The reference's default `ARCP_DEMO_PORT`.
    static var defaultPort: Int { get }
    /// What the example shows, in one line.
    static var summary: String { get }
    /// How `serve` hosts the runtime (default: the WebSocket server).
    static var hosting: WireHosting { get }
    /// The runtime with the example's agents.
    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime
    /// The client side: connects, does what the reference's `client.py` does, and throws
    /// `ExampleFailure` when a check fails.
    static func runClient(_ setup: ClientSetup) async throws
}

extension WireExample {
    static var hosting: WireHosting { .webSocket }
}

/// How `arcp-examples serve` hosts an example's runtime.
enum WireHosting: Sendable {
    /// `WebSocketServer` at `ws://127.0.0.1:PORT/arcp` (the reference's `serve_websocket`).
    case webSocket
    /// A web application with `GET /health` (answering `health()`) beside `/arcp` (the
    /// reference's aiohttp and Starlette hosts): Hummingbird or Vapor, `framework` unless
    /// `serve --framework` says otherwise.
    case http(health: @Sendable () -> JSONValue, framework: WebFramework)
    /// One session over this process's stdin/stdout (the reference's `StdioTransport`).
    case stdio
}

/// The Swift web framework a `host_*` example is served on (`arcp-examples serve --framework`).
enum WebFramework: String, CaseIterable, Sendable {
    /// Hummingbird 2 (`ARCPHummingbird`: `router.addARCP(runtime, path: "/arcp")`).
    case hummingbird
    /// Vapor 4 (`ARCPVapor`: `app.arcp(runtime, at: "arcp")`).
    case vapor
}

/// The 22 examples, in the order of the reference's `examples/` directory.
enum WireGallery {
    static var all: [any WireExample.Type] {
        [
            WireAckBackpressure.self, WireAgentVersions.self, WireCancel.self, WireCostBudget.self, WireCustomAuth.self,
            WireDelegate.self, WireHeartbeat.self, WireHostAiohttp.self, WireHostAsgi.self, WireHostTracing.self,
            WireIdempotentRetry.self, WireLeaseExpiresAt.self, WireLeaseViolation.self, WireListJobs.self, WireProgress.self,
            WireProvisionedCredentials.self, WireResultChunk.self, WireResume.self, WireStdio.self, WireSubmitAndStream.self,
            WireSubscribe.self, WireVendorExtensions.self,
        ]
    }

    /// The example called `name`, accepting `-` for `_` (`ack-backpressure`).
    static func named(_ name: String) -> (any WireExample.Type)? {
        let key = name.replacingOccurrences(of: "-", with: "_")
        return all.first { $0.name == key }
    }
}
