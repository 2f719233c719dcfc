/// An in-process transport: two connected ends, each with a bounded inbound queue.
///
/// ```swift
/// let (clientEnd, runtimeEnd) = MemoryTransport.pair()
/// ```
public final class MemoryTransport: Transport {
    private let inbox: BoundedAsyncQueue<String>
    private let outbox: BoundedAsyncQueue<String>

    private init(inbox: BoundedAsyncQueue<String>, outbox: BoundedAsyncQueue<String>) {
        self.inbox = inbox
        self.outbox = outbox
    }

    /// Two connected ends. `capacity` bounds each direction's buffer (frames).
    public static func pair(capacity: Int = 1024) -> (MemoryTransport, MemoryTransport) {
        let a = BoundedAsyncQueue<String>(capacity: capacity)
        let b = BoundedAsyncQueue<String>(capacity: capacity)
        return (MemoryTransport(inbox: a, outbox: b), MemoryTransport(inbox: b, outbox: a))
    }

    /// The next frame the other end sent; `nil` once it closed.
    public func receive() async throws -> String? {
        try await inbox.next()
    }

    /// Whether `receive()` would return at once: a frame, or the end, is already buffered.
    public var hasBufferedInbound: Bool { inbox.count > 0 || inbox.isFinished }

    public func takeBufferedInbound(max: Int, maxBytes: Int) -> [String] {
        inbox.takeAvailable(max: max, maxCost: maxBytes) { $0.utf8.count }
    }

    /// Hands `frame` to the other end; suspends while its buffer is full.
    /// - Throws: `TransportError.closed` once the transport is closed.
    public func send(_ frame: String) async throws {
        do {
            try await outbox.send(frame)
        } catch is BoundedAsyncQueue<String>.Closed {
            throw TransportError.closed
        }
    }

    public func send(batch frames: [String]) async throws {
        do {
            try await outbox.send(contentsOf: frames)
        } catch is BoundedAsyncQueue<String>.Closed {
            throw TransportError.closed
        }
    }

    /// Closes both directions: the peer's `receive()` drains then returns nil.
    public func close() async {
        outbox.finish()
        inbox.finish()
    }

    /// Simulates an abrupt drop (for tests): the peer's `receive()` throws `TransportError.closed`
    /// after draining what was already sent.
    public func drop() {
        outbox.finish(throwing: TransportError.io("connection dropped"))
        inbox.finish(throwing: TransportError.io("connection dropped"))
    }
}

extension MemoryTransport {
    /// In-process: nobody else sees the frames.
    public var isConfidential: Bool { true }
}
