import ARCP
import Foundation

// Who numbers the events this node's jobs emit for a session (docs/CLUSTER.md, "Moving a
// session"). A session's events have one numbering: its holder's. While a session moves
// from this node to another (from the `flush` request on), while another node holds it, and
// while it comes back, this node's jobs must not number its events in their copy of the
// session: they are forwarded (`arcp_forward`) for whichever node holds it, or, in the
// moment it comes back, held in memory until what was forwarded is numbered first.
//
// `SessionRouting` is the decision logic, pure (tested without PostgreSQL:
// `SessionRoutingTests`); `ClusterRoutes` holds it under a lock and does the forwarding.

/// The routing of one node's job events by session: a pure state machine.
///
/// - A session with no entry is numbered here (the node holds it, or has never been told
///   otherwise). Each numbering is counted while it runs (`begin`…`numbered`), so that a
///   `leave` can wait until none is in flight: from then on, nothing more is numbered here,
///   and a store flush after that covers everything this node numbered.
/// - `away`: another node holds the session or asked for it; events are forwarded.
/// - `returning`: the node takes the session (back); events are held, in order, until the
///   forwarded ones are numbered, then numbered here (`takeHeld`) until none is left, and the
///   session is numbered here directly again.
struct SessionRouting<Held> {
    enum Mode {
        /// Forwarded since the `leave` of this generation.
        case away(generation: UInt64)
        /// Held, oldest first, while the node takes the session back.
        case returning([Held])
    }

    /// Where a job's event goes, decided before it is published.
    enum Decision: Equatable {
        /// Numbered in the session here (in flight until `numbered`).
        case number
        /// Not numbered here: publish it without the session, then `commit` it.
        case elsewhere
    }

    /// Where an event `begin` did not number goes, decided when it is committed.
    enum Commit: Equatable {
        /// To the forwarder (in this order).
        case forward
        /// Kept until the session is numbered here again.
        case held
        /// The session is numbered here again meanwhile: number it (in flight until `numbered`).
        case number
    }

    private(set) var modes: [String: Mode] = [:]
    private(set) var inflight: [String: Int] = [:]
    /// The drain passes open per session (`openPass`…`closePass`), and the generation of the
    /// session's last leave since the first of them opened.
    private(set) var passes: [String: (open: Int, since: UInt64)] = [:]
    private var generation: UInt64 = 0

    /// Whether session `id` is numbered here now.
    func numberedHere(_ id: String) -> Bool { modes[id] == nil }

    /// Whether a numbering of session `id` is in flight.
    func busy(_ id: String) -> Bool { (inflight[id] ?? 0) > 0 }

    /// Whether session `id` is away since the `leave` that returned `generation`.
    func isAway(_ id: String, generation g: UInt64) -> Bool {
        if case .away(let current) = modes[id] { return current == g }
        return false
    }

    /// Whether session `id` is away (forwarded).
    func isAway(_ id: String) -> Bool { awaySince(id) != nil }

    /// The generation of the `leave` session `id` is away since; nil when it is not away.
    func awaySince(_ id: String) -> UInt64? {
        if case .away(let g) = modes[id] { return g }
        return nil
    }

    /// A job of session `id` is about to publish an event.
    mutating func begin(_ id: String) -> Decision {
        guard modes[id] == nil else { return .elsewhere }
        inflight[id, default: 0] += 1
        return .number
    }

    /// A numbering allowed by `begin`, `commit`, `beginDrain` or `takeHeld` is done. True when
    /// none of session `id` is in flight any more (a `leave` waiting for that may go on).
    mutating func numbered(_ id: String) -> Bool {
        let left = (inflight[id] ?? 1) - 1
        inflight[id] = left > 0 ? left : nil
        return left <= 0
    }

    /// An event that `begin` did not number, published meanwhile without the session: where
    /// it goes now.
    mutating func commit(_ id: String, _ event: Held) -> Commit {
        switch modes[id] {
        case nil:
            inflight[id, default: 0] += 1
            return .number
        case .away:
            return .forward
        case .returning(var held):
            held.append(event)
            modes[id] = .returning(held)
            return .held
        }
    }

    /// This node stops numbering session `id` (another node asked for it, or holds it).
    /// Returns this leave's generation, the events a return in progress held (to be forwarded
    /// now, in this order, before any later event), and whether a numbering is in flight (the
    /// caller waits for it before flushing its store).
    @discardableResult
    mutating func leave(_ id: String) -> (generation: UInt64, held: [Held], busy: Bool) {
        generation += 1
        var held: [Held] = []
        if case .returning(let h) = modes[id] { held = h }
        modes[id] = .away(generation: generation)
        if passes[id] != nil { passes[id]?.since = generation }
        return (generation, held, busy(id))
    }

    /// The node takes session `id` (back), which it decided to do while the session was away
    /// since the leave of `generation` (its claim, or its take-back, was made then): events
    /// are held from now on. False when it is numbered here already (nothing to take back), a
    /// return is under way, or the session left again since — another node asked for it
    /// meanwhile, and this node answered that it numbers nothing more: it is that node's to
    /// claim (or this node's to take back later, `takeBackLater`).
    mutating func beginReturn(_ id: String, since generation: UInt64) -> Bool {
        guard awaySince(id) == generation else { return false }
        modes[id] = .returning([])
        return true
    }

