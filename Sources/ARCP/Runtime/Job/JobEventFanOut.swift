import DequeModule

/// The subscription fan-out of one job (spec §7.6): it delivers the job's events, in one
/// order, to the session that submitted it and to every session subscribed to it (each
/// numbering them in its own `event_seq` space), keeps the history a subscriber replays, and
/// refuses anything after the terminal frame. Its rules live here and nowhere else.
///
/// `publish` is synchronous on purpose: it is reached from synchronous agent paths
/// (`JobContext.authorize` reports a denial as a `tool_result` event) and its order must be
/// the order of the calls. An implementation that has to do I/O to deliver (a cluster, where
/// the submitting session may be attached to another node) queues the event in order, as
/// `RuntimeStoreWriter` does, and returns nil when the session's seq is not known here.
/// Subscribing and unsubscribing are `async`: across machines they read the history from
/// the shared store and register with the node that runs the job.
///
/// Sessions are held weakly: a job (even one retained after it finished) never keeps its
/// submitter's or a subscriber's session, or that session's replay buffer, alive.
///
/// Only the submitter back-pressures the job; a subscriber whose outbound queue passes its
/// bound is detached from the job with a typed error, so no observer can slow or stall it.
package protocol JobEventFanOut: AnyObject, Sendable {
    /// The job's submitting session, by id (whether or not it is still alive).
    var ownerSessionID: String { get }

    /// Delivers a `job.event` to the submitter and the subscribers (subscribers of another
    /// principal get `redactedForOthers` when given). Returns the submitter's seq, or nil
    /// when the job already ended (the event is refused).
    @discardableResult
    func publish(_ message: Message, redactedForOthers: Message?) -> Int?

    /// `publish`, also saying whether the submitting session may be under back-pressure
    /// after this event (`SessionStateMachine.emittersMayBePressed`). When false, the
    /// emitter skips ``ownerShouldReportBackPressure()`` and ``waitForCapacity()``: neither
    /// would report nor wait. A fan-out that cannot tell answers true.
    func publishNotingPressure(_ message: Message, redactedForOthers: Message?) -> (seq: Int, ownerPressed: Bool)?

    /// Delivers the terminal frame (once) and releases the subscribers. Returns the
    /// submitter's seq, or nil when a terminal frame was already published.
    @discardableResult
    func publishTerminal(_ message: Message) -> Int?

    /// The terminal frame, once published.
    var terminal: Message? { get }

    /// The seq of the job's latest event in the submitting session (0 before the first).
    var lastOwnerSeq: Int { get }

    /// Atomically sends `job.subscribed` (from `subscribed(lastOwnerSeq, replayed)`), replays
    /// the history after `fromSeq` when `history`, and registers `session` for live events,
    /// so nothing is missed or duplicated. A finished job sends its terminal frame instead
    /// of registering.
    func subscribe(_ session: RuntimeSession, history: Bool, fromSeq: Int, subscribed: (Int, Bool) -> Message) async

    /// Stops delivering to session `sessionID`. False when it was not subscribed.
    func unsubscribe(sessionID: String) async -> Bool

    /// Sends the terminal frame again to `session` (an idempotent resubmit of a finished job).
    func replayTerminal(to session: RuntimeSession) async

    /// Waits until the submitting session has room (back-pressure on the emitting agent).
    /// Subscribers are never waited for (spec §7.6: an observer has no authority over the
    /// job): each has a bounded buffer, and one that overflows it is detached with a typed
    /// error (`session.error INTERNAL_ERROR`, `details.limit` `subscriber_buffer`).
    func waitForCapacity() async

    /// Whether the submitter lags past its back-pressure threshold (first time per crossing).
    func ownerShouldReportBackPressure() -> Bool

    /// The ids of the subscribed sessions.
    var subscriberIDs: [String] { get }

    /// Bytes this fan-out holds for the job: its history and terminal frame, as encoded on
    /// the wire (what the job table's retention counts).
    var retainedBytes: Int { get }
}

extension JobEventFanOut {
    /// A fan-out that cannot tell whether its submitter is under back-pressure: always true,
    /// so the emitter checks.
    package func publishNotingPressure(_ message: Message, redactedForOthers: Message?) -> (seq: Int, ownerPressed: Bool)? {
        publish(message, redactedForOthers: redactedForOthers).map { ($0, true) }
    }
}

