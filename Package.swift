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
        .executable(name: "arcp-demo", targets: ["ARCPDemo"]),
        .executable(name: "arcp-bench", targets: ["ARCPBench"]),
        .executable(name: "arcp-examples", targets: ["ARCPExamples"]),
        .plugin(name: "ARCPCodegen", targets: ["ARCPCodegen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
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
        // Durable event log on SQLite (GRDB).
        .target(
            name: "ARCPStore",
            dependencies: ["ARCP", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        // `swift run arcp-demo`: runtime + client in one process.
        .executableTarget(name: "ARCPDemo", dependencies: ["ARCP"], swiftSettings: strict),
        .testTarget(name: "ARCPStoreTests", dependencies: ["ARCP", "ARCPStore"], swiftSettings: strict),
        .testTarget(
            name: "ARCPTests", dependencies: ["ARCP", .product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        // `swift run -c release arcp-bench <subcommand>`: one file per subcommand.
        .executableTarget(
            name: "ARCPBench",
            dependencies: ["ARCPGenerated", "ARCP"],
            path: "Benchmarks/ARCPBench",
            swiftSettings: strict
        ),
        // `swift run arcp-examples [name]`: one small program per feature, runtime + client in one process.
        .executableTarget(name: "ARCPExamples", dependencies: ["ARCP"], path: "Examples/ARCPExamples", swiftSettings: strict),
        .testTarget(name: "ARCPExamplesTests", dependencies: ["ARCPExamples"], swiftSettings: strict),
        .testTarget(name: "ARCPCodegenTests", dependencies: ["ARCPCodegenCore"], swiftSettings: strict),
        .testTarget(name: "ARCPGeneratedTests", dependencies: ["ARCPGenerated"], swiftSettings: strict),
    ]
)
