import ARCP
@testable import ARCPHummingbird
import ARCPTestSupport
import ARCPWebSocket
import Hummingbird
import HummingbirdWebSocket
import Synchronization
import Testing

/// ARCP mounted in a real Hummingbird 2 application (`router.addARCP(runtime, path: "/arcp")`)
/// beside an ordinary HTTP route, driven over loopback by `ARCPWebSocket`'s NIO client, a raw
/// WebSocket client and the Python reference client: the host scenarios every framework
/// adapter passes (`ARCPTestSupport/HostScenarios.swift`), plus Hummingbird's own forms.
@Suite("ARCP in a Hummingbird app", .timeLimit(.minutes(1)))
struct HostTests {
    /// The scenarios every framework host passes, one test case each.
    @Test(arguments: HostScenario.allCases)
    func shared(_ scenario: HostScenario) async throws { try await scenario.run(on: HostedApp.self) }

    /// `addARCP(path:onConnection:)`: the handler sees the upgrade request, and closing the
    /// transport closes the connection with 1000. And `HummingbirdWebSocketTransport.serve`
    /// inside a `ws(…)` route of one's own.
    @Test func generalFormsSeeTheUpgradeRequest() async throws {
        let seen = Mutex<[String]>([])
        let app = try await HostedApp.start { router, runtime in
            router.addARCP(path: "/tenant") { transport, context in
                let value = context.request.headers.first { $0.name.canonicalName == "x-tenant" }?.value
                seen.withLock { $0.append(value ?? "none") }
                await runtime.accept(transport)
            }
            router.ws("/custom") { inbound, outbound, context in
                await HummingbirdWebSocketTransport.serve(
                    inbound: inbound, outbound: outbound, logger: context.logger
                ) { transport in
                    await runtime.accept(transport)
                }
            }
        }
        // A close timeout far above the close handshake's time even under a loaded parallel suite.
        let t = try await WebSocketTransport.connect(
            to: "ws://127.0.0.1:\(app.port)/tenant", headers: ["X-Tenant": "acme"], closeTimeout: .seconds(15))
        _ = try await handshake(t)
        await t.close()
        #expect(t.peerCloseFrame?.code == 1000)
        #expect(seen.withLock { $0 } == ["acme"])

        let client = try await app.client(path: "/custom")
        #expect(try await client.submit(agent: "echo", input: "custom").result().result == ["echoed": "custom"])
        await client.close()
        try await app.stop()
    }
}

/// The Python reference client (agentruntimecontrolprotocol 1.1.3, Tests/Interop/py_client.py)
/// against the runtime mounted in Hummingbird.
@Suite("ARCP in a Hummingbird app: Python reference client", .timeLimit(.minutes(1)))
struct HostPythonClientTests {
    @Test(.enabled(if: pythonReferenceUnavailableReason == nil, Comment(rawValue: pythonReferenceUnavailableReason ?? "Python reference available")))
    func pythonClientRunsEcho() async throws {
        try await HostScenarios<HostedApp>.pythonClientRunsEcho()
    }
}
