import Foundation
import Logging
import Synchronization

/// A job as the runtime hosts it: the I/O shell around its `JobStateMachine`. It owns the
/// agent's task, its watchdogs (max runtime, lease expiry, cancel grace), the waiters of its
/// end, its end duties and its provisioned credentials; its events go through its
/// `JobEventFanOut`.
///
/// Its lock is a leaf (rank `leaf`): transitions run under it and their actions (cancelling
/// the task, publishing the terminal frame, hooks, instrumentation) after it is released.
package final class RuntimeJob: Sendable {
    /// What a job needs from the runtime's configuration to end itself.
    struct Policy: Sendable {
        var cancelGracePeriod: Duration
        var compatibility: ARCPRuntime.Configuration.Compatibility
        var logger: Logger
        /// Whether the runtime has an instrumentation (else no job is ever observed, and
        /// emitting does not look for an observer).
        var instrumented = false
    }

    private struct State: ~Copyable {
        var machine = JobStateMachine()
        /// The agent's task, while it runs (to cancel it). Dropped when it returns: a finished
        /// task keeps its object and its frames' slabs for as long as a handle to it exists,
        /// ~3 KiB that every retained finished job held (docs/BENCHMARKS.md, session 11).
        var task: Task<Void, Never>? = nil
        /// Whether the agent's task has returned (then `setTask`, if it comes later, keeps
        /// nothing).
        var taskEnded = false
        /// Delegated children (weak: a retained parent does not keep finished children).
        var children: [WeakJob] = []
        var watchdogs: [Task<Void, Never>] = []
        var completion: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
        /// Run once, after the terminal frame (credential revocation, child clean-up); nil
        /// once they ran.
        var terminalHooks: [@Sendable () -> Void]? = []
        /// Run once the job settled, on a task: the job table's retention (`setRetirement`).
        var retirement: Retirement? = nil
        /// The job's observer (`Configuration.instrumentation`); nil when none is set.
        var instrumentation: (any JobInstrumentation)? = nil
        /// Provisioned credentials (spec §9.8), current values (after rotations).
        var credentials: [Credential]
    }

    struct WeakJob {
        weak var job: RuntimeJob?
    }

    package let id: String
    package let agent: String
    package let principal: String
    package let traceID: String
    package let lease: Lease
    package let leaseConstraints: LeaseConstraints?
    package let createdAt: Date
    package let parentJobID: String?
    let idempotencyKey: String?
    let fingerprint: String?
    let accepted: JobAcceptedPayload
    let storeWriter: RuntimeStoreWriter?
    /// The job's lease enforcement: effective lease, expiry, budget counters (spec §9).
    let authority: LeaseAuthority
    /// For a delegated job: the parent's `delegate` event id (spec §10).
    let delegateID: String?
    /// Delegation depth: 0 for a submitted job.
    let depth: Int
    /// The submitter's full W3C trace context (`job.submit`'s trace-context extension, when
    /// valid and in trace `traceID`); nil otherwise and for delegated jobs.
    let traceContext: W3CTraceContext?
    /// The features the submitting session negotiated (what the agent may use, §6.2).
    let features: Set<String>
    /// Whether `ack` was negotiated (only then can the client lag behind acknowledgements).
    let acknowledges: Bool
    /// Set once the job counts as running, so emitting takes the job's lock only once.
    private let started = Atomic<Bool>(false)
    /// Set once a stop is requested: emitters no longer wait for room, and only
    /// `maxEventsAfterStop` more events are taken (the agent's clean-up may still report).
    private let stopRequested = Atomic<Bool>(false)
    private let eventsAfterStop = Atomic<Int>(0)
    /// Events a stopped job's agent may still emit (clean-up) before the rest are refused.
    static let maxEventsAfterStop = 1024

    /// Counts terminal frames in this process: ``endOrder``.
    private static let endCounter = Atomic<UInt64>(0)
    private let endOrderValue = Atomic<UInt64>(0)
    /// When the job ended relative to the others (1, 2, … in the order of their terminal
    /// frames; 0 while running). The job table's "oldest ended" is this order: the end duties
    /// that report the end to it run in tasks of their own and may arrive in another order.
    package var endOrder: UInt64 { endOrderValue.load(ordering: .relaxed) }
    /// Delivers the job's events to its submitter and subscribers.
    package let fanOut: any JobEventFanOut
    let policy: Policy
    private let state: RankedMutex<State>

    init(
        id: String, agent: String, principal: String, traceID: String, lease: Lease, leaseConstraints: LeaseConstraints?,
        parentJobID: String?, idempotencyKey: String?, fingerprint: String?, accepted: JobAcceptedPayload,
        features: Set<String>, fanOut: any JobEventFanOut, policy: Policy, authority: LeaseAuthority, delegateID: String? = nil,
        depth: Int = 0,
        credentials: [Credential] = [], storeWriter: RuntimeStoreWriter? = nil, traceContext: W3CTraceContext? = nil,
        createdAt: Date = Date()
    ) {
        self.id = id
        self.agent = agent
        self.principal = principal
        self.traceID = traceID
        self.lease = lease
        self.leaseConstraints = leaseConstraints
        self.createdAt = createdAt
        self.parentJobID = parentJobID
        self.idempotencyKey = idempotencyKey
        self.fingerprint = fingerprint
        self.accepted = accepted
        self.features = features
        self.acknowledges = features.contains(Feature.ack.rawValue)
        self.fanOut = fanOut
        self.policy = policy
        self.authority = authority
        self.delegateID = delegateID
        self.depth = depth
        self.traceContext = traceContext
        self.storeWriter = storeWriter
        self.state = RankedMutex(.leaf, State(credentials: credentials))
    }

    // MARK: Views

    package var status: JobStatus { state.withLock { $0.machine.status } }
    /// The submitting session's id (a delegated job's is its root's).
    package var ownerSessionID: String { fanOut.ownerSessionID }
    var terminal: Message? { fanOut.terminal }
    /// Whether the job ended (its terminal frame is decided; no event may follow).
    var isTerminal: Bool { state.withLock { $0.machine.hasEnded } }
    package var lastOwnerSeq: Int { fanOut.lastOwnerSeq }
    var stopReason: StopReason? { state.withLock { $0.machine.stopReason } }
    var children: [RuntimeJob] { state.withLock { $0.children.compactMap(\.job) } }
    /// The current provisioned credentials (only ever shown to the submitting principal).
    var credentials: [Credential] { state.withLock { $0.credentials } }
    /// Bytes the job holds once finished, for the job table's retention: its history and
    /// terminal frame (as encoded) plus an allowance for its acceptance, lease and listing.
    var retainedBytes: Int { fanOut.retainedBytes + Self.retainedOverhead }
    /// The allowance for what a finished job holds besides its frames.
    static let retainedOverhead = 2048

    /// The job's observer, if any. Set once by `ARCPRuntime.start`, before the agent runs.
    var instrumentation: (any JobInstrumentation)? {
        get { state.withLock { $0.instrumentation } }
        set { state.withLock { $0.instrumentation = newValue } }
    }

    // MARK: Running

    /// Installs the agent's task; cancels it at once when the job was stopped before it
    /// had one (e.g. shutdown or a parent's cancellation racing `start`).
    func setTask(_ t: Task<Void, Never>) {
        let action = state.withLock { s in
            if !s.taskEnded { s.task = t }
            return s.machine.taskInstalled()
        }
        if action == .cancel { t.cancel() }
    }

    /// Called by the agent's task as its last step: its handle is dropped, so the finished
    /// task is freed while the job is retained.
    func agentTaskEnded() {
        state.withLock { s in
            s.task = nil
            s.taskEnded = true
        }
    }

    /// Whether the job holds its agent's task (for tests: not once the task returned).
    package var holdsAgentTask: Bool { state.withLock { $0.task != nil } }

    /// Adds a watchdog task, cancelled when the job ends (at once if it already has).
    func addWatchdog(_ t: Task<Void, Never>) {
        let ended = state.withLock { s -> Bool in
            if s.terminalHooks == nil { return true }
            s.watchdogs.append(t)
            return false
        }
        if ended { t.cancel() }
    }

    func addChild(_ child: RuntimeJob) { state.withLock { $0.children.append(WeakJob(job: child)) } }
    func markRunning() {
        guard !started.load(ordering: .relaxed) else { return }
        state.withLock { $0.machine.agentStarted() }
        started.store(true, ordering: .relaxed)
    }
    func markResultStreamed() { state.withLock { $0.machine.resultStreamStarted() } }

    /// Replaces a credential after rotation and returns the one it replaced; `nil` (nothing
    /// changed) when the job already ended or has no credential with that id, in which
    /// case the caller must revoke `c` itself.
    func replaceCredential(_ c: Credential) -> Credential? {
        state.withLock { s in
            guard !s.machine.hasEnded, let i = s.credentials.firstIndex(where: { $0.id == c.id }) else { return nil }
            let old = s.credentials[i]
            s.credentials[i] = c
            return old
        }
    }

    /// Runs `hook` once the job has ended (at once if it already has).
    func onTerminal(_ hook: @escaping @Sendable () -> Void) {
        let now: Bool = state.withLock { s in
            guard s.terminalHooks != nil else { return true }
            s.terminalHooks?.append(hook)
            return false
        }
        if now { hook() }
    }

    /// What runs once the job has ended and its end duties ran: the job table's retention
    /// and the start of a job waiting for the slot (`ARCPRuntime.armRetention`). It is async,
    /// so it runs on a task: the agent's own when the agent's return ended the job (most
    /// jobs: no task is created for it), a new one otherwise (a cancel, a streamed result's
    /// `finish`, a failure, the grace period).
    typealias Retirement = @Sendable () async -> Void

    /// Sets the job's retirement (once, before it may end); run at once, on a new task, if
    /// the job already settled.
    func setRetirement(_ retirement: @escaping Retirement) {
        let settled: Bool = state.withLock { s in
            if s.machine.isSettled { return true }
            s.retirement = retirement
            return false
        }
        if settled { Task { await retirement() } }
    }

    // MARK: Events

    /// Emits a job.event to the submitter and every subscriber. Returns the submitter's seq,
    /// or nil if the job already ended (late events after the terminal are refused).
    /// `redactedForOthers`, when given, is what subscribers of another principal get instead.
    @discardableResult
    func emit(_ message: Message, redactedForOthers: Message? = nil) -> Int? {
        emitNotingPressure(message, redactedForOthers: redactedForOthers)?.seq
    }

    /// `emit`, also saying whether the emitter must look at back-pressure afterwards
    /// (``waitForCapacity()``, the owner's back-pressure report): false when neither would
    /// wait nor report (`JobEventFanOut.publishNotingPressure`) and no store writer is there
    /// to wait for.
    func emitNotingPressure(_ message: Message, redactedForOthers: Message? = nil) -> (seq: Int, pressed: Bool)? {
        if stopRequested.load(ordering: .relaxed) {
            // Stopping: the emitter no longer waits for room, so what it may add is bounded.
            let n = eventsAfterStop.wrappingAdd(1, ordering: .relaxed).newValue
            guard n <= Self.maxEventsAfterStop else {
                if n == Self.maxEventsAfterStop + 1 {
                    policy.logger.warning(
                        "a stopped job's agent keeps emitting; further events are refused", metadata: ["job": "\(id)"])
                }
                return nil
            }
        }
        guard let (seq, ownerPressed) = fanOut.publishNotingPressure(message, redactedForOthers: redactedForOthers) else { return nil }
        markRunning()
        if policy.instrumented, let observer = instrumentation, case .jobEvent(let e) = message { observer.event(e.body) }
        return (seq, ownerPressed || storeWriter != nil)
    }

    /// False once the job is stopping and its agent used up `maxEventsAfterStop`.
    var acceptsEvents: Bool {
        !stopRequested.load(ordering: .relaxed) || eventsAfterStop.load(ordering: .relaxed) < Self.maxEventsAfterStop
    }

    /// Back-pressure: waits until the submitting session (and the store writer) has room.
    /// A stopped job does not wait (its terminal frame must not queue behind a client that
    /// does not read), and a wait ends when the agent's task is cancelled.
    func waitForCapacity() async {
        guard !stopRequested.load(ordering: .relaxed) else { return }
        await fanOut.waitForCapacity()
        await storeWriter?.waitForCapacity()
    }

    // MARK: Stopping

    /// Stops this job alone for `reason` (the first reason wins), without a grace period:
    /// shutdown stops every job itself and waits for them (bounded).
    @discardableResult
    func stop(_ reason: StopReason) -> JobStateMachine.StopAction {
        let (action, task) = state.withLock { s in (s.machine.stop(reason), s.task) }
        if action != .alreadyEnded {
            stopRequested.store(true, ordering: .relaxed)
            task?.cancel()
        }
        return action
    }

    /// Stops the job for `reason` (the first reason wins) and, recursively, its delegated
    /// children (`parentCancelled`); if an agent ignores cancellation, the job is ended
    /// anyway after the grace period. Returns what the state machine decided for this job.
    @discardableResult
    package func cancelTree(_ reason: StopReason) -> JobStateMachine.StopAction {
        let (action, task) = state.withLock { s in (s.machine.stop(reason), s.task) }
        if action != .alreadyEnded {
            stopRequested.store(true, ordering: .relaxed)
            task?.cancel()
            let grace = policy.cancelGracePeriod
            addWatchdog(Task { [weak self] in
                try? await Task.sleep(for: grace)
                guard let self, !Task.isCancelled else { return }
                self.graceExpired()
            })
        }
        for child in children where !child.isTerminal { child.cancelTree(.parentCancelled) }
        return action
    }

    private func graceExpired() {
        guard let ending = state.withLock({ $0.machine.graceExpired() }) else { return }
        policy.logger.warning("agent ignored cancellation; ending job", metadata: ["job": "\(id)"])
        retireOnNewTask(conclude(ending))
    }

    // MARK: Ending

    /// The agent's body returned or threw: ends the job accordingly (unless it already ended).
    ///
    /// Called by the agent's own task. Returns the job's retirement when this return ended
    /// the job, for that task to run (nil when the job had ended before, e.g. cancelled:
    /// that ending started its retirement).
    func agentFinished(_ outcome: JobStateMachine.AgentOutcome) -> Retirement? {
        guard let ending = state.withLock({ $0.machine.agentFinished(outcome) }) else { return nil }
        return conclude(ending)
    }

    /// Ends the job with `ending` from outside the agent's return (a streamed result's
    /// `finish`). False when it had already ended.
    @discardableResult
    func end(_ ending: JobEnding) -> Bool {
        guard let ending = state.withLock({ $0.machine.endDirectly(ending) }) else { return false }
        retireOnNewTask(conclude(ending))
        return true
    }

    /// Ends the job with `error` now (unless it already ended) and cancels its agent, whose
    /// later events and return are ignored: the runtime's own failures (an event too large
    /// to send, issue 10 item 11).
    func fail(_ error: ARCPError) {
        guard end(.failure(error)) else { return }
        state.withLock { $0.task }?.cancel()
    }

    /// Carries out an ending: the terminal frame, the observer, the watchdogs and the end
    /// duties, then the durable record, then the waiters (so a waiter, e.g. the job table's
    /// retention, never runs before the record is queued for the store). Returns the job's
    /// retirement, which the caller runs (`retireOnNewTask`, or the agent's task).
    private func conclude(_ ending: JobEnding) -> Retirement? {
        let context = JobTerminalFrame.Context(
            compatibility: policy.compatibility, leaseExpiresAt: authority.constraints.expiresAt?.text,
            exhaustedCurrency: ending.isBudgetExhaustion ? authority.exhaustedCurrency() : nil)
        let message = JobTerminalFrame.message(for: ending, context: context, completedAt: ARCPTimestamp.string())
        endOrderValue.store(Self.endCounter.add(1, ordering: .relaxed).newValue, ordering: .relaxed)
        fanOut.publishTerminal(message)
        let (watchdogs, hooks, observer) = state.withLock { s in
            defer {
                s.watchdogs = []
                s.terminalHooks = nil
            }
            return (s.watchdogs, s.terminalHooks ?? [], s.instrumentation)
        }
        if let observer {
            let error: ARCPError? = if case .jobError(let e) = message { ARCPError(e) } else { nil }
            observer.ended(InstrumentedJobOutcome(status: ending.status, error: error, budgetRemaining: authority.budgetRemaining))
        }
        for w in watchdogs { w.cancel() }
        for h in hooks { h() }
        // Waiters wake once the end duties ran, so a span is ended when `waitForJob` returns.
        persist()
        let (waiters, retirement) = state.withLock { s -> ([CheckedContinuation<Void, Never>], Retirement?) in
            s.machine.settled()
            defer {
                s.completion = [:]
                s.retirement = nil
            }
            return (Array(s.completion.values), s.retirement)
        }
        for w in waiters { w.resume() }
        return retirement
    }

    private func retireOnNewTask(_ retirement: Retirement?) {
        guard let retirement else { return }
        Task { await retirement() }
    }

    /// Waits until the job has ended and its end duties ran (or the waiting task is cancelled).
    func waitUntilFinished() async {
        let id: UInt64? = state.withLock { s in
            if s.machine.isSettled { return nil }
            s.nextWaiter += 1
            return s.nextWaiter
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.machine.isSettled || Task.isCancelled { return true }
                    s.completion[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let c = state.withLock { $0.completion.removeValue(forKey: id) }
            c?.resume()
        }
    }

    /// Waits until the job has ended or `limit` passed.
    func waitUntilFinishedOrTimeout(_ limit: Duration) async {
        await withTaskGroup(of: Void.self) { g in
            g.addTask { await self.waitUntilFinished() }
            g.addTask { try? await Task.sleep(for: limit) }
            await g.next()
            g.cancelAll()
        }
    }

    // MARK: Durability

    /// The durable record of this job.
    func record() -> JobRecord {
        let status = self.status
        return JobRecord(
            jobID: id, sessionID: ownerSessionID, principal: principal, agent: agent,
            status: JobRecord.Status(rawValue: status.rawValue) ?? .error, createdAt: createdAt, traceID: traceID,
            parentJobID: parentJobID, leaseJSON: JSONWriter.string(lease.toJSON()),
            leaseConstraintsJSON: leaseConstraints.map { $0.jsonText() }, budgetJSON: accepted.budget.map { JSONWriter.string($0.toJSON()) },
            lastEventSeq: Int64(lastOwnerSeq), idempotencyKey: idempotencyKey)
    }

    /// Saves the job's record to the store, if there is one.
    @inline(never)
    func persist() { storeWriter?.submit(.job(record())) }
}
