import ARCP
import Foundation
import Synchronization
import Tracing

/// Distributed tracing for an `ARCPRuntime` (spec §11; v1.0 §10.3, §11), on
/// swift-distributed-tracing: set it as `ARCPRuntime.Configuration.instrumentation`.
///
/// ```swift
/// var configuration = ARCPRuntime.Configuration()
/// configuration.instrumentation = TracingInstrumentation()  // InstrumentationSystem.tracer
/// let runtime = ARCPRuntime(configuration: configuration, verifier: verifier)
/// ```
///
/// Spans:
/// - `arcp.session`, one per connection (kind `server`), from `session.hello` or a resume
///   until the connection ends; started in the serving task's context, so a host's request
///   span becomes its parent. Attributes `arcp.session_id`, `arcp.session.resumed`,
///   `arcp.session.features`, and at the end `arcp.session.end` (`closed` or `detached`).
/// - `arcp.job <agent>`, one per job. A submitted job's span (kind `server`) is a child of
///   the client's span when `job.submit` carried the full W3C context
///   (`InstrumentedJob.traceContext`, see `ARCPTraceContext.context(for:)`), else in the
///   trace of its `trace_id` under a stand-in parent (`ARCPTraceContext.context(forTraceID:)`);
///   it links to its session's span; a delegated job's span (kind `internal`) is a child of its parent
///   job's span (same trace, new span, §10.3). The agent runs with the job's span as the
///   task-local `ServiceContext`, so spans it starts are children of it and
///   `ARCPTraceContext.currentTraceParent()` gives the header to forward to tool servers.
///   Attributes: `arcp.job_id`, `arcp.session_id`, `arcp.agent`, `arcp.trace_id`,
///   `arcp.lease.capabilities` (the lease's namespaces, sorted, comma-separated),
///   `arcp.lease.expires_at`, `arcp.budget.remaining` (`CUR:amount`, comma-separated; kept
///   current, final at the end), `arcp.parent_job_id`, `arcp.delegate_id`,
///   `arcp.job.depth`, and at the end `arcp.job.final_status`, plus `arcp.error.code`,
///   `arcp.error.retryable` for `job.error`. Status `ok` on success, `error` otherwise
///   (the `job.error` is also recorded as an exception event).
/// - Span events on the job span for significant job events (see `Options.events`).
///
/// A tracer that does not read or write `traceparent` (e.g. `NoOpTracer`, or
/// `InMemoryTracer`) still gets every span, but a submitted job's span starts a trace of
/// its own; `arcp.trace_id` names the ARCP trace either way.
public final class TracingInstrumentation: RuntimeInstrumentation {
    /// What is recorded.
    public struct Options: Sendable {
        /// Which job events become span events on the job span.
        public enum EventRecording: Sendable, Hashable {
            /// None.
            case none
            /// `status` (`arcp.status`), `delegate` (`arcp.delegate`), `cost.*` metrics
            /// (`arcp.cost`, and `arcp.budget.remaining` for `cost.budget.remaining`), failed
            /// tool calls (`arcp.tool_error`) and `warn`/`error` logs (`arcp.log`).
            case significant
            /// Those, plus one `arcp.<kind>` event for every other job event.
            case all
        }

        /// Which job events become span events (default `significant`).
        public var events: EventRecording = .significant
        /// Whether `arcp.session` spans are recorded.
        public var traceSessions = true
        /// The defaults: significant events, session spans recorded.
        public init() {}
    }

    let explicitTracer: (any Tracer)?
    /// The options the instrumentation was made with.
    public let options: Options
    /// Open session spans: per session, per connection; plus each session's latest one.
    let sessions = Mutex(SessionSpans())

    struct SessionSpans {
        var open: [String: [UInt64: any Span]] = [:]
        var latest: [String: UInt64] = [:]
    }

    /// An instrumentation that records sessions and jobs as spans of `tracer`.
    /// - Parameters:
    ///   - tracer: the tracer; nil means `InstrumentationSystem.tracer`, looked up each time a
    ///     span starts (so bootstrapping after this is created still works).
    ///   - options: which events become span events, and whether sessions get spans.
    public init(tracer: (any Tracer)? = nil, options: Options = Options()) {
        self.explicitTracer = tracer
        self.options = options
    }

    var tracer: any Tracer { explicitTracer ?? InstrumentationSystem.tracer }

    // MARK: sessions

