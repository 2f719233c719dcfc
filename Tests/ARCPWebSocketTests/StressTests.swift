import ARCP
import ARCPWebSocket
import Testing

@Suite("WebSocket flow-control stress", .timeLimit(.minutes(1)))
struct WebSocketStressTests {
    /// Tiny queues on both sides and a stream in each direction: every message crosses the
    /// "queue full → hold → wake" path, so a lost wake-up would hang here.
    @Test(arguments: [1, 2])
    func tinyQueuesNeverStall(capacity: Int) async throws {
        let total = 3000
        let server = try await TestServer.start(.init(inboundCapacity: capacity)) { transport, events in
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for i in 0..<total { try await transport.send("{\"s\":\(i)}") }
                    }
                    var n = 0
                    while n < total, let _ = try await transport.receive() { n += 1 }
                    try await group.waitForAll()
                    try? await events.send("server got \(n)")
                }
            } catch {
                try? await events.send("error: \(error)")
            }
        }
        let client = try await WebSocketTransport.connect(to: server.url, inboundCapacity: capacity)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for i in 0..<total { try await client.send("{\"c\":\(i)}") }
            }
            for i in 0..<total {
                let frame = try #require(try await client.receive())
                #expect(frame == "{\"s\":\(i)}")
            }
            try await group.waitForAll()
        }
        #expect(try await server.nextEvent() == "server got \(total)")
        await client.close()
        await server.server.stop()
    }
}
