import DequeModule

/// The client's requests in flight, each with its lifecycle: **pending** until exactly one of
/// **answered** (the runtime's reply), **timed out** (`Options.requestTimeout`), **cancelled**
/// (the waiting task was cancelled) or **failed** (connection lost, session closed). Pure: the I/O
/// shell registers a request before sending it, then parks its task as the waiter, and resumes
/// whatever `Waiter` a transition returns with its `Answer` (or error).
///
/// A request's answer can race its waiter: the reply may arrive (or the request time out, or
/// its task be cancelled) before the sending task has parked. So each entry is a small state
/// machine of its own (`Phase`): the outcome is stored until the waiter arrives, and handed to
/// the waiter directly when it is already there. Either way the entry leaves the table at the
/// moment its outcome meets its waiter, so the table holds only requests someone still waits for.
///
/// Answers are matched by `request_id`, or, for peers that omit it (the Python reference's
/// `session.error`, and `session.pong`/`session.closed`, which have no such field), to the
/// oldest pending request of the expected type.
package struct ClientRequestTable<Waiter: Sendable, Answer: Sendable>: Sendable {
    /// Where one request is in its life.
    package enum Phase: Sendable {
        /// Registered (and perhaps sent); its task has not parked yet and no outcome is known.
        case pending
        /// Its task is parked, waiting for the outcome.
        case waiting(Waiter)
        /// The outcome came before the waiter: held for it.
        case resolved(Result<Answer, any Error>)
    }

    package struct Entry: Sendable {
        /// The request's message type, e.g. `job.submit`.
        package var type: String
        package var deadline: ContinuousClock.Instant
        /// How long it was given (for the timeout's message).
        package var timeout: Duration
        /// For `job.submit` / `job.subscribe`: whether the job's handle buffers events.
        package var streamEvents: Bool
        /// For `job.subscribe`: the job, so frames that precede `job.subscribed` can be held.
        package var subscribeJobID: String?
        /// What an answer without `request_id` echoes to name this request (a ping's nonce).
        package var echo: String?
        /// For `job.cancel`: the job, so its end answers the cancel when no `job.cancelled`
        /// comes (the Python reference never sends one).
        package var cancelJobID: String?
        package var phase: Phase = .pending

        package init(
            type: String, deadline: ContinuousClock.Instant, timeout: Duration = .zero, streamEvents: Bool, subscribeJobID: String?, echo: String? = nil,
            cancelJobID: String? = nil
        ) {
            self.type = type
            self.deadline = deadline
            self.timeout = timeout
            self.streamEvents = streamEvents
            self.subscribeJobID = subscribeJobID
            self.echo = echo
            self.cancelJobID = cancelJobID
        }
    }

    /// What a transition hands back: the waiter to resume (if parked) with its outcome, and the
    /// entry it belonged to.
    package struct Completion: Sendable {
        package var waiter: Waiter?
        package var outcome: Result<Answer, any Error>
        package var entry: Entry
    }

    package private(set) var entries: [String: Entry] = [:]
    /// Request ids in registration order, for answers without `request_id`. Ids of requests that
    /// already left the table stay here until they reach the front (or the next compaction).
    private var order: Deque<String> = []

    package init() {}

    package var count: Int { entries.count }
    /// Ids in the answer order, stale ones included (bounded by twice the entries, plus slack).
    package var orderedIDs: Int { order.count }
    package var isEmpty: Bool { entries.isEmpty }

    /// Registers a request about to be sent.
    package mutating func register(id: String, _ entry: Entry) {
        entries[id] = entry
        order.append(id)
        compactIfNeeded()
    }

    /// What the waiting task does on parking.
    package enum OnWait: Sendable {
        /// Stay parked: an outcome will resume the waiter.
        case suspend
        /// The outcome is already known: resume at once (the entry has left the table).
        case resume(Result<Answer, any Error>)
    }

    /// The request's task parks as `waiter`.
    package mutating func wait(id: String, _ waiter: Waiter) -> OnWait {
        guard let entry = entries[id] else {
            return .resume(.failure(ARCPClientError(.cancelled, "the request is no longer pending")))
        }
        switch entry.phase {
        case .pending:
            entries[id]?.phase = .waiting(waiter)
            return .suspend
        case .resolved(let outcome):
            entries.removeValue(forKey: id)
            return .resume(outcome)
        case .waiting:
            // A second waiter for one request is a programming error in the shell; it is
            // refused rather than trapping, and the first one keeps waiting.
            return .resume(.failure(ARCPClientError(.cancelled, "the request already has a waiter")))
        }
    }

    /// Ends request `id` with `outcome` (answered, timed out, cancelled, failed). Returns the
    /// completion when the request was pending; nil when it had already ended (every later
    /// outcome of a request is ignored: only the first counts).
    package mutating func complete(id: String, _ outcome: Result<Answer, any Error>) -> Completion? {
        guard let entry = entries[id] else { return nil }
        switch entry.phase {
        case .pending:
            entries[id]?.phase = .resolved(outcome)
            return Completion(waiter: nil, outcome: outcome, entry: entry)
        case .waiting(let w):
            entries.removeValue(forKey: id)
            return Completion(waiter: w, outcome: outcome, entry: entry)
        case .resolved:
            return nil
        }
    }

    /// The request an answer is for: by `requestID` when it names a pending request, else the
    /// one of a type in `types` whose `echo` the answer carries (a pong's nonce), else the
    /// oldest pending one whose type is in `types` (any type when `types` is empty).
    package func match(requestID: String?, types: Set<String>, echo: String? = nil) -> String? {
        if let requestID, let e = entries[requestID], e.isOpen { return requestID }
        if let echo {
            for id in order {
                guard let e = entries[id], e.isOpen, e.echo == echo else { continue }
                if types.isEmpty || types.contains(e.type) { return id }
            }
        }
        for id in order {
            guard let e = entries[id], e.isOpen else { continue }
            if types.isEmpty || types.contains(e.type) { return id }
        }
        return nil
    }


    /// The open `job.cancel` requests for `jobID`, oldest first.
    package func cancels(of jobID: String) -> [String] {
        order.filter { id in entries[id].map { $0.isOpen && $0.type == "job.cancel" && $0.cancelJobID == jobID } ?? false }
    }

    /// Times out every open request whose deadline has passed.
    package mutating func expire(at now: ContinuousClock.Instant, _ error: (Entry) -> any Error) -> [Completion] {
        var out: [Completion] = []
        for (id, e) in entries where e.isOpen && e.deadline <= now {
            if let c = complete(id: id, .failure(error(e))) { out.append(c) }
        }
        return out
    }

    /// Fails every open request (the connection was lost, the session ended).
    package mutating func failAll(_ error: (Entry) -> any Error) -> [Completion] {
        var out: [Completion] = []
        for (id, e) in entries where e.isOpen {
            if let c = complete(id: id, .failure(error(e))) { out.append(c) }
        }
        return out
    }

    /// The earliest deadline of an open request (nil: none open).
    package var nextDeadline: ContinuousClock.Instant? {
        var best: ContinuousClock.Instant? = nil
        for e in entries.values where e.isOpen {
            if best.map({ e.deadline < $0 }) ?? true { best = e.deadline }
        }
        return best
    }

    /// Whether an open `job.subscribe` for `jobID` is waiting for its answer.
    package func isSubscribing(to jobID: String) -> Bool {
        entries.values.contains { $0.isOpen && $0.subscribeJobID == jobID }
    }

    private mutating func compactIfNeeded() {
        while let first = order.first, entries[first]?.isOpen != true { order.removeFirst() }
        // Ids of answered requests behind a long-pending one: drop them once they outnumber
        // the entries, so the order never grows past twice the requests in flight.
        if order.count > 2 * entries.count + 64 {
            order = Deque(order.filter { entries[$0]?.isOpen == true })
        }
    }
}

extension ClientRequestTable.Entry {
    /// Still waiting for its outcome (not resolved-and-unclaimed).
    package var isOpen: Bool {
        if case .resolved = phase { return false }
        return true
    }
}
