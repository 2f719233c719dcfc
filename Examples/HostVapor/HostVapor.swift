import ARCP
import ARCPDemoAgents
import ARCPVapor
import Vapor

/// `swift run arcp-host-vapor [serve --hostname H --port P]`
///
/// An ARCP runtime mounted in an ordinary Vapor 4 application: `GET /health` is the app's own
/// route, and `/arcp` serves the demo agents (`echo`, `slow`, `progress`, `chunked`, …) over
/// WebSocket. The counterpart of `arcp-host-hummingbird` and of the Python SDK's
/// `host-asgi` / `host-aiohttp` examples.
///
/// Vapor's own command line applies (`serve --hostname 0.0.0.0 --port 8080`, `routes`, `--env`).
/// Bearer tokens come from `ARCP_TOKENS` (`token=principal,…`; default `tok=demo@example.com`).
/// SIGINT/SIGTERM shut it down gracefully: every session gets `session.bye`, then the HTTP
/// server stops.
///
/// Try it: `arcp submit --url ws://127.0.0.1:8080/arcp --token tok echo '{"hi": 1}'`, or
/// `curl -i http://127.0.0.1:8080/health`, or `curl -i http://127.0.0.1:8080/arcp` (426).
@main
enum HostVapor {
    static func main() async throws {
        var env = try Environment.detect()
        try LoggingSystem.bootstrap(from: &env)
        let app = try await Application.make(env)

        // 1. The runtime and its agents: plain ARCP, nothing Vapor-specific.
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(tokens(Environment.get("ARCP_TOKENS"))))
        try DemoAgents.register(on: runtime)

        // 2. The app's own routes, and ARCP at /arcp (one line, which also registers the
        //    runtime's graceful shutdown with the application).
        app.get("health") { _ in "ok" }
        app.arcp(runtime, at: "arcp")

        do {
            try await app.execute()
        } catch {
            app.logger.report(error: error)
            try? await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }

    /// `token=principal,…` (a token without `=` gets `demo@example.com`).
    static func tokens(_ spec: String?) -> [String: String] {
        var out: [String: String] = [:]
        for item in (spec ?? "").split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard let token = parts.first.map({ String($0).trimmingCharacters(in: .whitespaces) }), !token.isEmpty else { continue }
            out[token] = parts.count > 1 ? String(parts[1]) : "demo@example.com"
        }
        return out.isEmpty ? ["tok": "demo@example.com"] : out
    }
}
