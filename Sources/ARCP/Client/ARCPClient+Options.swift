import Logging

extension ARCPClient {
    /// How a client behaves; set before `connect`.
    public struct Options: Sendable {
        /// The client's name and version, sent in `session.hello`.
        public var client = PeerInfo(name: "swift-arcp", version: ARCPVersion.string)
        /// Features requested in `session.hello` (the effective set is the intersection).
        public var features: [Feature] = [
            .heartbeat, .ack, .listJobs, .subscribe, .leaseExpiresAt, .costBudget, .modelUse, .progress, .resultChunk, .agentVersions,
        ]
        /// How long to wait for `session.welcome` and for each request's answer.
        public var requestTimeout: Duration = .seconds(30)
        /// Events buffered per job handle before the read loop waits for the consumer.
        public var eventBuffer = 4096
        /// Largest streamed result the client assembles (bytes).
        public var maxAssembledResult = 256 << 20
        /// Send `session.ack` after this many events (nil: not by count). Only when negotiated.
        public var autoAckEvery: Int? = 1024
        /// Send `session.ack` when this long has passed since the last one and an event
        /// arrives (nil: not by time). Only when negotiated.
        public var autoAckInterval: Duration? = .milliseconds(250)
        /// Acks are never sent closer together than this (spec §6.5: at most every event or
        /// every few hundred milliseconds, whichever is less frequent).
        public var autoAckMinimumSpacing: Duration = .milliseconds(20)
        /// Overrides the runtime's advertised heartbeat interval for client pings (nil: use it).
        public var heartbeatInterval: Duration? = nil
        /// Called for frames the client cannot parse or does not expect; it keeps going.
        public var onDiagnostic: (@Sendable (String) -> Void)? = nil
        /// Supplies the trace id for a `job.submit` whose caller passed none (spec §11, v1.0
        /// §11: clients SHOULD send the active trace id). Called on the submitting task, so
        /// it can read task-local trace context; return a W3C trace-id (32 lowercase hex
        /// characters) or nil. Anything else is ignored (and reported to `onDiagnostic`).
        /// Set it for a trace id only; `traceContextProvider`, when set and returning a
        /// context, is used instead.
        public var traceIDProvider: (@Sendable () -> String?)? = nil
        /// Supplies the full W3C trace context (`traceparent`, `tracestate`) of the submitting
        /// task, for a `job.submit`: its trace-id is sent as `trace_id` (unless the caller
        /// passed one), and the context itself travels beside it in the envelope extension
        /// `x-vendor.opentelemetry.tracecontext` (the Python SDK's form, see
        /// `W3CTraceContext`), so a runtime can make the job's span a child of the caller's
        /// span rather than of a stand-in. With an explicit `traceID:` the context is sent
        /// only when it is in that trace. Called on the submitting task; when it is nil or
        /// returns nil, `traceIDProvider` is asked. `ARCPTracing` sets it with
        /// `propagateTraceContext()`.
        public var traceContextProvider: (@Sendable () -> W3CTraceContext?)? = nil
        /// Where the client logs (connection lifecycle, resumes, diagnostics).
        public var logger = Logger(label: "arcp.client")
        /// The defaults above.
        public init() {}
    }

    /// Automatic resume after a transport drop (spec §6.3): reconnect with exponential
    /// backoff, present the resume token and the last processed `event_seq`, drop replayed
    /// duplicates, and carry every `JobHandle` on as if nothing happened.
    public struct ReconnectPolicy: Sendable {
        /// Reconnect attempts per drop before the client gives up (at least 1).
        public var maxAttempts: Int
        /// Wait before the first attempt; doubled after each failed attempt up to `maxBackoff`.
        public var initialBackoff: Duration
        /// Longest wait between two attempts.
        public var maxBackoff: Duration
        /// A policy of `maxAttempts` attempts, waiting `initialBackoff` (50 ms) doubled up to
        /// `maxBackoff` (5 s) between them.
        public init(maxAttempts: Int = 10, initialBackoff: Duration = .milliseconds(50), maxBackoff: Duration = .seconds(5)) {
            self.maxAttempts = maxAttempts
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
        }
    }
}
