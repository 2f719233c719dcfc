import ARCP
import Dispatch
import Foundation
import Synchronization
import Testing

/// A task executor on one serial dispatch queue, standing in for a connection's event loop.
final class QueueExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `queue` is immutable and thread-safe; `jobs` is an Atomic.
    static let key = DispatchSpecificKey<ObjectIdentifier>()
    let queue: DispatchQueue
    let jobs = Atomic<Int>(0)

    init() {
        queue = DispatchQueue(label: "test.connection-executor")
        queue.setSpecific(key: Self.key, value: ObjectIdentifier(self))
    }

    func enqueue(_ job: consuming ExecutorJob) {
        jobs.add(1, ordering: .relaxed)
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    /// Whether the caller runs on this executor's queue.
    var isCurrent: Bool { DispatchQueue.getSpecific(key: Self.key) == ObjectIdentifier(self) }
}

/// A `MemoryTransport` end that asks for its frames to be handled on `executor`.
struct ExecutorTransport: Transport {
    let inner: MemoryTransport
    let executor: QueueExecutor
    func receive() async throws -> String? { try await inner.receive() }
    func send(_ frame: String) async throws { try await inner.send(frame) }
    func send(batch frames: [String]) async throws { try await inner.send(batch: frames) }
    func close() async { await inner.close() }
    var preferredExecutor: (any TaskExecutor)? { executor }
}

/// Records where the bearer verifier runs.
final class WhereVerifier: BearerVerifier {
    let executor: QueueExecutor
    let onExecutor = Mutex<[Bool]>([])
    init(executor: QueueExecutor) { self.executor = executor }
    func principal(for token: String) async -> String? {
        onExecutor.withLock { $0.append(executor.isCurrent) }
        return token == "tok" ? "me@example.com" : nil
    }
}

/// A `WhereVerifier` that says it never blocks (`mayBlock` false), as `StaticBearerVerifier` does.
final class InPlaceVerifier: BearerVerifier {
    let inner: WhereVerifier
    init(executor: QueueExecutor) { inner = WhereVerifier(executor: executor) }
    var mayBlock: Bool { false }
    func principal(for token: String) async -> String? { await inner.principal(for: token) }
}

/// Records where session events and job starts are reported (the task serving the connection).
final class WhereInstrumentation: RuntimeInstrumentation {
    let executor: QueueExecutor
    let sessionEvents = Mutex<[Bool]>([])
    let jobStarts = Mutex<[Bool]>([])
    init(executor: QueueExecutor) { self.executor = executor }
    func sessionEvent(_ session: InstrumentedSession, _ event: SessionLifecycleEvent) {
        if event == .opened { sessionEvents.withLock { $0.append(executor.isCurrent) } }
    }
    func startJob(_ job: InstrumentedJob, parent: (any JobInstrumentation)?) -> (any JobInstrumentation)? {
        jobStarts.withLock { $0.append(executor.isCurrent) }
        return nil
    }
}

@Suite("Frames handled where they arrive: the connection's executor")
struct ConnectionExecutorTests {
    @Test("the runtime serves a connection on its preferred executor; agents and the verifier run off it")
    func servesOnPreferredExecutor() async throws {
        let executor = QueueExecutor()
        let verifier = WhereVerifier(executor: executor)
        let instrumentation = WhereInstrumentation(executor: executor)
        var config = ARCPRuntime.Configuration()
        config.heartbeatInterval = nil
        config.instrumentation = instrumentation
        let runtime = ARCPRuntime(configuration: config, verifier: verifier)
        let agentOnExecutor = Mutex<[Bool]>([])
        try runtime.register("where") { input, ctx in
            agentOnExecutor.withLock { $0.append(executor.isCurrent) }
            await ctx.log("info", "hello")
            return input
        }
        let (c, r) = MemoryTransport.pair()
        Task { await runtime.accept(ExecutorTransport(inner: r, executor: executor)) }
        let client = ARCPClient(token: "tok")
        try await client.connect(c)
        for i in 0..<5 {
            let out = try await client.submit(agent: "where", input: ["i": .int(Int64(i))]).result()
            #expect(out.result == ["i": .int(Int64(i))])
        }
        await client.close()
        // The connection's work (handshake, dispatch of job.submit) ran on the executor…
        #expect(executor.jobs.load(ordering: .relaxed) > 0)
        #expect(instrumentation.sessionEvents.withLock { $0 } == [true])
        #expect(instrumentation.jobStarts.withLock { $0 } == [true, true, true, true, true])
        // …the agents never did, nor did the (user-supplied, possibly blocking) verifier.
        #expect(agentOnExecutor.withLock { $0 } == [false, false, false, false, false])
        #expect(verifier.onExecutor.withLock { $0 } == [false])
    }

    @Test("a verifier that says it never blocks is called in place, on the connection's executor")
    func nonBlockingVerifierRunsInPlace() async throws {
        let executor = QueueExecutor()
        let verifier = InPlaceVerifier(executor: executor)
        var config = ARCPRuntime.Configuration()
        config.heartbeatInterval = nil
        let runtime = ARCPRuntime(configuration: config, verifier: verifier)
        let (c, r) = MemoryTransport.pair()
        Task { await runtime.accept(ExecutorTransport(inner: r, executor: executor)) }
        let client = ARCPClient(token: "tok")
        try await client.connect(c)
        await client.close()
        #expect(verifier.inner.onExecutor.withLock { $0 } == [true])
        #expect(StaticBearerVerifier([:]).mayBlock == false)
    }
}
