import ARCP
import Foundation

/// `vendor_extensions`: the agent emits `x-vendor.acme.progress` events between two
/// reserved `status` events, under a lease that names the vendor namespace
/// `x-vendor.acme.metrics` (registered with the runtime). A naive handler that only knows
/// reserved kinds skips them; a vendor-aware one renders them (spec §8.2, §9.2, v1.0 §15).
enum WireVendorExtensions: WireExample {
    static let name = "vendor_extensions"
    static let defaultPort = 7884
    static let summary = "x-vendor.acme.* events and a vendor lease namespace; naive vs vendor-aware handlers."

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        var config = setup.configuration(name: "vendor-extensions-server")
        config.namespaceRegistry = try LeaseNamespaceRegistry(custom: ["x-vendor.acme.metrics": .name])
        let runtime = ARCPRuntime(configuration: config, verifier: setup.verifier)
        try runtime.register("vendor") { _, ctx in
            await ctx.status("starting")
            for i in 1...3 {
                try await ctx.vendor("x-vendor.acme.progress", ["i": .int(Int64(i)), "total": 3])
                try await Task.sleep(for: .milliseconds(100))
            }
            await ctx.status("complete")
            return ["vendor": true]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        let client = ARCPClient(token: setup.token, options: setup.options(name: "vendor-extensions-client", features: []))
        try await setup.connect(client)
        let job = try await client.submit(agent: "vendor", leaseRequest: ["x-vendor.acme.metrics": ["*"]])
        var naiveDropped = 0
        var vendorRendered = 0
        for try await event in job.events {
            switch event.body {
            case .status(let s):
                say("[naive] status: \(s.phase)")
            case .vendor(let kind, let body) where kind.hasPrefix("x-vendor.acme."):
                naiveDropped += 1  // a handler of reserved kinds only has nothing to do with it
                vendorRendered += 1
                say("[acme] \(kind): \(compact(body))")
            default:
                naiveDropped += 1
            }
        }
        let outcome = try await job.result()
        say("terminal: \(outcome.finalStatus.rawValue); naive_dropped=\(naiveDropped), vendor_rendered=\(vendorRendered)")
        try check(naiveDropped >= 1, "the naive handler drops unknown kinds")
        try check(vendorRendered >= 1, "the vendor handler renders acme events")
        await client.close()
    }
}
