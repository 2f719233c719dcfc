
/// The sessions a runtime serves: attached, or detached within their resume window. The one
/// owner of "which sessions exist"; a session's own state is its `RuntimeSession`'s.
///
/// The requirements are `async` so that an implementation may coordinate with other runtime
/// processes (a cluster on a shared database claims a session for the node its client
/// resumed on, and adopts one that was attached elsewhere from the shared store). The
/// synchronous `local…` views answer the runtime's synchronous introspection with what this
/// process holds.
///
/// Lock order: an implementation must not call into a session (or anything else) while it
/// holds its own lock (see `LockOrder.swift`).
package protocol SessionTable: Sendable {
    /// Adds a new session.
    func insert(_ session: RuntimeSession) async

    /// Adds `session` unless a session with its id is present; returns the one now in the
    /// table (a session restored from the store may race another restore of the same id).
    func adopt(_ session: RuntimeSession) async -> RuntimeSession

    /// The session `id`, if present.
    func session(_ id: String) async -> RuntimeSession?

    /// Removes `session` (that object only: a newer session of the same id stays), once its
    /// resume window passed. False when it was not in the table.
    @discardableResult
    func remove(_ session: RuntimeSession) async -> Bool

    /// Every session present.
    func sessions() async -> [RuntimeSession]

    /// The ids of the sessions this process holds.
    var localSessionIDs: [String] { get }

    /// Session `id`, if this process holds it.
    func localSession(_ id: String) -> RuntimeSession?
}

/// The in-process `SessionTable`: a dictionary under its own lock (rank `leaf`).
package final class InMemorySessionTable: SessionTable {
    private let sessionsByID = RankedMutex<[String: RuntimeSession]>(.leaf, [:])

    package init() {}

    package func insert(_ session: RuntimeSession) async {
        sessionsByID.withLock { $0[session.id] = session }
    }

    package func adopt(_ session: RuntimeSession) async -> RuntimeSession {
        sessionsByID.withLock { table in
            if let existing = table[session.id] { return existing }
            table[session.id] = session
            return session
        }
    }

    package func session(_ id: String) async -> RuntimeSession? {
        localSession(id)
    }

    package func remove(_ session: RuntimeSession) async -> Bool {
        sessionsByID.withLock { table in
            guard table[session.id] === session else { return false }
            table[session.id] = nil
            return true
        }
    }

    package func sessions() async -> [RuntimeSession] {
        sessionsByID.withLock { Array($0.values) }
    }

    package var localSessionIDs: [String] { sessionsByID.withLock { Array($0.keys) } }

    package func localSession(_ id: String) -> RuntimeSession? {
        sessionsByID.withLock { $0[id] }
    }
}
