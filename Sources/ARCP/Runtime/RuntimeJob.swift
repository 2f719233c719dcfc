import DequeModule
import Foundation
import Synchronization

/// Why a job's task was cancelled, which decides its terminal frame.
enum StopReason: Sendable {
    case cancelled(String?)
    case timedOut
    case leaseExpired
    case parentCancelled
    case shutdown
    /// A `cost.budget` counter ran out and `budgetExhaustionIsFatal` is set.
    case budgetExhausted
}

/// A job as the runtime tracks it. Its events go to the submitting session and to every
/// subscribed session, each numbering them in its own `event_seq` space.
final class RuntimeJob: Sendable {
    struct HistoryEntry {
        var ownerSeq: Int
        var message: Message
        /// What observers of another principal get instead (credential values removed).
        var redacted: Message? = nil
    }

    struct State {
        var status: JobStatus = .pending
        var task: Task<Void, Never>? = nil
        var owner: RuntimeSession
        var subscribers: [String: RuntimeSession] = [:]
        var history: Deque<HistoryEntry> = []
        var historyDropped = 0
        var terminal: Message? = nil
        var lastOwnerSeq = 0
        var stopReason: StopReason? = nil
        var children: [String] = []
        var resultStreamed = false
        var watchdogs: [Task<Void, Never>] = []
        var completion: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Set once the terminal frame was queued and the end duties (`JobInstrumentation.ended`,
        /// terminal hooks) ran: what `waitUntilFinished` waits for.
        var settled = false
        var nextWaiter: UInt64 = 0
        /// Run once, after the terminal frame (credential revocation, child clean-up).
        var terminalHooks: [@Sendable () -> Void] = []
        /// The job's observer (`Configuration.instrumentation`); nil when none is set.
        var instrumentation: (any JobInstrumentation)? = nil
    }

    let id: String
    let agent: String
    let principal: String
    let traceID: String
    let lease: Lease
    let leaseConstraints: LeaseConstraints?
    let createdAt: Date
    let parentJobID: String?
    let idempotencyKey: String?
    let fingerprint: String?
    let accepted: JobAcceptedPayload
    let historyLimit: Int
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
    private let state: Mutex<State>
    /// Provisioned credentials (spec §9.8), current values (after rotations). A lock of
    /// its own, so it can be read while `state` is held (job.subscribed); when both are
    /// taken, `state` comes first.
    private let credentialState: Mutex<[Credential]>

    init(
        id: String, agent: String, principal: String, traceID: String, lease: Lease, leaseConstraints: LeaseConstraints?,
        parentJobID: String?, idempotencyKey: String?, fingerprint: String?, accepted: JobAcceptedPayload,
        owner: RuntimeSession, historyLimit: Int, authority: LeaseAuthority, delegateID: String? = nil, depth: Int = 0,
        credentials: [Credential] = [], storeWriter: RuntimeStoreWriter? = nil, traceContext: W3CTraceContext? = nil
    ) {
        self.storeWriter = storeWriter
        self.id = id
        self.agent = agent
        self.principal = principal
        self.traceID = traceID
        self.lease = lease
        self.leaseConstraints = leaseConstraints
        self.createdAt = Date()
        self.parentJobID = parentJobID
        self.idempotencyKey = idempotencyKey
        self.fingerprint = fingerprint
        self.accepted = accepted
        self.historyLimit = historyLimit
        self.authority = authority
        self.delegateID = delegateID
        self.depth = depth
        self.traceContext = traceContext
        self.state = Mutex(State(owner: owner))
        self.credentialState = Mutex(credentials)
    }

    var status: JobStatus { state.withLock { $0.status } }
    var owner: RuntimeSession { state.withLock { $0.owner } }
    var terminal: Message? { state.withLock { $0.terminal } }
    var isTerminal: Bool { state.withLock { $0.terminal != nil } }
    var lastOwnerSeq: Int { state.withLock { $0.lastOwnerSeq } }
    var stopReason: StopReason? { state.withLock { $0.stopReason } }
    var children: [String] { state.withLock { $0.children } }
    var resultStreamed: Bool {
        get { state.withLock { $0.resultStreamed } }
    }
    func markResultStreamed() { state.withLock { $0.resultStreamed = true } }

