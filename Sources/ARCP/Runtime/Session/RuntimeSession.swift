import Foundation
import Synchronization

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
    /// The parked writer: a task's continuation (unsafe: no canary object allocated per park,
    /// which the checked kind costs on every wake of a streaming connection), or a writer
    /// that is not a task (``SessionWriter``). It is stored and taken only under the
    /// session's lock, and whoever takes it (setting `writer` to nil) resumes it once, so it
    /// is resumed exactly once: with true when there may be frames, false when its
    /// connection is gone.
    enum WriterWake {
        case task(UnsafeContinuation<Bool, Never>)
        case callback(any SessionWriter)

        func resume(returning more: Bool) {
            switch self {
            case .task(let c): c.resume(returning: more)
            case .callback(let w): w.wake(more: more)
            }
        }
    }

    private struct State: ~Copyable {
        /// The store writer's ticket of this session's latest event: a connection that sends
        /// only what is stored (`persistEventsBeforeSending`) waits for it, not for other
        /// sessions' writes, so its control frames go on while another session's events wait.
        var storeTicket: UInt64 = 0
        var machine: SessionStateMachine
        /// The writer of the attached connection, waiting for a frame.
        var writer: WriterWake? = nil
        /// Emitters and the reader waiting for room in the queue, by waiter id (a cancelled
        /// waiter removes itself).
        var spaceWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0

        /// The parked writer, if any, taken for the caller to wake once the lock is released
        /// (a writer is woken once per park).
        mutating func takeWriter() -> WriterWake? {
            defer { writer = nil }
            return writer
        }
    }

    package let id: String
    package let principal: String
    package let features: [Feature]
    package let featureSet: Set<String>
    let buffering: ARCPRuntime.Configuration.Buffering
    let storeWriter: RuntimeStoreWriter?
    package let createdAt: Date
    /// The largest frame sent, and what happens to a bigger one (issue 10 item 11).
    let outbound: OutboundFrameLimit
    /// The runtime's instrumentation: told of error frames, back-pressure and writer drains.
    let instrumentation: (any RuntimeInstrumentation)?
    private let state: RankedMutex<State>
    /// The seq the next event will most likely get (set under the lock, read outside it):
    /// `queueEvent` encodes for it before taking the lock.
    private let seqGuess = Atomic<Int>(1)

    init(
        id: String, principal: String, features: [Feature], resumeToken: String, limits: ARCPRuntime.Configuration.Buffering,
        storeWriter: RuntimeStoreWriter? = nil, createdAt: Date = Date(), outbound: OutboundFrameLimit = .unlimited,
        instrumentation: (any RuntimeInstrumentation)? = nil
    ) {
        self.instrumentation = instrumentation
        self.id = id
        self.outbound = outbound
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

    /// Adds the events the store gained after this session was read from it and before it was
    /// adopted (in a cluster, another node may append to the log in that moment), numbered as
    /// stored (``SessionOutbox/restoreAppended(_:attached:)``): a connection attached
    /// meanwhile (a second resume of the session on this node) is sent them, and its writer
    /// woken.
    package func restoreAppended(_ events: [StoredEvent]) {
        let writer: WriterWake? = state.withLock { s in
            guard s.machine.restoreAppended(events.map { (Int($0.seq), $0.jobID, $0.frame) }) > 0 else { return nil }
            return s.takeWriter()
        }
        writer?.resume(returning: true)
    }

    /// The durable record of this session (the token is stored only as a hash).
    func record(token: String? = nil) -> SessionRecord {
        let (t, closed) = state.withLock { ($0.machine.resumeToken, $0.machine.closedByClient) }
        return record(token: token ?? t, closed: closed)
    }

    private func record(token: String, closed: Bool) -> SessionRecord {
        let features = JSONValue.array(self.features.map { .string($0.rawValue) })
        return SessionRecord(
            sessionID: id, principal: principal, resumeTokenHash: ResumeTokenHasher.hash(token), createdAt: createdAt,
            lastSeenAt: Date(), closed: closed,
            limits: BufferLimits(maxEvents: buffering.maxBufferedEvents, maxBytes: buffering.maxBufferedBytes),
            stateJSON: JSONWriter.string(["features": features]))
    }

    /// Hands the session's record (its current resume token) to the store writer under the
    /// session's lock, so records reach the store in the order the token changed. Read
    /// outside the lock, a record taken just before a resume rotated the token could be
    /// queued just after the rotation's own, and the store would end with the old token: a
    /// resume on another node of a cluster (which checks the stored token) was then refused
    /// with the token the client had just been given.
    func storeRecord() {
        guard let storeWriter else { return }
        state.withLock { s in
            _ = storeWriter.submit(.session(record(token: s.machine.resumeToken, closed: s.machine.closedByClient)))
        }
    }

    func has(_ f: Feature) -> Bool { featureSet.contains(f.rawValue) }

    var resumeToken: String { state.withLock { $0.machine.resumeToken } }
    var isClosed: Bool { state.withLock { $0.machine.closedByClient } }
    var isAttached: Bool { state.withLock { $0.machine.isAttached } }
    package var lastSeq: Int { state.withLock { $0.machine.outbox.lastSeq } }
    var detachedAt: ContinuousClock.Instant? { state.withLock { $0.machine.detachedSince } }
    var lifecycle: SessionStateMachine.Lifecycle { state.withLock { $0.machine.lifecycle } }
    var bufferedEventCount: Int { state.withLock { $0.machine.outbox.replay.count } }
    /// Frames and bytes queued for the attached connection's writer.
    package var pendingCounts: (frames: Int, bytes: Int) { state.withLock { ($0.machine.outbox.pending.count, $0.machine.outbox.pendingBytes) } }
    var bufferedBytes: Int { state.withLock { $0.machine.outbox.replayBytes } }
    var evictionCount: Int { state.withLock { $0.machine.outbox.evictions } }

    // MARK: Connection lifecycle

    /// Attaches a new connection: its queue starts with `welcome` (built before this call,
    /// outside the lock), then, for a resume from `resumeFrom`, every buffered event after it.
    /// A rotation (`newToken`) retires the token the client `presented`, accepted for at
    /// most `grace` more (see `SessionStateMachine.attach`).
    ///
    /// With a store writer, a rotation hands the session's record (the new token) to it in
    /// the same lock hold, and `recordTicket` is its ticket: the caller waits for it before
    /// the new connection's writer starts, so the welcome is never sent before its token is
    /// stored. Every record taken before the rotation (`storeRecord`, e.g. by the connection
    /// this one replaces as it ends) is queued before it, every one taken after carries the
    /// new token: the store never ends with, nor passes through, the previous token after the
    /// new one. (Stored before the rotation, the new token's record could be followed by the
    /// replaced connection's, with the previous token: a resume on another node of a cluster,
    /// which checks the stored token, was refused then, and a crash in that moment lost the
    /// new token.)
    func attach(
        welcome: String, resumeFrom: Int?, newToken: String?, presented: String? = nil, grace: Duration = .zero
    ) -> (result: SessionStateMachine.AttachResult, recordTicket: UInt64?) {
        let graceUntil = ContinuousClock.now + min(max(grace, .zero), .seconds(10))
        // What a connection this attach replaces is told (built outside the lock; only when
        // one is attached now, which is rare: two resumes racing, or a half-dead connection).
        let farewell = state.withLock { $0.machine.isAttached } ? Self.replacedFarewell(sessionID: id) : nil
        let (result, ticket, stale) = state.withLock { s -> (SessionStateMachine.AttachResult, UInt64?, WriterWake?) in
            let r = s.machine.attach(
                welcome: welcome, resumeFrom: resumeFrom, newToken: newToken, presented: presented, graceUntil: graceUntil,
                farewell: farewell)
            guard case .attached = r else { return (r, nil, nil) }
            let ticket = newToken == nil ? nil : storeWriter?.submit(.session(record(token: s.machine.resumeToken, closed: s.machine.closedByClient)))
            return (r, ticket, s.takeWriter())
        }
        // A previous connection's writer sends its farewell (if it still waits), then ends.
        stale?.resume(returning: true)
        return (result, ticket)
    }

    /// The last frame of a connection another one replaced by resuming the same session:
    /// `UNAUTHENTICATED` (its claim on the session ended: the token was rotated to the other
    /// connection), not retryable, so a client does not fight the other for the session.
    static func replacedFarewell(sessionID: String) -> String {
        let error = ARCPError(
            .unauthenticated, "session \(sessionID) was resumed on another connection", retryable: false,
            details: ["reason": "resumed_elsewhere"])
        return FrameCodec.encode(Envelope.make(.sessionError(error.payload), sessionID: sessionID))
    }

    /// Detaches `conn` (its writer ended). Events keep buffering for resume.
    func detach(_ conn: UInt64) {
        let (writer, waiters) = state.withLock { s -> (WriterWake?, [CheckedContinuation<Void, Never>]) in
            guard s.machine.detach(conn, now: .now) else { return (nil, []) }
            let w = s.takeWriter()
            let sw = Array(s.spaceWaiters.values)
            s.spaceWaiters = [:]
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
        let w: WriterWake? = state.withLock { s in
            guard s.machine.requestCloseAfterFlush(conn) else { return nil }
            return s.takeWriter()
        }
        w?.resume(returning: true)
    }

    /// A frame arrived from the client: the token it resumed with is retired.
    func noteReceived() {
        state.withLock { $0.machine.clientHeard() }
    }

    func checkToken(_ token: String) -> Bool {
        let now = ContinuousClock.now
        return state.withLock { $0.machine.accepts(token: token, now: now) }
    }

    // MARK: Outbound

    /// Queues a control frame (no event_seq) for the current connection. Returns false (and
    /// the frame is not sent) when no connection is attached.
    @discardableResult
    func sendControl(_ message: Message, jobID: String? = nil, traceID: String? = nil) -> Bool {
        queueControl(message, jobID: jobID, traceID: traceID, keepForResume: false)
    }

    /// Queues `error` as `session.error` (a control frame). Not inlined: every async request
    /// handler answers errors, and each inlined call would reserve room for the payload in
    /// the handler's task frame for as long as the connection lives.
    @inline(never)
    func sendError(_ error: ARCPError, jobID: String? = nil) {
        queueControl(.sessionError(error.payload), jobID: jobID, traceID: nil, keepForResume: false)
    }

    /// Queues a delegated job's unsolicited `job.accepted` (§10) and keeps it for resume:
    /// unlike other control frames it is sent again to a client that resumes from before it.
    func sendChildAccepted(_ payload: JobAcceptedPayload, jobID: String, traceID: String?) {
        queueControl(.jobAccepted(payload), jobID: jobID, traceID: traceID, keepForResume: true)
    }

    @discardableResult
    private func queueControl(_ message: Message, jobID: String?, traceID: String?, keepForResume: Bool) -> Bool {
        if let instrumentation, case .sessionError(let e) = message { instrumentation.errorSent(ARCPError(e), session: id) }
        let frame = FrameCodec.encode(Envelope.make(message, sessionID: id, jobID: jobID, traceID: traceID))
        let (queued, writer): (Bool, WriterWake?) = state.withLock { s in
            guard s.machine.queueControl(frame, keepForResume: keepForResume) else { return (false, nil) }
            return (true, s.takeWriter())
        }
        writer?.resume(returning: true)
        return queued
    }

    /// The store writer's ticket of this session's latest event (0: none yet).
    var storeTicket: UInt64 { state.withLock { $0.storeTicket } }

    /// Numbers, buffers and queues a job.event / job.result / job.error. Returns the seq.
    /// Never blocks; call `waitForCapacity()` afterwards to apply back-pressure.
    @discardableResult
    func sendEvent(_ message: Message, jobID: String, traceID: String?) -> Int {
        sendEventMeasured(message, jobID: jobID, traceID: traceID).seq
    }

    /// `sendEvent`, also returning the size of the encoded frame (what a job's history and
    /// its retention count).
    /// `pressed` is `SessionStateMachine.emittersMayBePressed` right after the event was
    /// queued: when false, the emitter's back-pressure checks would neither wait nor report.
    func sendEventMeasured(_ message: Message, jobID: String, traceID: String?) -> (seq: Int, bytes: Int, pressed: Bool) {
        queueEvent(message, jobID: jobID, traceID: traceID, asSubscriber: false) ?? (lastSeq, 0, true)
    }

    /// Numbers and queues an event that reaches this session from outside its job's fan-out
    /// (a cluster node delivering what another node forwarded, or what its own jobs emitted
    /// while the session was moving). `numbered` is called with the event's seq under the
    /// session's lock, before the store writer is handed the event (a cluster's store then
    /// deletes the forwarded row in the transaction that appends the event). Returns the seq.
    @discardableResult
    package func sendForwardedEvent(_ message: Message, jobID: String, traceID: String?, numbered: (Int) -> Void = { _ in }) -> Int {
        queueEvent(message, jobID: jobID, traceID: traceID, asSubscriber: false, onNumbered: numbered)?.seq ?? lastSeq
    }

    /// Queues an event of a job this session is subscribed to, unless the session's queue
    /// is over a subscriber's bound (`subscriberMustDetach`): then nothing is queued and
    /// false is returned, for the fan-out to detach the subscription.
    func sendEventAsSubscriber(_ message: Message, jobID: String, traceID: String?) -> Bool {
        queueEvent(message, jobID: jobID, traceID: traceID, asSubscriber: true) != nil
    }

    private func queueEvent(
        _ message: Message, jobID: String, traceID: String?, asSubscriber: Bool, onNumbered: (Int) -> Void = { _ in }
    ) -> (seq: Int, bytes: Int, pressed: Bool)? {
        let limit = outbound.maxFrameBytes
        /// The event's frame for `seq`, and its size when it was too big (then the frame is
        /// the substitute: never queued nor buffered, the peer would close on it, and on
        /// every resume).
        func render(_ seq: Int) -> (frame: String, oversized: Int?) {
            let frame = FrameCodec.encode(Envelope.make(message, sessionID: id, jobID: jobID, eventSeq: seq, traceID: traceID))
            guard frame.utf8.count > limit else { return (frame, nil) }
            let substitute = outbound.substitute(for: message, bytes: frame.utf8.count)
            return (FrameCodec.encode(Envelope.make(substitute, sessionID: id, jobID: jobID, eventSeq: seq, traceID: traceID)), frame.utf8.count)
        }
        // Encoded before the lock, for the seq the event will most likely get: the writer
        // and other emitters wait on this lock, and encoding was most of its hold time (the
        // writer then slept on the futex; docs/BENCHMARKS.md, session 11). When another
        // emitter took that seq meanwhile, the frame is encoded again under the lock: the
        // guess saves work, it never decides a number.
        let guess = seqGuess.load(ordering: .relaxed)
        let early = render(guess)
        var oversized: Int? = nil
        let queued = state.withLock { s -> (SessionOutbox.Numbered, Int, Bool, WriterWake?)? in
            if asSubscriber && s.machine.subscriberMustDetach { return nil }
            let (numbered, frame) = s.machine.queueEvent(jobID: jobID) { seq in
                let rendered = seq == guess ? early : render(seq)
                oversized = rendered.oversized
                return rendered.frame
            }
            seqGuess.store(numbered.seq + 1, ordering: .relaxed)
            // Under the lock, so the store sees this session's events in seq order. A
            // credential's value is never written to the store (issue 10 item 10).
            let stored = Self.withoutCredentialValue(message).map {
                FrameCodec.encode(Envelope.make($0, sessionID: id, jobID: jobID, eventSeq: numbered.seq, traceID: traceID))
            } ?? frame
            onNumbered(numbered.seq)
            if let ticket = storeWriter?.submit(.event(StoredEvent(sessionID: id, seq: Int64(numbered.seq), jobID: jobID, frame: stored))) {
                s.storeTicket = ticket
            }
            let bytes = frame.utf8.count
            let pressed = s.machine.emittersMayBePressed
            guard s.machine.isAttached else { return (numbered, bytes, pressed, nil) }
            return (numbered, bytes, pressed, s.takeWriter())
        }
        guard let (numbered, bytes, pressed, writer) = queued else { return nil }
        writer?.resume(returning: true)
        if numbered.evicted > 0 {
            buffering.onEviction?(id, numbered.evicted)
        }
        if let bytes = oversized, case .jobEvent = message {
            outbound.onOversizedEvent?(self, jobID, bytes)
        }
        return (numbered.seq, bytes, pressed)
    }

    /// `message` without the credential value it carries (a `credential_rotated` status
    /// event), or nil when it carries none: what the runtime store gets instead.
    static func withoutCredentialValue(_ message: Message) -> Message? {
        guard case .jobEvent(var e) = message, case .status(var status) = e.body, status.value != nil else { return nil }
        status.value = nil
        e.body = .status(status)
        return .jobEvent(e)
    }

    /// Suspends while this session's consumer is too far behind: more than
    /// `maxPendingFrames` frames not yet handed to the transport, or (with `ack` negotiated)
    /// more than `maxUnackedEvents` events not acknowledged. Returns at once when detached.
    func waitForCapacity() async {
        await waitWhile(.emitters) { $0.emittersMustWait }
    }

    /// Waits while the current connection's outbound queue holds `maxPendingFrames` frames or
    /// more, i.e. while the peer does not read. The read loop calls it before handling each
    /// inbound request (pressure-relieving frames excepted, up to
    /// `ConnectionHandler.reliefFramesWhileBlocked`), so a peer that floods requests without
    /// reading the answers stops being read (its transport's bounded inbound queue, then TCP,
    /// push back) instead of growing the queue of answers without bound. Unlike `waitForCapacity` it ignores acknowledgements:
    /// the acks themselves arrive through the read loop. Returns at once when detached.
    func waitForOutboundRoom() async {
        await waitWhile(.reader) { $0.readerMustWait }
    }

    /// Whether the current connection's outbound queue is full (the reader's back-pressure
    /// condition, see ``waitForOutboundRoom()``), without waiting.
    var outboundIsFull: Bool { state.withLock { $0.machine.readerMustWait } }

    /// Waits while `mustWait` holds, or until the waiting task is cancelled (a stopped job's
    /// agent blocked on back-pressure wakes at once: issue 10 item 5).
    private func waitWhile(_ kind: BackPressureKind, _ mustWait: @escaping (borrowing SessionStateMachine) -> Bool) async {
        var reported = false
        while !Task.isCancelled, state.withLock({ mustWait($0.machine) }) {
            if !reported {
                reported = true
                instrumentation?.backPressure(session: id, kind)
            }
            let id = state.withLock { s -> UInt64 in
                s.nextWaiter &+= 1
                return s.nextWaiter
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow: Bool = state.withLock { s in
                        guard mustWait(s.machine), !Task.isCancelled else { return true }
                        s.spaceWaiters[id] = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            } onCancel: {
                let c = state.withLock { $0.spaceWaiters.removeValue(forKey: id) }
                c?.resume()
            }
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
                    let w = Array(s.spaceWaiters.values)
                    s.spaceWaiters = [:]
                    return .batch(b, w)
                case .done: return .gone
                case .wait: return .wait
                }
            }
            switch step {
            case .batch(let b, let waiters):
                handedOver(b, releasing: waiters)
                return b
            case .gone:
                return nil
            case .wait:
                let more = await withUnsafeContinuation { (c: UnsafeContinuation<Bool, Never>) in
                    let now: Bool? = state.withLock { s in
                        switch s.machine.writerReadiness(conn) {
                        case .gone: return false
                        case .ready: return true
                        case .idle:
                            s.writer = .task(c)
                            return nil
                        }
                    }
                    if let now { c.resume(returning: now) }
                }
                if !more { return nil }
            }
        }
    }

    /// What ``takeBatch(_:parking:)`` found.
    enum Taken {
        case batch([String])
        /// The connection is gone (closed, replaced, detached): the writer ends.
        case gone
        /// Nothing to send: `writer` is parked, woken once there may be.
        case parked
    }

    /// The writer side for a writer that is not a task: the next batch for connection `conn`;
    /// when there is none, parks `writer` (woken with ``SessionWriter/wake(more:)``).
    func takeBatch(_ conn: UInt64, parking writer: any SessionWriter) -> Taken {
        let (taken, waiters): (Taken, [CheckedContinuation<Void, Never>]) = state.withLock { s in
            switch s.machine.nextWriterStep(conn) {
            case .batch(let b):
                let w = Array(s.spaceWaiters.values)
                s.spaceWaiters = [:]
                return (.batch(b), w)
            case .done:
                return (.gone, [])
            case .wait:
                // Under the same lock, nothing changed since: the writer is idle.
                s.writer = .callback(writer)
                return (.parked, [])
            }
        }
        if case .batch(let b) = taken { handedOver(b, releasing: waiters) }
        return taken
    }

    /// A batch left the queue for the writer: the emitters waiting for room go on.
    private func handedOver(_ batch: [String], releasing waiters: [CheckedContinuation<Void, Never>]) {
        for w in waiters { w.resume() }
        instrumentation?.outboundDrained(session: id, frames: batch.count)
    }

    // MARK: Ack

    /// Frees buffered events through `seq` (spec §6.5).
    func acknowledge(through seq: Int) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            guard let released = s.machine.acknowledge(through: seq) else { return [] }
            storeWriter?.submit(.release(id, Int64(released)))
            let w = Array(s.spaceWaiters.values)
            s.spaceWaiters = [:]
            return w
        }
        for w in waiters { w.resume() }
    }
}
