
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

    /// Adds a new session unless its principal already holds `maxPerPrincipal` sessions
    /// (attached or resumable); false when refused (nothing added). Atomic.
    func insert(_ session: RuntimeSession, maxPerPrincipal: Int) async -> Bool

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

extension SessionTable {
    /// Adds the session without a limit (a table that does not count sessions per principal).
    package func insert(_ session: RuntimeSession, maxPerPrincipal: Int) async -> Bool {
        await insert(session)
        return true
    }
}

/// The in-process `SessionTable`: a dictionary under its own lock (rank `leaf`), with the
/// number of sessions per principal.
package final class InMemorySessionTable: SessionTable {
    private struct Table {
        var byID: [String: RuntimeSession] = [:]
        var perPrincipal: [String: Int] = [:]

        mutating func add(_ session: RuntimeSession) {
            if let old = byID.updateValue(session, forKey: session.id) { count(old.principal, -1) }
            count(session.principal, 1)
        }

        mutating func remove(_ id: String) {
            if let old = byID.removeValue(forKey: id) { count(old.principal, -1) }
        }

        mutating func count(_ principal: String, _ delta: Int) {
            let n = perPrincipal[principal, default: 0] + delta
            perPrincipal[principal] = n > 0 ? n : nil
        }
    }

    private let sessionsByID = RankedMutex<Table>(.leaf, Table())

    package init() {}

    package func insert(_ session: RuntimeSession) async {
        sessionsByID.withLock { $0.add(session) }
    }

    package func insert(_ session: RuntimeSession, maxPerPrincipal: Int) async -> Bool {
        sessionsByID.withLock { t in
            guard t.perPrincipal[session.principal, default: 0] < maxPerPrincipal else { return false }
            t.add(session)
            return true
        }
    }

    package func adopt(_ session: RuntimeSession) async -> RuntimeSession {
        sessionsByID.withLock { table in
            if let existing = table.byID[session.id] { return existing }
            table.add(session)
            return session
        }
    }

    /// Principals holding at least one session (their counters are freed at zero).
    package var principalCount: Int { sessionsByID.withLock { $0.perPrincipal.count } }

    package func session(_ id: String) async -> RuntimeSession? {
        localSession(id)
    }

    package func remove(_ session: RuntimeSession) async -> Bool {
        sessionsByID.withLock { table in
            guard table.byID[session.id] === session else { return false }
            table.remove(session.id)
            return true
        }
    }

    package func sessions() async -> [RuntimeSession] {
        sessionsByID.withLock { Array($0.byID.values) }
    }

    package var localSessionIDs: [String] { sessionsByID.withLock { Array($0.byID.keys) } }

    package func localSession(_ id: String) -> RuntimeSession? {
        sessionsByID.withLock { $0.byID[id] }
    }
}
