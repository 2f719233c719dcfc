import ARCP
import Foundation

/// The demo agents served by `arcp serve`.
///
/// They have the same names, inputs and results as the test agents of the Python reference
/// runtime (`shared/reference/python-1.1.3/server.py`), so one scenario can drive either
/// runtime:
///
/// | Agent | Input | Does | Result |
/// |---|---|---|---|
/// | `echo` | any | logs `echo started` | `{"echoed": input}` |
/// | `slow` | `{"seconds": 5, "tick": 1}` | `status running`, a `log` per tick; cancellable | `{"slept": seconds}` |
/// | `progress` | `{"steps": 5, "delay": 0.05}` | `progress` 0…steps (units `steps`) | `{"steps": steps}` |
/// | `chunked` | `{"text": "…", "chunk_size": 8, "binary": false}` | streams the text as `result_chunk`s | `job.result` with `result_id`/`result_size` |
/// | `fails` | `{"message": "boom", "code": null}` | logs `about to fail` | `job.error` (`INTERNAL_ERROR`, or `code`) |
/// | `kitchen` | `{}` | every event kind once, incl. a USD cost metric | `{"ok": true, "budget_left": {…}}` |
/// | `versioned@1.0.0` (default), `versioned@2.0.0` | `{}` | logs `versioned V` | `{"version": V}` |
///
/// `echo` is registered `startsImmediately` (`ARCPRuntime.register(_:startsImmediately:)`):
/// it logs and returns without suspending, so a submitted echo job runs on the connection's
/// thread and its frames leave with `job.accepted`. The others start on the cooperative pool.
///
/// And one extra that the reference does not have, for benchmarks only:
///
/// | `flood` | `{"n": 20000}` | emits `n` `log` events as fast as back-pressure allows | `{"n": n}` |
///
/// Events use the spec's body forms (`tool_call {call_id, tool, args}`, `artifact_ref
/// {content_type, byte_size}`), where the reference uses its own names.
public enum DemoAgents {
    /// The agent names, in registration order (`versioned` once, with two versions).
    public static let names = ["echo", "slow", "progress", "chunked", "fails", "kitchen", "versioned", "flood"]

    /// The agents registered to start immediately unless asked otherwise: `echo`.
    public static let startingImmediately: Set<String> = ["echo"]

    /// Registers every demo agent on `runtime`.
    /// - Parameter includeFlood: also register the bench-only `flood` agent (default true).
    /// - Parameter restartable: the names to register restartable (`ARCPRuntime.register(_:restartable:)`).
    /// - Parameter immediate: the names to register `startsImmediately` (default
    ///   `startingImmediately`; empty: every job starts on the cooperative pool).
    /// - Throws: `ARCPError` if one of the names is already registered.
    public static func register(
        on runtime: ARCPRuntime, includeFlood: Bool = true, restartable: Set<String> = [], immediate: Set<String> = startingImmediately
    ) throws {
        func r(_ name: String) -> Bool { restartable.contains(name) }
        try runtime.register("echo", restartable: r("echo"), startsImmediately: immediate.contains("echo"), echo)
        try runtime.register("slow", restartable: r("slow"), slow)
        try runtime.register("progress", restartable: r("progress"), progress)
        try runtime.register("chunked", restartable: r("chunked"), chunked)
        try runtime.register("fails", restartable: r("fails"), fails)
        try runtime.register("kitchen", restartable: r("kitchen"), kitchen)
        try runtime.register("versioned", version: "1.0.0", isDefault: true, restartable: r("versioned"), versioned("1.0.0"))
        try runtime.register("versioned", version: "2.0.0", restartable: r("versioned"), versioned("2.0.0"))
        if includeFlood { try runtime.register("flood", restartable: r("flood"), flood) }
    }

    // MARK: - Agents

    /// `echo`: logs `echo started` and returns `{"echoed": input}`.
    @Sendable public static func echo(_ input: JSONValue, _ ctx: JobContext) async throws -> JSONValue {
        await ctx.log("info", "echo started")
        return ["echoed": input]
    }

