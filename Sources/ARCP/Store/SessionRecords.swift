import Foundation

// What a runtime store keeps of a session: its record, its event buffer and the buffer's
// bookkeeping (spec §6.3, §6.5).

/// One buffered, replayable frame: a `job.event`, `job.result` or `job.error` as it was sent.
public struct StoredEvent: Sendable, Equatable {
    /// The session whose `event_seq` space `seq` belongs to.
    public var sessionID: String
    /// The frame's `event_seq`: strictly increasing within a session, starting at 1.
    public var seq: Int64
    /// The job the frame belongs to (used to serve `job.subscribe` history).
    public var jobID: String
    /// The exact envelope text as sent on the wire. Replay resends it unchanged.
    public var frame: String

    /// The frame's size in UTF-8 bytes; the unit of the byte caps in `BufferLimits`.
    public var byteCount: Int { frame.utf8.count }

    /// Creates an event to append.
    public init(sessionID: String, seq: Int64, jobID: String, frame: String) {
        self.sessionID = sessionID
        self.seq = seq
        self.jobID = jobID
        self.frame = frame
    }
}

/// Caps on what one session may keep buffered. Reaching a cap evicts the oldest events and
/// is reported by `RuntimeStore.append` as an `Eviction`; it is never silent.
public struct BufferLimits: Sendable, Equatable {
    /// The most events kept for one session (at least 1).
    public var maxEvents: Int
    /// The most frame bytes (UTF-8) kept for one session. A single frame larger than this
    /// is refused by `append` with `RuntimeStoreError.eventTooLarge`.
    public var maxBytes: Int

    /// Creates limits; values below 1 are raised to 1.
    public init(maxEvents: Int = 65_536, maxBytes: Int = 64 << 20) {
        self.maxEvents = max(1, maxEvents)
        self.maxBytes = max(1, maxBytes)
    }

    /// 65,536 events or 64 MiB, whichever is reached first.
    public static let `default` = BufferLimits()
}

/// A session as the runtime needs it to accept a resume, possibly after a restart.
public struct SessionRecord: Sendable, Equatable {
    /// The session id (`sess_…`).
    public var sessionID: String
    /// The authenticated principal that opened the session.
    public var principal: String
    /// Lowercase hex SHA-256 of the current resume token (see `ResumeTokenHasher`).
    /// The token itself is never stored.
    public var resumeTokenHash: String
    /// When the session was opened.
    public var createdAt: Date
    /// When a transport was last attached or a frame last seen; drives the resume window.
    public var lastSeenAt: Date
    /// `true` once the session was closed (`session.close` / `session.bye`): no more resumes.
    public var closed: Bool
    /// The caps on this session's buffer, applied from the next `append` on.
    public var limits: BufferLimits
    /// Opaque runtime state the store keeps verbatim (e.g. negotiated features, client info,
    /// heartbeat interval) as JSON text, so a restarted runtime can restore the session.
    public var stateJSON: String

    /// Creates a session record.
    public init(
        sessionID: String,
        principal: String,
        resumeTokenHash: String,
        createdAt: Date,
        lastSeenAt: Date,
        closed: Bool = false,
        limits: BufferLimits = .default,
        stateJSON: String = "{}"
    ) {
        self.sessionID = sessionID
        self.principal = principal
        self.resumeTokenHash = resumeTokenHash
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.closed = closed
        self.limits = limits
        self.stateJSON = stateJSON
    }
}

/// The store-maintained state of one session's event buffer.
public struct BufferStatus: Sendable, Equatable {
    /// The highest `event_seq` ever appended (0 if none). A restarted runtime continues the
    /// session's numbering after it.
    public var lastSeq: Int64
    /// Every event with `seq ≤ releasedThrough` has been freed (acked or evicted); 0 if none.
    /// It never moves backwards and never exceeds `lastSeq`.
    public var releasedThrough: Int64
    /// The lowest retained seq, or `nil` when nothing is buffered.
    public var firstRetainedSeq: Int64?
    /// Events currently buffered.
    public var eventCount: Int
    /// Frame bytes (UTF-8) currently buffered.
    public var byteCount: Int

    /// Creates a status value.
    public init(
        lastSeq: Int64, releasedThrough: Int64, firstRetainedSeq: Int64?, eventCount: Int, byteCount: Int
    ) {
        self.lastSeq = lastSeq
        self.releasedThrough = releasedThrough
        self.firstRetainedSeq = firstRetainedSeq
        self.eventCount = eventCount
        self.byteCount = byteCount
    }

    /// Whether a resume with `last_event_seq = lastEventSeq` can be served: every event after
    /// it is still buffered (nothing above it was freed) and it is not ahead of the session.
    /// `false` means `RESUME_WINDOW_EXPIRED`.
    public func canReplay(after lastEventSeq: Int64) -> Bool {
        lastEventSeq >= releasedThrough && lastEventSeq <= lastSeq
    }
}

/// A report that a session's buffer cap forced unacknowledged events out (§6.5).
public struct Eviction: Sendable, Equatable {
    /// The session that lost events.
    public var sessionID: String
    /// The new release floor: every event with `seq ≤ releasedThrough` is gone.
    public var releasedThrough: Int64
    /// How many events were evicted.
    public var events: Int
    /// How many frame bytes were evicted.
    public var bytes: Int
    /// `true` if the event-count cap was exceeded.
    public var overEventLimit: Bool
    /// `true` if the byte cap was exceeded.
    public var overByteLimit: Bool

    /// Creates an eviction report.
    public init(
        sessionID: String, releasedThrough: Int64, events: Int, bytes: Int, overEventLimit: Bool,
        overByteLimit: Bool
    ) {
        self.sessionID = sessionID
        self.releasedThrough = releasedThrough
        self.events = events
        self.bytes = bytes
        self.overEventLimit = overEventLimit
        self.overByteLimit = overByteLimit
    }
}
