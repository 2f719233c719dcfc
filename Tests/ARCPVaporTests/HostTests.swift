import ARCP
import ARCPTestSupport
@testable import ARCPVapor
import ARCPWebSocket
import Synchronization
import Testing
import Vapor

/// ARCP mounted in a real Vapor 4 application (`app.arcp(runtime, at: "arcp")`) beside an
/// ordinary HTTP route, driven over loopback by `ARCPWebSocket`'s NIO client, a raw WebSocket
/// client and the Python reference client: the host scenarios every framework adapter passes
/// (`ARCPTestSupport/HostScenarios.swift`), plus Vapor's own forms.
@Suite("ARCP in a Vapor app", .timeLimit(.minutes(1)))
struct VaporHostTests {
    /// The scenarios every framework host passes, one test case each.
    @Test(arguments: HostScenario.allCases)
    func shared(_ scenario: HostScenario) async throws { try await scenario.run(on: VaporApp.self) }

    /// `arcp(at:options:onConnection:)` on a route group: the handler sees the upgrade
    /// request, and closing the transport closes the connection with 1000.
    @Test func theGeneralFormSeesTheUpgradeRequest() async throws {
        let seen = Mutex<[String]>([])
        let app = try await VaporApp.start { app, runtime in
            app.grouped("v1").arcp(at: ["tenant"]) { transport, request in
                seen.withLock { $0.append(request.headers.first(name: "X-Tenant") ?? "none") }
                // The same stack as the stand-alone server: the runtime's writer and the hello
                // wait need no task of their own.
                seen.withLock { $0.append(taskFree(transport)) }
                await runtime.accept(transport)
            }
            app.grouped("v2").arcp(runtime, at: "arcp")
        }
        // A close timeout far above the close handshake's time even under a loaded parallel suite.
        let t = try await WebSocketTransport.connect(
            to: "ws://127.0.0.1:\(app.port)/v1/tenant", headers: ["X-Tenant": "acme"], closeTimeout: .seconds(15))
        _ = try await handshake(t)
        await t.close()
        #expect(t.peerCloseFrame?.code == 1000)
        #expect(seen.withLock { $0 } == ["acme", "task-free"])

        let client = try await app.client(path: "/v2/arcp")
        #expect(try await client.submit(agent: "echo", input: "grouped").result().result == ["echoed": "grouped"])
        await client.close()
        try await app.stop()
    }
}

/// The Python reference client (agentruntimecontrolprotocol 1.1.3, Tests/Interop/py_client.py)
/// against the runtime mounted in Vapor.
@Suite("ARCP in a Vapor app: Python reference client", .timeLimit(.minutes(1)))
struct VaporPythonClientTests {
    @Test(.enabled(if: pythonReferenceUnavailableReason == nil, Comment(rawValue: pythonReferenceUnavailableReason ?? "Python reference available")))
    func pythonClientRunsEcho() async throws {
        try await HostScenarios<VaporApp>.pythonClientRunsEcho()
    }
}

/// Compiles only for a transport the runtime serves without a writer task or a hello-wait
/// task (the Vapor route's must stay one).
func taskFree(_ transport: some PushWritable & DeadlineReceiving) -> String { "task-free" }
