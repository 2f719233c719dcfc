import Foundation
import Synchronization
import Logging

extension ARCPRuntime {
    /// Serves one connection: handshake (hello or resume), then the session until the
    /// transport closes. Returns when the connection is over; jobs keep running.
    ///
    /// The connection's frames are decoded, dispatched and answered on the transport's
    /// `preferredExecutor` (e.g. the event loop its socket lives on), so a request and its
    /// reply never cross threads; agents run on the cooperative pool, and user code that may
    /// block (the bearer verifier, the credential provisioner, store reads) is run off that
    /// executor.
    public func accept(_ transport: any Transport) async {
        await accept(transport, isConfidential: transport.isConfidential)
    }

    /// Serves one connection, as `accept(_:)`, stating whether the transport is confidential
    /// (e.g. `true` for the connections of a `WebSocketServer` serving `wss://`): only then is
    /// `provisioned_credentials` offered on it, unless
    /// `Configuration.allowsCredentialsWithoutConfidentialTransport` is set.
    public func accept(_ transport: any Transport, isConfidential: Bool) async {
        let handler = ConnectionHandler(runtime: self, transport: transport, confidential: isConfidential)
        // A task started on the connection's executor (the WebSocket server starts each
        // connection's task so) already prefers it: no second preference scope, whose frames
        // the connection's task would keep for its whole life.
        if let executor = transport.preferredExecutor, !ConnectionExecutor.currentTaskPrefers(executor) {
            await withTaskExecutorPreference(executor) {
                await handler.run()
            }
        } else {
            await handler.run()
        }
    }
}

/// Whether the current task handles a connection's frames on that connection's own executor
/// (an event loop other connections share): then anything that may block or run long must
/// be moved off it with `offConnectionExecutor`.
///
/// Read from the task's executor preference, which only `accept` sets to a connection's
/// executor: its child tasks (writer, heartbeat) inherit it, unstructured tasks (jobs) do not.
/// Not a task-local: every task created under one copies it into a slab of its own (1 KiB
/// per connection task and per job; docs/BENCHMARKS.md, "Per-session memory").
enum ConnectionExecutor {
    /// Whether the current task already prefers `executor`.
    static func currentTaskPrefers(_ executor: any TaskExecutor) -> Bool {
        withUnsafeCurrentTask { task in task?.unownedTaskExecutor == executor.asUnownedTaskExecutor() }
    }

    static var isPreferred: Bool {
        withUnsafeCurrentTask { task in
            guard let preferred = task?.unownedTaskExecutor else { return false }
            return preferred != globalConcurrentExecutor.asUnownedTaskExecutor()
        }
    }
}

/// Runs `body` on the global concurrent executor when the current task runs on a
/// connection's executor, and in place otherwise. For user code that may block or run long:
/// verifiers, credential provisioners, store reads.
func offConnectionExecutor<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
    guard ConnectionExecutor.isPreferred else { return try await body() }
    return try await withTaskExecutorPreference(globalConcurrentExecutor) { try await body() }
}

/// One connection's I/O shell around its `ConnectionStateMachine`: the handshake, then a
/// reader (this task), a writer and, when negotiated, a heartbeat (fired by the runtime's
/// `heartbeats` scheduler, not a task of its own).
struct ConnectionHandler: Sendable {
    let runtime: ARCPRuntime
    let transport: any Transport
    /// Whether the transport is confidential (TLS, a pipe, memory).
    var confidential = true

    var configuration: ARCPRuntime.Configuration { runtime.configuration }

    func run() async {
        guard let id = runtime.connections.open(transport) else {
            await reject(ARCPError(.internalError, "runtime is shutting down", retryable: true))
            return
        }
        defer { runtime.connections.close(id) }
        // Outstanding credentials an earlier process left are revoked once, in the background (§14).
        runtime.credentialLedger.startRecoveryOnce()
        // The handshake is a function of its own, so what it holds across its awaits (the
        // first frame, the machine's opening states, errors) is not kept in this task's frame
        // for the connection's whole life: a task keeps the memory of its deepest call chain
        // (docs/BENCHMARKS.md, "Per-session memory").
        guard let opened = await handshake(connection: id) else { return }
        note(opened.session, connection: id, opened.resumed ? .resumed : .opened)
        // 3. The session, until the connection ends.
        await serve(opened.session, connection: opened.connection, machine: opened.machine)
        note(opened.session, connection: id, opened.session.isClosed ? .closed : .detached)
    }

