@testable import ARCP
import ARCPTestSupport
import Foundation
import Synchronization
import Logging
import Testing

/// `Configuration.persistEventsBeforeSending` (issue 10 item 9): with it, a client never sees
/// an event the store does not hold yet; without it the store is written behind the socket.
@Suite("Durability: events persisted before they are sent")
struct PersistBeforeSendTests {
    /// A store whose event appends wait at a gate the test opens.
    final class GatedStore: StoreOverMemory {
        let inner = InMemoryRuntimeStore()
        let appendStarted = Latch()
        let gate = Latch()

        func append(_ events: [StoredEvent]) async throws -> [Eviction] {
            if events.contains(where: { $0.frame.contains("gated line") }) {
                appendStarted.open()
                await gate.wait()
            }
            return try await inner.append(events)
        }
    }

    /// Submits a job that logs "gated line" and returns; reads frames until the store is
    /// writing that event, then for `window` more. Returns whether the event reached the
    /// client before the store held it, and then (gate opened) that it arrives.
    func eventSeenBeforeStored(persistFirst: Bool, window: Duration = .milliseconds(500)) async throws -> Bool {
        let store = GatedStore()
        let h = try Harness {
            $0.store = store
            $0.persistEventsBeforeSending = persistFirst
        }
        try h.runtime.register("gated") { _, ctx in
            await ctx.log("info", "gated line")
            return "done"
        }
        let raw = h.raw()
        let welcome = try #require(try await raw.hello())
        let sid = try #require(welcome.sessionId)
        _ = try await raw.send(.jobSubmit(JobSubmitPayload(agent: "gated", input: .null)), sessionID: sid)
        // Frames arrive on their own task; the test looks at what arrived when.
        let seen = Mutex<[String]>([])
        let sawEvent = Latch()
        let reader = Task {
            while let text = try await raw.transport.receive() {
                seen.withLock { $0.append(text) }
                if text.contains("gated line") { sawEvent.open() }
            }
        }
        try await within(.seconds(10), "the store to start writing the event") { await store.appendStarted.wait() }
        // Give a writer that does not wait for the store every chance to send it (a bounded
        // look for a frame that must not come; it comes within milliseconds when it does).
        var early = false
        let until = ContinuousClock.now + window
        while !early, ContinuousClock.now < until {
            early = seen.withLock { $0.contains { $0.contains("gated line") } }
            if !early { try await Task.sleep(for: .milliseconds(10)) }
        }
        store.gate.open()
        try await within(.seconds(10), "the event after the store wrote it") { await sawEvent.wait() }
        #expect(seen.withLock { $0.contains { $0.contains("gated line") } })
        reader.cancel()
        await raw.transport.close()
        await h.runtime.shutdown()
        return early
    }

    @Test("with persistEventsBeforeSending the client gets an event only once the store holds it")
    func persistedFirst() async throws {
        #expect(try await eventSeenBeforeStored(persistFirst: true) == false)
    }

    @Test("without it (the default) the store is written behind the socket: the event is not held back")
    func writeBehind() async throws {
        // (The look ends as soon as the event is seen; the long window only absorbs a loaded machine.)
        #expect(try await eventSeenBeforeStored(persistFirst: false, window: .seconds(20)) == true)
    }
}

/// A store that refuses the events of the sessions the test names (as a cluster node's store
/// refuses those of sessions another node holds): with persist-before-send, such events are
/// never sent; the connection ends instead, and a later connection of the session is served.
@Suite("Durability: events the store refused are not sent")
struct RefusedAppendTests {
    final class RefusingStore: StoreOverMemory {
        let inner = InMemoryRuntimeStore()
        let refusing = Mutex<Set<String>>([])

        func appendReportingRefusals(_ events: [StoredEvent]) async throws -> AppendOutcome {
            let refused = refusing.withLock { r in Set(events.map(\.sessionID)).intersection(r) }
            let evictions = try await inner.append(events.filter { !refused.contains($0.sessionID) })
            return AppendOutcome(evictions: evictions, refusedSessions: refused)
        }
    }

    @Test("with persistEventsBeforeSending an event whose append was refused is not sent: the connection ends")
    func refusedEventEndsTheConnection() async throws {
        let store = RefusingStore()
        let h = try Harness {
            $0.store = store
            $0.persistEventsBeforeSending = true
        }
        let raw = h.raw()
        let (sid, w) = try await raw.welcomed()
        store.refusing.withLock { $0 = [sid] }
        _ = try await raw.send(.jobSubmit(JobSubmitPayload(agent: "echo", input: .null)), sessionID: sid)
        // Whatever comes (job.accepted is a control frame), no event: the connection ends.
        let events = try await within(.seconds(10), "the end of the connection") {
            var seqs: [Int] = []
            while let e = try await raw.next() {
                if let seq = e.eventSeq { seqs.append(seq) }
            }
            return seqs
        }
        #expect(events.isEmpty, "events the store refused were sent: \(events)")
        #expect(await store.inner.events(session: sid, after: 0, limit: 10).isEmpty)
        // The session is held here again: a resume is served, and a new event is sent.
        store.refusing.withLock { $0 = [] }
        let again = h.raw()
        try await again.send(Frames.resume(sid, token: w.resumeToken, after: 0))
        let resumed = try #require(try await within(.seconds(10), "the resume's welcome") { try await again.next() })
        guard case .sessionWelcome = resumed.message else {
            Issue.record("expected session.welcome, got \(resumed.message.type)")
            return
        }
        _ = try await again.send(.jobSubmit(JobSubmitPayload(agent: "echo", input: .null)), sessionID: sid)
        let event = try await within(.seconds(10), "an event after the resume") { try await again.next(where: { $0.eventSeq != nil }) }
        #expect(event != nil)
        await again.transport.close()
        await h.runtime.shutdown()
    }

    @Test("the store writer remembers the refusals of at most maxRefusedSessions sessions, the oldest forgotten first")
    func refusalsAreBounded() async throws {
        let store = RefusingStore()
        let n = RuntimeStoreWriter.maxRefusedSessions + 1
        store.refusing.withLock { $0 = Set((0..<n).map { "s\($0)" }) }
        let writer = RuntimeStoreWriter(store: store, capacity: 64, logger: Logger(label: "test"))
        let run = Task { await writer.run() }
        var last: UInt64 = 0
        for i in 0..<n {
            await writer.waitForCapacity()
            last = writer.submit(.event(StoredEvent(sessionID: "s\(i)", seq: 1, jobID: "j", frame: "{}")))
        }
        await writer.flush(through: last)
        #expect(writer.refusedTicket(of: "s0") == 0, "the oldest refusal is forgotten")
        #expect(writer.refusedTicket(of: "s1") > 0)
        #expect(writer.refusedTicket(of: "s\(n - 1)") == last)
        run.cancel()
    }

    @Test("the stores of this module refuse nothing")
    func inMemoryRefusesNothing() async throws {
        let store = InMemoryRuntimeStore()
        await store.saveSession(SessionRecord(sessionID: "s", principal: "p", resumeTokenHash: "h", createdAt: Date(), lastSeenAt: Date()))
        let outcome = try await store.appendReportingRefusals([StoredEvent(sessionID: "s", seq: 1, jobID: "j", frame: "{}")])
        #expect(outcome == AppendOutcome(evictions: [], refusedSessions: []))
        #expect(await store.events(session: "s", after: 0, limit: 10).count == 1)
    }
}
