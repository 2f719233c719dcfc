import ARCP
import CoreMetrics
import Foundation
import Synchronization

/// A runtime's sessions, jobs, events, queues and errors as swift-metrics metrics: set it as
/// `ARCPRuntime.Configuration.instrumentation`, and bootstrap (or pass) the metrics backend of
/// your choice: Prometheus (swift-prometheus), StatsD, OpenTelemetry… This target exports
/// nothing by itself.
///
/// ```swift
/// var config = ARCPRuntime.Configuration()
/// config.instrumentation = MetricsInstrumentation()          // MetricsSystem's factory
/// let runtime = ARCPRuntime(configuration: config, verifier: verifier)
/// ```
///
/// The metrics, with the default prefix `arcp` (see `docs/METRICS.md`):
///
/// | Name | Type | Dimensions | What |
/// |---|---|---|---|
/// | `arcp_session_events_total` | counter | `event` | sessions `opened`, `resumed`, `detached`, `closed`, `expired` |
/// | `arcp_sessions_live` | gauge | | sessions the runtime holds (attached, or detached within the resume window) |
/// | `arcp_sessions_connected` | gauge | | sessions with a connection attached |
/// | `arcp_jobs_started_total` | counter | `agent` | jobs started (submitted and delegated) |
/// | `arcp_jobs_finished_total` | counter | `agent`, `status` | jobs ended, by final status |
/// | `arcp_jobs_running` | gauge | | jobs started and not yet ended |
/// | `arcp_job_duration_seconds` | timer | `agent`, `status` | start to end of each job |
/// | `arcp_job_events_total` | counter | `kind` | `job.event`s emitted (their rate is events per second) |
/// | `arcp_outbound_queue_depth_frames` | recorder | | frames a connection's writer found queued, at each drain |
/// | `arcp_backpressure_total` | counter | `kind` | waits under back-pressure: `emitters`, `reader` |
/// | `arcp_errors_total` | counter | `code`, `frame` | error frames sent, by code, `session.error` or `job.error` |
/// | `arcp_auth_failures_total` | counter | | connections refused with `UNAUTHENTICATED` (bad bearer or resume token) |
///
/// Every dimension takes a bounded set of values: `agent` the registered agents, `code` the
/// spec's error codes (any other is `other`), `kind` the spec's event kinds (a vendor kind is
/// `vendor`), so a peer cannot create series.
public final class MetricsInstrumentation: RuntimeInstrumentation {
    let prefix: String
    let factory: any MetricsFactory

    let sessionEvents: Labeled<SessionLifecycleEvent, Counter>
    let sessionsLive: Meter
    let sessionsConnected: Meter
    let jobsStarted: Labeled<String, Counter>
    let jobsFinished: Labeled<AgentStatus, Counter>
    let jobsRunning: Meter
    let jobDuration: Labeled<AgentStatus, CoreMetrics.Timer>
    let jobEvents: Labeled<String, Counter>
    let outboundDepth: Recorder
    let backPressureWaits: Labeled<BackPressureKind, Counter>
    let errors: Labeled<CodeFrame, Counter>
    let authFailures: Counter
    /// Ids of the sessions counted in `sessionsLive`: a session restored from an event store
    /// after a restart is first seen `.resumed`, and must be counted once and removed once.
    let live = Mutex<Set<String>>([])

    /// An instrumentation that records the runtime's sessions, jobs, events, queues and errors
    /// as swift-metrics metrics.
    /// - Parameters:
    ///   - prefix: the first part of every metric name (`arcp` gives `arcp_jobs_running`).
    ///   - factory: where the metrics go; nil (the default) is `MetricsSystem.factory`, the
    ///     backend bootstrapped for the process.
    public init(prefix: String = "arcp", factory: (any MetricsFactory)? = nil) {
        let factory = factory ?? MetricsSystem.factory
        self.prefix = prefix
        self.factory = factory
        let p = prefix.isEmpty ? "" : prefix + "_"
        sessionEvents = Labeled { Counter(label: p + "session_events_total", dimensions: [("event", $0.rawValue)], factory: factory) }
        sessionsLive = Meter(label: p + "sessions_live", factory: factory)
        sessionsConnected = Meter(label: p + "sessions_connected", factory: factory)
        jobsStarted = Labeled { Counter(label: p + "jobs_started_total", dimensions: [("agent", $0)], factory: factory) }
        jobsFinished = Labeled { Counter(label: p + "jobs_finished_total", dimensions: $0.dimensions, factory: factory) }
        jobsRunning = Meter(label: p + "jobs_running", factory: factory)
        jobDuration = Labeled { CoreMetrics.Timer(label: p + "job_duration_seconds", dimensions: $0.dimensions, factory: factory) }
        jobEvents = Labeled { Counter(label: p + "job_events_total", dimensions: [("kind", $0)], factory: factory) }
        outboundDepth = Recorder(label: p + "outbound_queue_depth_frames", factory: factory)
        backPressureWaits = Labeled { Counter(label: p + "backpressure_total", dimensions: [("kind", $0.rawValue)], factory: factory) }
        errors = Labeled { Counter(label: p + "errors_total", dimensions: [("code", $0.code), ("frame", $0.frame)], factory: factory) }
        authFailures = Counter(label: p + "auth_failures_total", factory: factory)
    }