    /// Tells the instrumentation what became of the session (its description is built here,
    /// not in the frame of `run`, which the connection's task keeps for its whole life).
    @inline(never)
    func note(_ session: RuntimeSession, connection id: UInt64, _ event: SessionLifecycleEvent) {
        configuration.instrumentation?.sessionEvent(session.instrumented(connection: id), event)
    }

    /// An attached session and its connection's state machine.
    struct Opened {
        var session: RuntimeSession
        var connection: UInt64
        var resumed: Bool
        var machine: ConnectionStateMachine
    }

    /// The first frame (within the hello timeout), then hello, resume-in-hello or
    /// session.resume: authenticates, then opens or resumes the session. Nil when the
    /// connection was refused or closed (the refusal already sent).
    ///
    /// Each step that awaits is a function of its own (`@inline(never)`): a task keeps the
    /// memory of its deepest chain of frames for its whole life, and inlined into this loop
    /// every step's temporaries would sit in one frame together (1.8 KiB; each step's own
    /// frame is allocated only while it runs; docs/BENCHMARKS.md, "Per-session memory").
    @inline(never)
    func handshake(connection id: UInt64) async -> Opened? {
        var machine = ConnectionStateMachine()
        // 1. The first frame, within the hello timeout.
        var action = machine.firstFrame(await firstFrame())
        // 2. Hello, resume-in-hello, or session.resume: authenticate, then open or resume.
        while true {
            let attached: Result<(RuntimeSession, UInt64), ARCPError>
            let resumed: Bool
            switch action {
            case .verify(let token):
                action = machine.verified(principal: await authenticate(token))
                continue
            case .open(let principal, let hello, let requestID):
                attached = await open(connection: id, principal: principal, hello: hello, requestID: requestID)
                resumed = false
            case .resume(let sessionID, let token, let lastSeq, let principal, let requestID):
                attached = await resume(
                    connection: id, sessionID: sessionID, token: token, lastSeq: lastSeq, principal: principal, requestID: requestID)
                resumed = true
            case .reject(let error):
                await reject(error)
                return nil
            case .close, .none, .closeAfterFlush, .detachAndClose:
                await transport.close()
                return nil
            }
            switch attached {
            case .success(let (session, connection)):
                machine.attached(sessionID: session.id, connection: connection)
                return Opened(session: session, connection: connection, resumed: resumed, machine: machine)
            case .failure(let error):
                machine.openingFailed()
                await reject(error)
                return nil
            }
        }
    }

    /// The handshake's first frame, decoded, within the hello timeout.
    @inline(never)
    func firstFrame() async -> ConnectionStateMachine.FirstFrame {
        do {
            guard case .received(let frame) = try await transport.receive(within: configuration.helloTimeout) else {
                return .timedOut(configuration.helloTimeout)
            }
            return frame.map { .frame(FrameCodec.decode($0)) } ?? .peerClosed
        } catch {
            return .timedOut(configuration.helloTimeout)
        }
    }

    /// The principal `token` names (nil: not authenticated). A verifier that may block is
    /// called off the connection's executor.
    @inline(never)
    func authenticate(_ token: String) async -> String? {
        let verifier = runtime.verifier
        return verifier.mayBlock ? await offConnectionExecutor { await verifier.principal(for: token) } : await verifier.principal(for: token)
    }

    /// Opens a new session for `principal` on connection `id`, within the principal's
    /// connection limit.
    @inline(never)
    func open(
        connection id: UInt64, principal: String, hello: SessionHelloPayload, requestID: String
    ) async -> Result<(RuntimeSession, UInt64), ARCPError> {
        let limit = configuration.maxConnectionsPerPrincipal
        guard runtime.connections.bind(id, principal: principal, limit: limit) else {
            var error = RuntimeLimit.connectionsPerPrincipal.error(
                max: limit, "too many connections for this principal (limit \(limit)); close one first")
            error.requestID = requestID
            return .failure(error)
        }
        do {
            return .success(try await runtime.openSession(principal: principal, hello: hello, confidential: confidential))
        } catch {
            return .failure(error)
        }
    }

    /// Resumes session `sessionID` on connection `id`.
    @inline(never)
    func resume(
        connection id: UInt64, sessionID: String, token: String, lastSeq: Int, principal: String?, requestID: String
    ) async -> Result<(RuntimeSession, UInt64), ARCPError> {
        switch await runtime.resumeSession(
            sessionID: sessionID, token: token, lastSeq: lastSeq, principal: principal, confidential: confidential)
        {
        case .attached(let session, let connection):
            // Counted, never refused: it takes over a session the principal holds.
            _ = runtime.connections.bind(id, principal: session.principal, limit: 0, force: true)
            return .success((session, connection))
        case .refused(var error):
            error.requestID = requestID
            return .failure(error)
        }
    }

