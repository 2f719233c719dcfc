/// One job as the client follows it (submitted, subscribed, or delegated by one of those):
/// `streaming` until its terminal frame, then `finished`. Pure: the job table owns one per
/// live job and the I/O shell executes what it returns.
///
/// What it decides:
/// - **De-duplication across resume**: a frame whose `event_seq` is not above the highest this
///   job has seen is a replay and is dropped. Per job, not per session, because a subscriber's
///   seqs may restart at 1 (the Python reference numbers a subscription's frames afresh).
/// - **Result chunks** (`result_chunk` events) are assembled (`ResultAssembler`); a chunk that
///   cannot be taken fails the job locally (`ARCPClientError.protocolViolation` or
///   `.resultTooLarge`).
/// - **The outcome**: `job.result` with `success` is a `JobOutcome`; any other final status (the
///   Python reference ends cancelled and timed-out jobs with `job.result`) and `job.error` are
///   the runtime's `ARCPError`, with `finalStatus`.
package struct ClientJobStateMachine: Sendable {
    /// A job frame, as routed to its job.
    package enum Frame: Sendable {
        case event(JobEventPayload)
        // Indirect: once per job, and inline they made every event's frame their size.
        indirect case result(JobResultPayload)
        indirect case error(JobErrorPayload)

        package init?(_ message: Message) {
            switch message {
            case .jobEvent(let p): self = .event(p)
            case .jobResult(let p): self = .result(p)
            case .jobError(let p): self = .error(p)
            default: return nil
            }
        }
    }

    package enum State: Sendable {
        case streaming(Streaming)
        /// The terminal frame was taken, or the job was given up locally; final.
        case finished
    }

    package struct Streaming: Sendable {
        /// The highest `event_seq` taken (0: none yet).
        package var lastSeq = 0
        package var assembler: ResultAssembler
    }

    /// What to do with a frame.
    package enum OnFrame: Sendable {
        /// A replay of a frame already taken: drop it.
        case duplicate
        /// Hand the event to the job's consumer.
        case deliver(JobEvent)
        /// The job is over: complete the handle with this outcome. The machine is `finished`.
        indirect case finish(Result<JobOutcome, any Error>)
        /// The job had already finished: the frame has nowhere to go.
        case alreadyFinished
    }

    package private(set) var state: State

    package init(maxAssembledResult: Int) {
        state = .streaming(Streaming(assembler: ResultAssembler(limit: maxAssembledResult)))
    }

    package var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// Takes one frame of this job, with its envelope's `event_seq`.
    package mutating func receive(_ frame: Frame, seq: Int?) -> OnFrame {
        guard case .streaming(var s) = state else { return .alreadyFinished }
        // Own `s` while it changes (the assembler's buffers must not be shared with `state`).
        state = .finished
        if let seq {
            if seq <= s.lastSeq {
                state = .streaming(s)
                return .duplicate
            }
            s.lastSeq = seq
        }
        switch frame {
        case .event(let p):
            let event = JobEvent(seq: seq ?? 0, ts: p.ts, body: p.body)
            if case .resultChunk(let chunk) = p.body, let failure = s.assembler.add(chunk) {
                switch failure {
                case .invalidChunk(let why): return .finish(.failure(ARCPClientError(.protocolViolation, why)))
                case .tooLarge(let limit): return .finish(.failure(ARCPClientError(.resultTooLarge, "streamed result exceeds \(limit) bytes")))
                }
            }
            state = .streaming(s)
            return .deliver(event)
        case .result(let p):
            return .finish(Self.outcome(p, assembler: &s.assembler))
        case .error(let p):
            return .finish(.failure(ARCPError(p)))
        }
    }

    /// The job is given up locally (unsubscribed, or the session ended): no frame is taken
    /// after this. Returns false when it had already finished.
    package mutating func abandon() -> Bool {
        guard case .streaming = state else { return false }
        state = .finished
        return true
    }

    static func outcome(_ p: JobResultPayload, assembler: inout ResultAssembler) -> Result<JobOutcome, any Error> {
        guard p.finalStatus == .success else {
            // The Python reference ends cancelled / timed-out jobs with job.result.
            let code: ErrorCode = p.finalStatus == .timedOut ? .timeout : .cancelled
            return .failure(ARCPError(code, "job ended with final_status \(p.finalStatus.rawValue)", retryable: false, finalStatus: p.finalStatus))
        }
        var outcome = JobOutcome(
            finalStatus: p.finalStatus, result: p.result, resultID: p.resultId, resultSize: p.resultSize, summary: p.summary, payload: p)
        if let id = p.resultId, let assembled = assembler.take(id) {
            outcome.streamedBytes = assembled.data
            outcome.result = assembled.value
        }
        return .success(outcome)
    }
}
