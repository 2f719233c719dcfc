import ARCP
import Testing

/// The request lifecycle: pending → answered / timed out / cancelled / failed, with the waiter
/// arriving before or after the outcome. Waiters here are plain numbers, answers strings.
@Suite("Client request table")
struct ClientRequestTableTests {
    typealias Table = ClientRequestTable<Int, String>
    static let t0 = ContinuousClock.now
    struct Boom: Error {}

    static func entry(_ type: String = "session.ping", deadline: Duration = .seconds(30), subscribe: String? = nil, echo: String? = nil) -> Table.Entry {
        Table.Entry(type: type, deadline: t0 + deadline, streamEvents: true, subscribeJobID: subscribe, echo: echo)
    }

    static func value(_ r: Result<String, any Error>?) -> String? {
        guard case .success(let v)? = r else { return nil }
        return v
    }

    @Test("answered before the waiter parks: the outcome waits for it, then the entry is gone")
    func answerFirst() {
        var t = Table()
        t.register(id: "a", Self.entry())
        let c = t.complete(id: "a", .success("pong"))
        #expect(c?.waiter == nil)
        #expect(t.count == 1)
        guard case .resume(let outcome) = t.wait(id: "a", 1) else { Issue.record("parked after the answer"); return }
        #expect(Self.value(outcome) == "pong")
        #expect(t.isEmpty)
    }

    @Test("waiter parks first: the answer hands it the outcome and the entry is gone")
    func waiterFirst() {
        var t = Table()
        t.register(id: "a", Self.entry())
        guard case .suspend = t.wait(id: "a", 7) else { Issue.record("did not park"); return }
        let c = t.complete(id: "a", .success("pong"))
        #expect(c?.waiter == 7)
        #expect(Self.value(c?.outcome) == "pong")
        #expect(t.isEmpty)
    }

    @Test("only the first outcome counts: a late answer after a timeout or cancel is ignored")
    func firstOutcomeWins() {
        var t = Table()
        t.register(id: "a", Self.entry(deadline: .seconds(1)))
        _ = t.wait(id: "a", 1)
        let expired = t.expire(at: Self.t0 + .seconds(1)) { e in ARCPClientError(.timedOut, "no answer to \(e.type)") }
        #expect(expired.count == 1)
        #expect(expired.first?.waiter == 1)
        #expect(t.match(requestID: "a", types: []) == nil)
        #expect(t.complete(id: "a", .success("late")) == nil)

        t.register(id: "b", Self.entry())
        #expect(t.complete(id: "b", .failure(ARCPClientError(.cancelled, "cancelled"))) != nil)
        #expect(t.complete(id: "b", .success("late")) == nil)  // resolved, waiting for its waiter
        guard case .resume(.failure(let e)) = t.wait(id: "b", 2) else { Issue.record("no failure"); return }
        #expect((e as? ARCPClientError)?.code == .cancelled)
    }

    @Test("expiry takes only what is due; nextDeadline is the earliest open one")
    func expiry() {
        var t = Table()
        t.register(id: "a", Self.entry(deadline: .seconds(5)))
        t.register(id: "b", Self.entry(deadline: .seconds(1)))
        t.register(id: "c", Self.entry(deadline: .seconds(3)))
        #expect(t.nextDeadline == Self.t0 + .seconds(1))
        let expired = t.expire(at: Self.t0 + .seconds(3)) { _ in Boom() }
        #expect(expired.count == 2)
        #expect(t.nextDeadline == Self.t0 + .seconds(5))
        _ = t.complete(id: "a", .success("x"))
        #expect(t.nextDeadline == nil)  // resolved entries wait for their waiters, not for time
    }

    @Test("answers match by request_id, else the oldest open request of the type (peers that omit it)")
    func matching() {
        var t = Table()
        t.register(id: "p1", Self.entry("session.ping"))
        t.register(id: "s1", Self.entry("job.submit"))
        t.register(id: "p2", Self.entry("session.ping"))
        #expect(t.match(requestID: "p2", types: ["session.ping"]) == "p2")
        #expect(t.match(requestID: nil, types: ["session.ping"]) == "p1")
        #expect(t.match(requestID: nil, types: ["job.submit"]) == "s1")
        #expect(t.match(requestID: nil, types: []) == "p1")
        // An id that names no pending request (the Python reference's, or a stale one) falls back to order.
        #expect(t.match(requestID: "nope", types: ["session.ping"]) == "p1")
        _ = t.complete(id: "p1", .success("pong"))
        #expect(t.match(requestID: nil, types: ["session.ping"]) == "p2")
        #expect(t.match(requestID: nil, types: ["session.close"]) == nil)
        // A pong names its ping by nonce: it answers that one, not the oldest.
        t.register(id: "p3", Self.entry("session.ping", echo: "n3"))
        #expect(t.match(requestID: nil, types: ["session.ping"], echo: "n3") == "p3")
        #expect(t.match(requestID: nil, types: ["session.ping"], echo: "heartbeat's") == "p2")
    }

    @Test("failAll fails every open request, and only those")
    func failAll() {
        var t = Table()
        t.register(id: "a", Self.entry())
        t.register(id: "b", Self.entry())
        t.register(id: "c", Self.entry())
        _ = t.wait(id: "b", 2)
        _ = t.complete(id: "c", .success("done"))
        let failed = t.failAll { _ in ARCPClientError(.connectionLost, "lost") }
        #expect(failed.count == 2)
        #expect(Set(failed.compactMap(\.waiter)) == [2])
        guard case .resume(.success("done")) = t.wait(id: "c", 3) else { Issue.record("lost the answer"); return }
        guard case .resume(.failure) = t.wait(id: "a", 1) else { Issue.record("not failed"); return }
        #expect(t.isEmpty)
    }

    @Test("illegal: a second waiter, or a waiter for an unknown request, is refused without trapping")
    func illegalWaiters() {
        var t = Table()
        t.register(id: "a", Self.entry())
        _ = t.wait(id: "a", 1)
        guard case .resume(.failure) = t.wait(id: "a", 2) else { Issue.record("second waiter parked"); return }
        #expect(t.complete(id: "a", .success("x"))?.waiter == 1)
        guard case .resume(.failure) = t.wait(id: "zzz", 3) else { Issue.record("unknown request parked"); return }
        #expect(t.complete(id: "zzz", .success("x")) == nil)
    }

    @Test("subscriptions in flight are known by job")
    func subscribing() {
        var t = Table()
        t.register(id: "s", Self.entry("job.subscribe", subscribe: "job_1"))
        #expect(t.isSubscribing(to: "job_1"))
        #expect(!t.isSubscribing(to: "job_2"))
        _ = t.complete(id: "s", .success("subscribed"))
        #expect(!t.isSubscribing(to: "job_1"))
    }

    @Test("the answer order stays bounded behind one long-pending request")
    func orderBounded() {
        var t = Table()
        t.register(id: "old", Self.entry())
        for i in 0..<10_000 {
            t.register(id: "r\(i)", Self.entry())
            _ = t.complete(id: "r\(i)", .success("ok"))
            _ = t.wait(id: "r\(i)", i)
        }
        #expect(t.count == 1)
        #expect(t.orderedIDs < 100)
        #expect(t.match(requestID: nil, types: []) == "old")
    }
}