    /// Sends one error frame on a transport that has no session yet, then closes it.
    @inline(never)
    func reject(_ error: ARCPError) async {
        configuration.instrumentation?.errorSent(error, session: nil)
        let env = Envelope.make(.sessionError(error.payload))
        try? await transport.send(FrameCodec.encode(env))
        await transport.close()
    }

    // MARK: Serving

    /// Runs an attached session: a writer draining the outbound queue, an optional heartbeat
    /// (on the runtime's scheduler), and the reader in this task. The writer is callbacks on
    /// the transport's executor when the transport takes frames that way (``PushWritable``:
    /// WebSocket) and the events need not be stored first; otherwise a child task.
    func serve(_ session: RuntimeSession, connection: UInt64, machine: ConnectionStateMachine) async {
        let lifecycle = ConnectionLifecycle(machine)
        let heartbeat =
            (session.has(.heartbeat) ? configuration.heartbeatInterval.map { ConnectionHeartbeat(interval: $0) } : nil)
            ?? configuration.limits.idleTimeout.map { ConnectionHeartbeat(idleTimeout: $0) }
        if let sink = transport as? any PushWritable, !configuration.persistEventsBeforeSending {
            let writer = PushWriter(session: session, connection: connection, transport: sink, lifecycle: lifecycle, heartbeat: heartbeat)
            writer.start()
            let flushDeadline = await read(session, connection: connection, lifecycle: lifecycle, heartbeat: heartbeat)
            await writer.ended.wait()
            flushDeadline.cancel()
        } else {
            await serveWithWriterTask(session, connection: connection, lifecycle: lifecycle, heartbeat: heartbeat)
        }
        // The connection's buffers are gone.
        runtime.freedMemory.noteFreed()
        runtime.scheduleExpiry(session)
    }

    /// `serve` with the writer as a child task (`async let`, allocated in this task's memory).
    /// A function of its own: the `async let` takes its space in the frame that declares it.
    @inline(never)
    func serveWithWriterTask(
        _ session: RuntimeSession, connection: UInt64, lifecycle: ConnectionLifecycle, heartbeat: ConnectionHeartbeat?
    ) async {
        async let written: Void = write(session, connection: connection, lifecycle: lifecycle, heartbeat: heartbeat)
        let flushDeadline = await read(session, connection: connection, lifecycle: lifecycle, heartbeat: heartbeat)
        await written
        flushDeadline.cancel()
    }

    /// The reader's part of serving: reads until the connection ends, asks the writer to end
    /// once what is queued is written, and returns the bound on that (for the caller to
    /// cancel once the writer ended).
    @inline(never)
    func read(
        _ session: RuntimeSession, connection: UInt64, lifecycle: ConnectionLifecycle, heartbeat: ConnectionHeartbeat?
    ) async -> FlushDeadline {
        heartbeat?.start(on: runtime.heartbeats, session: session, connection: connection, logger: runtime.logger)
        await readLoop(session, heartbeat: heartbeat)
        if case .closeAfterFlush(let c) = lifecycle.readerEnded() {
            session.requestCloseAfterFlush(c)
        }
        heartbeat?.stop()
        // The writer ends by itself once what is queued (e.g. `session.closed`) is written.
        // A peer that stops reading gets `closeFlushTimeout`, then its transport is closed,
        // which fails the writer's pending send. The deadline is an entry in one scheduler for
        // all connections, not a task and a timer of each closing connection.
        let flushDeadline = FlushDeadline(transport)
        runtime.flushDeadlines.schedule(flushDeadline, at: .now + configuration.closeFlushTimeout)
        return flushDeadline
    }

    /// The connection's writer: sends the session's queued frames in batches until the
    /// connection is over (closed, failed or replaced), then closes the transport.
    @inline(never)
    func write(
        _ session: RuntimeSession, connection: UInt64, lifecycle: ConnectionLifecycle, heartbeat: ConnectionHeartbeat?
    ) async {
        let persistFirst = configuration.persistEventsBeforeSending ? runtime.storeWriter : nil
        // Refusals before this connection are not its business (the session may have come
        // back to this node since).
        let refusalsBefore = persistFirst?.lastTicket ?? 0
        while let batch = await session.nextBatch(connection) {
            // Events are handed to the store writer when emitted, before they are
            // queued here: once it has written this session's latest event, this
            // batch's events are in the store. (A batch of control frames only,
            // e.g. a pong while the database is unreachable, does not wait.)
            if let persistFirst {
                await persistFirst.flush(through: session.storeTicket)
                // Unless the store refused them (in a cluster, another node claimed the
                // session): they are not sent, and the connection ends, for the client to
                // resume on the node holding the session (docs/CLUSTER.md).
                guard persistFirst.refusedTicket(of: session.id) <= refusalsBefore else {
                    runtime.logger.notice(
                        "connection ended: the store refused its session's events (held by another node)",
                        metadata: ["session": "\(session.id)"])
                    break
                }
            }
            do {
                if batch.count == 1 { try await transport.send(batch[0]) } else { try await transport.send(batch: batch) }
            } catch {
                break
            }
            heartbeat?.frameSent()
        }
        lifecycle.writerEnded(detaching: session)
        await transport.close()
    }

