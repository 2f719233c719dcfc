import Logging

/// Heartbeats of one connection (spec §6.4): the runtime's I/O shell around the shared
/// `HeartbeatStateMachine`. The reader and the writer report frames; `run` ticks the machine
/// when it next has something to decide, sends the pings it asks for and, on a loss, reports
/// `HEARTBEAT_LOST` and ends the connection. Jobs are never terminated here.
package final class ConnectionHeartbeat: Sendable {
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
    /// `run` closes the connection once both were silent for `timeout`.
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

    /// Ticks until the connection ends (cancellation) or the heartbeat is lost.
    func run(session: RuntimeSession, connection: UInt64, runtime: ARCPRuntime) async {
        if let idleTimeout {
            await runIdleTimeout(idleTimeout, session: session, connection: connection, runtime: runtime)
            return
        }
        while !Task.isCancelled {
            guard let next = machine.withLock({ $0.nextCheck }) else { return }
            // At least a millisecond per round, so no instant arithmetic can make it spin.
            do { try await Task.sleep(until: max(next, .now + .milliseconds(1)), clock: .continuous) } catch { return }
            switch machine.withLock({ $0.tick(at: .now) }) {
            case .none:
                continue
            case .sendPing:
                session.sendControl(.sessionPing(SessionPingPayload(nonce: ARCPID.make("p"), sentAt: ARCPTimestamp.string())))
            case .declareLoss(let silence):
                runtime.logger.info("heartbeat lost", metadata: ["session": "\(session.id)"])
                session.sendError(ARCPError(.heartbeatLost, "no message from the client for \(silence)"))
                session.requestCloseAfterFlush(connection)
                return
            }
        }
    }

    /// Idle-timeout mode: closes the connection once no frame went either way for `timeout`
    /// (`session.error HEARTBEAT_LOST`, `details.limit` `idle_timeout`; the session stays
    /// resumable).
    private func runIdleTimeout(_ timeout: Duration, session: RuntimeSession, connection: UInt64, runtime: ARCPRuntime) async {
        while !Task.isCancelled {
            guard let deadline = idleDeadline else { return }
            if ContinuousClock.now < deadline {
                do { try await Task.sleep(until: max(deadline, .now + .milliseconds(1)), clock: .continuous) } catch { return }
                continue
            }
            machine.withLock { $0.stop() }
            runtime.logger.info("idle connection closed", metadata: ["session": "\(session.id)"])
            session.sendError(
                ARCPError(
                    .heartbeatLost, "no frame either way for \(timeout) (idle timeout; negotiate heartbeat to keep a quiet connection open)",
                    details: ["limit": "idle_timeout", "max": .int(Int64(timeout.components.seconds))]))
            session.requestCloseAfterFlush(connection)
            return
        }
    }
}
