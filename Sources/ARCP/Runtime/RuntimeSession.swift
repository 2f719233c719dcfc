import DequeModule
import Foundation
import Synchronization

/// One runtime-side ARCP session. It outlives its transport: while the client is away the
/// session keeps numbering and buffering its jobs' events for resume (spec §6.3).
///
/// All outbound frames, control and event alike, go through one ordered queue drained by a
/// single writer task per connection, so `event_seq` is strictly monotonic on the wire and
/// replies keep their order relative to events.
final class RuntimeSession: Sendable {
    struct ReplayEntry {
        var seq: Int
        var jobID: String
        var frame: String
    }

    struct State {
        var resumeToken: String
        var nextSeq = 1
        var replay: Deque<ReplayEntry> = []
        var replayBytes = 0
        /// Every seq ≤ this has been freed (acknowledged or evicted).
        var releasedThrough = 0
        var lastAcked = 0
        var evictions = 0
        /// Frames waiting for the current connection's writer.
        var pending: Deque<String> = []
        var connection: UInt64? = nil
        var writer: CheckedContinuation<Bool, Never>? = nil
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
        var closed = false
        var detachedAt: ContinuousClock.Instant? = nil
        var lastReceived: ContinuousClock.Instant = .now
        var lastSent: ContinuousClock.Instant = .now
        var subscriptions: Set<String> = []
        var backPressureReported: Set<String> = []
        var closeAfterFlush = false
        /// After a resume, the token the client presented stays valid until the client shows
        /// (by sending anything on the new connection) that it received the rotated one — a
        /// welcome lost to a second drop must not lock the client out.
        var previousToken: String? = nil
        /// Unsolicited `job.accepted` frames of delegated jobs (§10), each with the last
        /// `event_seq` issued when it was queued. They carry no seq, so the replay would
        /// miss them: a resume from `last_event_seq ≤ afterSeq` sends them again, in their
        /// place among the replayed events. Freed once the client acknowledges past them.
        var childAccepted: Deque<HeldFrame> = []
    }

    struct HeldFrame {
        var afterSeq: Int
        var frame: String
    }

    /// Most delegated-job acceptances kept for resume per session (the oldest go first).
    static let maxHeldAcceptances = 4096

    let id: String
    let principal: String
    let features: [Feature]
    let featureSet: Set<String>
    let limits: ARCPRuntime.Configuration.Buffering
    let persister: RuntimePersister?
    let createdAt: Date
    let instrumentation: (any RuntimeInstrumentation)?
    private let state: Mutex<State>
    private let nextConnection = Atomic<UInt64>(0)

    init(
        id: String, principal: String, features: [Feature], resumeToken: String, limits: ARCPRuntime.Configuration.Buffering,
        persister: RuntimePersister? = nil, createdAt: Date = Date(), instrumentation: (any RuntimeInstrumentation)? = nil
    ) {
        self.instrumentation = instrumentation
        self.id = id
        self.principal = principal
        self.features = features
        self.featureSet = Set(features.map(\.rawValue))
        self.limits = limits
        self.persister = persister
        self.createdAt = createdAt
        self.state = Mutex(State(resumeToken: resumeToken))
    }

    /// Restores numbering and the replay buffer of a session read back from the event store.
    func restore(lastSeq: Int, releasedThrough: Int, events: [StoredEvent]) {
        state.withLock { s in
            s.nextSeq = lastSeq + 1
            s.releasedThrough = releasedThrough
            s.lastAcked = releasedThrough
            for e in events {
                s.replay.append(ReplayEntry(seq: Int(e.seq), jobID: e.jobID, frame: e.frame))
                s.replayBytes += e.frame.utf8.count
            }
        }
    }