/// Makes the fan-out of each new job; the runtime's seam for a fan-out that spans machines.
package protocol SubscriptionFanOut: Sendable {
    /// The fan-out of a new job of session `ownerSessionID` (for a delegated job, its root's),
    /// whose object here is `owner` (nil when the session is gone: its events then only go
    /// to subscribers and the history).
    func fanOut(jobID: String, principal: String, traceID: String, ownerSessionID: String, owner: RuntimeSession?) -> any JobEventFanOut
}

/// The in-process `SubscriptionFanOut`.
package struct InMemorySubscriptionFanOut: SubscriptionFanOut {
    /// Events per job kept for subscribers' history.
    package let historyLimit: Int
    /// Bytes (encoded frames) per job kept for subscribers' history.
    package let historyByteLimit: Int

    package init(historyLimit: Int, historyByteLimit: Int = .max) {
        self.historyLimit = historyLimit
        self.historyByteLimit = historyByteLimit
    }

    package func fanOut(jobID: String, principal: String, traceID: String, ownerSessionID: String, owner: RuntimeSession?) -> any JobEventFanOut {
        InMemoryJobEventFanOut(
            jobID: jobID, principal: principal, traceID: traceID, ownerSessionID: ownerSessionID, owner: owner, historyLimit: historyLimit,
            historyByteLimit: historyByteLimit)
    }
}

