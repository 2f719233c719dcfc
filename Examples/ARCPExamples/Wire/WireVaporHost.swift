import ARCP
import ARCPVapor
import Vapor

/// `host_aiohttp` / `host_asgi` on Vapor 4: the reference's web application (aiohttp's
/// `web.Application`, Starlette) with `GET /health` as the app's own route and the runtime
/// mounted beside it with `app.arcp(runtime, at: "arcp")` (`ARCPVapor`), which also
/// registers the runtime's graceful shutdown with the application. (Its own file: Vapor and
/// Hummingbird both name an `Application`.)
enum VaporHost {
    static func serve(
        _ runtime: ARCPRuntime, _ setup: ServerSetup, health: @escaping @Sendable () -> JSONValue, name: String, stopOnEOF: Bool
    ) async throws {
        // Vapor's command line is not ours: the application gets no arguments to parse.
        let app = try await Application.make(Environment(name: "production", arguments: [name]))
        app.logger.logLevel = setup.logLevel
        app.http.server.configuration.serverName = name
        app.get("health") { _ in
            Response(status: .ok, headers: ["Content-Type": "application/json"], body: .init(string: JSONWriter.string(health())))
        }
        // The reference passes allowed_hosts=["localhost", "127.0.0.1"] (checked without the port).
        app.arcp(runtime, at: "arcp", options: ARCPVaporOptions(allowedHosts: ["localhost", "127.0.0.1"]))
        let server = app.http.server.shared
        do {
            try await server.start(address: .hostname("127.0.0.1", port: setup.port))
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
        printLine("listening on http://127.0.0.1:\(server.localAddress?.port ?? setup.port)")
        printLine("web framework: Vapor 4 (ARCPVapor, app.arcp(runtime, at: \"arcp\"))")
        _ = await WireServer.waitForStop(stopOnEOF: stopOnEOF)
        // The lifecycle handler first (every session gets session.bye), then the HTTP server.
        try await app.asyncShutdown()
        await server.shutdown()
    }
}
