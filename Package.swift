// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "swift-arcp",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ARCPGenerated", targets: ["ARCPGenerated"]),
        .library(name: "ARCPJSON", targets: ["ARCPJSON"]),
        .library(name: "ARCP", targets: ["ARCP"]),
        .library(name: "ARCPStore", targets: ["ARCPStore"]),
        .library(name: "ARCPWebSocket", targets: ["ARCPWebSocket"]),
        .library(name: "ARCPSubprocess", targets: ["ARCPSubprocess"]),
        .library(name: "ARCPTracing", targets: ["ARCPTracing"]),
        .library(name: "ARCPHummingbird", targets: ["ARCPHummingbird"]),
        .library(name: "ARCPTesting", targets: ["ARCPTesting"]),
        .executable(name: "arcp", targets: ["ARCPCLI"]),
        .executable(name: "arcp-demo", targets: ["ARCPDemo"]),
        .executable(name: "arcp-bench", targets: ["ARCPBench"]),
        .executable(name: "arcp-examples", targets: ["ARCPExamples"]),
        .executable(name: "arcp-host-hummingbird", targets: ["HostHummingbird"]),
        .plugin(name: "ARCPCodegen", targets: ["ARCPCodegen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
    ],
    targets: [
        // Wire layer: hand-written JSON value/parser/ids + code generated from schema/ at build time.
        .target(name: "ARCPJSON", swiftSettings: strict),
        .target(
            name: "ARCPGenerated",
            dependencies: ["ARCPJSON"],
            swiftSettings: strict,
            plugins: [.plugin(name: "ARCPCodegen")]
        ),
        // The generator: read schema -> model -> render Swift. Pure Foundation.
        .target(name: "ARCPCodegenCore", dependencies: ["ARCPJSON"], swiftSettings: strict),
        .executableTarget(
            name: "ARCPCodegenTool",
            dependencies: ["ARCPCodegenCore"],
            swiftSettings: strict
        ),
        .plugin(
            name: "ARCPCodegen",
            capability: .buildTool(),
            dependencies: ["ARCPCodegenTool"]
        ),
        // Client, runtime, sessions, leases, in-memory transport. No server frameworks.
        .target(
            name: "ARCP",
            dependencies: [
                "ARCPGenerated",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Test doubles for code built on ARCP: a credential provisioner in memory, a manual
        // lease clock. Not part of the `ARCP` product.
        .target(name: "ARCPTesting", dependencies: ["ARCP"], swiftSettings: strict),
        // The runtime store on SQLite (GRDB): sessions, event log, jobs, idempotency keys,
        // outstanding credentials.
        .target(
            name: "ARCPStore",
            dependencies: ["ARCP", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        // The ARCP rules of a WebSocket connection, once, for every WebSocket adapter (ARCPWebSocket's
        // server and client, ARCPHummingbird, a Vapor adapter): reassembly and size limits, close
        // codes, inbound mailbox and outbound credit, bounded pongs, allow-lists, connection limit,
        // the event loop as task executor. Depends on NIOCore/NIOWebSocket types only.
        .target(
            name: "ARCPWebSocketCore",
            dependencies: [
                "ARCP",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // WebSocket transport (spec §4), client and server, on swift-nio. Kept out of ARCP.
        .target(
            name: "ARCPWebSocket",
            dependencies: [
                "ARCP", "ARCPWebSocketCore",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // A child process that is a runtime, talked to over its stdio (swift-subprocess).
        .target(
            name: "ARCPSubprocess",
            dependencies: ["ARCP", .product(name: "Subprocess", package: "swift-subprocess")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ARCPWebSocketTests",
            dependencies: [
                "ARCP", "ARCPWebSocket", "ARCPWebSocketCore", "ARCPTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Mounting a runtime in a Hummingbird 2 app: a WebSocket route on its router. Kept out of ARCP.
        .target(
            name: "ARCPHummingbird",
            dependencies: [
                "ARCP", "ARCPWebSocketCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // A real Hummingbird app on port 0, driven by the NIO client and the Python reference client.
        .testTarget(
            name: "ARCPHummingbirdTests",
            dependencies: [
                "ARCP", "ARCPHummingbird", "ARCPWebSocket", "ARCPWebSocketCore", "ARCPDemoAgents", "ARCPTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "ARCPTransportTests", dependencies: ["ARCP", "ARCPSubprocess"], swiftSettings: strict),
        // Distributed tracing (spec §11) on swift-distributed-tracing: the runtime's
        // `RuntimeInstrumentation` as spans, trace_id <-> W3C traceparent. Kept out of ARCP.
        .target(
            name: "ARCPTracing",
            dependencies: ["ARCP", .product(name: "Tracing", package: "swift-distributed-tracing")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ARCPTracingTests",
            dependencies: [
                "ARCP", "ARCPTracing", "ARCPTestSupport",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The demo agents `arcp serve` runs (same names/inputs/results as the Python reference's).
        // A target the CLI, the Hummingbird example and tests use; not a product.
        .target(name: "ARCPDemoAgents", dependencies: ["ARCP"], swiftSettings: strict),
        // The `arcp` command: serve, submit, tail, jobs, validate.
        .executableTarget(
            name: "ARCPCLI",
            dependencies: [
                "ARCP", "ARCPWebSocket", "ARCPSubprocess", "ARCPDemoAgents", "ARCPStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The `arcp` executable and what `arcp serve` runs: CLI behaviour and bad input over WebSocket.
        // What several test targets share: the arcp binary and child processes, a raw WebSocket client.
        .target(
            name: "ARCPTestSupport",
            dependencies: [
                "ARCP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            path: "Tests/ARCPTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "ARCPCLITests",
            dependencies: [
                "ARCP", "ARCPWebSocket", "ARCPDemoAgents", "ARCPCLI", "ARCPTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Interop with the Python reference (skipped, with the reason, without <repo>/.venv).
        // Depends on ARCPCLI so `arcp` is built first; the tests run the built binary.
        .testTarget(
            name: "ARCPInteropTests",
            dependencies: ["ARCP", "ARCPWebSocket", "ARCPSubprocess", "ARCPCLI", "ARCPTestSupport"],
            swiftSettings: strict
        ),
        // `swift run arcp-demo`: runtime + client in one process.
        .executableTarget(name: "ARCPDemo", dependencies: ["ARCP"], swiftSettings: strict),
        .testTarget(name: "ARCPStoreTests", dependencies: ["ARCP", "ARCPStore", "ARCPTesting"], swiftSettings: strict),
        .testTarget(
            name: "ARCPTests",
            dependencies: ["ARCP", "ARCPTesting", "ARCPTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // `swift run -c release arcp-bench <subcommand>`: one file per subcommand.
        .executableTarget(
            name: "ARCPBench",
            dependencies: [
                "ARCPGenerated", "ARCP", "ARCPWebSocket",
                // The floor (`ws-floor`): raw swift-nio WebSocket at both ends.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            path: "Benchmarks/ARCPBench",
            swiftSettings: strict
        ),
        // `swift run arcp-examples [name]`: one small program per feature, runtime + client in one process.
        .executableTarget(
            name: "ARCPExamples",
            dependencies: [
                "ARCP", "ARCPTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            path: "Examples/ARCPExamples",
            swiftSettings: strict
        ),
        // `swift run arcp-host-hummingbird`: the demo agents at /arcp of a Hummingbird app beside /health.
        .executableTarget(
            name: "HostHummingbird",
            dependencies: [
                "ARCP", "ARCPHummingbird", "ARCPDemoAgents",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/HostHummingbird",
            swiftSettings: strict
        ),
        .testTarget(name: "ARCPExamplesTests", dependencies: ["ARCPExamples"], swiftSettings: strict),
        .testTarget(name: "ARCPCodegenTests", dependencies: ["ARCPCodegenCore"], swiftSettings: strict),
        .testTarget(name: "ARCPGeneratedTests", dependencies: ["ARCPGenerated"], swiftSettings: strict),
    ]
)
