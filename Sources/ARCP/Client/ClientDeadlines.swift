import Foundation

/// The timers of every `ARCPClient` in the process, as entries of one ``DeadlineScheduler``:
/// a client's request timeouts (``RequestTimeouts``) and its connection's heartbeat
/// (``ClientHeartbeat``). Each client used to run a task for each, asleep on a timer of its
/// own almost always: two tasks, two timers and their task memory per client, and 2–3 % of the
/// CPU of a process that opens a thousand sessions (docs/BENCHMARKS.md, session 16). Here each
/// is a heap entry; the scheduler's one task sleeps until the earliest and ends when none is left.
///
/// Entries hold their client weakly (a timer never keeps a client alive) and fire under no
/// lock: the scheduler's lock (a leaf) is released before `fire`, which takes the client's
/// state lock, so the order is the client's lock, then the scheduler's (`schedule` is called
/// with no client lock held).
extension ARCPClient {
    static let deadlines = DeadlineScheduler()
}

/// Times out a client's unanswered requests: fired at the earliest pending deadline, it fails
/// what is due and asks again for the next (``ClientStateMachine/expireRequests(timer:at:_:)``).
/// It leaves the scheduler once nothing is pending, or once a timer of a later generation
/// replaced it (a request due earlier than this one's next firing).
final class RequestTimeouts: ScheduledDeadline {
    private weak let client: ARCPClient?
    private let generation: Int

    init(client: ARCPClient, generation: Int) {
        self.client = client
        self.generation = generation
    }

    func fire(at now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard let client else { return nil }
        let (expired, next) = client.state.withLock { s in
            s.expireRequests(timer: generation, at: now) { entry in
                ARCPClientError(.timedOut, "no answer to \(entry.type) within \(entry.timeout)")
            }
        }
        for c in expired { c.resume() }
        return next
    }
}

/// A connection's client heartbeat (spec §6.4, `HeartbeatStateMachine`): fired at the
/// machine's next check, it pings when the machine says so (the send is a short task of its
/// own) and closes a transport whose runtime went silent (the read loop then reports the loss,
/// and the session resumes if configured). It leaves the scheduler once its connection is no
/// longer the client's current one, or heartbeats stopped.
final class ClientHeartbeat: ScheduledDeadline {
    private weak let client: ARCPClient?
    private let generation: Int

    init(client: ARCPClient, generation: Int) {
        self.client = client
        self.generation = generation
    }

    /// When to fire first: the machine's first check (nil: no heartbeat to run).
    func firstCheck(at now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        fire(at: now)
    }

    func fire(at now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard let client else { return nil }
        // A ping is noted as sent by the machine, so the next question has a later answer; at
        // most a few rounds, whatever the machine says.
        for _ in 0..<4 {
            switch client.state.withLock({ $0.connection.heartbeat(generation: generation, at: now) }) {
            case .stop:
                return nil
            case .wait(let until):
                return until
            case .ping:
                Task { try? await client.send(.sessionPing(SessionPingPayload(nonce: ARCPID.make("p"), sentAt: ARCPTimestamp.string()))) }
            case .lost(let transport, let silence):
                client.diagnostic("no message from the runtime for \(silence): heartbeat lost")
                Task { await transport.close() }
                return nil
            }
        }
        return now + .seconds(1)
    }
}
