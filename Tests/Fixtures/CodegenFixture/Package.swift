// swift-tools-version: 6.1
import Foundation
import PackageDescription

// A user's package, as docs/CODEGEN.md describes it: the ARCPCodegen plugin applied to its own
// targets. Built and tested by Tests/ARCPCodegenTests/CodegenFixtureTests.swift.
//
// - DraftWire: a newer draft of the schema (written by the test from the shipped one: a new
//   message type, event kind, error code, feature flag and optional field), defaults.
// - VendorWire: a schema of its own, named in arcp-codegen.json, with a namespace, package
//   access and no streaming decoders, beside ARCPGenerated without a clash.
// - ShippedConsumer and DraftConsumer: the same source file (Evolution.swift; DraftConsumer's is
//   a symlink), written by the evolution policy, compiled against the shipped schema and against
//   the draft, warnings as errors.
// - Controls/: the evolution test's controls, typechecked by the test (not a target).
let warningsAreErrors: [SwiftSetting] = [.swiftLanguageMode(.v6), .unsafeFlags(["-warnings-as-errors"])]

// The test that builds this package (CodegenFixtureTests) sets ARCP_FIXTURE_CHECKOUTS to the
// enclosing build's .build/checkouts: each checkout becomes a local path dependency, which
// overrides swift-arcp's URL dependency of the same identity, so nothing is cloned or resolved
// again and the versions are exactly the outer build's. Without it, SwiftPM resolves as usual.
var checkouts: [Package.Dependency] = []
if let directory = Context.environment["ARCP_FIXTURE_CHECKOUTS"],
    let names = try? FileManager.default.contentsOfDirectory(atPath: directory)
{
    checkouts = names.filter { !$0.hasPrefix(".") }.sorted().map { .package(path: directory + "/" + $0) }
}

let package = Package(
    name: "CodegenFixture",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-arcp", path: "../../.."),
    ] + checkouts,
    targets: [
        .target(
            name: "DraftWire",
            dependencies: [.product(name: "ARCPGenerated", package: "swift-arcp")],
            swiftSettings: warningsAreErrors,
            plugins: [.plugin(name: "ARCPCodegen", package: "swift-arcp")]
        ),
        .target(
            name: "VendorWire",
            dependencies: [.product(name: "ARCPGenerated", package: "swift-arcp")],
            swiftSettings: warningsAreErrors,
            plugins: [.plugin(name: "ARCPCodegen", package: "swift-arcp")]
        ),
        .target(
            name: "ShippedConsumer",
            dependencies: [.product(name: "ARCPGenerated", package: "swift-arcp")],
            swiftSettings: warningsAreErrors
        ),
        .target(
            name: "DraftConsumer",
            dependencies: ["DraftWire"],
            swiftSettings: warningsAreErrors + [.define("DRAFT")]
        ),
        .testTarget(
            name: "FixtureTests",
            dependencies: [
                "DraftWire", "VendorWire", "ShippedConsumer", "DraftConsumer",
                .product(name: "ARCPGenerated", package: "swift-arcp"),
            ],
            swiftSettings: warningsAreErrors
        ),
    ]
)
