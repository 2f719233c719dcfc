import ARCP
import Testing

/// What callers can reach from a job handle, and what a long-lived client keeps.
@Suite("Client public API")
struct ClientPublicAPITests {
    @Test("no BoundedAsyncQueue producer method is reachable from JobHandle: events and children are read-only sequences")
    func readOnlySequences() {
        let handle = JobHandle(
            jobID: "job_1", accepted: JobAcceptedPayload(jobId: "job_1"), subscribed: nil, client: ARCPClient(token: "t"), buffer: 4, streamEvents: true)
        // The public types are the read-only wrappers, not the queue.
        #expect(ObjectIdentifier(type(of: handle.events)) == ObjectIdentifier(JobHandle.Events.self))
        #expect(ObjectIdentifier(type(of: handle.children)) == ObjectIdentifier(JobHandle.Children.self))
        // Neither is (or converts to) a producer: nothing can send into or finish them.
        func isProducer(_ value: Any) -> Bool { value is any AsyncQueueProducer }
        func isProducerType(_ type: Any.Type) -> Bool { type is any AsyncQueueProducer.Type }
        #expect(!isProducer(handle.events))
        #expect(!isProducer(handle.children))
        #expect(!isProducer(handle.events.makeAsyncIterator()))
        #expect(!isProducer(handle.children.makeAsyncIterator()))
        #expect(!isProducerType(JobHandle.Events.self))
        #expect(!isProducerType(JobHandle.Children.self))
        #expect(!isProducerType(JobHandle.Events.AsyncIterator.self))
        #expect(!isProducerType(JobHandle.Children.AsyncIterator.self))
        // What they are: AsyncSequences of events and of handles.
        func element<S: AsyncSequence>(of _: S.Type) -> Any.Type { S.Element.self }
        #expect(ObjectIdentifier(element(of: JobHandle.Events.self)) == ObjectIdentifier(JobEvent.self))
        #expect(ObjectIdentifier(element(of: JobHandle.Children.self)) == ObjectIdentifier(JobHandle.self))
        // The check can fail: the queue underneath is a producer. It is `package`, not public
        // API, so the only way to it from outside the package is through these sequences.
        #expect(isProducer(BoundedAsyncQueue<JobEvent>(capacity: 1)))
        #expect(isProducerType(BoundedAsyncQueue<JobHandle>.self))
    }

    @Test("wire errors and local failures are distinct types; local ones keep their cause")
    func errorTypes() async throws {
        let client = ARCPClient(token: "t")
        do {
            _ = try await client.ping()
            Issue.record("ping without a connection")
        } catch let e as ARCPClientError {
            #expect(e.code == .notConnected)
            #expect(!e.isRetryable)
        }
        let (c, r) = MemoryTransport.pair()
        async let connected: Void = client.connect(c)
        _ = try await r.receive()
        try await r.send(FrameCodec.encode(Envelope.make(.sessionWelcome(SessionWelcomePayload(sessionId: "sess_1", resumeToken: "rtk")))))
        try await connected
        // The connection drops under a pending request, without a reconnect policy.
        async let pinged = client.ping()
        _ = try await r.receive()
        r.drop()
        do {
            _ = try await pinged
            Issue.record("ping answered")
        } catch let e as ARCPClientError {
            #expect(e.code == .connectionLost)
            #expect(e.isRetryable)
            #expect(e.cause as? TransportError == .io("connection dropped"))
        }
        // Afterwards: not connected, with what ended the session as the cause.
        do {
            _ = try await client.ping()
            Issue.record("ping after the session ended")
        } catch let e as ARCPClientError {
            #expect(e.code == .notConnected)
            #expect((e.cause as? ARCPClientError)?.code == .connectionLost)
        }
        await client.close()
    }

    @Test("a cancelled wait is a cancellation with its cause, not a timeout")
    func cancelledWait() async throws {
        let (c, r) = MemoryTransport.pair()
        let client = ARCPClient(token: "t")
        async let connected: Void = client.connect(c)
        _ = try await r.receive()
        try await r.send(FrameCodec.encode(Envelope.make(.sessionWelcome(SessionWelcomePayload(sessionId: "sess_1", resumeToken: "rtk")))))
        try await connected
        let waiting = Task { try await client.ping() }
        _ = try await r.receive()
        waiting.cancel()
        do {
            _ = try await waiting.value
            Issue.record("ping answered")
        } catch let e as ARCPClientError {
            #expect(e.code == .cancelled)
            #expect(e.cause is CancellationError)
        }
        #expect(client.retained.requests == 0)
        await client.close()
    }

    @Test("a long-lived client lets go of every finished job: nothing per job is kept after its terminal frame")
    func finishedJobsAreFreed() async throws {
        let h = try Harness()
        let client = try await h.client()
        weak var firstHandle: JobHandle?
        do {
            let job = try await client.submit(agent: "echo", input: ["i": 0])
            _ = try await job.result()
            firstHandle = job
        }
        // Sequential, concurrent, streamed and failing jobs.
        for i in 1...300 { _ = try await client.submit(agent: "echo", input: ["i": .int(Int64(i))], streamEvents: false).result() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let job = try await client.submit(agent: i % 2 == 0 ? "flood" : "chunked", input: ["n": 20])
                    for try await _ in job.events {}
                    _ = try await job.result()
                }
            }
            try await group.waitForAll()
        }
        for _ in 0..<50 { _ = try? await client.submit(agent: "fails", input: ["code": "INVALID_REQUEST"]).result() }
        let retained = client.retained
        #expect(retained.jobs == 0, "jobs still followed: \(retained.jobs)")
        #expect(retained.requests == 0, "requests still held: \(retained.requests)")
        #expect(retained.heldFrames == 0)
        #expect(firstHandle == nil, "the client still holds a finished job's handle")
        await client.close()
    }
}
