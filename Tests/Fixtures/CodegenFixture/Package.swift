// swift-tools-version: 6.1
import PackageDescription

// A user's package, as the docs describe it: the ARCPCodegen plugin applied to its own targets.
// Built and tested by run.sh (from Scripts/test.sh); see docs/CODEGEN.md.
//
// - DraftWire: a newer draft of the schema (made by make-draft-schema.py from the shipped one:
//   a new message type, event kind, error code, feature flag and optional field), defaults.
// - VendorWire: a schema of its own, named in arcp-codegen.json, with a namespace, package
//   access and no streaming decoders, beside ARCPGenerated without a clash.
// - ShippedConsumer and DraftConsumer: the same source file (Evolution.swift), written by the
//   evolution policy, compiled against the shipped schema and against the draft, warnings as errors.
let warningsAreErrors: [SwiftSetting] = [.swiftLanguageMode(.v6), .unsafeFlags(["-warnings-as-errors"])]

let package = Package(
    name: "CodegenFixture",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-arcp", path: "../../.."),
    ],
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