    /// Installs the agent's task; cancels it at once when the job was stopped before it
    /// had one (e.g. shutdown or a parent's cancellation racing `start`).
    func setTask(_ t: Task<Void, Never>) {
        let stopped = state.withLock { s -> Bool in
            s.task = t
            return s.stopReason != nil
        }
        if stopped { t.cancel() }
    }
    func addWatchdog(_ t: Task<Void, Never>) { state.withLock { $0.watchdogs.append(t) } }
    func addChild(_ id: String) { state.withLock { $0.children.append(id) } }
    func markRunning() { state.withLock { if $0.status == .pending { $0.status = .running } } }
    /// The job's observer, if any. Set once by `ARCPRuntime.start`, before the agent runs.
    var instrumentation: (any JobInstrumentation)? {
        get { state.withLock { $0.instrumentation } }
        set { state.withLock { $0.instrumentation = newValue } }
    }

    /// The current provisioned credentials (only ever shown to the submitting principal).
    var credentials: [Credential] { credentialState.withLock { $0 } }

    /// Replaces a credential after rotation and returns the one it replaced; `nil` (nothing
    /// changed) when the job already ended or has no credential with that id, in which
    /// case the caller must revoke `c` itself.
    func replaceCredential(_ c: Credential) -> Credential? {
        state.withLock { s in
            guard s.terminal == nil else { return nil }
            return credentialState.withLock { creds in
                guard let i = creds.firstIndex(where: { $0.id == c.id }) else { return nil }
                let old = creds[i]
                creds[i] = c
                return old
            }
        }
    }

    /// Runs `hook` once the job has ended (at once if it already has).
    func onTerminal(_ hook: @escaping @Sendable () -> Void) {
        let now: Bool = state.withLock { s in
            if s.terminal != nil { return true }
            s.terminalHooks.append(hook)
            return false
        }
        if now { hook() }
    }

    /// Records why the job is being stopped (first reason wins) and cancels its task.
    /// Returns false when the job already ended.
    @discardableResult
    func stop(_ reason: StopReason) -> Bool {
        let task: Task<Void, Never>? = state.withLock { s in
            guard s.terminal == nil else { return nil }
            if s.stopReason == nil { s.stopReason = reason }
            return s.task
        }
        guard let task else { return false }
        task.cancel()
        return true
    }

    /// Emits a job.event (or terminal frame) to the owner and every subscriber. Returns the
    /// owner's seq, or nil if the job already ended (late events after the terminal are refused).
    /// `redactedForOthers`, when given, is what subscribers of another principal get instead.
    @discardableResult
    func emit(_ message: Message, redactedForOthers: Message? = nil) -> Int? {
        let (seq, observer) = state.withLock { s -> (Int?, (any JobInstrumentation)?) in
            guard s.terminal == nil else { return (nil, nil) }
            if s.status == .pending { s.status = .running }
            let seq = s.owner.sendEvent(message, jobID: id, traceID: traceID)
            s.lastOwnerSeq = seq
            s.history.append(HistoryEntry(ownerSeq: seq, message: message, redacted: redactedForOthers))
            if s.history.count > historyLimit {
                s.history.removeFirst()
                s.historyDropped += 1
            }
            for sub in s.subscribers.values {
                let m = sub.principal == principal ? message : (redactedForOthers ?? message)
                sub.sendEvent(m, jobID: id, traceID: traceID)
            }
            return (seq, s.instrumentation)
        }
        if let observer, case .jobEvent(let e) = message { observer.event(e.body) }
        return seq
    }

    /// Back-pressure: waits until the slowest observer session (and the runtime store) has room.
    func waitForCapacity() async {
        let sessions = state.withLock { [$0.owner] + Array($0.subscribers.values) }
        for s in sessions { await s.waitForCapacity() }
        await storeWriter?.waitForCapacity()
    }

