/// The lifecycle of one runtime-side session (spec §6) as a value, with its outbox and its
/// resume tokens: inputs in, the new state and what the runtime must do out. No I/O, no
/// lock, no clock (instants are inputs). `RuntimeSession` holds one under its lock.
///
/// ```
///                 attach                    detach (transport gone)
///   (hello) ──────────────▶ attached(c) ───────────────────────────▶ detached(since)
///                              ▲  │ requestClose                          │   │
///                              │  ▼                                      │   │ expire (window passed)
///                           attached(c, closing) ─── writer drained ──▶  │   ▼
///                              ▲                                         │  expired (terminal)
///                              └────────────── attach (resume) ──────────┘
/// ```
///
/// A session the client closed (`session.close`/`session.bye`) stays resumable within the
/// window, as §6.7 requires (in-flight jobs "remain resumable"); `closedByClient` records how
/// its last connection ended. `expired` is final: an `attach` racing the expiry is refused
/// (`RESUME_WINDOW_EXPIRED`) instead of reviving a session that left the session table.
package struct SessionStateMachine: Sendable {
    package typealias Instant = ContinuousClock.Instant

    package enum Lifecycle: Sendable, Equatable {
        /// Connection `connection` is attached; `closing` once it should end after its
        /// queued frames are written.
        case attached(connection: UInt64, closing: Bool)
        /// No connection since `since`; resumable until the window passes.
        case detached(since: Instant)
        /// The resume window passed: gone for good.
        case expired
    }

    package private(set) var lifecycle: Lifecycle
    package private(set) var outbox: SessionOutbox
    /// Whether the client ended the session (`session.close` or `session.bye`).
    package private(set) var closedByClient = false
    package private(set) var resumeToken: String
    /// A token rotated out by a resume, still accepted for a bounded grace.
    package struct RetiringToken: Sendable, Equatable {
        /// The token the client resumed with.
        package var token: String
        /// When it dies at the latest (nil: only when the client is heard from).
        package var until: Instant?
    }
    /// After a resume, the token the client presented stays valid until the client shows
    /// (by sending anything on the new connection) that it received the rotated one, or
    /// until its grace ends, whichever is first (issue 10 item 7): a welcome lost to a second
    /// drop must not lock the client out, and a rotated-out token must not live on while
    /// the new holder stays silent.
    package private(set) var previousToken: RetiringToken? = nil
    private var nextConnection: UInt64 = 0
    /// The last frame owed to connections another one replaced (a resume of the same
    /// session), by connection: their writers send it, then end. At most
    /// `maxFarewells`; a writer that ended first leaves its entry to be pushed out.
    private var farewells: [(connection: UInt64, frame: String)] = []
    package static let maxFarewells = 8

    /// A new session, not yet attached (detached since `now`).
    package init(resumeToken: String, limits: SessionOutbox.Limits, now: Instant) {
        self.resumeToken = resumeToken
        outbox = SessionOutbox(limits: limits)
        lifecycle = .detached(since: now)
    }

    // MARK: Views

    package var connection: UInt64? {
        if case .attached(let c, _) = lifecycle { return c }
        return nil
    }

    package var isAttached: Bool { connection != nil }

    package var detachedSince: Instant? {
        if case .detached(let since) = lifecycle { return since }
        return nil
    }

    // MARK: Attach and detach

    package enum AttachResult: Sendable, Equatable {
        /// Attached as connection `connection`; the writer must be told that any previous
        /// connection is over (`replaced`).
        case attached(connection: UInt64, replaced: Bool)
        /// The events after `resumeFrom` are no longer buffered.
        case windowExpired(firstAvailable: Int)
        /// The session expired meanwhile (it is no longer in the session table).
        case expired
    }

    /// Attaches a new connection whose queue starts with `welcome`, then (for a resume from
    /// `resumeFrom`) every buffered event after it. `newToken` rotates the resume token:
    /// the token the client `presented` (the current one when nil) is retired, accepted
    /// until the client is heard from or until `graceUntil`. A retired token presented
    /// again keeps its first deadline, so re-presenting it never extends its life.
    /// A connection this attach replaces is told why with `farewell` (its queue is
    /// dropped: what it held belongs to the new connection), instead of closing without a word.
    package mutating func attach(
        welcome: String, resumeFrom: Int?, newToken: String?, presented: String? = nil, graceUntil: Instant? = nil,
        farewell: String? = nil
    ) -> AttachResult {
        if case .expired = lifecycle { return .expired }
        if let from = resumeFrom, !outbox.canReplay(after: from) {
            return .windowExpired(firstAvailable: outbox.releasedThrough + 1)
        }
        let replaced = isAttached
        if let old = connection, let farewell {
            farewells.append((old, farewell))
            if farewells.count > Self.maxFarewells { farewells.removeFirst() }
        }
        if let newToken {
            let retiring = presented ?? resumeToken
            if let previous = previousToken, Self.equal(previous.token, retiring) {
                // The welcome carrying the current token was lost: keep the first deadline.
                previousToken = previous
            } else {
                previousToken = RetiringToken(token: retiring, until: graceUntil)
            }
            resumeToken = newToken
        }
        nextConnection += 1
        lifecycle = .attached(connection: nextConnection, closing: false)
        closedByClient = false
        outbox.startConnection(first: welcome, resumeFrom: resumeFrom)
        return .attached(connection: nextConnection, replaced: replaced)
    }

    /// Connection `connection` is gone (its writer ended). False for a stale connection
    /// (one already replaced): nothing changes then.
    package mutating func detach(_ connection: UInt64, now: Instant) -> Bool {
        guard self.connection == connection else { return false }
        lifecycle = .detached(since: now)
        outbox.dropPending()
        return true
    }

    /// The client said `session.close` or `session.bye`.
    package mutating func clientClosed() {
        closedByClient = true
    }

    /// Ends `connection` (nil: whichever is attached) once what is queued is written. False
    /// when it is not the attached connection (a stale request never closes its successor).
    package mutating func requestCloseAfterFlush(_ connection: UInt64?) -> Bool {
        guard case .attached(let c, _) = lifecycle, connection == nil || connection == c else { return false }
        lifecycle = .attached(connection: c, closing: true)
        return true
    }

    package enum ExpireResult: Sendable, Equatable {
        /// Now expired: remove the session from the session table.
        case expired
        /// Attached again, or detached more recently than the window: keep it.
        case keep
        /// Expired before.
        case alreadyExpired
    }

    /// The resume window (`window`) may have passed since the last detach.
    package mutating func expire(now: Instant, window: Duration) -> ExpireResult {
        switch lifecycle {
        case .expired: return .alreadyExpired
        case .attached: return .keep
        case .detached(let since):
            guard now - since >= window else { return .keep }
            lifecycle = .expired
            outbox.dropPending()
            return .expired
        }
    }

    // MARK: Writer

    package enum WriterStep: Sendable, Equatable {
        case batch([String])
        /// The connection is over (replaced, detached, or closing with nothing left).
        case done
        /// Nothing queued: wait for a frame.
        case wait
    }

    package enum WriterReadiness: Sendable, Equatable {
        /// Frames are queued, or the connection is closing: the next step does something.
        case ready
        /// Nothing to do until a frame is queued.
        case idle
        /// The connection is no longer attached.
        case gone
    }

    /// Whether the writer of `connection` has something to do (no state change).
    package func writerReadiness(_ connection: UInt64) -> WriterReadiness {
        guard case .attached(let c, let closing) = lifecycle, c == connection else {
            return farewells.contains { $0.connection == connection } ? .ready : .gone
        }
        return outbox.pending.isEmpty && !closing ? .idle : .ready
    }

    /// What the writer of `connection` does next.
    package mutating func nextWriterStep(_ connection: UInt64) -> WriterStep {
        guard case .attached(let c, let closing) = lifecycle, c == connection else {
            // A replaced connection: its farewell, once, then done.
            guard let i = farewells.firstIndex(where: { $0.connection == connection }) else { return .done }
            return .batch([farewells.remove(at: i).frame])
        }
        if outbox.pending.isEmpty { return closing ? .done : .wait }
        return .batch(outbox.takePending())
    }

    // MARK: Inbound

    /// A frame arrived from the client on the new connection: it has the rotated token, so
    /// the previous one is retired.
    package mutating func clientHeard() {
        previousToken = nil
    }

    /// Whether `token` is the current one, or the retired one while it is still in its grace
    /// (until the client is heard from, and before its deadline: a retired token with a
    /// deadline is refused when `now` is not given).
    package func accepts(token: String, now: Instant? = nil) -> Bool {
        if Self.equal(resumeToken, token) { return true }
        guard let previous = previousToken, Self.equal(previous.token, token) else { return false }
        guard let until = previous.until else { return true }
        guard let now else { return false }
        return now < until
    }

    private static func equal(_ a: String, _ b: String) -> Bool {
        ResumeTokenHasher.constantTimeEquals(Array(a.utf8), Array(b.utf8))
    }

    // MARK: Outbound

    /// Queues a control frame; false (not sent) when no connection is attached.
    package mutating func queueControl(_ frame: String, keepForResume: Bool) -> Bool {
        outbox.queueControl(frame, attached: isAttached, keepForResume: keepForResume)
    }

    /// Numbers, buffers and (when attached) queues an event.
    package mutating func queueEvent(jobID: String, encode: (Int) -> String) -> (SessionOutbox.Numbered, frame: String) {
        outbox.queueEvent(jobID: jobID, attached: isAttached, encode: encode)
    }

    package mutating func acknowledge(through seq: Int) -> Int? {
        outbox.acknowledge(through: seq)
    }

    package mutating func shouldReportBackPressure(jobID: String) -> Bool {
        outbox.shouldReportBackPressure(jobID: jobID)
    }

    /// Whether emitters must wait (never while detached: events then only buffer).
    package var emittersMustWait: Bool { isAttached && outbox.emittersMustWait }

    /// Whether an emitter must look at back-pressure after queueing an event: wait
    /// (``emittersMustWait``) or ask ``shouldReportBackPressure(jobID:)``. When false it may
    /// skip both: neither would wait nor report.
    package var emittersMayBePressed: Bool { emittersMustWait || outbox.backPressureMayReport }

    /// Whether a subscription must stop delivering to this session (never while detached:
    /// events then only buffer, under the replay caps).
    package var subscriberMustDetach: Bool { isAttached && outbox.subscriberMustDetach }

    /// Whether the reader must wait for the peer to read.
    package var readerMustWait: Bool { isAttached && outbox.readerMustWait }

    package mutating func restore(lastSeq: Int, releasedThrough: Int, events: [(seq: Int, jobID: String, frame: String)]) {
        outbox.restore(lastSeq: lastSeq, releasedThrough: releasedThrough, events: events)
    }

    /// Adds events the store gained after the restore read it (``SessionOutbox/restoreAppended(_:attached:)``),
    /// queued for the attached connection too. Returns how many were queued.
    package mutating func restoreAppended(_ events: [(seq: Int, jobID: String, frame: String)]) -> Int {
        outbox.restoreAppended(events, attached: isAttached)
    }
}
