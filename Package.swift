// swift-tools-version: 6.1
import PackageDescription

#if os(Linux)
import Glibc

/// Whether the glibc of the machine that builds reads packed relative relocations (DT_RELR,
/// 2.36+). A binary linked with them asks for `GLIBC_ABI_DT_RELR` and does not start on an
/// older glibc, so they are used only where the build's own glibc has them.
let glibcReadsRELR: Bool = {
    var buffer = [UInt8](repeating: 0, count: 64)
    let length = buffer.withUnsafeMutableBufferPointer { b in
        b.withMemoryRebound(to: CChar.self) { confstr(Int32(_CS_GNU_LIBC_VERSION), $0.baseAddress, $0.count) }
    }
    guard length > 1, length <= buffer.count else { return false }
    // "glibc 2.36"
    let text = String(decoding: buffer[..<(length - 1)], as: UTF8.self)
    let version = text.split(separator: " ").last?.split(separator: ".").compactMap { Int($0) } ?? []
    return version.count >= 2 && (version[0], version[1]) >= (2, 36)
}()
#else
let glibcReadsRELR = false
#endif

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "swift-arcp",
    // The client-side targets (ARCPJSON, ARCPGenerated, ARCP, ARCPWebSocket) are written for every
    // Apple platform; the minimums are those of the Synchronization module (Mutex, Atomic). Only
    // Linux is built and tested here: see README, "Platforms".
    platforms: [.macOS(.v15), .iOS(.v18), .tvOS(.v18), .watchOS(.v11), .visionOS(.v2)],
    products: [
        .library(name: "ARCPGenerated", targets: ["ARCPGenerated"]),
        .library(name: "ARCPJSON", targets: ["ARCPJSON"]),
        .library(name: "ARCP", targets: ["ARCP"]),
        .library(name: "ARCPStore", targets: ["ARCPStore"]),
        .library(name: "ARCPWebSocket", targets: ["ARCPWebSocket"]),
        .library(name: "ARCPSubprocess", targets: ["ARCPSubprocess"]),
        .library(name: "ARCPTracing", targets: ["ARCPTracing"]),
        .library(name: "ARCPHummingbird", targets: ["ARCPHummingbird"]),
        .library(name: "ARCPJWT", targets: ["ARCPJWT"]),
        .library(name: "ARCPMetrics", targets: ["ARCPMetrics"]),
        .library(name: "ARCPVapor", targets: ["ARCPVapor"]),
        .library(name: "ARCPTesting", targets: ["ARCPTesting"]),
        .library(name: "ARCPPostgres", targets: ["ARCPPostgres"]),
        .library(name: "ARCPConformance", targets: ["ARCPConformance"]),
        .executable(name: "arcp", targets: ["ARCPCLI"]),
        .executable(name: "arcp-demo", targets: ["ARCPDemo"]),
        .executable(name: "arcp-bench", targets: ["ARCPBench"]),
        .executable(name: "arcp-examples", targets: ["ARCPExamples"]),
        .executable(name: "arcp-host-hummingbird", targets: ["HostHummingbird"]),
        .executable(name: "arcp-host-vapor", targets: ["HostVapor"]),
        .plugin(name: "ARCPCodegen", targets: ["ARCPCodegen"]),
        // The generator outside SwiftPM: `arcp-codegen --help` (docs/CODEGEN.md).
        .executable(name: "arcp-codegen", targets: ["arcp-codegen"]),
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
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.3"),
        // `swift package generate-documentation` (Scripts/docs.sh); a command plugin, built only when run.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
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
        // `arcp-codegen`: the product, and the tool the plugin runs (named alike, as SwiftPM needs).
        .executableTarget(
            name: "arcp-codegen",
            dependencies: ["ARCPCodegenCore"],
            path: "Sources/ARCPCodegenTool",
            swiftSettings: strict
        ),
        .plugin(
            name: "ARCPCodegen",
            capability: .buildTool(),
            dependencies: ["arcp-codegen"]
        ),
        // Client, runtime, sessions, leases, in-memory transport. No server frameworks.
        .target(
            name: "ARCP",
            dependencies: [
                "ARCPGenerated",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
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
        // The runtime store and a runtime cluster on PostgreSQL (postgres-nio): sessions, the
        // event log, jobs, idempotency keys, outstanding credentials; nodes that share them
        // (docs/CLUSTER.md).
        .target(
            name: "ARCPPostgres",
            dependencies: [
                "ARCP",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The PostgreSQL store's own checks (URLs, migrations, an unreachable server) and
        // `arcp serve --postgres` nodes on a throwaway PostgreSQL.
        .testTarget(
            name: "ARCPPostgresTests",
            dependencies: [
                "ARCP", "ARCPPostgres", "ARCPWebSocket", "ARCPCLI", "ARCPTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
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
                // SHA-1 for the handshake's Sec-WebSocket-Accept.
                .product(name: "Crypto", package: "swift-crypto"),
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
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
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
        // The conformance kit (`arcp conformance`): scenarios that check any runtime over the wire.
        // Speaks raw frames through the package's transports; nothing of the runtime's internals.
        .target(
            name: "ARCPConformance",
            dependencies: ["ARCPGenerated", "ARCP", "ARCPWebSocket", "ARCPSubprocess"],
            swiftSettings: strict
        ),
        // The kit against `arcp serve` (WebSocket, stdio), the Python reference, and broken runtimes.
        .testTarget(
            name: "ARCPConformanceTests",
            dependencies: ["ARCPConformance", "ARCP", "ARCPDemoAgents", "ARCPCLI", "ARCPTestSupport", "ARCPTesting"],
            swiftSettings: strict
        ),
        // The demo agents `arcp serve` runs (same names/inputs/results as the Python reference's).
        // A target the CLI, the Hummingbird example and tests use; not a product.
        .target(name: "ARCPDemoAgents", dependencies: ["ARCP"], swiftSettings: strict),
        // The `arcp` command: serve, submit, tail, jobs, validate.
        .executableTarget(
            name: "ARCPCLI",
            dependencies: [
                "ARCP", "ARCPWebSocket", "ARCPSubprocess", "ARCPDemoAgents", "ARCPStore", "ARCPConformance", "ARCPJWT", "ARCPMetrics", "ARCPTracing", "ARCPPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict,
            // The release build of the runtime is linked by lld (shipped with the toolchain) with
            // packed relative relocations where the glibc reads them: the loader reads 16 KiB of
            // relocations at start instead of 1.9 MiB, which stayed resident
            // (docs/BENCHMARKS.md, "Per-connection memory without tasks").
            linkerSettings: glibcReadsRELR
                ? [
                    .unsafeFlags(
                        ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"],
                        .when(platforms: [.linux], configuration: .release))
                ] : []
        ),
        // The `arcp` executable and what `arcp serve` runs: CLI behaviour and bad input over WebSocket.
        // What several test targets share: the arcp binary and child processes, a raw WebSocket client.
        .target(
            name: "ARCPTestSupport",
            dependencies: [
                "ARCP", "ARCPWebSocket",
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
        // Hostile peers against `arcp serve` (a child process) over real WebSocket (issue 10): each
        // case asserts the typed error, that the server is still up and answering, and that nothing
        // leaked. Depends on ARCPCLI so `arcp` is built first.
        .testTarget(
            name: "ARCPHostileTests",
            dependencies: [
                "ARCP", "ARCPWebSocket", "ARCPCLI", "ARCPTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
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
        .testTarget(
            name: "ARCPStoreTests", dependencies: ["ARCP", "ARCPStore", "ARCPTesting", "ARCPPostgres", "ARCPTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "ARCPTests",
            dependencies: ["ARCP", "ARCPTesting", "ARCPTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // `swift run -c release arcp-bench <subcommand>`: one file per subcommand.
        .executableTarget(
            name: "ARCPBench",
            dependencies: [
                "ARCPGenerated", "ARCP", "ARCPWebSocket",
                // `arcp-bench cluster`: the event log's append rate, PostgreSQL against SQLite.
                "ARCPStore", "ARCPPostgres", .product(name: "Logging", package: "swift-log"),
                // The floor (`ws-floor`): raw swift-nio WebSocket at both ends.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            path: "Benchmarks/ARCPBench",
            swiftSettings: strict
        ),
        // `swift run arcp-examples [name]`: one small program per feature, runtime + client in one process;
        // `arcp-examples serve|client <name>`: the Python reference's 22 examples as two processes (Wire/).
        .executableTarget(
            name: "ARCPExamples",
            dependencies: [
                "ARCP", "ARCPTracing", "ARCPWebSocket", "ARCPSubprocess", "ARCPHummingbird", "ARCPVapor", "ARCPTesting",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
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
        // JWT bearer verification (vapor/jwt-kit): keys from a JWKS file or URL (AsyncHTTPClient). Kept out of ARCP.
        .target(
            name: "ARCPJWT",
            dependencies: [
                "ARCP",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Keys generated in the test; a JWKS served on loopback (Hummingbird) for the URL path.
        .testTarget(
            name: "ARCPJWTTests",
            dependencies: [
                "ARCP", "ARCPJWT", "ARCPWebSocket", "ARCPCLI", "ARCPTestSupport",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Metrics (swift-metrics) fed by the runtime's `RuntimeInstrumentation`; no exporter. Kept out of ARCP.
        .target(
            name: "ARCPMetrics",
            dependencies: ["ARCP", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict
        ),
        // Scripted scenarios read back from a swift-prometheus registry; `arcp serve --metrics-port` scraped over HTTP.
        .testTarget(
            name: "ARCPMetricsTests",
            dependencies: [
                "ARCP", "ARCPMetrics", "ARCPDemoAgents", "ARCPWebSocket", "ARCPCLI", "ARCPTestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Mounting a runtime on a Vapor 4 app: a WebSocket route (`app.arcp(runtime, at: "arcp")`). Kept out of ARCP.
        .target(
            name: "ARCPVapor",
            dependencies: [
                "ARCP", "ARCPWebSocket", "ARCPWebSocketCore",
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // A real Vapor app on port 0, driven by the NIO client, a raw WebSocket client and the Python reference client.
        .testTarget(
            name: "ARCPVaporTests",
            dependencies: [
                "ARCP", "ARCPVapor", "ARCPWebSocket", "ARCPDemoAgents", "ARCPTestSupport",
                .product(name: "Vapor", package: "vapor"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // `swift run arcp-host-vapor`: the demo agents at /arcp of a Vapor app beside /health.
        .executableTarget(
            name: "HostVapor",
            dependencies: ["ARCP", "ARCPVapor", "ARCPDemoAgents", .product(name: "Vapor", package: "vapor")],
            path: "Examples/HostVapor",
            swiftSettings: strict
        ),
        .testTarget(name: "ARCPExamplesTests", dependencies: ["ARCPExamples"], swiftSettings: strict),
        // The reference's 22 examples as two processes, both directions (skipped, with the reason,
        // without the venv or the sdist). Depends on ARCPExamples so `arcp-examples` is built first.
        .testTarget(
            name: "ARCPExamplesInteropTests",
            dependencies: ["ARCP", "ARCPExamples", "ARCPTestSupport"],
            swiftSettings: strict
        ),
        // Reference/: the generated Swift for the shipped schema, compared on every run (not compiled here).
        // Depends on arcp-codegen so the executable is built for the tests that run it.
        .testTarget(name: "ARCPCodegenTests", dependencies: ["ARCPCodegenCore", "arcp-codegen", "ARCPTestSupport"], exclude: ["Reference"], swiftSettings: strict),
        .testTarget(name: "ARCPGeneratedTests", dependencies: ["ARCPGenerated", "ARCPTestSupport"], swiftSettings: strict),
    ]
)