    /// `slow`: sleeps `seconds` in steps of `tick`, logging each tick. Cancellation (job.cancel,
    /// `max_runtime_sec`, lease expiry) ends the sleep at once.
    ///
    /// A negative `seconds` means zero and `tick` is at least a millisecond (as before); `seconds`
    /// above `maxSleepSeconds` (31 days) is `INVALID_REQUEST`.
    @Sendable public static func slow(_ input: JSONValue, _ ctx: JobContext) async throws -> JSONValue {
        let seconds = try nonNegative(input, "seconds", default: 5, max: maxSleepSeconds)
        let tick = max(0.001, try number(input, "tick") ?? 1)
        await ctx.status("running", "sleeping \(format(seconds))s")
        var elapsed = 0.0
        var n = 0
        while elapsed < seconds {
            let step = min(tick, seconds - elapsed)
            try await Task.sleep(for: PeerNumbers.duration(seconds: step, field: "input.tick", max: .seconds(maxSleepSeconds)))
            elapsed += step
            n += 1
            await ctx.log("info", "tick \(n)", attributes: ["elapsed": .double(elapsed)])
        }
        return ["slept": .double(seconds)]
    }

    /// `progress`: `progress` events 0…`steps` with `delay` seconds between them.
    ///
    /// A negative `steps` or `delay` means zero (as before); `steps` above `maxProgressSteps` or
    /// `delay` above `maxSleepSeconds` is `INVALID_REQUEST`.
    @Sendable public static func progress(_ input: JSONValue, _ ctx: JobContext) async throws -> JSONValue {
        let steps = try nonNegativeCount(input, "steps", default: 5, max: maxProgressSteps)
        let delaySeconds = try nonNegative(input, "delay", default: 0.05, max: maxSleepSeconds)
        let delay = try PeerNumbers.duration(seconds: delaySeconds, field: "input.delay", max: .seconds(maxSleepSeconds))
        for i in 0...steps {
            try await ctx.progress(Double(i), total: Double(steps), units: "steps", message: "step \(i)/\(steps)")
            if delay > .zero, i < steps { try await Task.sleep(for: delay) }
        }
        return ["steps": .int(Int64(steps))]
    }

    /// `chunked`: streams `text` in pieces of `chunk_size` characters as `result_chunk`s
    /// (`utf8`, or `base64` with `"binary": true`), then ends with `result_id`/`result_size`.
    /// `chunk_size` is clamped to 1…`maxChunkSize` (any number is accepted, as by the reference).
    @Sendable public static func chunked(_ input: JSONValue, _ ctx: JobContext) async throws -> JSONValue {
        let text = input["text"]?.stringValue ?? "The quick brown fox jumps over the lazy dog."
        // As the reference: a chunk_size below 1 means 1; above the runtime's chunk cap, the cap.
        let requested = try number(input, "chunk_size") ?? 8
        let size = try PeerNumbers.int(min(max(requested, 1), Double(maxChunkSize)), field: "input.chunk_size", in: 1...maxChunkSize)
        let binary = input["binary"]?.boolValue ?? false
        let stream = ctx.streamResult()
        var rest = Substring(text)
        while !rest.isEmpty {
            let piece = rest.prefix(size)
            rest = rest.dropFirst(piece.count)
            if binary {
                try await stream.write(Data(piece.utf8))
            } else {
                try await stream.write(String(piece))
            }
        }
        try await stream.finish(summary: "\(text.count) chars in chunks of \(size)")
        return nil
    }

    /// `fails`: logs `about to fail`, then fails with `code` (an ARCP error code) or, without
    /// one, with a plain error (INTERNAL_ERROR, retryable).
    @Sendable public static func fails(_ input: JSONValue, _ ctx: JobContext) async throws -> JSONValue {
        await ctx.log("warn", "about to fail")
        let message = input["message"]?.stringValue ?? "boom"
        if let code = input["code"]?.stringValue, !code.isEmpty {
            throw ARCPError(ErrorCode(rawValue: code), message)
        }
        throw DemoFailure(message: message)
    }