/// One job's fan-out in process memory, under its own lock (rank `jobFanOut`: it calls into
/// sessions, never the other way).
package final class InMemoryJobEventFanOut: JobEventFanOut {
    struct HistoryEntry {
        var ownerSeq: Int
        /// The encoded size of the frame (in the submitter's session).
        var bytes: Int
        var message: Message
        /// What observers of another principal get instead (credential values removed).
        var redacted: Message?
    }

    struct WeakSession {
        weak var session: RuntimeSession?
    }

    private struct State: ~Copyable {
        var owner: WeakSession
        var subscribers: [String: WeakSession] = [:]
        var history: Deque<HistoryEntry> = []
        var historyBytes = 0
        var historyDropped = 0
        var terminal: Message? = nil
        var terminalBytes = 0
        var lastOwnerSeq = 0

        /// Keeps `entry` for subscribers' history, dropping the oldest beyond `limit` events
        /// or `byteLimit` bytes.
        mutating func remember(_ entry: HistoryEntry, limit: Int, byteLimit: Int) {
            history.append(entry)
            historyBytes += entry.bytes
            while history.count > limit || historyBytes > byteLimit, let first = history.popFirst() {
                historyBytes -= first.bytes
                historyDropped += 1
            }
        }
    }

    let jobID: String
    let principal: String
    let traceID: String
    let historyLimit: Int
    let historyByteLimit: Int
    package let ownerSessionID: String
    private let state: RankedMutex<State>

    init(jobID: String, principal: String, traceID: String, ownerSessionID: String, owner: RuntimeSession?, historyLimit: Int,
        historyByteLimit: Int = .max
    ) {
        self.jobID = jobID
        self.principal = principal
        self.traceID = traceID
        self.historyLimit = historyLimit
        self.historyByteLimit = historyByteLimit
        self.ownerSessionID = ownerSessionID
        state = RankedMutex(.jobFanOut, State(owner: WeakSession(session: owner)))
    }

    package var terminal: Message? { state.withLock { $0.terminal } }
    package var lastOwnerSeq: Int { state.withLock { $0.lastOwnerSeq } }
    package var subscriberIDs: [String] { state.withLock { Array($0.subscribers.keys) } }
    package var retainedBytes: Int { state.withLock { $0.historyBytes + $0.terminalBytes } }
    /// Events and bytes in the subscribers' history now.
    package var historyCounts: (events: Int, bytes: Int) { state.withLock { ($0.history.count, $0.historyBytes) } }

    /// Sends `message` to the submitter, when it is still there; returns its seq (the last
    /// one when it is gone) and the frame's size.
    private func sendToOwner(_ s: inout State, _ message: Message) -> (seq: Int, bytes: Int, pressed: Bool) {
        if let owner = s.owner.session { return owner.sendEventMeasured(message, jobID: jobID, traceID: traceID) }
        return measure(s, message)
    }

    /// No session here numbers `message`: its seq is the last one, and its size the frame's
    /// as a session would send it.
    /// (No submitter here to wait for: `pressed` is false.)
    private func measure(_ s: borrowing State, _ message: Message) -> (seq: Int, bytes: Int, pressed: Bool) {
        let frame = FrameCodec.encode(Envelope.make(message, sessionID: ownerSessionID, jobID: jobID, eventSeq: s.lastOwnerSeq, traceID: traceID))
        return (s.lastOwnerSeq, frame.utf8.count, false)
    }

    @discardableResult
    package func publish(_ message: Message, redactedForOthers: Message?) -> Int? {
        publish(message, redactedForOthers: redactedForOthers, toOwner: true)
    }

    package func publishNotingPressure(_ message: Message, redactedForOthers: Message?) -> (seq: Int, ownerPressed: Bool)? {
        publishNotingPressure(message, redactedForOthers: redactedForOthers, toOwner: true)
    }

    /// `publish`, with `toOwner` false: the submitting session here does not number the
    /// event (a cluster node whose session is moving to, or held by, another node delivers
    /// it there); the history and the subscribers here get it as usual.
    @discardableResult
    package func publish(_ message: Message, redactedForOthers: Message?, toOwner: Bool) -> Int? {
        publishNotingPressure(message, redactedForOthers: redactedForOthers, toOwner: toOwner)?.seq
    }

    private func publishNotingPressure(_ message: Message, redactedForOthers: Message?, toOwner: Bool) -> (seq: Int, ownerPressed: Bool)? {
        state.withLock { s in
            guard s.terminal == nil else { return nil }
            let delivered = s.lastOwnerSeq
            let (seq, bytes, pressed) = toOwner ? sendToOwner(&s, message) : measure(s, message)
            s.lastOwnerSeq = seq
            s.remember(
                HistoryEntry(ownerSeq: seq, bytes: bytes, message: message, redacted: redactedForOthers), limit: historyLimit,
                byteLimit: historyByteLimit)
            for (id, sub) in s.subscribers {
                guard let session = sub.session else {
                    s.subscribers[id] = nil
                    continue
                }
                let m = session.principal == principal ? message : (redactedForOthers ?? message)
                if !session.sendEventAsSubscriber(m, jobID: jobID, traceID: traceID) {
                    // It does not keep up: detach it (it may subscribe again from its last seq).
                    s.subscribers[id] = nil
                    session.sendControl(.sessionError(ARCPError.subscriberOverflow(jobID: jobID, session: session, delivered: delivered).payload), jobID: jobID, traceID: traceID)
                }
            }
            return (seq, pressed)
        }
    }

    @discardableResult
    package func publishTerminal(_ message: Message) -> Int? {
        publishTerminal(message, toOwner: true)
    }

    /// `publishTerminal`, with `toOwner` as in `publish(_:redactedForOthers:toOwner:)`.
    @discardableResult
    package func publishTerminal(_ message: Message, toOwner: Bool) -> Int? {
        state.withLock { s in
            guard s.terminal == nil else { return nil }
            let (seq, bytes, _) = toOwner ? sendToOwner(&s, message) : measure(s, message)
            s.lastOwnerSeq = seq
            // The terminal frame is kept apart from the history (and counted once).
            s.terminalBytes = bytes
            s.remember(HistoryEntry(ownerSeq: seq, bytes: 0, message: message, redacted: nil), limit: historyLimit, byteLimit: historyByteLimit)
            for sub in s.subscribers.values { sub.session?.sendEvent(message, jobID: jobID, traceID: traceID) }
            s.terminal = message
            // Nothing more will be delivered: a finished job holds no session.
            s.subscribers = [:]
            s.owner = WeakSession(session: nil)
            return seq
        }
    }

    package func subscribe(_ session: RuntimeSession, history: Bool, fromSeq: Int, subscribed: (Int, Bool) -> Message) async {
        state.withLock { s in
            let replayed = history && s.history.contains { $0.ownerSeq > fromSeq }
            session.sendControl(subscribed(s.lastOwnerSeq, replayed), jobID: jobID, traceID: traceID)
            if history {
                let other = session.principal != principal
                for h in s.history where h.ownerSeq > fromSeq {
                    session.sendEvent(other ? (h.redacted ?? h.message) : h.message, jobID: jobID, traceID: traceID)
                }
            } else if let t = s.terminal {
                // A finished job: give the subscriber its outcome so it can stop waiting.
                session.sendEvent(t, jobID: jobID, traceID: traceID)
            }
            if s.terminal == nil && session.id != ownerSessionID { s.subscribers[session.id] = WeakSession(session: session) }
        }
    }

    package func unsubscribe(sessionID: String) async -> Bool {
        state.withLock { $0.subscribers.removeValue(forKey: sessionID) != nil }
    }

    package func replayTerminal(to session: RuntimeSession) async {
        state.withLock { s in
            guard let t = s.terminal else { return }
            session.sendEvent(t, jobID: jobID, traceID: traceID)
        }
    }

    /// Makes `session` the submitting session's object here (a cluster node that holds the
    /// session again restored a new object for it); nothing changes once the job ended.
    package func rebind(owner session: RuntimeSession) {
        state.withLock { s in
            guard s.terminal == nil else { return }
            s.owner = WeakSession(session: session)
        }
    }

    package func waitForCapacity() async {
        let owner = state.withLock { $0.owner.session }
        await owner?.waitForCapacity()
    }

    package func ownerShouldReportBackPressure() -> Bool {
        // Read the owner, then ask it outside this lock (the session lock is not needed here).
        let owner = state.withLock { $0.owner.session }
        return owner?.shouldReportBackPressure(jobID: jobID) ?? false
    }
}

