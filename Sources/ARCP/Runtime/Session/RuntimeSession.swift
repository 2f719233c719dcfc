import Foundation

/// One runtime-side ARCP session: the I/O shell around its `SessionStateMachine`. It outlives
/// its transport: while the client is away the session keeps numbering and buffering its
/// jobs' events for resume (spec §6.3).
///
/// All outbound frames, control and event alike, go through one ordered queue drained by a
/// single writer per connection, so `event_seq` is strictly monotonic on the wire and replies
/// keep their order relative to events. The lock (rank `session`) holds the state machine and
/// the continuations of that writer and of the emitters waiting for room; it calls out to
/// nothing but the store writer's queue (a leaf).
package final class RuntimeSession: Sendable {
    private struct State: ~Copyable {
        var machine: SessionStateMachine
        /// The writer of the attached connection, waiting for a frame.
        var writer: CheckedContinuation<Bool, Never>? = nil
        /// Emitters and the reader waiting for room in the queue.
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
    }

    package let id: String
    package let principal: String
    package let features: [Feature]
    package let featureSet: Set<String>
    let buffering: ARCPRuntime.Configuration.Buffering
    let storeWriter: RuntimeStoreWriter?
    package let createdAt: Date
    private let state: RankedMutex<State>

    init(
        id: String, principal: String, features: [Feature], resumeToken: String, limits: ARCPRuntime.Configuration.Buffering,
        storeWriter: RuntimeStoreWriter? = nil, createdAt: Date = Date()
    ) {
        self.id = id
        self.principal = principal
        self.features = features
        let featureSet = Set(features.map(\.rawValue))
        self.featureSet = featureSet
        self.buffering = limits
        self.storeWriter = storeWriter
        self.createdAt = createdAt
        let outboxLimits = SessionOutbox.Limits(limits, acknowledges: featureSet.contains(Feature.ack.rawValue))
        self.state = RankedMutex(.session, State(machine: SessionStateMachine(resumeToken: resumeToken, limits: outboxLimits, now: .now)))
    }

    /// Restores numbering and the replay buffer of a session read back from the store.
    func restore(lastSeq: Int, releasedThrough: Int, events: [StoredEvent]) {
        state.withLock { s in
            s.machine.restore(
                lastSeq: lastSeq, releasedThrough: releasedThrough, events: events.map { (Int($0.seq), $0.jobID, $0.frame) })
        }
    }

    /// The durable record of this session (the token is stored only as a hash).
    func record(token: String? = nil) -> SessionRecord {
        let (t, closed) = state.withLock { ($0.machine.resumeToken, $0.machine.closedByClient) }
        let features = JSONValue.array(self.features.map { .string($0.rawValue) })
        return SessionRecord(
            sessionID: id, principal: principal, resumeTokenHash: ResumeTokenHasher.hash(token ?? t), createdAt: createdAt,
            lastSeenAt: Date(), closed: closed,
            limits: BufferLimits(maxEvents: buffering.maxBufferedEvents, maxBytes: buffering.maxBufferedBytes),
            stateJSON: JSONWriter.string(["features": features]))
    }

    func has(_ f: Feature) -> Bool { featureSet.contains(f.rawValue) }

    var resumeToken: String { state.withLock { $0.machine.resumeToken } }
    var isClosed: Bool { state.withLock { $0.machine.closedByClient } }
    var isAttached: Bool { state.withLock { $0.machine.isAttached } }
    var lastSeq: Int { state.withLock { $0.machine.outbox.lastSeq } }
    var detachedAt: ContinuousClock.Instant? { state.withLock { $0.machine.detachedSince } }
    var lifecycle: SessionStateMachine.Lifecycle { state.withLock { $0.machine.lifecycle } }
    var bufferedEventCount: Int { state.withLock { $0.machine.outbox.replay.count } }
    var bufferedBytes: Int { state.withLock { $0.machine.outbox.replayBytes } }
    var evictionCount: Int { state.withLock { $0.machine.outbox.evictions } }

    // MARK: Connection lifecycle

    /// Attaches a new connection: its queue starts with `welcome` (built before this call,
    /// outside the lock), then, for a resume from `resumeFrom`, every buffered event after it.
    func attach(welcome: String, resumeFrom: Int?, newToken: String?) -> SessionStateMachine.AttachResult {
        let (result, stale) = state.withLock { s -> (SessionStateMachine.AttachResult, CheckedContinuation<Bool, Never>?) in
            let r = s.machine.attach(welcome: welcome, resumeFrom: resumeFrom, newToken: newToken)
            guard case .attached = r else { return (r, nil) }
            let w = s.writer
            s.writer = nil
            return (r, w)
        }
        // A previous connection's writer is over.
        stale?.resume(returning: false)
        return result
    }

    /// Detaches `conn` (its writer ended). Events keep buffering for resume.
    func detach(_ conn: UInt64) {
        let (writer, waiters) = state.withLock { s -> (CheckedContinuation<Bool, Never>?, [CheckedContinuation<Void, Never>]) in
            guard s.machine.detach(conn, now: .now) else { return (nil, []) }
            let w = s.writer
            s.writer = nil
            let sw = s.spaceWaiters
            s.spaceWaiters = []
            return (w, sw)
        }
        writer?.resume(returning: false)
        for w in waiters { w.resume() }
    }

    /// Expires the session if its resume window passed since it was detached. True when it
    /// did: the caller then removes it from the session table. An attach racing it either
    /// came first (the session is kept) or is refused (`attach` answers `.expired`).
    func expireIfDue(window: Duration) -> Bool {
        state.withLock { $0.machine.expire(now: .now, window: window) } == .expired
    }

    func markClosed() { state.withLock { $0.machine.clientClosed() } }

    /// Ends connection `conn` (or whichever is attached, when nil) once everything queued has
    /// been written. A stale connection's request never closes the connection that replaced it.
    func requestCloseAfterFlush(_ conn: UInt64? = nil) {
        let w: CheckedContinuation<Bool, Never>? = state.withLock { s in
            guard s.machine.requestCloseAfterFlush(conn) else { return nil }
            let w = s.writer
            s.writer = nil
            return w
        }
        w?.resume(returning: true)
    }

    /// A frame arrived from the client: the token it resumed with is retired.
    func noteReceived() {
        state.withLock { $0.machine.clientHeard() }
    }

    func checkToken(_ token: String) -> Bool {
        state.withLock { $0.machine.accepts(token: token) }
    }

    // MARK: Outbound

    /// Queues a control frame (no event_seq) for the current connection. Returns false (and
    /// the frame is not sent) when no connection is attached.
    @discardableResult
    func sendControl(_ message: Message, jobID: String? = nil, traceID: String? = nil) -> Bool {
        queueControl(message, jobID: jobID, traceID: traceID, keepForResume: false)
    }

    /// Queues a delegated job's unsolicited `job.accepted` (§10) and keeps it for resume:
    /// unlike other control frames it is sent again to a client that resumes from before it.
    func sendChildAccepted(_ payload: JobAcceptedPayload, jobID: String, traceID: String?) {
        queueControl(.jobAccepted(payload), jobID: jobID, traceID: traceID, keepForResume: true)
    }

    @discardableResult
    private func queueControl(_ message: Message, jobID: String?, traceID: String?, keepForResume: Bool) -> Bool {
        let frame = FrameCodec.encode(Envelope.make(message, sessionID: id, jobID: jobID, traceID: traceID))
        let (queued, writer): (Bool, CheckedContinuation<Bool, Never>?) = state.withLock { s in
            guard s.machine.queueControl(frame, keepForResume: keepForResume) else { return (false, nil) }
            let w = s.writer
            s.writer = nil
            return (true, w)
        }
        writer?.resume(returning: true)
        return queued
    }

    /// Numbers, buffers and queues a job.event / job.result / job.error. Returns the seq.
    /// Never blocks; call `waitForCapacity()` afterwards to apply back-pressure.
    @discardableResult
    func sendEvent(_ message: Message, jobID: String, traceID: String?) -> Int {
        let (numbered, writer) = state.withLock { s -> (SessionOutbox.Numbered, CheckedContinuation<Bool, Never>?) in
            let (numbered, frame) = s.machine.queueEvent(jobID: jobID) { seq in
                FrameCodec.encode(Envelope.make(message, sessionID: id, jobID: jobID, eventSeq: seq, traceID: traceID))
            }
            // Under the lock, so the store sees this session's events in seq order.
            storeWriter?.submit(.event(StoredEvent(sessionID: id, seq: Int64(numbered.seq), jobID: jobID, frame: frame)))
            guard s.machine.isAttached else { return (numbered, nil) }
            let w = s.writer
            s.writer = nil
            return (numbered, w)
        }
        writer?.resume(returning: true)
        if numbered.evicted > 0 {
            buffering.onEviction?(id, numbered.evicted)
        }
        return numbered.seq
    }

    /// Suspends while this session's consumer is too far behind: more than
    /// `maxPendingFrames` frames not yet handed to the transport, or (with `ack` negotiated)
    /// more than `maxUnackedEvents` events not acknowledged. Returns at once when detached.
    func waitForCapacity() async {
        await waitWhile { $0.emittersMustWait }
    }

    /// Waits while the current connection's outbound queue holds `maxPendingFrames` frames or
    /// more, i.e. while the peer does not read. The read loop calls it after each inbound
    /// frame, so a peer that floods requests without reading the answers stops being read
    /// (its transport's bounded inbound queue, then TCP, push back) instead of growing the
    /// queue of answers without bound. Unlike `waitForCapacity` it ignores acknowledgements:
    /// the acks themselves arrive through the read loop. Returns at once when detached.
    func waitForOutboundRoom() async {
        await waitWhile { $0.readerMustWait }
    }

    private func waitWhile(_ mustWait: @escaping (borrowing SessionStateMachine) -> Bool) async {
        while state.withLock({ mustWait($0.machine) }) {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { s in
                    guard mustWait(s.machine) else { return true }
                    s.spaceWaiters.append(c)
                    return false
                }
                if resumeNow { c.resume() }
            }
            if Task.isCancelled { return }
        }
    }

    /// Whether the consumer lags by more than the back-pressure threshold (first time per job).
    func shouldReportBackPressure(jobID: String) -> Bool {
        state.withLock { $0.machine.shouldReportBackPressure(jobID: jobID) }
    }

    /// The writer side: the next batch of frames for connection `conn`, or nil when it is gone.
    func nextBatch(_ conn: UInt64) async -> [String]? {
        while true {
            enum Step { case batch([String], [CheckedContinuation<Void, Never>]), gone, wait }
            let step: Step = state.withLock { s in
                switch s.machine.nextWriterStep(conn) {
                case .batch(let b):
                    let w = s.spaceWaiters
                    s.spaceWaiters = []
                    return .batch(b, w)
                case .done: return .gone
                case .wait: return .wait
                }
            }
            switch step {
            case .batch(let b, let waiters):
                for w in waiters { w.resume() }
                return b
            case .gone:
                return nil
            case .wait:
                let more = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                    let now: Bool? = state.withLock { s in
                        switch s.machine.writerReadiness(conn) {
                        case .gone: return false
                        case .ready: return true
                        case .idle:
                            s.writer = c
                            return nil
                        }
                    }
                    if let now { c.resume(returning: now) }
                }
                if !more { return nil }
            }
        }
    }

    // MARK: Ack

    /// Frees buffered events through `seq` (spec §6.5).
    func acknowledge(through seq: Int) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            guard let released = s.machine.acknowledge(through: seq) else { return [] }
            storeWriter?.submit(.release(id, Int64(released)))
            let w = s.spaceWaiters
            s.spaceWaiters = []
            return w
        }
        for w in waiters { w.resume() }
    }
}