    /// Opens, annotates and ends the session's `arcp.session` span (when `traceSessions` is set).
    public func sessionEvent(_ session: InstrumentedSession, _ event: SessionLifecycleEvent) {
        guard options.traceSessions, let connection = session.connection else { return }
        switch event {
        case .opened, .resumed:
            let span = tracer.startSpan("arcp.session", context: ServiceContext.current ?? .topLevel, ofKind: .server)
            span.updateAttributes { a in
                a["arcp.session_id"] = session.id
                a["arcp.session.resumed"] = event == .resumed
                a["arcp.session.features"] = session.features.map(\.rawValue).joined(separator: ",")
            }
            sessions.withLock { s in
                s.open[session.id, default: [:]][connection] = span
                s.latest[session.id] = connection
            }
        case .detached, .closed:
            let span = sessions.withLock { s -> (any Span)? in
                let span = s.open[session.id]?.removeValue(forKey: connection)
                if s.open[session.id]?.isEmpty == true {
                    s.open[session.id] = nil
                    s.latest[session.id] = nil
                } else if s.latest[session.id] == connection {
                    s.latest[session.id] = s.open[session.id]?.keys.max()
                }
                return span
            }
            guard let span else { return }
            span.attributes["arcp.session.end"] = event.rawValue
            span.end()
        case .expired:
            break
        }
    }

    /// The span of the session's latest open connection.
    func sessionSpan(_ id: String) -> (any Span)? {
        sessions.withLock { s in s.latest[id].flatMap { s.open[id]?[$0] } }
    }

    // MARK: jobs

    /// Starts the job's `arcp.job <agent>` span: a child of the parent job's span for a delegated
    /// job, else of the client's span when it sent its trace context; the returned observer
    /// records the job's events on it and ends it with the outcome.
    public func startJob(_ job: InstrumentedJob, parent: (any JobInstrumentation)?) -> (any JobInstrumentation)? {
        let tracer = self.tracer
        let budget = job.budget.mapValues(LeaseDecimal.format)
        let span: any Span
        if let parent = parent as? JobSpan {
            span = tracer.startSpan("arcp.job \(job.agent)", context: parent.span.context, ofKind: .internal)
        } else {
            // The client's own span when it sent its full context, else a stand-in in its trace.
            let context =
                job.traceContext.map { ARCPTraceContext.context(for: $0, tracer: tracer) }
                ?? ARCPTraceContext.context(forTraceID: job.traceID, tracer: tracer)
            span = tracer.startSpan("arcp.job \(job.agent)", context: context, ofKind: job.parentJobID == nil ? .server : .internal)
            if job.parentJobID == nil, let session = sessionSpan(job.sessionID) {
                span.addLink(SpanLink(context: session.context, attributes: ["arcp.link": "session"]))
            }
        }
        span.updateAttributes { a in
            a["arcp.job_id"] = job.id
            a["arcp.session_id"] = job.sessionID
            a["arcp.agent"] = job.agent
            a["arcp.trace_id"] = job.traceID
            a["arcp.lease.capabilities"] = job.lease.keys.sorted().joined(separator: ",")
            if let expiresAt = job.leaseConstraints?.expiresAt { a["arcp.lease.expires_at"] = expiresAt }
            if !budget.isEmpty { a["arcp.budget.remaining"] = Self.budgetText(budget) }
            if let parentID = job.parentJobID {
                a["arcp.parent_job_id"] = parentID
                a["arcp.job.depth"] = job.depth
            }
            if let delegateID = job.delegateID { a["arcp.delegate_id"] = delegateID }
        }
        return JobSpan(span: span, events: options.events, budget: budget)
    }

    /// Log levels recorded as span events under `.significant`.
    static let significantLogLevels: Set<String> = ["warn", "warning", "error", "critical", "fatal"]

    /// `CUR:amount` pairs sorted by currency, comma-separated (`USD:0.58`).
    static func budgetText(_ budget: [String: String]) -> String {
        budget.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
    }
}

/// One job's span (see `TracingInstrumentation`).
final class JobSpan: JobInstrumentation {
    let span: any Span
    let events: TracingInstrumentation.Options.EventRecording
    struct State {
        var ended = false
        /// Remaining budget per currency, as last reported.
        var budget: [String: String]
    }
    let state: Mutex<State>

    init(span: any Span, events: TracingInstrumentation.Options.EventRecording, budget: [String: String]) {
        self.span = span
        self.events = events
        self.state = Mutex(State(budget: budget))
    }

    /// Runs the agent with the job's span as the task-local context, on this task.
    func run(_ agent: () async throws -> JSONValue) async throws -> JSONValue {
        try await ServiceContext.withValue(span.context) { try await agent() }
    }