extension ARCPError {
    /// The error a subscriber that overflowed its buffer gets: the job's id, and the job's
    /// last event it was given (`from_event_seq` for a new `job.subscribe` with history).
    static func subscriberOverflow(jobID: String, session: RuntimeSession, delivered: Int) -> ARCPError {
        let limits = session.buffering
        return ARCPError(
            .internalError,
            "subscriber detached from job \(jobID): its outbound queue passed the subscriber bound (\(limits.maxSubscriberPendingFrames) frames or \(limits.maxSubscriberPendingBytes) bytes, or \(limits.maxUnackedEvents) unacknowledged events); subscribe again with from_event_seq to continue",
            retryable: false,
            details: ["limit": "subscriber_buffer", "job_id": .string(jobID), "from_event_seq": .int(Int64(delivered))])
    }
}

/// One session's subscription to a job this process does not run (a cluster node follows
/// the job's events from the shared store, spec §7.6): the delivery rules of
/// `InMemoryJobEventFanOut` for one subscriber. History and the terminal frame are queued
/// like the in-memory fan-out queues them; a live event goes through the subscriber's
/// bound, and a subscriber past it gets the same typed error and is detached. The session
/// is held weakly: a subscription never keeps its session alive.
package struct JobSubscriberEndpoint: Sendable {
    package let jobID: String
    package let traceID: String
    package let sessionID: String
    package let principal: String
    private weak var held: RuntimeSession?

    package init(session: RuntimeSession, jobID: String, traceID: String) {
        self.jobID = jobID
        self.traceID = traceID
        sessionID = session.id
        principal = session.principal
        held = session
    }

    /// The subscribing session, while it exists.
    package var session: RuntimeSession? { held }

    /// Sends `job.subscribed` (or the request's error).
    package func sendControl(_ message: Message) { held?.sendControl(message, jobID: jobID, traceID: traceID) }

    /// Queues a history event or the terminal frame (not bounded by the subscriber's queue:
    /// the in-memory fan-out queues these at once too; history is bounded per job).
    package func replay(_ message: Message) { held?.sendEvent(message, jobID: jobID, traceID: traceID) }

    /// Queues a live event within the subscriber's bound. False when the session is gone or
    /// overflowed: then it was sent the typed error (with `delivered`, the job's last event
    /// it was given) and the subscription ends.
    package func deliver(_ message: Message, delivered: Int) -> Bool {
        guard let session = held else { return false }
        if session.sendEventAsSubscriber(message, jobID: jobID, traceID: traceID) { return true }
        session.sendControl(
            .sessionError(ARCPError.subscriberOverflow(jobID: jobID, session: session, delivered: delivered).payload), jobID: jobID, traceID: traceID)
        return false
    }
}
