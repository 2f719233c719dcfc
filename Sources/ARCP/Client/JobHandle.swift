import Synchronization

/// A submitted (or subscribed, or delegated) job: its typed events, its children, its outcome,
/// and cancel. Read-only: only the client that made it can add events or end it.
public final class JobHandle: Sendable {
    /// The job's id, as the runtime assigned it.
    public let jobID: String
    /// The acceptance (or, for a subscription, nil).
    public let accepted: JobAcceptedPayload?
    /// For a subscription: the authority descriptor.
    public let subscribed: JobSubscribedPayload?
    let client: ARCPClient
    /// Whether the events are buffered for `events` (`submit(streamEvents:)`).
    let streamEvents: Bool
    let eventQueue: BoundedAsyncQueue<JobEvent>
    let childQueue: BoundedAsyncQueue<JobHandle>

    private struct State {
        var outcome: Result<JobOutcome, any Error>? = nil
        var waiters: [CheckedContinuation<Result<JobOutcome, any Error>, Never>] = []
        var children: [JobHandle] = []
    }
    private let state = Mutex(State())

    package init(jobID: String, accepted: JobAcceptedPayload?, subscribed: JobSubscribedPayload?, client: ARCPClient, buffer: Int, streamEvents: Bool) {
        self.jobID = jobID
        self.accepted = accepted
        self.subscribed = subscribed
        self.client = client
        self.eventQueue = BoundedAsyncQueue(capacity: buffer)
        self.childQueue = BoundedAsyncQueue(capacity: buffer)
        self.streamEvents = streamEvents
    }

    /// For a delegated job: its parent's job id (spec §10).
    public var parentJobID: String? { accepted?.parentJobId ?? subscribed?.parentJobId }
    /// For a delegated job: the id of the `delegate` event on the parent.
    public var delegateID: String? { accepted?.delegateId }

    /// The job's events in order, ending after the terminal frame. Single consumer.
    /// The buffer is bounded: a consumer that stops reading back-pressures the session.
    public var events: Events { Events(queue: eventQueue) }

    /// Jobs this job delegated to (spec §10), as their `job.accepted` arrives, each with
    /// its own handle (events, result, and its own `children`), so a caller can follow
    /// the whole job tree. Ends when this job ends. Single consumer; nobody has to read it
    /// (a full buffer is reported as a diagnostic; `childJobs` still lists every child).
    public var children: Children { Children(queue: childQueue) }

    /// Every child job seen so far, in acceptance order.
    public var childJobs: [JobHandle] { state.withLock { $0.children } }

    /// Waits for the job to end. Returns the outcome on `job.result`. Throws the runtime's
    /// `ARCPError` (with `finalStatus`) when the job failed or was cancelled, and an
    /// `ARCPClientError` when the client could not follow it to its end (the connection was lost
    /// and not resumed, the client was closed, the job was unsubscribed, its streamed result could
    /// not be assembled).
    public func result() async throws -> JobOutcome {
        let r = await withCheckedContinuation { (c: CheckedContinuation<Result<JobOutcome, any Error>, Never>) in
            let now: Result<JobOutcome, any Error>? = state.withLock { s in
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

    // MARK: fed by the client's read loop

    /// Records a delegated child; false when the `children` buffer was full.
    func addChild(_ child: JobHandle) -> Bool {
        state.withLock { $0.children.append(child) }
        return childQueue.trySend(child)
    }

    /// Hands one event to the consumer, waiting while its buffer is full.
    func deliver(_ event: JobEvent) async {
        guard streamEvents else { return }
        try? await eventQueue.send(event)
    }

    /// Hands `events` to the stream in order, waking its consumer once.
    func deliver(contentsOf events: [JobEvent]) async {
        guard streamEvents else { return }
        try? await eventQueue.send(contentsOf: events)
    }

    /// Ends the job: resumes `result()` waiters and ends `events` and `children` once drained.
    /// Only the first outcome counts.
    func complete(_ outcome: Result<JobOutcome, any Error>) {
        let waiters: [CheckedContinuation<Result<JobOutcome, any Error>, Never>] = state.withLock { s in
            guard s.outcome == nil else { return [] }
            s.outcome = outcome
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: outcome) }
        eventQueue.finish()
        childQueue.finish()
    }
}

// Two concrete wrappers rather than one generic one: a caller in another module then runs the
// queue's `JobEvent` / `JobHandle` code specialized inside this module, not a generic copy.
extension JobHandle {
    /// A job's events (`JobHandle.events`): read-only, single consumer.
    public struct Events: AsyncSequence, Sendable {
        public typealias Element = JobEvent
        let queue: BoundedAsyncQueue<JobEvent>

        public struct AsyncIterator: AsyncIteratorProtocol {
            let queue: BoundedAsyncQueue<JobEvent>
            /// The next event; nil after the last. Throws `CancellationError` when the
            /// waiting task is cancelled.
            public mutating func next() async throws -> JobEvent? { try await queue.next() }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(queue: queue) }
    }

    /// A job's delegated children (`JobHandle.children`): read-only, single consumer.
    public struct Children: AsyncSequence, Sendable {
        public typealias Element = JobHandle
        let queue: BoundedAsyncQueue<JobHandle>

        public struct AsyncIterator: AsyncIteratorProtocol {
            let queue: BoundedAsyncQueue<JobHandle>
            /// The next child; nil once the parent has ended. Throws `CancellationError` when
            /// the waiting task is cancelled.
            public mutating func next() async throws -> JobHandle? { try await queue.next() }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(queue: queue) }
    }
}
