import Logging

/// Heartbeats of one connection (spec §6.4): the runtime's I/O shell around the shared
/// `HeartbeatStateMachine`. The reader and the writer report frames; `run` ticks the machine
/// when it next has something to decide, sends the pings it asks for and, on a loss, reports
/// `HEARTBEAT_LOST` and ends the connection. Jobs are never terminated here.
final class ConnectionHeartbeat: Sendable {
    typealias Machine = HeartbeatStateMachine<ContinuousClock.Instant>

    private let machine: RankedMutex<Machine>

    /// Pings go out at `interval`; loss is judged against the interval the client was told
    /// (whole seconds, rounded up), so a client that answers within the advertised interval
    /// is never dropped.
    init(interval: Duration) {
        let advertised = Duration.seconds(Machine.Configuration.advertisedSeconds(interval))
        var m = Machine()
        m.negotiated(Machine.Configuration(pingInterval: interval, lossInterval: advertised), at: .now)
        machine = RankedMutex(.leaf, m)
    }

    func frameReceived() { machine.withLock { $0.frameReceived(at: .now) } }
    func frameSent() { machine.withLock { $0.frameSent(at: .now) } }
    func stop() { machine.withLock { $0.stop() } }

    /// Ticks until the connection ends (cancellation) or the heartbeat is lost.
    func run(session: RuntimeSession, connection: UInt64, runtime: ARCPRuntime) async {
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
                session.sendControl(.sessionError(ARCPError(.heartbeatLost, "no message from the client for \(silence)").payload))
                session.requestCloseAfterFlush(connection)
                return
            }
        }
    }
}
