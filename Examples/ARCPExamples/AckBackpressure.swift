import ARCP
import Foundation

/// Event acknowledgement: with `ack` negotiated the client reports the last `event_seq` it
/// processed (`session.ack`). The runtime frees buffered events up to it, tells a lagging
/// client with a `status` `back_pressure` event, and past a cap of unacknowledged events
/// makes the agent's emitters wait: a slow consumer slows the producer instead of growing
/// memory. By default the client acks every 256 events by itself; this example turns that
/// off and acks by hand.
public enum AckBackpressure: Example {
    public static let name = "ack-backpressure"
    public static let summary = "Manual session.ack: back_pressure status, emitters wait at the unacked cap, acks free the buffer."
    public static let spec = "§6.5, §13.2"

    public static func run() async throws {
        // Small limits so the effect shows with 100 events.
        var config = ARCPRuntime.Configuration()
        config.buffering.backPressureThreshold = 20  // lag that triggers the back_pressure status
        config.buffering.maxUnackedEvents = 40  // lag at which emitters wait for an ack
        let runtime = ARCPRuntime(configuration: config, verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        try runtime.register("firehose") { _, ctx in
            for i in 1...100 { await ctx.log("info", "row \(i)") }
            return ["rows": 100]
        }

        var options = ARCPClient.Options()
        options.autoAckEvery = nil  // ack by hand below
        let client = ARCPClient(token: "demo-token", options: options)
        try await connectInMemory(client, to: runtime)
        let session = client.sessionID ?? ""
        say("negotiated ack: \(client.negotiatedFeatures.contains(.ack))")

        let job = try await client.submit(agent: "firehose")
        var acking = false
        var acks = 0
        var mostHeld = 0
        for try await event in job.events {
            // Events the runtime still holds for this session (unacknowledged).
            mostHeld = max(mostHeld, runtime.bufferStats(session: session)?.events ?? 0)
            if case .status(let s) = event.body, s.phase == "back_pressure" {
                say(describe(event))
                let held = runtime.bufferStats(session: session)?.events ?? 0
                say("  runtime holds \(held) unacknowledged events" + (acking ? "" : "; acking every 10 events from now on"))
                acking = true
            }
            // §6.5 asks real clients to ack at most every few hundred milliseconds; this
            // one acks every 10 events so the tiny limits above show their effect at once.
            if acking && event.seq % 10 == 0 {
                try await client.ack(through: event.seq)
                acks += 1
            }
        }
        let outcome = try await job.result()
        say("result \(outcome.result ?? .null) after \(acks) acks; at most \(mostHeld) events were held (cap 40)")

        // Ack the rest. A ping round trip guarantees the runtime has processed the ack.
        try await client.ack(through: client.lastEventSeq)
        _ = try await client.ping()
        let held = runtime.bufferStats(session: session)?.events ?? -1
        say("after acking through \(client.lastEventSeq): \(held) events held")

        try check(acking, "the runtime reported back_pressure")
        try check(mostHeld <= 42, "emitters waited at the unacknowledged cap (held \(mostHeld))")
        try check(held == 0, "acknowledged events are freed")

        await client.close()
        await runtime.shutdown()
    }
}
