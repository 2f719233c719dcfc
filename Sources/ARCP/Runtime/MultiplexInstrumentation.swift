/// Several instrumentations installed together: tracing and metrics, say.
///
/// ```swift
/// configuration.instrumentation = MultiplexInstrumentation([TracingInstrumentation(), MetricsInstrumentation()])
/// ```
///
/// Each call goes to every instrumentation, in the order given. A job is observed by those
/// that return an observer from `startJob`; its agent runs inside each of their
/// `JobInstrumentation.run` in turn (the first one outermost), so a task-local context one
/// binds (a span, say) is visible to the next ones and to the agent. A delegated job's
/// instrumentations each get their own parent: the observer they returned for the parent job.
///
/// Modelled on swift-distributed-tracing's `MultiplexInstrument`.
public struct MultiplexInstrumentation: RuntimeInstrumentation {
    /// The instrumentations, in call order.
    public let instrumentations: [any RuntimeInstrumentation]

    /// Calls each of `instrumentations`, in this order.
    public init(_ instrumentations: [any RuntimeInstrumentation]) {
        self.instrumentations = instrumentations
    }

    public func sessionEvent(_ session: InstrumentedSession, _ event: SessionLifecycleEvent) {
        for i in instrumentations { i.sessionEvent(session, event) }
    }

    public func startJob(_ job: InstrumentedJob, parent: (any JobInstrumentation)?) -> (any JobInstrumentation)? {
        // A parent observed by this multiplexer is a MultiplexJobInstrumentation with one slot
        // per instrumentation; anything else (nil included) has no part for any of them.
        let parents = (parent as? MultiplexJobInstrumentation)?.observers
        var observers: [(any JobInstrumentation)?] = []
        observers.reserveCapacity(instrumentations.count)
        var any = false
        for (index, instrumentation) in instrumentations.enumerated() {
            let parentPart = parents.flatMap { index < $0.count ? $0[index] : nil }
            let observer = instrumentation.startJob(job, parent: parentPart)
            if observer != nil { any = true }
            observers.append(observer)
        }
        return any ? MultiplexJobInstrumentation(observers: observers) : nil
    }

    public func errorSent(_ error: ARCPError, session: String?) {
        for i in instrumentations { i.errorSent(error, session: session) }
    }

    public func backPressure(session: String, _ kind: BackPressureKind) {
        for i in instrumentations { i.backPressure(session: session, kind) }
    }

    public func outboundDrained(session: String, frames: Int) {
        for i in instrumentations { i.outboundDrained(session: session, frames: frames) }
    }
}

/// One job's observers under a `MultiplexInstrumentation`: one slot per instrumentation, nil
/// where that instrumentation left the job unobserved.
struct MultiplexJobInstrumentation: JobInstrumentation {
    let observers: [(any JobInstrumentation)?]

    func run(_ agent: () async throws -> JSONValue) async throws -> JSONValue {
        try await run(from: 0, agent)
    }

    /// Runs `agent` inside the `run` of every observer from `index` on, the first outermost.
    /// Each calls its body once, on this task, so the agent runs once, on this task.
    private func run(from index: Int, _ agent: () async throws -> JSONValue) async throws -> JSONValue {
        var next = index
        while next < observers.count, observers[next] == nil { next += 1 }
        guard next < observers.count, let observer = observers[next] else { return try await agent() }
        return try await observer.run { try await self.run(from: next + 1, agent) }
    }

    func event(_ body: EventBody) {
        for case let o? in observers { o.event(body) }
    }

    func ended(_ outcome: InstrumentedJobOutcome) {
        for case let o? in observers { o.ended(outcome) }
    }
}
