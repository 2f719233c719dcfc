import Foundation
import Logging

/// What an agent body gets: the job's identity and authority, and an emitter for every
/// event kind (spec §8.2). Emitters apply back-pressure: they suspend while the slowest
/// observer of the job is too far behind, so a chatty agent cannot grow memory without bound.
public struct JobContext: Sendable {
    let job: RuntimeJob
    let runtime: ARCPRuntime
    let features: Set<String>
    /// The lease's expiry, if any.
    public let expiresAt: Date?

    init(job: RuntimeJob, runtime: ARCPRuntime, features: Set<String>, expiresAt: Date?) {
        self.job = job
        self.runtime = runtime
        self.features = features
        self.expiresAt = expiresAt
    }

    public var jobID: String { job.id }
    /// The resolved `name` or `name@version`.
    public var agent: String { job.agent }
    public var principal: String { job.principal }
    public var traceID: String { job.traceID }
    /// The effective lease (spec §9).
    public var lease: Lease { job.lease }
    public var leaseConstraints: LeaseConstraints? { job.leaseConstraints }
    public var parentJobID: String? { job.parentJobID }
    public var logger: Logger {
        var l = runtime.logger
        l[metadataKey: "job"] = "\(job.id)"
        return l
    }

    /// Whether the submitting session negotiated `feature`.
    public func negotiated(_ feature: Feature) -> Bool { features.contains(feature.rawValue) }

    // MARK: emitters

    /// Emits any event body. Returns the event's seq in the submitting session (nil if the
    /// job already ended).
    @discardableResult
    public func emit(_ body: EventBody) async -> Int? {
        let seq = job.emit(.jobEvent(JobEventPayload(body: body, ts: ARCPTimestamp.string())))
        if job.owner.shouldReportBackPressure(jobID: job.id) {
            job.emit(.jobEvent(JobEventPayload(
                body: .status(StatusBody(phase: "back_pressure", message: "the client lags behind its acknowledgements; emitters are throttled")),
                ts: ARCPTimestamp.string())))
        }
        await job.waitForCapacity()
        return seq
    }

    public func log(_ level: String, _ message: String, attributes: JSONValue? = nil) async {
        await emit(.log(LogBody(level: level, message: message, attributes: attributes)))
    }

    public func thought(_ text: String) async {
        await emit(.thought(ThoughtBody(text: text)))
    }

    /// Emits `tool_call` and returns its call id.
    @discardableResult
    public func toolCall(_ tool: String, args: JSONValue = [:], callID: String? = nil) async -> String {
        let id = callID ?? ARCPID.make("call")
        await emit(.toolCall(ToolCallBody(tool: tool, args: args, callId: id)))
        return id
    }

    public func toolResult(callID: String, result: JSONValue) async {
        await emit(.toolResult(ToolResultBody(callId: callID, result: result)))
    }

    /// Emits a `tool_result` carrying an error payload.
    public func toolError(callID: String, _ error: ARCPError) async {
        await emit(.toolResult(ToolResultBody(callId: callID, error: error.payload.toJSON())))
    }

    public func status(_ phase: String, _ message: String? = nil) async {
        await emit(.status(StatusBody(phase: phase, message: message)))
    }

    public func metric(_ name: String, _ value: Double, unit: String? = nil, dimensions: JSONValue? = nil) async {
        await emit(.metric(MetricBody(name: name, value: value, unit: unit, dimensions: dimensions)))
    }

    public func artifact(uri: String, contentType: String, byteSize: Int? = nil, sha256: String? = nil) async {
        await emit(.artifactRef(ArtifactRefBody(uri: uri, contentType: contentType, byteSize: byteSize, sha256: sha256)))
    }

    /// Emits `progress` (spec §8.2.1). Not sent when the session did not negotiate `progress`.
    /// - Throws: INVALID_REQUEST when `current` is negative or not finite.
    public func progress(_ current: Double, total: Double? = nil, units: String? = nil, message: String? = nil) async throws {
        guard current.isFinite, current >= 0 else { throw ARCPError.invalidRequest("progress current must be a non-negative number") }
        if let total, !(total.isFinite && total >= 0) { throw ARCPError.invalidRequest("progress total must be a non-negative number") }
        guard negotiated(.progress) else { return }
        await emit(.progress(ProgressBody(current: current, total: total, units: units, message: message)))
    }

    /// Emits a vendor event kind (`x-vendor.*`).
    public func vendor(_ kind: String, _ body: JSONValue) async throws {
        guard kind.hasPrefix("x-vendor.") else { throw ARCPError.invalidRequest("vendor event kinds start with x-vendor.") }
        await emit(.vendor(kind: kind, body: body))
    }

    /// Starts streaming the job's result as `result_chunk` events (spec §8.4).
    public func streamResult() -> ResultStream {
        ResultStream(context: self, chunkSize: runtime.configuration.chunkSizeCap, maxTotal: runtime.configuration.maxStreamedResultBytes)
    }
}