    // MARK: RuntimeInstrumentation

    /// Counts the session event (`session_events_total`) and keeps `sessions_live` and
    /// `sessions_connected` up to date.
    public func sessionEvent(_ session: InstrumentedSession, _ event: SessionLifecycleEvent) {
        sessionEvents[event].increment()
        switch event {
        case .opened, .resumed:
            sessionsConnected.increment()
            if live.withLock({ $0.insert(session.id).inserted }) { sessionsLive.increment() }
        case .detached:
            sessionsConnected.decrement()
        case .closed:
            sessionsConnected.decrement()
            if live.withLock({ $0.remove(session.id) != nil }) { sessionsLive.decrement() }
        case .expired:
            if live.withLock({ $0.remove(session.id) != nil }) { sessionsLive.decrement() }
        }
    }

    /// Counts the job as started (`jobs_started_total`, by agent) and running; the returned
    /// observer counts its events and, at its end, its outcome and duration.
    public func startJob(_ job: InstrumentedJob, parent: (any JobInstrumentation)?) -> (any JobInstrumentation)? {
        jobsStarted[job.agent].increment()
        jobsRunning.increment()
        return JobMetrics(metrics: self, agent: job.agent, started: .now)
    }

    /// Counts a `session.error` by code (`errors_total`); an `UNAUTHENTICATED` one before any
    /// session is an authentication failure (`auth_failures_total`).
    public func errorSent(_ error: ARCPError, session: String?) {
        errors[CodeFrame(code: Self.label(error.code), frame: "session.error")].increment()
        if session == nil, error.code == .unauthenticated { authFailures.increment() }
    }

    /// Counts a back-pressure episode by kind (`backpressure_total`).
    public func backPressure(session: String, _ kind: BackPressureKind) {
        backPressureWaits[kind].increment()
    }

    /// Records the depth of a session's outbound queue, in frames, as it drains
    /// (`outbound_queue_depth_frames`).
    public func outboundDrained(session: String, frames: Int) {
        outboundDepth.record(frames)
    }

    // MARK: labels

    /// An error code as a dimension value: the spec's codes as they are, any other `other`.
    static func label(_ code: ErrorCode) -> String {
        if case .unknown = code { return "other" }
        return code.rawValue
    }
}

extension EventBody {
    /// The event kind as a dimension value: the spec's kinds as they are, a vendor kind `vendor`.
    var metricKind: String {
        if case .vendor = self { return "vendor" }
        return kind
    }
}

/// One job's metrics: its events, then its end.
struct JobMetrics: JobInstrumentation {
    let metrics: MetricsInstrumentation
    let agent: String
    let started: ContinuousClock.Instant

    func event(_ body: EventBody) {
        metrics.jobEvents[body.metricKind].increment()
    }

    func ended(_ outcome: InstrumentedJobOutcome) {
        let key = AgentStatus(agent: agent, status: outcome.status.rawValue)
        metrics.jobsRunning.decrement()
        metrics.jobsFinished[key].increment()
        metrics.jobDuration[key].recordInterval(since: started)
        if let error = outcome.error {
            metrics.errors[CodeFrame(code: MetricsInstrumentation.label(error.code), frame: "job.error")].increment()
        }
    }
}

extension CoreMetrics.Timer {
    /// Records the time from `start` to now.
    func recordInterval(since start: ContinuousClock.Instant) {
        let (s, a) = (ContinuousClock.now - start).components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        recordNanoseconds(overflow ? .max : ns.addingReportingOverflow(a / 1_000_000_000).partialValue)
    }
}

/// The dimensions of the job metrics that have two.
struct AgentStatus: Hashable, Sendable {
    var agent: String
    var status: String
    var dimensions: [(String, String)] { [("agent", agent), ("status", status)] }
}

/// The dimensions of `errors_total`.
struct CodeFrame: Hashable, Sendable {
    var code: String
    var frame: String
}

/// One metric per set of dimension values (`Key`), made on first use and kept: creating a
/// handler goes through the factory, which is slower than a dictionary lookup. The values
/// are bounded by the callers (see `MetricsInstrumentation`), so the table is too.
final class Labeled<Key: Hashable & Sendable, Metric: Sendable>: Sendable {
    private let make: @Sendable (Key) -> Metric
    private let table = Mutex<[Key: Metric]>([:])

    init(_ make: @escaping @Sendable (Key) -> Metric) { self.make = make }

    subscript(_ key: Key) -> Metric {
        if let m = table.withLock({ $0[key] }) { return m }
        let m = make(key)
        return table.withLock { t in
            if let existing = t[key] { return existing }
            t[key] = m
            return m
        }
    }
}
