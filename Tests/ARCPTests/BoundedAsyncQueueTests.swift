@testable import ARCP
import ARCPTestSupport
import Testing

/// `BoundedAsyncQueue.takeAvailable(max:)`: what a reader takes in one go (the client's read
/// loop, through `MemoryTransport.takeBufferedInbound`).
@Suite("BoundedAsyncQueue: taking what is available", .timeLimit(.minutes(1)))
struct BoundedAsyncQueueTests {
    @Test func takesTheBufferThenSuspendedSendersInOrderWithoutWaiting() async throws {
        let queue = BoundedAsyncQueue<String>(capacity: 2)
        #expect(queue.takeAvailable(max: 8).isEmpty)
        // Two fit; the third and fourth senders suspend.
        let senders = Task { try await queue.send(contentsOf: ["a", "b", "c", "d"]) }
        try await within(.seconds(30), "the senders to fill the queue") {
            while queue.count < 2 { await Task.yield() }
        }
        // At most `maxCost` (here one per element), but at least one.
        #expect(queue.takeAvailable(max: 3, maxCost: 0) { _ in 1 } == ["a"])
        #expect(queue.takeAvailable(max: 2) == ["b", "c"])
        #expect(queue.takeAvailable(max: 0).isEmpty)
        // The rest is there once the suspended sender moved on.
        let rest = try await within(.seconds(30), "the last element") { () async -> [String] in
            while true {
                let taken = queue.takeAvailable(max: 8)
                if !taken.isEmpty { return taken }
                await Task.yield()
            }
        }
        #expect(rest == ["d"])
        try await senders.value
        // The end is left for `next()`.
        queue.finish()
        #expect(queue.takeAvailable(max: 8).isEmpty)
        #expect(try await queue.next() == nil)
    }
}