    /// The durable record of this session (the token is stored only as a hash).
    func record(token: String? = nil) -> SessionRecord {
        let (t, closed) = state.withLock { ($0.resumeToken, $0.closed) }
        let features = JSONValue.array(self.features.map { .string($0.rawValue) })
        return SessionRecord(
            sessionID: id, principal: principal, resumeTokenHash: ResumeTokenHasher.hash(token ?? t), createdAt: createdAt,
            lastSeenAt: Date(), closed: closed,
            limits: BufferLimits(maxEvents: limits.maxBufferedEvents, maxBytes: limits.maxBufferedBytes),
            stateJSON: JSONWriter.string(["features": features]))
    }

    func has(_ f: Feature) -> Bool { featureSet.contains(f.rawValue) }

    var resumeToken: String { state.withLock { $0.resumeToken } }
    var isClosed: Bool { state.withLock { $0.closed } }
    var isAttached: Bool { state.withLock { $0.connection != nil } }
    var lastSeq: Int { state.withLock { $0.nextSeq - 1 } }
    var detachedAt: ContinuousClock.Instant? { state.withLock { $0.detachedAt } }
    var bufferedEventCount: Int { state.withLock { $0.replay.count } }
    var bufferedBytes: Int { state.withLock { $0.replayBytes } }
    var evictionCount: Int { state.withLock { $0.evictions } }

    // MARK: connection lifecycle

    enum AttachResult {
        case attached(UInt64)
        case windowExpired(firstAvailable: Int)
    }

    /// Attaches a new connection. With `resumeFrom`, the pending queue starts with `first`
    /// (the welcome) followed by every buffered event with seq > resumeFrom.
    func attach(first: (Int) -> String, resumeFrom: Int?, newToken: String?) -> AttachResult {
        let conn = nextConnection.add(1, ordering: .relaxed).newValue
        return state.withLock { s in
            if let from = resumeFrom, from < s.releasedThrough, from < s.nextSeq - 1 {
                return .windowExpired(firstAvailable: s.releasedThrough + 1)
            }
            // Drop any stale writer.
            s.writer?.resume(returning: false)
            s.writer = nil
            if let t = newToken {
                s.previousToken = s.resumeToken
                s.resumeToken = t
            }
            s.connection = conn
            s.detachedAt = nil
            s.closed = false
            s.closeAfterFlush = false
            s.pending.removeAll()
            s.pending.append(first(s.nextSeq - 1))
            if let from = resumeFrom {
                // Acceptances queued after event `from` may not have reached the client.
                while let oldest = s.childAccepted.first, oldest.afterSeq < from { s.childAccepted.removeFirst() }
                var held = s.childAccepted.makeIterator()
                var next = held.next()
                for e in s.replay where e.seq > from {
                    while let h = next, h.afterSeq < e.seq {
                        s.pending.append(h.frame)
                        next = held.next()
                    }
                    s.pending.append(e.frame)
                }
                while let h = next {
                    s.pending.append(h.frame)
                    next = held.next()
                }
            }
            s.lastReceived = .now
            s.lastSent = .now
            return .attached(conn)
        }
    }

    /// Detaches `conn` (transport gone). Events keep buffering for resume.
    func detach(_ conn: UInt64, closed: Bool = false) {
        let (writer, waiters) = state.withLock { s -> (CheckedContinuation<Bool, Never>?, [CheckedContinuation<Void, Never>]) in
            guard s.connection == conn else { return (nil, []) }
            s.connection = nil
            s.detachedAt = .now
            if closed { s.closed = true }
            s.pending.removeAll()
            let w = s.writer
            s.writer = nil
            let sw = s.spaceWaiters
            s.spaceWaiters = []
            return (w, sw)
        }
        writer?.resume(returning: false)
        for w in waiters { w.resume() }
    }

    func markClosed() { state.withLock { $0.closed = true } }

    /// Ends connection `conn` (or whichever is attached, when nil) once everything queued has
    /// been written. A stale connection's request never closes the connection that replaced it.
    func requestCloseAfterFlush(_ conn: UInt64? = nil) {
        let w: CheckedContinuation<Bool, Never>? = state.withLock { s in
            if let conn, s.connection != conn { return nil }
            s.closeAfterFlush = true
            let w = s.writer
            s.writer = nil
            return w
        }
        w?.resume(returning: true)
    }

