import HeapModule

/// Something a ``DeadlineScheduler`` fires when its deadline comes: synchronous and quick (it
/// runs on the scheduler's task, before the other entries due at that moment).
protocol ScheduledDeadline: AnyObject, Sendable {
    /// Called at (or just after) the deadline it was scheduled for. Returns when to be called
    /// next; nil when it is done (the entry then leaves the scheduler).
    func fire(at now: ContinuousClock.Instant) -> ContinuousClock.Instant?
}

/// Fires many deadlines from one task: a runtime's connections and sessions, or every
/// `ARCPClient` of a process (`ARCPClient.deadlines`: request timeouts and heartbeats).
///
/// A connection used to run its heartbeat as a child task of its own, asleep almost always:
/// about 3 KiB per connection (the task, the slab its frames and its inherited executor
/// preference took, a task group), for a timer; a detached session waited out its resume
/// window the same way (a task and a dispatch timer per session). Here each is an entry in one
/// min-heap of deadlines; the scheduler's task sleeps until the earliest, fires what is due
/// (``ScheduledDeadline/fire(at:)``: a heartbeat pings, declares a loss, or closes an idle
/// connection; a session expiry removes the session) and puts each back at the deadline it
/// returns. An entry that no longer matters (a stopped heartbeat, a resumed session) answers
/// nil when it next comes due and leaves the heap then. The runtime has one scheduler for
/// heartbeats (`heartbeats`), one for resume windows (`expiries`) and one for the flush
/// bound of closing connections (`flushDeadlines`); the clients of a process share one
/// (`ClientDeadlines.swift`).
///
/// Its lock is a leaf: nothing is called under it; entries are fired after it is released.
final class DeadlineScheduler: Sendable {
    private struct Entry: Comparable {
        var deadline: ContinuousClock.Instant
        var order: UInt64
        var target: any ScheduledDeadline

        static func < (a: Entry, b: Entry) -> Bool { (a.deadline, a.order) < (b.deadline, b.order) }
        static func == (a: Entry, b: Entry) -> Bool { a.deadline == b.deadline && a.order == b.order }
    }

    private enum Phase {
        /// Firing what is due; it reads the heap again before it sleeps.
        case running
        /// Asleep until this deadline, or until woken by an earlier one.
        case sleeping(until: ContinuousClock.Instant)
        case stopped
    }

    private struct State {
        var heap = Heap<Entry>()
        var order: UInt64 = 0
        var phase = Phase.running
        /// Whether the loop's task runs (it ends when the heap is empty; `schedule` starts it).
        var hasTask = false
        /// The sleeping loop's wake-up, or a wake-up that came before it slept.
        var wake: CheckedContinuation<Void, Never>?
        var wakePending = false
    }

    private let state = RankedMutex(.leaf, State())

    /// Entries in the heap, those that no longer matter but have not yet come due included
    /// (for tests).
    var scheduled: Int { state.withLock { $0.heap.count } }

    /// Fires `target` at `deadline`, then at each deadline its `fire` returns. Starts the
    /// scheduler's task on first use. Does nothing once stopped.
    func schedule(_ target: any ScheduledDeadline, at deadline: ContinuousClock.Instant) {
        let (start, wake): (Bool, CheckedContinuation<Void, Never>?) = state.withLock { s in
            if case .stopped = s.phase { return (false, nil) }
            s.order &+= 1
            s.heap.insert(Entry(deadline: deadline, order: s.order, target: target))
            let start = !s.hasTask
            s.hasTask = true
            guard case .sleeping(let until) = s.phase, deadline < until else { return (start, nil) }
            // Earlier than the loop sleeps for: wake it.
            if let w = s.wake {
                s.wake = nil
                return (start, w)
            }
            s.wakePending = true
            return (start, nil)
        }
        wake?.resume()
        if start { startTask() }
    }

    /// Ends the scheduler's task; later `schedule` calls are ignored.
    func stop() {
        let wake: CheckedContinuation<Void, Never>? = state.withLock { s in
            s.phase = .stopped
            s.heap = Heap()
            defer { s.wake = nil }
            return s.wake
        }
        wake?.resume()
    }

    private func startTask() {
        Task { [self] in await loop() }
    }

    private func loop() async {
        while true {
            let now = ContinuousClock.now
            var due: [Entry] = []
            let running = state.withLock { s -> Bool in
                if case .stopped = s.phase { return false }
                s.phase = .running
                while let top = s.heap.min, top.deadline <= now { due.append(s.heap.removeMin()) }
                return true
            }
            guard running else { return }
            for entry in due {
                guard let next = entry.target.fire(at: now) else { continue }
                // At least a millisecond per round, so no instant arithmetic can make it spin.
                let deadline = max(next, now + .milliseconds(1))
                state.withLock { s in
                    if case .stopped = s.phase { return }
                    s.order &+= 1
                    s.heap.insert(Entry(deadline: deadline, order: s.order, target: entry.target))
                }
            }
            let until: ContinuousClock.Instant? = state.withLock { s in
                if case .stopped = s.phase { return nil }
                guard let until = s.heap.min?.deadline else {
                    // Nothing left to watch: the task ends (`schedule` starts another).
                    s.hasTask = false
                    return nil
                }
                s.phase = .sleeping(until: until)
                return until
            }
            guard let until else { return }
            await sleep(until: until)
        }
    }

    /// Returns at `deadline` or when `schedule` or `stop` wakes the loop.
    private func sleep(until deadline: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            group.addTask { await self.waitForWake() }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForWake() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.wakePending || Task.isCancelled {
                        s.wakePending = false
                        return true
                    }
                    if case .stopped = s.phase { return true }
                    s.wake = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let w: CheckedContinuation<Void, Never>? = state.withLock { s in
                defer { s.wake = nil }
                return s.wake
            }
            w?.resume()
        }
    }
}
