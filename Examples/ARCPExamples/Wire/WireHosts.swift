import ARCP
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `host_aiohttp` and `host_asgi`: ARCP mounted in a web application beside its own route
/// `GET /health`. The reference uses aiohttp and Starlette on uvicorn; here each runs on
/// either Swift framework (`serve --framework hummingbird|vapor`): Hummingbird 2
/// (`ARCPHummingbird`: `router.addARCP(runtime, path: "/arcp")`) or Vapor 4 (`ARCPVapor`:
/// `app.arcp(runtime, at: "arcp")`). By default host_asgi runs on Hummingbird (like
/// Starlette on uvicorn, a router on a separate server) and host_aiohttp on Vapor (like
/// aiohttp, one application object owning routes, server and lifecycle).
/// The client checks `/health` over HTTP, then submits `echo` over the WebSocket.
enum WireHostAiohttp: WireExample {
    static let name = "host_aiohttp"
    static let defaultPort = 7897
    static let summary = "ARCP at /arcp of a web app (Vapor, or --framework hummingbird; the reference: aiohttp) beside GET /health."
    static var hosting: WireHosting { .http(health: { ["ok": true] }, framework: .vapor) }

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        try HostedEcho.runtime(setup, name: "host-aiohttp-server")
    }

    static func runClient(_ setup: ClientSetup) async throws {
        try await HostedEcho.client(setup, name: "host-aiohttp-client")
    }
}

enum WireHostAsgi: WireExample {
    static let name = "host_asgi"
    static let defaultPort = 7896
    static let summary = "ARCP at /arcp of a web app (Hummingbird, or --framework vapor; the reference: Starlette on uvicorn) beside GET /health."
    static var hosting: WireHosting {
        .http(health: { ["ok": true, "request_id": .string(UUID().uuidString.lowercased())] }, framework: .hummingbird)
    }

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        try HostedEcho.runtime(setup, name: "host-asgi-server")
    }

    static func runClient(_ setup: ClientSetup) async throws {
        try await HostedEcho.client(setup, name: "host-asgi-client")
    }
}

/// What the two host examples share: the `echo` agent and the client's steps.
enum HostedEcho {
    static func runtime(_ setup: ServerSetup, name: String) throws -> ARCPRuntime {
        let runtime = ARCPRuntime(configuration: setup.configuration(name: name), verifier: setup.verifier)
        try runtime.register("echo") { input, _ in ["echoed": input] }
        return runtime
    }

    static func client(_ setup: ClientSetup, name: String) async throws {
        let health = try await getJSON(setup.httpBase + "/health")
        say("/health -> \(compact(health))")
        try check(health["ok"] == true, "/health says ok")

        let client = ARCPClient(token: setup.token, options: setup.options(name: name, features: []))
        try await setup.connect(client)
        let job = try await client.submit(agent: "echo", input: ["k": 1])
        let outcome = try await job.result()
        say("job -> \(outcome.finalStatus.rawValue), \(compact(outcome.result))")
        try check(outcome.finalStatus == .success, "the job succeeds")
        await client.close()
    }

    /// `GET url` and its JSON body; a status other than 2xx throws.
    static func getJSON(_ url: String) async throws -> JSONValue {
        guard let target = URL(string: url) else { throw ExampleFailure(description: "bad URL \(url)") }
        let (data, response) = try await URLSession.shared.data(from: target)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else { throw ExampleFailure(description: "GET \(url): HTTP \(status)") }
        return try JSONParser.parse(data)
    }
}
