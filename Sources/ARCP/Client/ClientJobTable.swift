import DequeModule

/// The jobs a client follows, by id, and the rules for routing their frames:
///
/// - A live job (submitted, subscribed, or delegated by one of those) has a
///   `ClientJobStateMachine` and the `JobHandle` its consumer reads. It leaves the table when its
///   terminal frame has been taken (or it is given up), so a long-lived client holds only the
///   jobs still running, never every job it ever ran.
/// - Its id is then **retired**: remembered (a bounded number of them) so a late or replayed
///   frame of a finished job, or a delegated job's acceptance that a runtime sends again on resume,
///   is recognised and dropped instead of being reported as a frame for an unknown job.
/// - Frames of a job whose `job.subscribe` is still unanswered are **held** (the Python reference
///   sends the history before `job.subscribed`) and handed back once the subscription is
///   answered; bounded in count.
///
/// Pure: no I/O. The client's state machine owns it under the client's lock.
package struct ClientJobTable: Sendable {
    package struct Entry: Sendable {
        package var machine: ClientJobStateMachine
        package let handle: JobHandle
    }

    /// How many finished job ids are remembered.
    package let retiredCapacity: Int
    /// Most frames held for unanswered subscriptions, all jobs together.
    package let heldCapacity: Int

    package private(set) var live: [String: Entry] = [:]
    private var retired: Set<String> = []
    private var retiredOrder: Deque<String> = []
    private var held: [String: [Envelope]] = [:]
    package private(set) var heldCount = 0

    package init(retiredCapacity: Int = 4096, heldCapacity: Int = 65_536) {
        self.retiredCapacity = max(0, retiredCapacity)
        self.heldCapacity = max(0, heldCapacity)
    }

    package var count: Int { live.count }
    package subscript(id: String) -> JobHandle? { live[id]?.handle }
    package func isRetired(_ id: String) -> Bool { retired.contains(id) }
    package func heldFrames(for id: String) -> Int { held[id]?.count ?? 0 }

    // MARK: registration

    /// Adds a job accepted for one of this client's submits, or subscribed to. A subscription to a
    /// job this table already follows replaces the old entry (and returns the old handle, for the
    /// caller to end).
    @discardableResult
    package mutating func add(_ handle: JobHandle, maxAssembledResult: Int) -> JobHandle? {
        unretire(handle.jobID)
        let old = live.updateValue(Entry(machine: ClientJobStateMachine(maxAssembledResult: maxAssembledResult), handle: handle), forKey: handle.jobID)
        return old?.handle
    }

    /// Whether a delegated job's unsolicited acceptance names a new job (not one followed now
    /// or finished recently: runtimes send a child's acceptance again on resume).
    package func isNew(_ id: String) -> Bool {
        live[id] == nil && !retired.contains(id)
    }

    // MARK: frames

    package enum Route: Sendable {
        /// Hand the event to the handle's consumer.
        case deliver(JobHandle, JobEvent)
        /// The job is over: complete the handle. The job has left the table. (Indirect: once
        /// per job, and inline its outcome made every routed event larger.)
        indirect case finish(JobHandle, Result<JobOutcome, any Error>)
        /// A replay, or a frame of a job that already finished: dropped.
        case duplicate
        /// Held until the job's subscription is answered.
        case held
        /// Too many frames held already: this one cannot be delivered.
        case overflow
        /// No job of that id is followed, finished, or being subscribed to.
        case unknownJob
    }

    /// Routes one job frame. `subscribing` tells whether a `job.subscribe` for the frame's job is
    /// waiting for its answer (asked only when the job is not live).
    package mutating func route(_ env: Envelope, _ frame: ClientJobStateMachine.Frame, subscribing: (String) -> Bool) -> Route {
        guard let id = env.jobId else { return .unknownJob }
        guard let index = live.index(forKey: id) else {
            if subscribing(id) {
                guard heldCount < heldCapacity else { return .overflow }
                held[id, default: []].append(env)
                heldCount += 1
                return .held
            }
            return retired.contains(id) ? .duplicate : .unknownJob
        }
        // In place: the machine (and its result buffers) is never copied out and back.
        let action = live.values[index].machine.receive(frame, seq: env.eventSeq)
        let handle = live.values[index].handle
        switch action {
        case .duplicate, .alreadyFinished:
            return .duplicate
        case .deliver(let event):
            return .deliver(handle, event)
        case .finish(let outcome):
            live.remove(at: index)
            retire(id)
            return .finish(handle, outcome)
        }
    }

    /// The frames held for `id`'s subscription, in arrival order (removed from the table).
    package mutating func takeHeld(_ id: String) -> [Envelope] {
        guard let frames = held.removeValue(forKey: id) else { return [] }
        heldCount -= frames.count
        return frames
    }

    // MARK: ending

    /// Gives a job up locally (unsubscribed): it leaves the table and its id is retired.
    package mutating func remove(_ id: String) -> JobHandle? {
        guard var entry = live.removeValue(forKey: id) else { return nil }
        _ = entry.machine.abandon()
        retire(id)
        return entry.handle
    }

    /// The session ended: every live job is given up and every held frame dropped.
    package mutating func removeAll() -> [JobHandle] {
        let handles = live.values.map(\.handle)
        live = [:]
        held = [:]
        heldCount = 0
        return handles
    }

    private mutating func retire(_ id: String) {
        guard retiredCapacity > 0, retired.insert(id).inserted else { return }
        retiredOrder.append(id)
        while retiredOrder.count > retiredCapacity, let oldest = retiredOrder.popFirst() {
            retired.remove(oldest)
        }
    }

    private mutating func unretire(_ id: String) {
        guard retired.remove(id) != nil else { return }
        if let i = retiredOrder.firstIndex(of: id) { retiredOrder.remove(at: i) }
    }
}
