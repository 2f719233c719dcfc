/// The owners of a runtime's shared state, each behind a protocol with its own lock (or its
/// own coordination, across processes), its rules in one file:
///
/// | Owner | Holds | In memory |
/// |---|---|---|
/// | `SessionTable` | which sessions exist (attached or resumable) | `InMemorySessionTable` |
/// | `JobTable` | which jobs exist, their order, listing, retention, placement (run now or wait for a slot) | `InMemoryJobTable` |
/// | `IdempotencyIndex` | which job each principal's idempotency key names | `InMemoryIdempotencyIndex` |
/// | `SubscriptionFanOut` | who receives each job's events, its history | `InMemorySubscriptionFanOut` |
///
/// A session's own state is its `RuntimeSession`'s (`SessionStateMachine`), a job's its
/// `RuntimeJob`'s (`JobStateMachine`). The lock order between all of them is in
/// `LockOrder.swift`.
package struct RuntimeTables: Sendable {
    package var sessions: any SessionTable
    package var jobs: any JobTable
    package var idempotency: any IdempotencyIndex
    package var fanOut: any SubscriptionFanOut

    package init(sessions: any SessionTable, jobs: any JobTable, idempotency: any IdempotencyIndex, fanOut: any SubscriptionFanOut) {
        self.sessions = sessions
        self.jobs = jobs
        self.idempotency = idempotency
        self.fanOut = fanOut
    }

    /// Everything in this process's memory.
    package static func inMemory(
        historyLimitPerJob: Int, historyBytesPerJob: Int = .max, retention: JobRetentionPolicy = .keepEverything
    ) -> RuntimeTables {
        RuntimeTables(
            sessions: InMemorySessionTable(), jobs: InMemoryJobTable(retention: retention), idempotency: InMemoryIdempotencyIndex(),
            fanOut: InMemorySubscriptionFanOut(historyLimit: historyLimitPerJob, historyByteLimit: historyBytesPerJob))
    }
}
