import ARCP
import ARCPTestSupport
import Foundation
import Synchronization
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
