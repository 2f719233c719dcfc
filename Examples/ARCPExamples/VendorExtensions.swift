import ARCP
import Foundation

/// Vendor extensions: event kinds in the `x-vendor.*` namespace, and extra members on
/// standard bodies. Receivers that do not understand them pass them through untouched:
/// the client surfaces an unknown kind as `EventBody.vendor(kind:body:)` and keeps
/// unknown members of known bodies in `additionalFields`.
public enum VendorExtensions: Example {
    public static let name = "vendor-extensions"
    public static let summary = "x-vendor.* event kinds and extra members pass through to the client untouched."
    public static let spec = "v1.0 §8.2, §15"

    public static func run() async throws {
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        try runtime.register("traced") { _, ctx in
            // A vendor event kind, with any JSON body.
            try await ctx.vendor("x-vendor.acme.span", ["name": "fetch", "duration_ms": 12, "cache": "hit"])
            // A standard log event carrying an extra, vendor-namespaced member.
            var extra = JSONObject()
            extra["x-vendor.acme.request_id"] = "req-7f3a"
            await ctx.emit(.log(LogBody(level: "info", message: "fetched", additionalFields: extra)))
            // Kinds outside x-vendor.* are refused: the standard namespace is the spec's.
            do {
                try await ctx.vendor("acme.span", [:])
            } catch let e as ARCPError {
                await ctx.log("warn", "refused: \(e.message)")
            }
            return ["ok": true]
        }

        let client = ARCPClient(token: "demo-token")
        try await connectInMemory(client, to: runtime)
        let job = try await client.submit(agent: "traced")
        var spans: [JSONValue] = []
        var requestID: JSONValue? = nil
        for try await event in job.events {
            say(describe(event))
            switch event.body {
            case .vendor(let kind, let body) where kind == "x-vendor.acme.span":
                spans.append(body)
            case .log(let log) where log.additionalFields["x-vendor.acme.request_id"] != nil:
                requestID = log.additionalFields["x-vendor.acme.request_id"]
                say("  extra member on the log body: x-vendor.acme.request_id = \(requestID ?? .null)")
            default:
                break
            }
        }
        _ = try await job.result()

        try check(spans == [["name": "fetch", "duration_ms": 12, "cache": "hit"]], "the vendor event arrived with its body")
        try check(requestID == "req-7f3a", "the extra member arrived")

        await client.close()
        await runtime.shutdown()
    }
}