    /// The durable record of this job.
    func record() -> JobRecord {
        let (status, owner, last) = state.withLock { ($0.status, $0.owner, $0.lastOwnerSeq) }
        return JobRecord(
            jobID: id, sessionID: owner.id, principal: principal, agent: agent,
            status: JobRecord.Status(rawValue: status.rawValue) ?? .error, createdAt: createdAt, traceID: traceID,
            parentJobID: parentJobID, leaseJSON: JSONWriter.string(lease.toJSON()),
            leaseConstraintsJSON: leaseConstraints.map { $0.jsonText() }, budgetJSON: accepted.budget.map { JSONWriter.string($0.toJSON()) },
            lastEventSeq: Int64(last), idempotencyKey: idempotencyKey)
    }

    /// Saves the job's record to the runtime store, if there is one.
    func persist() { storeWriter?.submit(.job(record())) }

    /// Emits the terminal frame once. Returns false if the job had already ended.
    @discardableResult
    func finish(_ message: Message, status: JobStatus) -> Bool {
        let (done, watchdogs, hooks, observer):
            (Bool, [Task<Void, Never>], [@Sendable () -> Void], (any JobInstrumentation)?) = state.withLock { s in
            guard s.terminal == nil else { return (false, [], [], nil) }
            let seq = s.owner.sendEvent(message, jobID: id, traceID: traceID)
            s.lastOwnerSeq = seq
            s.history.append(HistoryEntry(ownerSeq: seq, message: message))
            if s.history.count > historyLimit { s.history.removeFirst(); s.historyDropped += 1 }
            for sub in s.subscribers.values { sub.sendEvent(message, jobID: id, traceID: traceID) }
            s.terminal = message
            s.status = status
            let wd = s.watchdogs
            s.watchdogs = []
            let h = s.terminalHooks
            s.terminalHooks = []
            return (true, wd, h, s.instrumentation)
        }
        if let observer {
            let error: ARCPError? = if case .jobError(let e) = message { ARCPError(e) } else { nil }
            observer.ended(InstrumentedJobOutcome(status: status, error: error, budgetRemaining: authority.budgetRemaining))
        }
        for w in watchdogs { w.cancel() }
        for h in hooks { h() }
        guard done else { return false }
        // Waiters wake once the end duties ran, so a span is ended when `waitForJob` returns.
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.settled = true
            defer { s.completion = [:] }
            return Array(s.completion.values)
        }
        for w in waiters { w.resume() }
        persist()
        return true
    }

    /// Waits until the job has ended and its end duties ran (or the waiting task is cancelled).
    func waitUntilFinished() async {
        let id = state.withLock { s -> UInt64 in s.nextWaiter += 1; return s.nextWaiter }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.settled || Task.isCancelled { return true }
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

    /// Moves the job to a resumed session object (same session id, so nothing to do) — or
    /// re-targets it when a session object is replaced.
    func setOwner(_ session: RuntimeSession) { state.withLock { $0.owner = session } }

    /// Replays the terminal frame (idempotent resubmit of a finished job) to `session`.
    func replayTerminal(to session: RuntimeSession) {
        state.withLock { s in
            guard let t = s.terminal else { return }
            session.sendEvent(t, jobID: id, traceID: traceID)
        }
    }

    /// Atomically sends `job.subscribed`, replays history after `fromSeq` (if requested), and
    /// registers `session` for live events, so nothing is missed or duplicated.
    func subscribe(_ session: RuntimeSession, history: Bool, fromSeq: Int, subscribed: (JobStatus, Int, Bool) -> Message) {
        state.withLock { s in
            let replayed = history && s.history.contains { $0.ownerSeq > fromSeq }
            session.sendControl(subscribed(s.status, s.lastOwnerSeq, replayed), jobID: id, traceID: traceID)
            if history {
                let other = session.principal != principal
                for h in s.history where h.ownerSeq > fromSeq {
                    session.sendEvent(other ? (h.redacted ?? h.message) : h.message, jobID: id, traceID: traceID)
                }
            } else if let t = s.terminal {
                // A finished job: give the subscriber its outcome so it can stop waiting.
                session.sendEvent(t, jobID: id, traceID: traceID)
            }
            if s.terminal == nil && session !== s.owner { s.subscribers[session.id] = session }
        }
    }

    func unsubscribe(_ sessionID: String) -> Bool {
        state.withLock { $0.subscribers.removeValue(forKey: sessionID) != nil }
    }

    var subscriberIDs: [String] { state.withLock { Array($0.subscribers.keys) } }
}
