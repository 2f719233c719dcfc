import Foundation

/// The timers of every `ARCPClient` in the process, as entries of one ``DeadlineScheduler``:
/// a client's request timeouts and its connection's heartbeat (``ClientTimer``). Each client
/// used to run a task for each, asleep on a timer of its own almost always: two tasks, two
/// timers and their task memory per client, and 2–3 % of the CPU of a process that opens a
/// thousand sessions (docs/BENCHMARKS.md, session 16). Here each is a heap entry; the
/// scheduler's one task sleeps until the earliest and ends when none is left.
///
/// Entries hold their client weakly (a timer never keeps a client alive) and fire under no
/// lock: the scheduler's lock (a leaf) is released before `fire`, which takes the client's
/// state lock; `schedule` is called with no client lock held.
extension ARCPClient {
    static let deadlines = DeadlineScheduler()

    /// The request timer of `generation` fired: fails what is due; the next deadline, or nil
    /// once nothing is pending or a timer of a later generation replaced this one (a request
    /// due earlier than its next firing).
    func expireRequests(timer generation: Int, at now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        let (expired, next) = state.withLock { s in
            s.expireRequests(timer: generation, at: now) { entry in
                ARCPClientError(.timedOut, "no answer to \(entry.type) within \(entry.timeout)")
            }
        }
        for c in expired { c.resume() }
        return next
    }

    /// The heartbeat of connection `generation` fired (spec §6.4, `HeartbeatStateMachine`):
    /// pings when the machine says so (the send is a short task of its own), closes a transport
    /// whose runtime went silent (the read loop then reports the loss, and the session resumes
    /// if configured). The next check, or nil once the connection is not the current one or
    /// heartbeats stopped.
    func heartbeatCheck(generation: Int, at now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        // A ping is noted as sent by the machine, so the next question has a later answer; at
        // most a few rounds, whatever the machine says.
        for _ in 0..<4 {
            switch state.withLock({ $0.connection.heartbeat(generation: generation, at: now) }) {
            case .stop:
                return nil
            case .wait(let until):
                return until
            case .ping:
                Task { try? await self.send(.sessionPing(SessionPingPayload(nonce: ARCPID.make("p"), sentAt: ARCPTimestamp.string()))) }
            case .lost(let transport, let silence):
                diagnostic("no message from the runtime for \(silence): heartbeat lost")
                Task { await transport.close() }
                return nil
            }
        }
        return now + .seconds(1)
    }
}

/// One of a client's timers in `ARCPClient.deadlines`: its request timeouts or the heartbeat
/// of one connection, by generation. Holds the client weakly.
final class ClientTimer: ScheduledDeadline {
    enum Kind {
        /// ``ARCPClient/expireRequests(timer:at:)`` of this request-timer generation.
        case requestTimeouts
        /// ``ARCPClient/heartbeatCheck(generation:at:)`` of this connection generation.
        case heartbeat
    }

    private weak let client: ARCPClient?
    private let kind: Kind
    private let generation: Int

    init(_ kind: Kind, client: ARCPClient, generation: Int) {
        self.kind = kind
        self.client = client
        self.generation = generation
    }

    func fire(at now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard let client else { return nil }
        switch kind {
        case .requestTimeouts: return client.expireRequests(timer: generation, at: now)
        case .heartbeat: return client.heartbeatCheck(generation: generation, at: now)
        }
    }
}