    /// Reads the connection's frames and has the runtime handle each, until the peer closes,
    /// the transport fails, or a frame ends the session. Thin, with its steps in functions of
    /// their own: it is on the deepest chain of frames of the connection's task, whose memory
    /// the task keeps for its whole life (docs/BENCHMARKS.md, "Per-session memory").
    func readLoop(_ session: RuntimeSession, heartbeat: ConnectionHeartbeat?) async {
        var heard = false
        var reliefBudget = Self.reliefFramesWhileBlocked
        while true {
            guard let received = await nextFrame(session) else { return }
            guard case .frame(let frame) = received else { continue }
            heartbeat?.frameReceived()
            if !heard {
                // The client has the rotated token: the one it resumed with is retired.
                session.noteReceived()
                heard = true
            }
            // A peer that sends without reading the answers is read no faster than it reads:
            // while its outbound queue is full, a request waits here, in hand (one frame; then
            // the transport's bounded inbox and TCP push back). A frame that relieves the
            // pressure (job.cancel, ack, close) is handled at once, up to a small budget per
            // blocked spell, so a job stuck on a peer that stopped reading can still be
            // cancelled promptly (issue 10 item 5).
            switch Self.step(for: frame, session: session, reliefBudget: &reliefBudget) {
            case .invalid(let error):
                // Answered like a request: after waiting for room.
                await session.waitForOutboundRoom()
                reliefBudget = Self.reliefFramesWhileBlocked
                session.sendError(error)
            case .request(let env, let waitsForRoom):
                if waitsForRoom {
                    await session.waitForOutboundRoom()
                    reliefBudget = Self.reliefFramesWhileBlocked
                }
                guard await runtime.handle(env, session: session) else { return }
            }
        }
    }

    /// What `transport.receive()` gave the reader.
    enum Received {
        case frame(String)
        /// An unusable frame (too large, not text), already answered with `INVALID_REQUEST`.
        case answered
    }

    /// The connection's next frame; nil when the peer closed or the transport failed.
    @inline(never)
    func nextFrame(_ session: RuntimeSession) async -> Received? {
        do {
            guard let frame = try await transport.receive() else { return nil }
            return .frame(frame)
        } catch let e as TransportError {
            if case .frameTooLarge = e {
                session.sendError(ARCPError.invalidRequest("frame too large: \(e)"))
                return .answered
            }
            if case .invalidFrame(let why) = e {
                session.sendError(ARCPError.invalidRequest("invalid frame: \(why)"))
                return .answered
            }
            return nil
        } catch {
            return nil
        }
    }

    /// What the reader does with a frame.
    enum Step {
        /// Not a valid envelope: answered with this error (after waiting for room).
        case invalid(ARCPError)
        /// A request, handled at once or after waiting for room in the outbound queue.
        case request(Envelope, waitsForRoom: Bool)
    }

    /// Decodes `frame` and decides whether it waits for room (spending `reliefBudget` on a
    /// pressure-relieving frame while the queue is full).
    @inline(never)
    static func step(for frame: String, session: RuntimeSession, reliefBudget: inout Int) -> Step {
        switch FrameCodec.decode(frame) {
        case .failure(let error):
            return .invalid(error)
        case .success(let env):
            guard env.message.relievesBackPressure, reliefBudget > 0 else { return .request(env, waitsForRoom: true) }
            if session.outboundIsFull { reliefBudget -= 1 } else { reliefBudget = reliefFramesWhileBlocked }
            return .request(env, waitsForRoom: false)
        }
    }

    /// How many pressure-relieving frames (``Message/relievesBackPressure``) a peer whose
    /// outbound queue is full may have handled before the reader waits for room again. Each
    /// is answered by at most one small control frame, so this bounds what the queue can
    /// exceed its limit by.
    static let reliefFramesWhileBlocked = 64
}