    func noteReceived() {
        state.withLock { s in
            s.lastReceived = .now
            s.previousToken = nil
        }
    }

    func idleTimes() -> (sinceReceived: Duration, sinceSent: Duration) {
        let now = ContinuousClock.now
        return state.withLock { (now - $0.lastReceived, now - $0.lastSent) }
    }

    // MARK: outbound

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
        if let instrumentation, case .sessionError(let e) = message { instrumentation.errorSent(ARCPError(e), session: id) }
        let frame = FrameCodec.encode(Envelope.make(message, sessionID: id, jobID: jobID, traceID: traceID))
        let (queued, writer): (Bool, CheckedContinuation<Bool, Never>?) = state.withLock { s in
            if keepForResume {
                s.childAccepted.append(HeldFrame(afterSeq: s.nextSeq - 1, frame: frame))
                if s.childAccepted.count > Self.maxHeldAcceptances { s.childAccepted.removeFirst() }
            }
            guard s.connection != nil else { return (false, nil) }
            s.pending.append(frame)
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
        var evicted = 0
        let (seq, writer): (Int, CheckedContinuation<Bool, Never>?) = state.withLock { s in
            let seq = s.nextSeq
            s.nextSeq += 1
            let env = Envelope.make(message, sessionID: id, jobID: jobID, eventSeq: seq, traceID: traceID)
            let frame = FrameCodec.encode(env)
            s.replay.append(ReplayEntry(seq: seq, jobID: jobID, frame: frame))
            s.replayBytes += frame.utf8.count
            persister?.submit(.event(StoredEvent(sessionID: id, seq: Int64(seq), jobID: jobID, frame: frame)))
            while s.replay.count > limits.maxBufferedEvents || s.replayBytes > limits.maxBufferedBytes, let first = s.replay.popFirst() {
                s.replayBytes -= first.frame.utf8.count
                s.releasedThrough = max(s.releasedThrough, first.seq)
                s.evictions += 1
                evicted += 1
            }
            guard s.connection != nil else { return (seq, nil) }
            s.pending.append(frame)
            let w = s.writer
            s.writer = nil
            return (seq, w)
        }
        writer?.resume(returning: true)
        if evicted > 0 {
            limits.onEviction?(id, evicted)
        }
        return seq
    }

