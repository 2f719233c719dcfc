import ARCP
import ARCPDemoAgents
import ARCPTestSupport
@testable import ARCPVapor
import ARCPWebSocket
import Testing
import Vapor

/// A real Vapor application on 127.0.0.1, port 0: `GET /health` beside the ARCP route at
/// `/arcp` (the demo agents), mounted with `app.arcp(runtime, at: "arcp")`.
struct VaporApp: Sendable {
    let app: Application
    let server: HTTPServer
    let runtime: ARCPRuntime
    let port: Int
    var url: String { "ws://127.0.0.1:\(port)/arcp" }

    typealias Routes = @Sendable (Application, ARCPRuntime) -> Void

    static func start(
        options: ARCPVaporOptions = ARCPVaporOptions(closeTimeout: .seconds(2), pingInterval: nil),
        maxPendingFrames: Int? = nil,
        eventLoopGroup: (any EventLoopGroup)? = nil,
        routes: Routes = { _, _ in }
    ) async throws -> VaporApp {
        let runtime = testRuntime(maxPendingFrames: maxPendingFrames)
        try DemoAgents.register(on: runtime)

        let app = try await Application.make(.testing, eventLoopGroup.map { .shared($0) } ?? .singleton)
        app.logger.logLevel = .critical
        app.get("health") { _ in "ok" }
        app.arcp(runtime, at: "arcp", options: options)
        routes(app, runtime)
        let server = app.http.server.shared
        do {
            try await server.start(address: .hostname("127.0.0.1", port: 0))
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
        guard let port = server.localAddress?.port else {
            await server.shutdown()
            try? await app.asyncShutdown()
            Issue.record("the Vapor application did not start")
            throw CancellationError()
        }
        return VaporApp(app: app, server: server, runtime: runtime, port: port)
    }

    /// Shuts down as `app.execute()` + `app.asyncShutdown()` do: the lifecycle handlers (the
    /// runtime's goodbye) first, then the HTTP server.
    func stop() async throws {
        try await app.asyncShutdown()
        await server.shutdown()
    }
}

/// The shared host scenarios (`ARCPTestSupport/HostScenarios.swift`) run against Vapor.
extension VaporApp: ARCPTestHost {
    static let name = "Vapor"
    /// The route answers a refused upgrade itself: 403 and why.
    static let refusedUpgradeStatus = 403
    static let refusalSaysWhy = true
    static let upgradeRequiredIsJSON = true

    /// Vapor has no WebSocket frame limit apart from the route's: `serverFrameLimit` is unused.
    static func start(options: HostRouteOptions, serverFrameLimit: Int?, routes: [HostRoute]) async throws -> VaporApp {
        try await start(options: routeOptions(options)) { app, _ in
            for route in routes {
                let path = route.path.split(separator: "/").map { PathComponent(stringLiteral: String($0)) }
                app.arcp(at: path, options: routeOptions(route.options)) { transport, _ in
                    await route.handler(HostedConnection(
                        transport: transport, sentCloseCode: { transport.sentCloseCode },
                        queued: { (transport.queuedMessages, transport.queuedBytes) }))
                }
            }
        }
    }

    static func routeOptions(_ options: HostRouteOptions) -> ARCPVaporOptions {
        var route = ARCPVaporOptions(closeTimeout: .seconds(2), pingInterval: nil)
        if let v = options.maxFrameSize { route.maxFrameSize = v }
        if let v = options.maxFirstMessageSize { route.maxFirstMessageSize = v }
        route.allowedOrigins = options.allowedOrigins
        route.allowedHosts = options.allowedHosts
        if let v = options.inboundCapacity { route.inboundCapacity = v }
        if let v = options.inboundByteLimit { route.inboundByteLimit = v }
        return route
    }
}