    /// `kitchen`: every event kind once (log, thought, tool_call, tool_result, status, metric,
    /// a USD cost metric, artifact_ref, delegate, progress).
    @Sendable public static func kitchen(_ input: JSONValue, _ ctx: JobContext) async throws -> JSONValue {
        let cost = 0.25
        await ctx.log("debug", "kitchen sink", attributes: ["k": "v"])
        await ctx.thought("thinking about it")
        let call = await ctx.toolCall("search.web", args: ["q": "arcp"], callID: "tc_1")
        await ctx.toolResult(callID: call, result: ["hits": 3])
        await ctx.status("working", "halfway")
        await ctx.metric("tokens.in", 42, unit: "tokens")
        await ctx.metric("cost.usd", cost, unit: "USD")
        await ctx.emit(.artifactRef(ArtifactRefBody(
            uri: "arcp://artifacts/art_1.txt", contentType: "text/plain", byteSize: 5,
            artifactId: "art_1", summary: "an artifact")))
        // A real delegation: the `delegate` event always goes out; the child echo job runs when
        // the lease grants agent.delegate, otherwise a tool_result error explains the refusal.
        if let child = try? await ctx.delegate(agent: "echo", input: ["from": "kitchen"]) {
            _ = try? await child.result()
        }
        try await ctx.progress(1, total: 1, units: "items")
        // What is left of the lease's cost budget: the runtime's counters, which the cost
        // metric above (and any spend of the child) already drew down.
        var left = JSONObject()
        for (currency, amount) in ctx.budgetRemaining.sorted(by: { $0.key < $1.key }) {
            left.append(currency, .string(LeaseDecimal.format(amount)))
        }
        return ["ok": true, "budget_left": .object(left)]
    }

    /// `versioned@V`: logs `versioned V` and returns `{"version": V}`.
    public static func versioned(_ version: String) -> AgentBody {
        { _, ctx in
            await ctx.log("info", "versioned \(version)")
            return ["version": .string(version)]
        }
    }

    /// `flood` (bench-only, not in the reference): `n` log events, as fast as the session's
    /// back-pressure allows, then `{"n": n}`. A negative `n` means zero; above `maxFloodEvents` it
    /// is `INVALID_REQUEST`.
    @Sendable public static func flood(_ input: JSONValue, _ ctx: JobContext) async throws -> JSONValue {
        let n = try nonNegativeCount(input, "n", default: 1000, max: maxFloodEvents)
        for i in 0..<n {
            await ctx.log("info", "event \(i)")
            if i & 1023 == 0 { try Task.checkCancellation() }
        }
        return ["n": .int(Int64(n))]
    }

    // MARK: - Input limits

    /// Longest sleep `slow` and `progress` accept (`seconds`, `delay`): 31 days in seconds.
    public static let maxSleepSeconds: Int64 = 31 * 86_400
    /// Most `progress` steps.
    public static let maxProgressSteps = 1_000_000
    /// Most `flood` events.
    public static let maxFloodEvents = 10_000_000
    /// Largest `chunked` piece, in characters (the runtime's default `chunkSizeCap`, 1 MiB).
    public static let maxChunkSize = 1 << 20

    // MARK: - Helpers

    /// The number at `input[key]`; nil when absent or null; `INVALID_REQUEST` naming the field
    /// when it is not a number.
    static func number(_ input: JSONValue, _ key: String) throws(ARCPError) -> Double? {
        try PeerNumbers.double(input[key], field: "input.\(key)")
    }

    /// A non-negative number of seconds at `input[key]`: a negative one means 0, one above `max`
    /// is `INVALID_REQUEST`.
    static func nonNegative(_ input: JSONValue, _ key: String, default value: Double, max: Int64) throws(ARCPError) -> Double {
        let v = try number(input, key) ?? value
        guard v <= Double(max) else {
            throw ARCPError(.invalidRequest, "input.\(key) must be at most \(max) (got \(format(v)))")
        }
        return Swift.max(0, v)
    }

    /// A non-negative count at `input[key]` (truncated toward zero): a negative one means 0, one
    /// above `max` is `INVALID_REQUEST`.
    static func nonNegativeCount(_ input: JSONValue, _ key: String, default value: Int, max: Int) throws(ARCPError) -> Int {
        guard let v = try number(input, key) else { return value }
        return try PeerNumbers.int(Swift.max(0, v), field: "input.\(key)", in: 0...max)
    }

    static func format(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}

/// The plain (non-ARCP) error `fails` throws: the runtime reports it as INTERNAL_ERROR.
struct DemoFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