    /// Suspends while this session's consumer is too far behind: more than
    /// `maxPendingFrames` frames not yet handed to the transport, or (with `ack` negotiated)
    /// more than `maxUnackedEvents` events not acknowledged. Returns at once when detached.
    func waitForCapacity() async {
        var reported = false
        while true {
            let mustWait: Bool = state.withLock { s in
                guard s.connection != nil else { return false }
                if s.pending.count >= limits.maxPendingFrames { return true }
                if featureSet.contains(Feature.ack.rawValue), s.nextSeq - 1 - s.lastAcked >= limits.maxUnackedEvents { return true }
                return false
            }
            if !mustWait { return }
            if !reported { reported = true; instrumentation?.backPressure(session: id, .emitters) }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { s in
                    let still = s.connection != nil
                        && (s.pending.count >= limits.maxPendingFrames
                            || (featureSet.contains(Feature.ack.rawValue) && s.nextSeq - 1 - s.lastAcked >= limits.maxUnackedEvents))
                    if still { s.spaceWaiters.append(c) }
                    return !still
                }
                if resumeNow { c.resume() }
            }
            if Task.isCancelled { return }
        }
    }

    /// Waits while the current connection's outbound queue holds `maxPendingFrames` frames or
    /// more, i.e. while the peer does not read. The read loop calls it after each inbound
    /// frame, so a peer that floods requests without reading the answers stops being read
    /// (its transport's bounded inbound queue, then TCP, push back) instead of growing the
    /// queue of answers without bound. Unlike `waitForCapacity` it ignores acknowledgements:
    /// the acks themselves arrive through the read loop. Returns at once when detached.
    func waitForOutboundRoom() async {
        var reported = false
        while true {
            let mustWait: Bool = state.withLock { s in
                s.connection != nil && s.pending.count >= limits.maxPendingFrames
            }
            if !mustWait { return }
            if !reported { reported = true; instrumentation?.backPressure(session: id, .reader) }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { s in
                    let still = s.connection != nil && s.pending.count >= limits.maxPendingFrames
                    if still { s.spaceWaiters.append(c) }
                    return !still
                }
                if resumeNow { c.resume() }
            }
            if Task.isCancelled { return }
        }
    }

    /// Whether the consumer lags by more than the back-pressure threshold (first time per job).
    func shouldReportBackPressure(jobID: String) -> Bool {
        state.withLock { s in
            let lag = s.nextSeq - 1 - s.lastAcked
            guard featureSet.contains(Feature.ack.rawValue), lag >= limits.backPressureThreshold else {
                s.backPressureReported.remove(jobID)
                return false
            }
            return s.backPressureReported.insert(jobID).inserted
        }
    }

    /// The writer side: the next batch of frames for connection `conn`, or nil when it is gone.
    func nextBatch(_ conn: UInt64) async -> [String]? {
        while true {
            enum Step { case batch([String], [CheckedContinuation<Void, Never>]), gone, wait }
            let step: Step = state.withLock { s in
                guard s.connection == conn else { return .gone }
                if s.pending.isEmpty && s.closeAfterFlush { return .gone }
                if !s.pending.isEmpty {
                    let b = Array(s.pending)
                    s.pending.removeAll(keepingCapacity: true)
                    s.lastSent = .now
                    let w = s.spaceWaiters
                    s.spaceWaiters = []
                    return .batch(b, w)
                }
                return .wait
            }
            switch step {
            case .batch(let b, let waiters):
                for w in waiters { w.resume() }
                instrumentation?.outboundDrained(session: id, frames: b.count)
                return b
            case .gone:
                return nil
            case .wait:
                let more = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                    let now: Bool? = state.withLock { s in
                        guard s.connection == conn else { return false }
                        if !s.pending.isEmpty || s.closeAfterFlush { return true }
                        s.writer = c
                        return nil
                    }
                    if let now { c.resume(returning: now) }
                }
                if !more { return nil }
            }
        }
    }

    // MARK: ack, resume

    /// Frees buffered events through `seq` (spec §6.5).
    func acknowledge(through seq: Int) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            let upTo = min(seq, s.nextSeq - 1)
            guard upTo > s.lastAcked else { return [] }
            s.lastAcked = upTo
            // The client saw an event queued after these acceptances, so it saw them too.
            while let oldest = s.childAccepted.first, oldest.afterSeq < upTo { s.childAccepted.removeFirst() }
            while let first = s.replay.first, first.seq <= upTo {
                s.replay.removeFirst()
                s.replayBytes -= first.frame.utf8.count
            }
            s.releasedThrough = max(s.releasedThrough, upTo)
            persister?.submit(.release(id, Int64(upTo)))
            let w = s.spaceWaiters
            s.spaceWaiters = []
            return w
        }
        for w in waiters { w.resume() }
    }

    func checkToken(_ token: String) -> Bool {
        let (current, previous) = state.withLock { ($0.resumeToken, $0.previousToken) }
        return Self.constantTimeEqual(current, token) || previous.map { Self.constantTimeEqual($0, token) } == true
    }

    static func constantTimeEqual(_ x: String, _ y: String) -> Bool {
        let a = Array(x.utf8), b = Array(y.utf8)
        var diff = a.count ^ b.count
        for i in 0..<min(a.count, b.count) { diff |= Int(a[i] ^ b[i]) }
        return diff == 0
    }

    // MARK: subscriptions

    func addSubscription(_ jobID: String) { _ = state.withLock { $0.subscriptions.insert(jobID) } }
    func removeSubscription(_ jobID: String) { _ = state.withLock { $0.subscriptions.remove(jobID) } }
    var subscriptions: Set<String> { state.withLock { $0.subscriptions } }
}
