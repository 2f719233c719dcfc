/// A bidirectional, ordered carrier of ARCP frames.
///
/// One frame is one JSON text holding one envelope (spec §4–§5). Implementations:
/// `MemoryTransport` (in-process), `StdioTransport` (newline-delimited JSON), and
/// `WebSocketTransport` (in the `ARCPWebSocket` target, so this target stays free of NIO).
///
/// Contract:
/// - `receive()` has a single consumer. It returns the next inbound frame, `nil` when the
///   peer closed cleanly, and throws `TransportError` when the carrier failed.
/// - `send(_:)` may be called from many tasks; frames go out in call-completion order.
///   It suspends under back-pressure and throws `TransportError.closed` once closed.
/// - `close()` is idempotent; after it `receive()` drains and returns `nil`.
/// - Inbound buffering is bounded: a peer that floods is back-pressured, never buffered
///   without limit, and no frame is dropped silently.
/// - `preferredExecutor`, when not nil, is where the runtime (and the client) handle this
///   connection's frames: decode, dispatch and reply run there without a thread hop. It must
///   keep running jobs for as long as the transport is open; the runtime runs nothing there
///   that blocks or runs long (agent bodies and store I/O stay on the cooperative pool).
public protocol Transport: Sendable {
    /// The next inbound frame; `nil` once the peer closed cleanly. Single consumer.
    /// - Throws: `TransportError` when the carrier failed.
    func receive() async throws -> String?
    /// Sends one frame; suspends under back-pressure.
    /// - Throws: `TransportError.closed` once the transport is closed, or another
    ///   `TransportError` when the carrier failed.
    func send(_ frame: String) async throws
    /// Sends several frames in order. Transports that can hand them over at once (one lock,
    /// one wake-up, one flush) override it; the default sends them one by one.
    func send(batch frames: [String]) async throws
    /// Closes the transport; idempotent. Afterwards `receive()` drains and returns `nil`.
    func close() async
    /// The executor this connection's frames should be handled on (e.g. the NIO event loop the
    /// socket lives on), or nil to use the default concurrent executor.
    var preferredExecutor: (any TaskExecutor)? { get }
    /// Whether nobody between the two ends can read the frames: TLS, a pipe to a child
    /// process, memory. The runtime offers `provisioned_credentials` (whose values cross the
    /// wire) only on confidential transports unless configured otherwise. Default false.
    var isConfidential: Bool { get }
    /// Whether `receive()` would return at once (a frame, or the end, is already buffered).
    /// A reader uses it to hand what one read brought to its consumers together (one wake-up
    /// per burst instead of one per frame). Default false: every frame is handed on at once.
    var hasBufferedInbound: Bool { get }
    /// The frames already received and not yet taken, in order, without waiting: at most
    /// `max`, and no more than `maxBytes` of UTF-8 in all (but at least one when any is
    /// buffered); `[]` when none is (the end of the transport, if it is next, is for
    /// `receive()` to report). Single consumer, as `receive()`. A reader handles what one read
    /// brought in one go with it: one lock and no async call per frame. Default `[]`: every
    /// frame comes through `receive()`.
    func takeBufferedInbound(max: Int, maxBytes: Int) -> [String]
}

extension Transport {
    /// None: the connection's frames are handled on the default concurrent executor.
    public var preferredExecutor: (any TaskExecutor)? { nil }

    /// Not known to be confidential (see the requirement).
    public var isConfidential: Bool { false }

    /// Not known (see the requirement): readers hand every frame on at once.
    public var hasBufferedInbound: Bool { false }

    /// None taken here (see the requirement): every frame comes through `receive()`.
    public func takeBufferedInbound(max: Int, maxBytes: Int) -> [String] { [] }

    public func send(batch frames: [String]) async throws {
        for f in frames { try await send(f) }
    }
}

/// A transport that bounds a wait in `receive()` by a deadline itself, without a task of its
/// own (the WebSocket transport: a timer on the connection's event loop). The handshakes wait
/// for their first frame with it (`receive(within:)`); for other transports the wait is raced
/// against a sleep, two child tasks that a connection's task keeps memory for
/// (docs/BENCHMARKS.md, "Per-session memory").
package protocol DeadlineReceiving: Transport {
    /// As `receive()`; `.timedOut` when nothing came within `limit`.
    func receive(waitingAtMost limit: Duration) async throws -> TimedReceive
}

/// A transport that takes outbound frames without a task waiting on it: the runtime's
/// writer for its connections is then callbacks on the transport's executor (the WebSocket
/// event loop) instead of a task of its own per connection (docs/RUNTIME.md, "Connections").
package protocol PushWritable: Transport {
    /// Runs `body` on the transport's executor, after what runs there now.
    func enqueue(_ body: @escaping @Sendable () -> Void)
    /// Hands `frames` over (in order, with one flush) when the connection has the credit
    /// for them: `.queued`. Otherwise keeps them and answers `.held`, then calls
    /// `waiter.heldBatchEnded(queued: true)` once it queued them, or with false when the
    /// connection ended first. `.failed` when they cannot be sent (closed, a frame too
    /// large); nothing is kept then and the waiter is not called. (A waiter object, not a
    /// closure: nothing is allocated for a batch that goes out at once.)
    func push(_ frames: [String], waiter: any PushWaiter) -> PushResult
    /// As `close()`, calling `done` once closed instead of waiting.
    func close(then done: @escaping @Sendable () -> Void)
}

/// Told when a batch `PushWritable.push` held is queued (true) or dropped because the
/// connection ended (false). Called from any thread.
package protocol PushWaiter: AnyObject, Sendable {
    func heldBatchEnded(queued: Bool)
}

/// What `PushWritable.push` did with a batch.
package enum PushResult: Sendable {
    case queued
    case held
    case failed(TransportError)
}

/// What `receive(within:)` got.
package enum TimedReceive: Sendable {
    /// A frame, or nil when the peer closed.
    case received(String?)
    case timedOut
}

extension Transport {
    /// `receive()` within `limit` (the runtime's wait for hello, the client's for welcome):
    /// by the transport itself when it can (``DeadlineReceiving``), else raced against a sleep.
    /// `.timedOut` also when the waiting task is cancelled.
    package func receive(within limit: Duration) async throws -> TimedReceive {
        if let timed = self as? any DeadlineReceiving { return try await timed.receive(waitingAtMost: limit) }
        do {
            return .received(try await withDeadline(limit) { try await self.receive() })
        } catch is CancellationError {
            return .timedOut
        }
    }
}

/// Runs `body`, throwing `timedOut()` (by default `CancellationError`) if it has not finished
/// within `limit`; `body`'s task is then cancelled. The one race of a body against a sleep:
/// the runtime's, the PostgreSQL store's and the tests'.
package func withDeadline<T: Sendable>(
    _ limit: Duration, timedOut: () -> any Error = { CancellationError() },
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw timedOut() }
        return value
    }
}