    func event(_ body: EventBody) {
        guard events != .none, !state.withLock({ $0.ended }) else { return }
        if let (name, attributes) = significant(body) {
            span.addEvent(SpanEvent(name: name, attributes: attributes))
        } else if events == .all {
            span.addEvent(SpanEvent(name: "arcp.\(body.kind)", attributes: Self.detail(body)))
        }
    }

    /// The span event for a significant job event, if it is one.
    func significant(_ body: EventBody) -> (String, SpanAttributes)? {
        switch body {
        case .status(let s):
            // `value` (a rotated credential) is a secret: never recorded.
            var a: SpanAttributes = ["arcp.status.phase": .string(s.phase)]
            if let m = s.message { a["arcp.status.message"] = m }
            if let c = s.credentialId { a["arcp.credential_id"] = c }
            return ("arcp.status", a)
        case .delegate(let d):
            var a: SpanAttributes = ["arcp.agent": .string(d.agent)]
            if let id = d.delegateId { a["arcp.delegate_id"] = id }
            if let child = d.childJobId { a["arcp.child_job_id"] = child }
            return ("arcp.delegate", a)
        case .metric(let m) where m.name == "cost.budget.remaining":
            let unit = m.unit ?? ""
            let text = state.withLock { s -> String in
                s.budget[unit] = LeaseDecimal.fromDouble(m.value).map(LeaseDecimal.format) ?? "\(m.value)"
                return TracingInstrumentation.budgetText(s.budget)
            }
            span.attributes["arcp.budget.remaining"] = text
            return ("arcp.budget.remaining", ["arcp.metric.value": .double(m.value), "arcp.metric.unit": .string(unit)])
        case .metric(let m) where m.name.hasPrefix("cost."):
            var a: SpanAttributes = ["arcp.metric.name": .string(m.name), "arcp.metric.value": .double(m.value)]
            if let unit = m.unit { a["arcp.metric.unit"] = unit }
            return ("arcp.cost", a)
        case .toolResult(let r) where r.error != nil:
            var a: SpanAttributes = [:]
            if let id = r.callId ?? r.toolCallId { a["arcp.tool.call_id"] = id }
            if case .object(let o)? = r.error, let code = o["code"]?.stringValue { a["arcp.error.code"] = code }
            return ("arcp.tool_error", a)
        case .log(let l) where TracingInstrumentation.significantLogLevels.contains(l.level.lowercased()):
            return ("arcp.log", ["arcp.log.level": .string(l.level), "arcp.log.message": .string(l.message)])
        default:
            return nil
        }
    }

    /// A few identifying attributes of any other event (`.all`).
    static func detail(_ body: EventBody) -> SpanAttributes {
        switch body {
        case .toolCall(let c):
            var a: SpanAttributes = [:]
            if let tool = c.tool ?? c.name { a["arcp.tool.name"] = tool }
            if let id = c.callId { a["arcp.tool.call_id"] = id }
            return a
        case .toolResult(let r):
            return (r.callId ?? r.toolCallId).map { ["arcp.tool.call_id": .string($0)] } ?? [:]
        case .metric(let m):
            return ["arcp.metric.name": .string(m.name), "arcp.metric.value": .double(m.value)]
        case .progress(let p):
            var a: SpanAttributes = ["arcp.progress.current": .double(p.current)]
            if let t = p.total { a["arcp.progress.total"] = t }
            return a
        case .log(let l):
            return ["arcp.log.level": .string(l.level)]
        default:
            return [:]
        }
    }

    func ended(_ outcome: InstrumentedJobOutcome) {
        let first = state.withLock { s -> Bool in
            defer { s.ended = true }
            return !s.ended
        }
        guard first else { return }
        span.updateAttributes { a in
            a["arcp.job.final_status"] = outcome.status.rawValue
            if !outcome.budgetRemaining.isEmpty {
                a["arcp.budget.remaining"] = TracingInstrumentation.budgetText(outcome.budgetRemaining.mapValues(LeaseDecimal.format))
            }
            if let e = outcome.error {
                a["arcp.error.code"] = e.code.rawValue
                a["arcp.error.retryable"] = e.retryable
            }
        }
        if let e = outcome.error {
            span.recordError(e)
            span.setStatus(SpanStatus(code: .error, message: e.description))
        } else if outcome.status == .success {
            span.setStatus(SpanStatus(code: .ok))
        } else {
            span.setStatus(SpanStatus(code: .error, message: "final_status \(outcome.status.rawValue)"))
        }
        span.end()
    }
}
