import ARCP
import ARCPDemoAgents
@testable import ARCPHummingbird
import ARCPTestSupport
import ARCPWebSocket
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import Testing

/// A real Hummingbird application on 127.0.0.1, port 0: `GET /health` beside the ARCP route at
/// `/arcp` (the demo agents), run under a `ServiceGroup` with `ARCPRuntimeService`.
struct HostedApp: Sendable {
    let runtime: ARCPRuntime
    let group: ServiceGroup
    let running: Task<Void, any Error>
    let port: Int
    var url: String { "ws://127.0.0.1:\(port)/arcp" }

    typealias Routes = @Sendable (Router<BasicWebSocketRequestContext>, ARCPRuntime) -> Void

    /// - Parameters:
    ///   - options: the ARCP route's options.
    ///   - serverFrameLimit: Hummingbird's WebSocket frame limit (`WebSocketServerConfiguration.arcp`).
    ///   - routes: more routes to add to the router.
    static func start(
        options: ARCPRouteOptions = ARCPRouteOptions(closeTimeout: .seconds(2)),
        serverFrameLimit: Int = ARCPRouteOptions.defaultMaxFrameSize,
        maxPendingFrames: Int? = nil,
        routes: Routes = { _, _ in }
    ) async throws -> HostedApp {
        let runtime = testRuntime(maxPendingFrames: maxPendingFrames)
        try DemoAgents.register(on: runtime)

        let router = Router(context: BasicWebSocketRequestContext.self)
        router.get("/health") { _, _ in "ok" }
        router.addARCP(runtime, path: "/arcp", options: options)
        routes(router, runtime)

        var logger = Logger(label: "test.hummingbird")
        logger.logLevel = .critical
        let bound = PortBox()
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(
                webSocketRouter: router,
                configuration: .init(ws: .arcp(maxFrameSize: serverFrameLimit, autoPing: .disabled))),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in bound.set(channel.localAddress?.port) },
            logger: logger)
        let group = ServiceGroup(services: [app, ARCPRuntimeService(runtime)], gracefulShutdownSignals: [], logger: logger)
        let running = Task {
            defer { bound.set(nil) }  // never leave the starter waiting
            try await group.run()
        }
        guard let port = await bound.wait() else {
            running.cancel()
            _ = try? await running.value
            Issue.record("the Hummingbird application did not start")
            throw CancellationError()
        }
        return HostedApp(runtime: runtime, group: group, running: running, port: port)
    }

    /// Graceful shutdown through ServiceLifecycle; returns once the group has finished.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await running.value
    }
}

/// The shared host scenarios (`ARCPTestSupport/HostScenarios.swift`) run against Hummingbird.
extension HostedApp: ARCPTestHost {
    static let name = "Hummingbird"
    /// Hummingbird answers every refused upgrade with a bare 400.
    static let refusedUpgradeStatus = 400
    static let refusalSaysWhy = false
    static let upgradeRequiredIsJSON = false

    static func start(options: HostRouteOptions, serverFrameLimit: Int?, routes: [HostRoute]) async throws -> HostedApp {
        try await start(
            options: routeOptions(options), serverFrameLimit: serverFrameLimit ?? ARCPRouteOptions.defaultMaxFrameSize
        ) { router, _ in
            for route in routes {
                router.addARCP(path: RouterPath(route.path), options: routeOptions(route.options)) { transport, _ in
                    await route.handler(HostedConnection(
                        transport: transport, sentCloseCode: { transport.sentCloseCode },
                        queued: { (transport.queuedMessages, transport.queuedBytes) }))
                }
            }
        }
    }

    static func routeOptions(_ options: HostRouteOptions) -> ARCPRouteOptions {
        var route = ARCPRouteOptions(closeTimeout: .seconds(2))
        if let v = options.maxFrameSize { route.maxFrameSize = v }
        if let v = options.maxFirstMessageSize { route.maxFirstMessageSize = v }
        route.allowedOrigins = options.allowedOrigins
        route.allowedHosts = options.allowedHosts
        if let v = options.inboundCapacity { route.inboundCapacity = v }
        if let v = options.inboundByteLimit { route.inboundByteLimit = v }
        return route
    }
}

/// The port the server bound, handed from `onServerRunning` to the test.
final class PortBox: Sendable {
    private struct State {
        var value: Int??
        var waiters: [CheckedContinuation<Int?, Never>] = []
    }
    private let state = Mutex(State())

    /// The first call wins; `nil` means the server will not run.
    func set(_ port: Int?) {
        let waiters = state.withLock { s -> [CheckedContinuation<Int?, Never>] in
            if s.value != nil { return [] }
            s.value = .some(port)
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: port) }
    }

    func wait() async -> Int? {
        await withCheckedContinuation { (cont: CheckedContinuation<Int?, Never>) in
            let now = state.withLock { s -> Int?? in
                if let v = s.value { return .some(v) }
                s.waiters.append(cont)
                return nil
            }
            if let now { cont.resume(returning: now) }
        }
    }
}
