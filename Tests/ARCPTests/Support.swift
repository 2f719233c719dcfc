import ARCP
import Foundation
import Testing

/// A runtime with small test agents, and helpers to connect clients over MemoryTransport.
struct Harness {
    let runtime: ARCPRuntime

    init(configure: (inout ARCPRuntime.Configuration) -> Void = { _ in }) throws {
        var config = ARCPRuntime.Configuration()
        config.heartbeatInterval = nil
        configure(&config)
        runtime = ARCPRuntime(configuration: config, verifier: StaticBearerVerifier(["tok": "me@example.com", "tok2": "other@example.com"]))
        try runtime.register("echo") { input, ctx in
            await ctx.log("info", "echo started")
            return ["echoed": input]
        }
        try runtime.register("slow") { input, ctx in
            let ticks = input["ticks"]?.int64Value ?? 1000
            await ctx.status("running", "sleeping")
            for i in 0..<ticks {
                try await Task.sleep(for: .milliseconds(10))
                await ctx.log("info", "tick \(i)")
            }
            return ["slept": .int(ticks)]
        }
        try runtime.register("flood") { input, ctx in
            let n = input["n"]?.int64Value ?? 100
            for i in 0..<n { await ctx.log("info", "event \(i)") }
            return ["n": .int(n)]
        }
        try runtime.register("fails") { input, ctx in
            await ctx.log("warn", "about to fail")
            if let code = input["code"]?.stringValue {
                throw ARCPError(ErrorCode(rawValue: code), input["message"]?.stringValue ?? "boom")
            }
            struct Boom: Error {}
            throw Boom()
        }
        try runtime.register("versioned", version: "1.0.0", isDefault: true) { _, _ in ["version": "1.0.0"] }
        try runtime.register("versioned", version: "2.0.0") { _, _ in ["version": "2.0.0"] }
        try runtime.register("chunked") { input, ctx in
            let text = input["text"]?.stringValue ?? "The quick brown fox jumps over the lazy dog."
            let stream = ctx.streamResult()
            try await stream.write(text)
            try await stream.finish(summary: "\(text.count) chars")
            return .null
        }
        try runtime.register("progress") { input, ctx in
            let steps = input["steps"]?.int64Value ?? 3
            for i in 0...steps { try await ctx.progress(Double(i), total: Double(steps), units: "steps") }
            return ["steps": .int(steps)]
        }
    }

    /// Connects a client; the runtime side runs in a background task.
    func client(token: String = "tok", options: ARCPClient.Options = ARCPClient.Options()) async throws -> ARCPClient {
        let (c, r) = MemoryTransport.pair()
        let rt = runtime
        Task { await rt.accept(r) }
        let client = ARCPClient(token: token, options: options)
        try await client.connect(c)
        return client
    }

    /// A raw connection for wire-level tests: send frames, read frames.
    func raw() -> RawPeer {
        let (c, r) = MemoryTransport.pair()
        let rt = runtime
        Task { await rt.accept(r) }
        return RawPeer(transport: c)
    }
}

/// Speaks raw frames to a runtime.
struct RawPeer {
    let transport: MemoryTransport

    func send(_ json: String) async throws { try await transport.send(json) }

    func send(_ message: Message, sessionID: String? = nil, jobID: String? = nil) async throws -> String {
        let env = Envelope.make(message, sessionID: sessionID, jobID: jobID)
        try await transport.send(FrameCodec.encode(env))
        return env.id
    }

    /// The next frame, decoded (nil when closed).
    func next() async throws -> Envelope? {
        guard let text = try await transport.receive() else { return nil }
        return try Envelope(jsonText: text)
    }

    /// Reads until a frame matches.
    func next(where predicate: (Envelope) -> Bool) async throws -> Envelope? {
        while let e = try await next() {
            if predicate(e) { return e }
        }
        return nil
    }

    func hello(token: String = "tok", features: [Feature] = Feature.allKnown) async throws -> Envelope? {
        _ = try await send(.sessionHello(SessionHelloPayload(
            client: PeerInfo(name: "raw", version: "0"), auth: Auth(scheme: "bearer", token: token),
            capabilities: HelloCapabilities(encodings: ["json"], features: features))))
        return try await next()
    }

    /// Says hello and returns the session id and the welcome (a test issue, and a thrown
    /// error, when the answer is anything else).
    func welcomed(token: String = "tok", sourceLocation: SourceLocation = #_sourceLocation) async throws -> (sessionID: String, welcome: SessionWelcomePayload) {
        let answer = try #require(try await hello(token: token), sourceLocation: sourceLocation)
        guard case .sessionWelcome(let w) = answer.message, let sid = answer.sessionId else {
            Issue.record("expected session.welcome, got \(answer.message.type)", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        return (sid, w)
    }
}

extension Envelope {
    var error: ErrorPayload? { if case .sessionError(let e) = message { return e } else { return nil } }
}