    /// A drain pass of session `id` begins: what it reads from here on (who holds the
    /// session, the forwarded rows) belongs to this node's current hold of it. Returns the
    /// pass's token for `beginDrain`; `closePass` when the pass is over.
    mutating func openPass(_ id: String) -> UInt64 {
        var pass = passes[id] ?? (open: 0, since: 0)
        pass.open += 1
        passes[id] = pass
        return pass.since
    }

    /// A drain pass of session `id` is over.
    mutating func closePass(_ id: String) {
        guard var pass = passes[id] else { return }
        pass.open -= 1
        passes[id] = pass.open > 0 ? pass : nil
    }

    /// A drain pass (`openPass`'s `pass`) may number the forwarded events of session `id`:
    /// while it is numbered here, or returning (the return drains before it numbers what it
    /// held), and only if the session did not leave since the pass opened — a pass that read
    /// the rows while this node held the session before, then waited while it moved away and
    /// back, holds rows another node may have numbered since. In flight until `numbered`.
    /// False while it is away: the rows stay for the node holding it.
    mutating func beginDrain(_ id: String, pass: UInt64) -> Bool {
        if case .away = modes[id] { return false }
        guard passes[id]?.since == pass else { return false }
        inflight[id, default: 0] += 1
        return true
    }

    /// The events held while returning, oldest first, to number now (in flight until
    /// `numbered`). Empty: none is left, and the session is numbered here directly from now
    /// on. Nil: the session left again meanwhile (what was held went to the forwarder).
    mutating func takeHeld(_ id: String) -> [Held]? {
        switch modes[id] {
        case nil:
            return []
        case .away:
            return nil
        case .returning(let held):
            if held.isEmpty {
                modes[id] = nil
                return []
            }
            modes[id] = .returning([])
            inflight[id, default: 0] += 1
            return held
        }
    }

    /// Forgets session `id` while it is away (no job of it is left on this node): a session
    /// this node holds again goes through `beginReturn` or has no jobs here.
    mutating func forget(_ id: String) {
        if case .away = modes[id] { modes[id] = nil }
    }
}

/// This node's `SessionRouting`, under a lock, with the forwarding it decides: events to
/// forward are handed to the forwarder under the lock, so the forwarder's order is the
/// routing's. The lock has the session rank (it calls into the forwarder's queue, a leaf,
/// and is never taken under a session's lock).
final class ClusterRoutes: Sendable {
    private struct State {
        var routing = SessionRouting<ClusterForwarder.Entry>()
        var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]
    }

    let forwarder: ClusterForwarder
    private let state = RankedMutex(.session, State())

    init(forwarder: ClusterForwarder) {
        self.forwarder = forwarder
    }

    /// True: number the event in the session here, then call `numbered`.
    func begin(_ id: String) -> Bool { state.withLock { $0.routing.begin(id) == .number } }

    func numbered(_ id: String) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard s.routing.numbered(id) else { return [] }
            return s.waiters.removeValue(forKey: id) ?? []
        }
        for w in waiters { w.resume() }
    }

    /// Forwards or holds `entry`; true: number it here now, then call `numbered`.
    func commit(_ entry: ClusterForwarder.Entry) -> Bool {
        state.withLock { s in
            switch s.routing.commit(entry.session, entry) {
            case .forward:
                forwarder.enqueue(entry)
                return false
            case .held: return false
            case .number: return true
            }
        }
    }

    /// Stops numbering session `id` here and waits until no numbering of it is in flight.
    /// Returns the leave's generation.
    @discardableResult
    func leave(_ id: String) async -> UInt64 {
        let (generation, busy) = state.withLock { s -> (UInt64, Bool) in
            let r = s.routing.leave(id)
            for e in r.held { forwarder.enqueue(e) }
            return (r.generation, r.busy)
        }
        guard busy else { return generation }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                guard s.routing.busy(id) else { return true }
                s.waiters[id, default: []].append(c)
                return false
            }
            if now { c.resume() }
        }
        return generation
    }

    func beginReturn(_ id: String, since generation: UInt64) -> Bool { state.withLock { $0.routing.beginReturn(id, since: generation) } }
    func awaySince(_ id: String) -> UInt64? { state.withLock { $0.routing.awaySince(id) } }
    func openPass(_ id: String) -> UInt64 { state.withLock { $0.routing.openPass(id) } }
    func closePass(_ id: String) { state.withLock { $0.routing.closePass(id) } }
    func beginDrain(_ id: String, pass: UInt64) -> Bool { state.withLock { $0.routing.beginDrain(id, pass: pass) } }
    func takeHeld(_ id: String) -> [ClusterForwarder.Entry]? { state.withLock { $0.routing.takeHeld(id) } }
    func isAway(_ id: String) -> Bool { state.withLock { $0.routing.isAway(id) } }
    func isAway(_ id: String, generation: UInt64) -> Bool { state.withLock { $0.routing.isAway(id, generation: generation) } }
    func numberedHere(_ id: String) -> Bool { state.withLock { $0.routing.numberedHere(id) } }
    func forget(_ id: String) { state.withLock { $0.routing.forget(id) } }
}