/// Bounds how long a connection whose reader ended may take to write its last frames: when
/// it fires before ``cancel()``, the transport is closed (in a task of its own, since closing
/// awaits the peer's close reply), which fails the writer's pending send.
final class FlushDeadline: ScheduledDeadline {
    private let transport: RankedMutex<(any Transport)?>

    init(_ transport: any Transport) {
        self.transport = RankedMutex(.leaf, transport)
    }

    /// The writer ended in time.
    func cancel() { transport.withLock { $0 = nil } }

    func fire(at now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        let transport = self.transport.withLock { t in
            defer { t = nil }
            return t
        }
        if let transport { Task { await transport.close() } }
        return nil
    }
}

/// A connection's writer that is not a task: the session wakes it (``RuntimeSession/takeBatch(_:parking:)``).
protocol SessionWriter: AnyObject, Sendable {
    /// Called once per park, outside the session's lock: `more` when there may be frames,
    /// false when the connection is gone.
    func wake(more: Bool)
}

/// The writer of a connection whose transport takes frames without a task (``PushWritable``,
/// the WebSocket event loop), as callbacks on that transport's executor: it takes the
/// session's queued frames in batches and hands each over under the connection's credit;
/// while a batch waits for credit it takes no other, so a peer that does not read pushes back
/// on the session's queue (and so on its jobs), as the writer task's suspended `send` does.
/// No task and no task memory per connection (docs/BENCHMARKS.md, "Per-connection memory without tasks").
///
/// `drain` runs only on the transport's executor, one at a time: it is scheduled by `start`,
/// by a wake (the session wakes a parked writer once) and by the credit's callback (only
/// while a batch is held, when nothing else can schedule it). `ended` opens once the writer
/// finished: the session detached, the transport closed.
final class PushWriter: SessionWriter, PushWaiter {
    private let session: RuntimeSession
    private let connection: UInt64
    private let transport: any PushWritable
    private let lifecycle: ConnectionLifecycle
    private let heartbeat: ConnectionHeartbeat?
    private let finished = Atomic<Bool>(false)
    /// Opens once the writer finished and the transport is closed.
    let ended = Latch()

    init(
        session: RuntimeSession, connection: UInt64, transport: any PushWritable, lifecycle: ConnectionLifecycle,
        heartbeat: ConnectionHeartbeat?
    ) {
        self.session = session
        self.connection = connection
        self.transport = transport
        self.lifecycle = lifecycle
        self.heartbeat = heartbeat
    }

    func start() { transport.enqueue { self.drain() } }

    func wake(more: Bool) {
        transport.enqueue { more ? self.drain() : self.finish() }
    }

    /// On the transport's executor: hands batches over until the session has none (the
    /// writer parks), a batch waits for credit, or the connection is gone.
    private func drain() {
        while true {
            switch session.takeBatch(connection, parking: self) {
            case .parked:
                return
            case .gone:
                finish()
                return
            case .batch(let frames):
                switch transport.push(frames, waiter: self) {
                case .queued: heartbeat?.frameSent()
                case .held: return
                case .failed: finish(); return
                }
            }
        }
    }

    /// The batch `push` held was queued (or dropped: the connection ended).
    func heldBatchEnded(queued: Bool) {
        transport.enqueue { queued ? self.sent() : self.finish() }
    }

    /// A held batch was queued: note it, and go on.
    private func sent() {
        heartbeat?.frameSent()
        drain()
    }

    /// The connection is over (closed, failed or replaced): detaches the session from it and
    /// closes the transport (the close handshake, bounded), then opens `ended`.
    private func finish() {
        guard !finished.exchange(true, ordering: .relaxed) else { return }
        lifecycle.writerEnded(detaching: session)
        let ended = self.ended
        transport.close { ended.open() }
    }
}

/// A serving connection's state machine, shared by its reader and its writer (a leaf lock).
final class ConnectionLifecycle: Sendable {
    private let machine: RankedMutex<ConnectionStateMachine>

    init(_ machine: ConnectionStateMachine) {
        self.machine = RankedMutex(.leaf, machine)
    }

    func readerEnded() -> ConnectionStateMachine.Action { machine.withLock { $0.readerEnded() } }
    func writerEnded() -> ConnectionStateMachine.Action { machine.withLock { $0.writerEnded() } }

    /// The writer ended (either kind): the session is detached from this connection, when the
    /// machine says so.
    func writerEnded(detaching session: RuntimeSession) {
        if case .detachAndClose(let c) = writerEnded() {
            session.detach(c)
        }
    }
}
