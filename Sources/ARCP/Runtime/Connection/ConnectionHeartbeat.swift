import Logging

/// Heartbeats of one connection (spec §6.4): the runtime's I/O shell around the shared
/// `HeartbeatStateMachine`. The reader and the writer report frames; the runtime's
/// `heartbeats` scheduler (a `DeadlineScheduler`) fires it when the machine next has something to decide: it sends the
/// pings the machine asks for and, on a loss, reports `HEARTBEAT_LOST` and ends the
/// connection. Jobs are never terminated here.
package final class ConnectionHeartbeat: ScheduledDeadline {
    typealias Machine = HeartbeatStateMachine<ContinuousClock.Instant>

    private let machine: RankedMutex<Machine>
    /// Idle-timeout mode (`Limits.idleTimeout`): no pings, and the connection is closed
    /// when no frame went either way for this long.
    private let idleTimeout: Duration?

    /// Pings go out at `interval`; loss is judged against the interval the client was told
    /// (whole seconds, rounded up), so a client that answers within the advertised interval
    /// is never dropped.
    init(interval: Duration) {
        let advertised = Duration.seconds(Machine.Configuration.advertisedSeconds(interval))
        var m = Machine()
        m.negotiated(Machine.Configuration(pingInterval: interval, lossInterval: advertised), at: .now)
        machine = RankedMutex(.leaf, m)
        idleTimeout = nil
    }

    /// The idle timeout of a connection without heartbeats (issue 10 item 3): the machine
    /// only records the last frame each way (it is never ticked, so it never pings), and
    /// `fire` closes the connection once both were silent for `timeout`.
    package init(idleTimeout timeout: Duration) {
        let t = Machine.Configuration.clamped(timeout)
        var m = Machine()
        m.negotiated(Machine.Configuration(interval: t), at: .now)
        machine = RankedMutex(.leaf, m)
        idleTimeout = t
    }

    package func frameReceived() { machine.withLock { $0.frameReceived(at: .now) } }
    package func frameSent() { machine.withLock { $0.frameSent(at: .now) } }

    /// In idle-timeout mode, when the connection is closed unless a frame goes either way
    /// before (nil otherwise, or once stopped).
    package var idleDeadline: ContinuousClock.Instant? {
        guard let idleTimeout else { return nil }
        return machine.withLock { m -> ContinuousClock.Instant? in
            guard case .running(let r) = m.state else { return nil }
            return max(r.lastReceived, r.lastSent) + idleTimeout
        }
    }
    package func stop() { machine.withLock { $0.stop() } }

    /// What the heartbeat acts on once started (weak: a heartbeat left in the scheduler's heap
    /// after its connection ended holds nothing).
    private struct Target {
        weak var session: RuntimeSession?
        var connection: UInt64
        var logger: Logger
    }

    private let target = RankedMutex<Target?>(.leaf, nil)

    /// Starts ticking on `scheduler`: pings and loss (or, in idle-timeout mode, the idle
    /// close) for `connection` of `session`, until `stop()` or a loss.
    func start(on scheduler: DeadlineScheduler, session: RuntimeSession, connection: UInt64, logger: Logger) {
        target.withLock { $0 = Target(session: session, connection: connection, logger: logger) }
        let first = idleTimeout == nil ? machine.withLock { $0.nextCheck } : idleDeadline
        guard let first else { return }
        scheduler.schedule(self, at: first)
    }

    /// Called by the scheduler when the deadline it was given came: ticks the machine, sends
    /// the ping it asks for or reports the loss (idle-timeout mode: closes a connection silent
    /// for the timeout). Returns when to be called next; nil once stopped, lost or closed.
    func fire(at now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard let target = target.withLock({ $0 }), let session = target.session else { return nil }
        if let idleTimeout {
            guard let deadline = idleDeadline else { return nil }
            if now < deadline { return deadline }
            machine.withLock { $0.stop() }
            target.logger.info("idle connection closed", metadata: ["session": "\(session.id)"])
            session.sendError(
                ARCPError(
                    .heartbeatLost, "no frame either way for \(idleTimeout) (idle timeout; negotiate heartbeat to keep a quiet connection open)",
                    details: ["limit": "idle_timeout", "max": .int(Int64(idleTimeout.components.seconds))]))
            session.requestCloseAfterFlush(target.connection)
            return nil
        }
        let (action, next) = machine.withLock { m in (m.tick(at: now), m.nextCheck) }
        switch action {
        case .none:
            return next
        case .sendPing:
            session.sendControl(.sessionPing(SessionPingPayload(nonce: ARCPID.make("p"), sentAt: ARCPTimestamp.string())))
            return next
        case .declareLoss(let silence):
            target.logger.info("heartbeat lost", metadata: ["session": "\(session.id)"])
            session.sendError(ARCPError(.heartbeatLost, "no message from the client for \(silence)"))
            session.requestCloseAfterFlush(target.connection)
            return nil
        }
    }
}
