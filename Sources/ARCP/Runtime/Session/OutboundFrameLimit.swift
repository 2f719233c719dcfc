/// The largest frame a runtime sends (issue 10 item 11): a `job.result` or event bigger than
/// what the peer accepts would make the peer close the connection, and, being buffered for
/// resume, close every later resume the same way. So such a frame is never queued:
///
/// - an agent's result that would not fit ends the job with `INTERNAL_ERROR` saying so,
///   before anything is sent (`ARCPRuntime.oversizedResult`);
/// - any other frame that turns out too big when encoded (an event, an agent's error with a
///   huge message) is replaced in the session's queue by a small one that says what
///   happened, with the same `event_seq`: a terminal frame by `job.error INTERNAL_ERROR`, an
///   event by a `log` event at level `error`, after which the job is ended with
///   `INTERNAL_ERROR` (when the session is the job's submitter; an observer's copy never
///   ends the job).
///
/// The session and its resumes keep working either way.
struct OutboundFrameLimit: Sendable {
    /// The largest encoded envelope, in bytes.
    var maxFrameBytes: Int
    /// Told (outside the session's lock, possibly under a fan-out's) when an event of `jobID`
    /// was replaced in `session`'s queue: the runtime ends the job.
    var onOversizedEvent: (@Sendable (_ session: RuntimeSession, _ jobID: String, _ bytes: Int) -> Void)?

    static let unlimited = OutboundFrameLimit(maxFrameBytes: .max, onOversizedEvent: nil)

    /// Room kept for the envelope around an agent's result (ids, type, seq, timestamps).
    static let envelopeAllowance = 1024

    /// What is sent instead of `message`, whose frame would have had `bytes` bytes.
    func substitute(for message: Message, bytes: Int) -> Message {
        let limit = maxFrameBytes
        switch message {
        case .jobResult, .jobError:
            return .jobError(JobErrorPayload(
                code: .internalError,
                message: "the job's \(message.type) frame (\(bytes) bytes) exceeds the frame limit (\(limit) bytes); stream large results with result_chunk",
                retryable: false, finalStatus: .error, completedAt: ARCPTimestamp.string()))
        default:
            return .jobEvent(JobEventPayload(
                body: .log(LogBody(
                    level: "error",
                    message: "a \(message.type) frame of \(bytes) bytes exceeds the frame limit (\(limit) bytes) and was not sent; the job is ended")),
                ts: ARCPTimestamp.string()))
        }
    }
}

extension ARCPRuntime {
    /// The session limit of this runtime's sessions: its `maxOutboundFrameBytes`, ending the
    /// job of an oversized event when the session is its submitter.
    var outboundFrameLimit: OutboundFrameLimit {
        // Captures the job table, not the runtime: sessions must not keep their runtime alive.
        let jobs = tables.jobs
        let limit = max(1024, configuration.maxOutboundFrameBytes)
        return OutboundFrameLimit(maxFrameBytes: limit) { session, jobID, bytes in
            // Not here: the caller may hold the job's fan-out lock, which ending the job takes.
            Task {
                guard let job = await jobs.job(jobID), job.ownerSessionID == session.id else { return }
                job.fail(ARCPError(.internalError, "an event of \(bytes) bytes exceeds the frame limit (\(limit) bytes)", retryable: false))
            }
        }
    }

    /// `INTERNAL_ERROR` when an agent's `output` would make a `job.result` frame larger than
    /// `maxOutboundFrameBytes` (a fixed allowance is kept for the envelope); nil when it fits.
    /// Cheap for small results: the exact size is computed only when a bound says it might not fit.
    func oversizedResult(_ output: JSONValue) -> ARCPError? {
        let room = max(1024, configuration.maxOutboundFrameBytes) - OutboundFrameLimit.envelopeAllowance
        if JSONSizeBound.upperBound(output, cap: room) <= room { return nil }
        let exact = JSONWriter.data(output).count
        guard exact > room else { return nil }
        return ARCPError(
            .internalError,
            "the job's result (\(exact) bytes of JSON) does not fit in a frame (limit \(configuration.maxOutboundFrameBytes) bytes, envelope included); stream large results with result_chunk",
            retryable: false)
    }
}

/// A quick upper bound of a JSON value's compact encoding, in bytes.
enum JSONSizeBound {
    /// At least the size of `value`'s encoding; stops adding once `cap` is passed (the
    /// result is then only known to be above `cap`).
    static func upperBound(_ value: JSONValue, cap: Int) -> Int {
        var total = 0
        add(value, to: &total, cap: cap)
        return total
    }

    private static func add(_ value: JSONValue, to total: inout Int, cap: Int) {
        guard total <= cap else { return }
        switch value {
        case .null, .bool: total += 5
        case .int: total += 20
        case .double: total += 32
        // Every byte escapes to at most six (`\u00XX`).
        case .string(let s): total += 2 + 6 * s.utf8.count
        case .array(let a):
            total += 2 + a.count
            for v in a { add(v, to: &total, cap: cap) }
        case .object(let o):
            total += 2 + o.members.count
            for m in o.members {
                total += 3 + 6 * m.key.utf8.count
                add(m.value, to: &total, cap: cap)
            }
        }
    }
}
