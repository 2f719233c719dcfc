import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// A request context that knows the event loop of the connection it came on. With one, an ARCP
/// route (`router.addARCP`) makes that event loop the transport's `preferredExecutor`: the
/// runtime decodes, dispatches and answers the session's frames on the thread that reads and
/// writes its socket, with no hop in between. Hummingbird's own contexts drop the channel; a
/// context of your own gets it from `ApplicationRequestContextSource.channel`.
public protocol ARCPEventLoopRequestContext {
    /// The event loop of the connection the request came on.
    var eventLoop: any EventLoop { get }
}

/// A ready-made request context for a router that serves ARCP: a WebSocket-capable context
/// (like `BasicWebSocketRequestContext`) that also keeps the connection's event loop and remote
/// address.
///
/// ```swift
/// let router = Router(context: ARCPRequestContext.self)
/// router.addARCP(runtime, path: "/arcp")
/// ```
public struct ARCPRequestContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext,
    ARCPEventLoopRequestContext
{
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// Hummingbird's WebSocket upgrade handler for this request.
    public let webSocket: WebSocketHandlerReference<ARCPRequestContext>
    public let eventLoop: any EventLoop
    /// The peer's address, when the channel knows it.
    public let remoteAddress: SocketAddress?

    /// The context of one request, made by Hummingbird from its channel.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.eventLoop = source.channel.eventLoop
        self.remoteAddress = source.channel.remoteAddress
    }
}
