import Foundation
import Synchronization

/// One event of a job as the client sees it.
public struct JobEvent: Sendable, Hashable {
    /// The session-scoped sequence number.
    public var seq: Int
    public var ts: String?
    public var body: EventBody
}

/// How a job ended successfully (or was cancelled under the Python reference's form).
public struct JobOutcome: Sendable, Hashable {
    public var finalStatus: FinalStatus
    /// The inline result, or for a streamed result the assembled text (utf8 chunks) or
    /// `{"encoding":"base64","data":…}` when any chunk was binary.
    public var result: JSONValue?
    /// The assembled bytes of a streamed result.
    public var streamedBytes: Data?
    public var resultID: String?
    public var resultSize: Int?
    public var summary: String?
    public var payload: JobResultPayload

    /// Decodes the result into a Decodable type.
    /// - Throws: INVALID_REQUEST when there is no result or it does not match `T`.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        guard let result else { throw ARCPError.invalidRequest("the job has no inline result") }
        do {
            return try JSONDecoder().decode(T.self, from: JSONWriter.data(result))
        } catch {
            throw ARCPError.invalidRequest("result does not match \(T.self): \(error)")
        }
    }
}

/// A submitted (or subscribed) job: its typed events, its outcome, and cancel.
public final class JobHandle: Sendable {
    public let jobID: String
    /// The acceptance (or, for a subscription, nil).
    public let accepted: JobAcceptedPayload?
    /// For a subscription: the authority descriptor.
    public let subscribed: JobSubscribedPayload?
    let client: ARCPClient
    let queue: BoundedAsyncQueue<JobEvent>
    let childQueue: BoundedAsyncQueue<JobHandle>
    let streamEvents: Bool

    struct State {
        var outcome: Result<JobOutcome, ARCPError>? = nil
        var waiters: [CheckedContinuation<Result<JobOutcome, ARCPError>, Never>] = []
        var chunks: [String: (data: Data, text: String, binary: Bool, next: Int)] = [:]
        var assembledBytes = 0
        var children: [JobHandle] = []
    }
    let state = Mutex(State())

    package init(jobID: String, accepted: JobAcceptedPayload?, subscribed: JobSubscribedPayload?, client: ARCPClient, buffer: Int, streamEvents: Bool) {
        self.jobID = jobID
        self.accepted = accepted
        self.subscribed = subscribed
        self.client = client
        self.queue = BoundedAsyncQueue(capacity: buffer)
        self.childQueue = BoundedAsyncQueue(capacity: buffer)
        self.streamEvents = streamEvents
    }

    /// For a delegated job: its parent's job id (spec §10).
    public var parentJobID: String? { accepted?.parentJobId ?? subscribed?.parentJobId }
    /// For a delegated job: the id of the `delegate` event on the parent.
    public var delegateID: String? { accepted?.delegateId }

    /// Jobs this job delegated to (spec §10), as their `job.accepted` arrives, each with
    /// its own handle (events, result, and its own `children`), so a caller can follow
    /// the whole job tree. Ends when this job ends. Single consumer; nobody has to read it
    /// (a full buffer is reported as a diagnostic; `childJobs` still lists every child).
    public var children: BoundedAsyncQueue<JobHandle> { childQueue }

    /// Every child job seen so far, in acceptance order.
    public var childJobs: [JobHandle] { state.withLock { $0.children } }

    /// Records a delegated child; false when the `children` buffer was full.
    func addChild(_ child: JobHandle) -> Bool {
        state.withLock { $0.children.append(child) }
        return childQueue.trySend(child)
    }

    /// The job's events in order, ending after the terminal frame. Single consumer.
    /// The buffer is bounded: a consumer that stops reading back-pressures the session.
    public var events: BoundedAsyncQueue<JobEvent> { queue }

    /// Waits for the job to end. Returns the outcome on `job.result`; throws `ARCPError`
    /// (with `finalStatus`) on `job.error`, and when the session is lost.
    public func result() async throws -> JobOutcome {
        let r = await withCheckedContinuation { (c: CheckedContinuation<Result<JobOutcome, ARCPError>, Never>) in
            let now: Result<JobOutcome, ARCPError>? = state.withLock { s in
                if let o = s.outcome { return o }
                s.waiters.append(c)
                return nil
            }
            if let now { c.resume(returning: now) }
        }
        return try r.get()
    }

    /// Sends `job.cancel` and waits for the runtime's `job.cancelled` acknowledgement (or an
    /// error). The job's outcome then arrives through `result()`.
    public func cancel(reason: String? = nil) async throws {
        try await client.cancel(jobID: jobID, reason: reason)
    }

    /// Whether the job has ended.
    public var isFinished: Bool { state.withLock { $0.outcome != nil } }

    // MARK: delivery from the client's read loop

    func deliver(_ event: JobEvent, maxAssembled: Int) async {
        if case .resultChunk(let c) = event.body {
            let problem: String? = state.withLock { s in
                var entry = s.chunks[c.resultId] ?? (Data(), "", false, 0)
                guard c.chunkSeq == entry.next else { return "result chunk \(c.chunkSeq) out of order (expected \(entry.next))" }
                entry.next += 1
                switch c.encoding {
                case .base64:
                    guard let d = Data(base64Encoded: c.data) else { return "result chunk \(c.chunkSeq) is not valid base64" }
                    entry.data.append(d)
                    entry.binary = true
                    s.assembledBytes += d.count
                default:
                    entry.data.append(contentsOf: c.data.utf8)
                    entry.text += c.data
                    s.assembledBytes += c.data.utf8.count
                }
                if s.assembledBytes > maxAssembled { return "streamed result exceeds \(maxAssembled) bytes" }
                s.chunks[c.resultId] = entry
                return nil
            }
            if let problem { complete(.failure(ARCPError(.internalError, problem, retryable: false))) }
        }
        if streamEvents { try? await queue.send(event) }
    }

    func complete(_ outcome: Result<JobOutcome, ARCPError>) {
        let waiters: [CheckedContinuation<Result<JobOutcome, ARCPError>, Never>] = state.withLock { s in
            guard s.outcome == nil else { return [] }
            s.outcome = outcome
            let w = s.waiters
            s.waiters = []
            return w
        }
        for w in waiters { w.resume(returning: outcome) }
        queue.finish()
        childQueue.finish()
    }

    func completeResult(_ p: JobResultPayload) {
        var outcome = JobOutcome(finalStatus: p.finalStatus, result: p.result, resultID: p.resultId, resultSize: p.resultSize, summary: p.summary, payload: p)
        if let rid = p.resultId {
            let entry = state.withLock { $0.chunks.removeValue(forKey: rid) }
            if let entry {
                outcome.streamedBytes = entry.data
                outcome.result = entry.binary ? ["encoding": "base64", "data": .string(entry.data.base64EncodedString())] : .string(entry.text)
            }
        }
        if p.finalStatus == .success {
            complete(.success(outcome))
        } else {
            // The Python reference ends cancelled / timed-out jobs with job.result.
            let code: ErrorCode = p.finalStatus == .timedOut ? .timeout : .cancelled
            complete(.failure(ARCPError(code, "job ended with final_status \(p.finalStatus.rawValue)", retryable: false, finalStatus: p.finalStatus)))
        }
    }
}
