import ARCPWebSocketCore
import NIOCore

/// Which upgrade requests a ``WebSocketServer`` accepts: on its path (which
/// ``ServerHandshakeHandler`` checks first), the shared `Host`/`Origin` allow-lists
/// (``UpgradePolicy``, `ARCPWebSocketCore`), then its connection limit (``ConnectionLimiter``).
struct ServerUpgradePolicy: Sendable {
    let path: String
    let allowLists: UpgradePolicy
    let limiter: ConnectionLimiter

    /// Why a handshake for the server's path with these `Host` and `Origin` headers may not be
    /// upgraded on `channel`, or `nil` when it may. Accepting takes a connection permit,
    /// returned when the channel closes (whatever happens after).
    func decide(host: String?, origin: String?, channel: any Channel) -> UpgradeRefusal? {
        if let refusal = allowLists.refusal(host: host, origin: origin) {
            return refusal
        }
        guard limiter.tryAcquire() else { return .tooManyConnections(limit: limiter.limit) }
        let limiter = self.limiter
        channel.closeFuture.whenComplete { _ in limiter.release() }
        return nil
    }

    static func notFound(_ path: String) -> UpgradeRefusal {
        UpgradeRefusal(status: 404, message: "not found: ARCP is served at \(path)")
    }
}
