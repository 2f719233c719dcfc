import DequeModule

/// One session's outbound bookkeeping as a value (spec §6.3, §6.5): `event_seq` numbering,
/// the replay buffer kept for resume and acknowledgement, the frames queued for the attached
/// connection, and the delegated-job acceptances a resume must send again. No I/O and no
/// lock: `SessionStateMachine` owns one, `RuntimeSession` holds that under its lock.
package struct SessionOutbox: Sendable {
    /// Caps and the negotiated features the outbox needs.
    package struct Limits: Sendable {
        package var maxBufferedEvents: Int
        package var maxBufferedBytes: Int
        package var maxPendingFrames: Int
        package var maxPendingBytes: Int
        package var maxSubscriberPendingFrames: Int
        package var maxSubscriberPendingBytes: Int
        package var maxUnackedEvents: Int
        package var backPressureThreshold: Int
        /// Whether `ack` was negotiated (acknowledgements then bound the emitters).
        package var acknowledges: Bool

        package init(_ buffering: ARCPRuntime.Configuration.Buffering, acknowledges: Bool) {
            maxBufferedEvents = buffering.maxBufferedEvents
            maxBufferedBytes = buffering.maxBufferedBytes
            maxPendingFrames = buffering.maxPendingFrames
            maxPendingBytes = buffering.maxPendingBytes
            maxSubscriberPendingFrames = buffering.maxSubscriberPendingFrames
            maxSubscriberPendingBytes = buffering.maxSubscriberPendingBytes
            maxUnackedEvents = buffering.maxUnackedEvents
            backPressureThreshold = buffering.backPressureThreshold
            self.acknowledges = acknowledges
        }
    }

    package struct ReplayEntry: Sendable, Equatable {
        package var seq: Int
        package var jobID: String
        package var frame: String
    }

    /// An unsolicited `job.accepted` of a delegated job (§10), with the last `event_seq`
    /// issued when it was queued. It carries no seq, so the replay would miss it: a resume
    /// from `last_event_seq ≤ afterSeq` sends it again, in its place among the events.
    package struct HeldFrame: Sendable, Equatable {
        package var afterSeq: Int
        package var frame: String
    }

    /// Most delegated-job acceptances kept for resume per session (the oldest go first).
    package static let maxHeldAcceptances = 4096

    package let limits: Limits
    package private(set) var nextSeq = 1
    package private(set) var replay: Deque<ReplayEntry> = []
    package private(set) var replayBytes = 0
    /// Every seq ≤ this has been freed (acknowledged or evicted).
    package private(set) var releasedThrough = 0
    package private(set) var lastAcked = 0
    package private(set) var evictions = 0
    /// Frames waiting for the current connection's writer, and their bytes.
    package private(set) var pending: Deque<String> = []
    package private(set) var pendingBytes = 0
    package private(set) var heldAcceptances: Deque<HeldFrame> = []
    private var backPressureReported: Set<String> = []

    package init(limits: Limits) {
        self.limits = limits
    }

    /// The last `event_seq` issued (0 before the first).
    package var lastSeq: Int { nextSeq - 1 }

    // MARK: Restore

    /// Continues numbering and buffering of a session read back from the store.
    package mutating func restore(lastSeq: Int, releasedThrough: Int, events: [(seq: Int, jobID: String, frame: String)]) {
        nextSeq = lastSeq + 1
        self.releasedThrough = releasedThrough
        lastAcked = releasedThrough
        for e in events {
            replay.append(ReplayEntry(seq: e.seq, jobID: e.jobID, frame: e.frame))
            replayBytes += e.frame.utf8.count
        }
    }

    /// Adds the events the store gained after this session was read from it (in a cluster,
    /// the previous holder's last appends before this node's claim), numbered as stored; those
    /// already held are ignored, and numbering continues after the last event held (the restore
    /// reads the log's status before its events, so the replay can hold an event newer than
    /// `lastSeq`). When `attached` they are also queued for the connection: one that attached
    /// while the session was being adopted (a second resume on the same node) got its replay
    /// before they were added, and its client would otherwise miss them for good (its next
    /// resume asks from a later seq). Returns how many were queued.
    package mutating func restoreAppended(_ events: [(seq: Int, jobID: String, frame: String)], attached: Bool) -> Int {
        let held = max(lastSeq, replay.last?.seq ?? 0)
        let newer = events.filter { $0.seq > held }
        let last = max(held, newer.last?.seq ?? 0)
        guard last > lastSeq else { return 0 }
        nextSeq = last + 1
        for e in newer {
            replay.append(ReplayEntry(seq: e.seq, jobID: e.jobID, frame: e.frame))
            replayBytes += e.frame.utf8.count
            if attached { enqueue(e.frame) }
        }
        return attached ? newer.count : 0
    }

    // MARK: Connection

    /// Whether a resume from `lastEventSeq` can be served: nothing after it was freed.
    package func canReplay(after lastEventSeq: Int) -> Bool {
        !(lastEventSeq < releasedThrough && lastEventSeq < lastSeq)
    }

    /// Starts the queue of a new connection: `first` (the welcome), then, for a resume,
    /// every buffered event after `resumeFrom` with the held acceptances in their places.
    package mutating func startConnection(first: String, resumeFrom: Int?) {
        dropPending()
        enqueue(first)
        guard let from = resumeFrom else { return }
        // Acceptances queued after event `from` may not have reached the client.
        while let oldest = heldAcceptances.first, oldest.afterSeq < from { heldAcceptances.removeFirst() }
        var held = heldAcceptances.makeIterator()
        var next = held.next()
        for e in replay where e.seq > from {
            while let h = next, h.afterSeq < e.seq {
                enqueue(h.frame)
                next = held.next()
            }
            enqueue(e.frame)
        }
        while let h = next {
            enqueue(h.frame)
            next = held.next()
        }
    }

    /// Drops what was queued for a connection that is gone (events stay buffered for resume).
    package mutating func dropPending() {
        pending.removeAll()
        pendingBytes = 0
    }

    private mutating func enqueue(_ frame: String) {
        pending.append(frame)
        pendingBytes += frame.utf8.count
    }

    // MARK: Outbound

    /// Queues a frame without a seq for the attached connection (`attached` false: not sent).
    /// With `keepForResume` it is also held for a resume (a delegated job's `job.accepted`).
    package mutating func queueControl(_ frame: String, attached: Bool, keepForResume: Bool) -> Bool {
        if keepForResume {
            heldAcceptances.append(HeldFrame(afterSeq: lastSeq, frame: frame))
            if heldAcceptances.count > Self.maxHeldAcceptances { heldAcceptances.removeFirst() }
        }
        guard attached else { return false }
        enqueue(frame)
        return true
    }

    /// What numbering an event did.
    package struct Numbered: Sendable, Equatable {
        package var seq: Int
        /// Events evicted from the replay buffer by its caps (reported, never silent).
        package var evicted: Int
    }

    /// Numbers an event, buffers it for resume (evicting the oldest beyond the caps) and
    /// queues it for the attached connection. `encode` renders the frame for its seq.
    package mutating func queueEvent(jobID: String, attached: Bool, encode: (Int) -> String) -> (Numbered, frame: String) {
        let seq = nextSeq
        nextSeq += 1
        let frame = encode(seq)
        replay.append(ReplayEntry(seq: seq, jobID: jobID, frame: frame))
        replayBytes += frame.utf8.count
        var evicted = 0
        while replay.count > limits.maxBufferedEvents || replayBytes > limits.maxBufferedBytes, let first = replay.popFirst() {
            replayBytes -= first.frame.utf8.count
            releasedThrough = max(releasedThrough, first.seq)
            evictions += 1
            evicted += 1
        }
        if attached { enqueue(frame) }
        return (Numbered(seq: seq, evicted: evicted), frame)
    }

    /// Takes every queued frame for the writer.
    package mutating func takePending() -> [String] {
        let batch = Array(pending)
        pending.removeAll(keepingCapacity: true)
        pendingBytes = 0
        return batch
    }

    // MARK: Back-pressure

    /// Whether emitters must wait: the connection's queue is full (frames or bytes), or
    /// (with `ack`) the client lags too far behind its acknowledgements.
    package var emittersMustWait: Bool {
        readerMustWait || (limits.acknowledges && lastSeq - lastAcked >= limits.maxUnackedEvents)
    }

    /// Whether the reader must wait: the connection's queue is full, in frames or bytes (acks
    /// are not counted: they arrive through the reader).
    package var readerMustWait: Bool {
        pending.count >= limits.maxPendingFrames || pendingBytes >= limits.maxPendingBytes
    }

    /// Whether a job this session only observes (a subscription) must stop delivering to it:
    /// the queue holds a subscriber's bound of frames or bytes, or (with `ack`) the client
    /// lags `maxUnackedEvents` behind. An observer never makes a job wait (spec §7.6).
    package var subscriberMustDetach: Bool {
        pending.count >= limits.maxSubscriberPendingFrames || pendingBytes >= limits.maxSubscriberPendingBytes
            || (limits.acknowledges && lastSeq - lastAcked >= limits.maxUnackedEvents)
    }

    /// Whether ``shouldReportBackPressure(jobID:)`` can answer true or change state: only past
    /// the threshold, or while a job's crossing is recorded. False is the common case, and
    /// an emitter then skips asking (and the locks on the way).
    package var backPressureMayReport: Bool {
        limits.acknowledges && (lastSeq - lastAcked >= limits.backPressureThreshold || !backPressureReported.isEmpty)
    }

    /// Whether the client's lag crossed the back-pressure threshold for `jobID` (true once
    /// per crossing, per job).
    package mutating func shouldReportBackPressure(jobID: String) -> Bool {
        let lag = lastSeq - lastAcked
        guard limits.acknowledges, lag >= limits.backPressureThreshold else {
            // Checked first: this runs for every event, and the set is almost always empty.
            if !backPressureReported.isEmpty { backPressureReported.remove(jobID) }
            return false
        }
        return backPressureReported.insert(jobID).inserted
    }

    // MARK: Acknowledgement

    /// Frees buffered events through `seq` (§6.5). Returns the new release floor, or nil
    /// when nothing changed (an old or repeated ack).
    package mutating func acknowledge(through seq: Int) -> Int? {
        let upTo = min(seq, lastSeq)
        guard upTo > lastAcked else { return nil }
        lastAcked = upTo
        // The client saw an event queued after these acceptances, so it saw them too.
        while let oldest = heldAcceptances.first, oldest.afterSeq < upTo { heldAcceptances.removeFirst() }
        // Moved out and, for the first one kept, back: peeking with `first` copied each freed
        // entry (a retain and a release of its strings per event; docs/BENCHMARKS.md, session 17).
        while let first = replay.popFirst() {
            guard first.seq <= upTo else {
                replay.prepend(first)
                break
            }
            replayBytes -= first.frame.utf8.count
        }
        releasedThrough = max(releasedThrough, upTo)
        return upTo
    }
}
