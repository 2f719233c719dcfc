import ARCPWebSocketCore
import NIOCore
import NIOHTTP1
import Synchronization

/// Which upgrade requests a ``WebSocketServer`` accepts: its path, then the shared
/// `Host`/`Origin` allow-lists (``UpgradePolicy``, `ARCPWebSocketCore`), then its connection
/// limit (``ConnectionLimiter``).
struct ServerUpgradePolicy: Sendable {
    let path: String
    let allowLists: UpgradePolicy
    let limiter: ConnectionLimiter

    /// Why `head` may not be upgraded on `channel`, or `nil` when it may. Accepting takes a
    /// connection permit, returned when the channel closes (whatever happens after).
    func decide(_ head: HTTPRequestHead, channel: any Channel) -> UpgradeRefusal? {
        let requestPath = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        if requestPath != path[...] { return Self.notFound(path) }
        if let refusal = allowLists.refusal(host: head.headers.first(name: "Host"), origin: head.headers.first(name: "Origin")) {
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

/// What one connection's handshake has shown so far, for the handlers that answer it. NIO does
/// not pass a refused upgrade's request head on to the not-upgraded pipeline, so it is kept
/// here with the refusal; the handshake deadline reads whether a request arrived at all.
final class UpgradeDecision: Sendable {
    private struct State {
        var head: HTTPRequestHead?
        var refusal: UpgradeRefusal?
        var requestSeen = false
    }
    private let state = Mutex(State())

    /// The upgrader judged `head`.
    func record(head: HTTPRequestHead, refusal: UpgradeRefusal?) {
        state.withLock { s in
            s.head = head
            s.refusal = refusal
            s.requestSeen = true
        }
    }

    /// A request (head) reached a handler: the handshake deadline must not answer it any more.
    func markRequestSeen() {
        state.withLock { $0.requestSeen = true }
    }

    var head: HTTPRequestHead? { state.withLock { $0.head } }
    var refusal: UpgradeRefusal? { state.withLock { $0.refusal } }
    var requestSeen: Bool { state.withLock { $0.requestSeen } }
}
