import ARCP
import ARCPWebSocketCore
import DequeModule
import NIOCore
import NIOWebSocket
import Synchronization
import Testing

/// The shared ARCP WebSocket rules (`ARCPWebSocketCore`) without I/O: every adapter (the NIO
/// server and client, Hummingbird, Vapor) relies on these transitions.
@Suite("WebSocket core: message assembly")
struct MessageAssemblerTests {
    static let limits = ConnectionLimits(maxMessageSize: 100, maxFirstMessageSize: 20)

    func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func wholeAndFragmentedMessages() {
        var a = MessageAssembler(limits: Self.limits)
        #expect(a.receive(opcode: .text, fin: true, payload: buffer("hello")) == .message("hello"))
        #expect(a.receive(opcode: .text, fin: false, payload: buffer("ab")) == .incomplete)
        #expect(a.receive(opcode: .continuation, fin: false, payload: buffer("cd")) == .incomplete)
        #expect(a.receive(opcode: .continuation, fin: true, payload: buffer("ef")) == .message("abcdef"))
    }

    @Test func theFirstMessageHasItsOwnCapThenTheMessageLimitApplies() {
        var a = MessageAssembler(limits: Self.limits)
        #expect(a.currentLimit == 20)
        let tooBig = a.receive(opcode: .text, fin: true, payload: buffer(String(repeating: "x", count: 21)))
        #expect(tooBig == .violation(.firstMessageTooLarge(limit: 20)))
        guard case .violation(let v) = tooBig else { return }
        #expect(v.code == 1009)
        #expect(v.reason.contains("first message larger than 20 bytes"))
        #expect(v.error == .frameTooLarge(limit: 20))

        var b = MessageAssembler(limits: Self.limits)
        #expect(b.receive(opcode: .text, fin: true, payload: buffer("{}")) == .message("{}"))
        #expect(b.currentLimit == 100)
        #expect(b.receive(opcode: .text, fin: true, payload: buffer(String(repeating: "y", count: 100))) == .message(String(repeating: "y", count: 100)))
        #expect(b.receive(opcode: .text, fin: true, payload: buffer(String(repeating: "y", count: 101))) == .violation(.messageTooLarge(limit: 100)))
    }

    @Test func aFragmentedFirstMessageIsRefusedAsSoonAsItGrowsPastTheCap() {
        var a = MessageAssembler(limits: Self.limits)
        #expect(a.receive(opcode: .text, fin: false, payload: buffer(String(repeating: "x", count: 15))) == .incomplete)
        #expect(a.receive(opcode: .continuation, fin: false, payload: buffer("123456")) == .violation(.firstMessageTooLarge(limit: 20)))
        // After a violation nothing more is delivered.
        #expect(a.receive(opcode: .text, fin: true, payload: buffer("{}")) == .incomplete)
    }

    @Test func withoutACapBelowTheLimitTheFirstMessageIsAnOrdinaryOne() {
        var a = MessageAssembler(limits: ConnectionLimits(maxMessageSize: 10, maxFirstMessageSize: nil))
        #expect(a.receive(opcode: .text, fin: true, payload: buffer(String(repeating: "x", count: 11))) == .violation(.messageTooLarge(limit: 10)))
    }

    @Test func violationsAndTheirCloseCodes() {
        func first(_ frames: [(WebSocketOpcode, Bool, String)]) -> WebSocketViolation? {
            var a = MessageAssembler(limits: Self.limits)
            for (op, fin, text) in frames {
                if case .violation(let v) = a.receive(opcode: op, fin: fin, payload: ByteBuffer(string: text)) { return v }
            }
            return nil
        }
        #expect(first([(.binary, true, "{}")])?.code == 1003)
        #expect(first([(.continuation, true, "{}")]) == .unexpectedContinuation)
        #expect(first([(.text, false, "{"), (.text, true, "}")]) == .interleavedMessage)
        #expect(first([(.text, false, "{"), (.binary, true, "}")])?.code == 1003)
        var bad = MessageAssembler(limits: Self.limits)
        var invalid = ByteBuffer()
        invalid.writeBytes([0x7B, 0xC3, 0x28, 0x7D])
        #expect(bad.receive(opcode: .text, fin: true, payload: invalid) == .violation(.invalidUTF8))
        #expect(WebSocketViolation.invalidUTF8.code == 1007)
        #expect(WebSocketViolation.unexpectedContinuation.code == 1002)
    }

    /// A message's text: ASCII through the eight-bytes-at-a-time path and its tail, UTF-8
    /// through the standard library, invalid bytes refused wherever they are.
    @Test func messageTextIsUTF8CheckedAtEveryOffset() {
        func text(_ bytes: [UInt8]) -> String? { bytes.withUnsafeBytes { MessageAssembler.text($0) } }
        #expect(text([]) == "")
        for n in [1, 7, 8, 9, 16, 31, 300] {
            let ascii = String(repeating: "a", count: n)
            #expect(text(Array(ascii.utf8)) == ascii)
            for at in Set([0, n / 2, n - 1]) {
                var invalid = Array(ascii.utf8)
                invalid[at] = 0xFF
                #expect(text(invalid) == nil, "0xFF at \(at) of \(n)")
                var valid = Array(ascii.utf8)
                valid.replaceSubrange(at...at, with: Array("é".utf8))
                #expect(text(valid) == String(decoding: valid, as: UTF8.self), "é at \(at) of \(n)")
            }
        }
    }

    @Test func wholeMessagesFromAFrameworkThatReassembles() {
        var a = MessageAssembler(limits: Self.limits)
        #expect(a.receive(text: String(repeating: "x", count: 21)) == .violation(.firstMessageTooLarge(limit: 20)))
        var b = MessageAssembler(limits: Self.limits)
        #expect(b.receive(text: "{}") == .message("{}"))
        #expect(b.hasDeliveredFirstMessage)
        #expect(b.receiveBinary() == .violation(.binaryFrame))
    }

    @Test func closeReasonsFitAControlFrame() {
        let long = String(repeating: "é", count: 100)  // 200 bytes
        let cut = CloseReason.truncated(long)
        #expect(cut.utf8.count <= 123)
        #expect(cut.utf8.count == 122, "cut at a character boundary")
        #expect(CloseReason.truncated("short") == "short")
    }
}

@Suite("WebSocket core: pongs for a peer that does not read")
struct PongScheduleTests {
    func payload(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    @Test func oneInFlightTheLatestWaitingAndAFloodIsAViolation() {
        var p = PongSchedule(maxUnanswered: 3)
        #expect(p.receivedPing(payload("a")) == .send(payload("a")))
        #expect(p.receivedPing(payload("b")) == .deferred)
        #expect(p.receivedPing(payload("c")) == .deferred)
        // The pong in flight is written: only the latest waiting ping is answered.
        #expect(p.pongWritten() == payload("c"))
        #expect(p.pongWritten() == nil, "nothing waits any more")
        #expect(p.receivedPing(payload("d")) == .send(payload("d")), "nothing in flight: answered at once")
        #expect(p.receivedPing(payload("e")) == .deferred)
        #expect(p.receivedPing(payload("f")) == .deferred)
        #expect(p.receivedPing(payload("g")) == .deferred)
        #expect(p.receivedPing(payload("h")) == .violation(.pingFlood(limit: 3)))
        #expect(WebSocketViolation.pingFlood(limit: 3).code == 1008)
    }

    @Test func aWrittenPongResetsTheCount() {
        var p = PongSchedule(maxUnanswered: 2)
        _ = p.receivedPing(payload("1"))
        #expect(p.receivedPing(payload("2")) == .deferred)
        #expect(p.receivedPing(payload("3")) == .deferred)
        #expect(p.pongWritten() == payload("3"))
        #expect(p.receivedPing(payload("4")) == .deferred)
        #expect(p.receivedPing(payload("5")) == .deferred)
        #expect(p.pongWritten() == payload("5"))
    }
}

@Suite("WebSocket core: allow-lists and the connection limit")
struct UpgradePolicyTests {
    @Test func hostAndOriginAllowLists() {
        let p = UpgradePolicy(allowedOrigins: ["https://App.example"], allowedHosts: ["localhost", "arcp.example:443"])
        #expect(p.refusal(host: "localhost:7777", origin: nil) == nil)
        #expect(p.refusal(host: "LOCALHOST", origin: "https://app.EXAMPLE") == nil)
        #expect(p.refusal(host: "arcp.example:443", origin: nil) == nil)
        #expect(p.refusal(host: "arcp.example:8443", origin: nil) == .hostNotAllowed)
        #expect(p.refusal(host: nil, origin: nil) == .hostNotAllowed)
        #expect(p.refusal(host: "rebound.example", origin: nil)?.status == 403)
        #expect(p.refusal(host: "localhost", origin: "https://evil.example") == .originNotAllowed)
        let open = UpgradePolicy(allowedOrigins: nil, allowedHosts: nil)
        #expect(open.refusal(host: nil, origin: "https://anything") == nil)
        let v6 = UpgradePolicy(allowedOrigins: nil, allowedHosts: ["[::1]"])
        #expect(v6.refusal(host: "[::1]:7777", origin: nil) == nil)
    }

    @Test func theLimiterCountsPermits() async {
        let limiter = ConnectionLimiter(limit: 2)
        #expect(limiter.tryAcquire())
        #expect(limiter.tryAcquire())
        #expect(!limiter.tryAcquire())
        limiter.release()
        #expect(limiter.tryAcquire())
        #expect(limiter.count == 2)
        // Concurrent takers never exceed the limit.
        let many = ConnectionLimiter(limit: 50)
        let granted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<500 { group.addTask { many.tryAcquire() } }
            var n = 0
            for await ok in group where ok { n += 1 }
            return n
        }
        #expect(granted == 50)
        #expect(UpgradeRefusal.tooManyConnections(limit: 50).status == 503)
        #expect(UpgradeRefusal.tooManyConnections(limit: 50).retryAfterSeconds == 1)
    }
}

@Suite("WebSocket core: inbound mailbox", .timeLimit(.minutes(1)))
struct InboundMailboxTests {
    @Test func boundedByCountAndBytesAndTheProducerIsWoken() async throws {
        let mailbox = InboundMailbox(capacity: 3, byteLimit: 10)
        let woken = Atomic<Int>(0)
        mailbox.setRoomHandler { woken.add(1, ordering: .relaxed) }
        var pending: Deque<String> = ["aaaa", "bbbb", "cccc", "dddd"]
        // 4 + 4 + 4 bytes: the third message is admitted (8 ≤ 10 before it), the fourth is not.
        #expect(mailbox.offer(&pending) == .full)
        #expect(pending == ["dddd"])
        #expect(mailbox.count == 3)
        #expect(mailbox.bufferedBytes == 12)
        #expect(try await mailbox.receive() == "aaaa")
        #expect(woken.load(ordering: .relaxed) == 1, "taking made room: the producer is woken once")
        #expect(mailbox.offer(&pending) == .accepted(hasRoom: false))
        #expect(try await mailbox.receive() == "bbbb")
        #expect(woken.load(ordering: .relaxed) == 2)
        #expect(try await mailbox.receive() == "cccc")
        #expect(try await mailbox.receive() == "dddd")
        // One message larger than the byte limit still gets through alone.
        #expect(mailbox.offer(String(repeating: "x", count: 50)) == .accepted(hasRoom: false))
        #expect(try await mailbox.receive()?.count == 50)
    }

    /// `takeQueued(max:)`: what is queued, at most `max`, in order, without waiting; the
    /// producer woken once if that made room; the end is left for `receive()`.
    @Test func takeQueuedTakesWhatIsThereAndWakesTheProducerOnce() async throws {
        let mailbox = InboundMailbox(capacity: 3, byteLimit: 1000)
        let woken = Atomic<Int>(0)
        mailbox.setRoomHandler { woken.add(1, ordering: .relaxed) }
        #expect(mailbox.takeQueued(max: 8).isEmpty)
        var pending: Deque<String> = ["a", "b", "c", "d", "e"]
        #expect(mailbox.offer(&pending) == .full)
        #expect(mailbox.takeQueued(max: 2) == ["a", "b"])
        #expect(woken.load(ordering: .relaxed) == 1)
        #expect(mailbox.offer(&pending) == .accepted(hasRoom: false))
        #expect(mailbox.takeQueued(max: 0).isEmpty)
        // At most `maxBytes`, but at least one.
        #expect(mailbox.takeQueued(max: 8, maxBytes: 0) == ["c"])
        #expect(mailbox.takeQueued(max: 8) == ["d", "e"])
        #expect(woken.load(ordering: .relaxed) == 2)
        #expect(mailbox.bufferedBytes == 0)
        var sized: Deque<String> = ["xx", "yy"]
        #expect(mailbox.offer(&sized) == .accepted(hasRoom: true))
        #expect(mailbox.takeQueued(max: 8, maxBytes: 3) == ["xx"])
        #expect(mailbox.takeQueued(max: 8, maxBytes: 3) == ["yy"])
        _ = mailbox.offer("last")
        mailbox.finish(failure: .io("reset"))
        #expect(mailbox.takeQueued(max: 8) == ["last"])
        #expect(mailbox.takeQueued(max: 8).isEmpty)
        await #expect(throws: TransportError.io("reset")) { try await mailbox.receive() }
    }

    @Test func aFailureIsReportedOnceAfterTheQueuedMessages() async throws {
        let mailbox = InboundMailbox(capacity: 8, byteLimit: 1000)
        _ = mailbox.offer("first")
        mailbox.finish(failure: .invalidFrame("binary frame"))
        _ = mailbox.offer("after the end")
        #expect(try await mailbox.receive() == "first")
        await #expect(throws: TransportError.invalidFrame("binary frame")) { try await mailbox.receive() }
        #expect(try await mailbox.receive() == nil)
        #expect(try await mailbox.receive() == nil)
    }

    @Test func aWaitingConsumerGetsTheMessageOrTheEnd() async throws {
        let mailbox = InboundMailbox(capacity: 8, byteLimit: 1000)
        async let got = mailbox.receive()
        try await Task.sleep(for: .milliseconds(20))
        _ = mailbox.offer("late")
        #expect(try await got == "late")
        let end = Task { try await mailbox.receive() }
        try await Task.sleep(for: .milliseconds(20))
        mailbox.finish(failure: .io("reset"))
        await #expect(throws: TransportError.io("reset")) { try await end.value }
    }

    @Test func aWaitExpiresOnlyWithItsOwnToken() async throws {
        let mailbox = InboundMailbox(capacity: 8, byteLimit: 1000)
        let stale = mailbox.nextDeadlineToken()
        let token = mailbox.nextDeadlineToken()
        #expect(stale != 0 && token != 0 && token != stale)
        let waiting = Task { () -> String in
            do {
                return try await mailbox.receive(expiring: token) ?? "end"
            } catch is InboundMailbox.Expired {
                return "expired"
            }
        }
        #expect(await eventually { mailbox.consumerIsWaiting })
        // Another token, or none, does not end it.
        mailbox.expire(stale)
        mailbox.expire(0)
        #expect(mailbox.consumerIsWaiting)
        mailbox.expire(token)
        #expect(try await waiting.value == "expired")
        // A message already there wins over the deadline.
        _ = mailbox.offer("m")
        #expect(try await mailbox.receive(expiring: mailbox.nextDeadlineToken()) == "m")
        // A late expiry leaves a later receive alone.
        let next = Task { try await mailbox.receive() }
        #expect(await eventually { mailbox.consumerIsWaiting })
        mailbox.expire(token)
        #expect(mailbox.consumerIsWaiting)
        _ = mailbox.offer("n")
        #expect(try await next.value == "n")
    }

    @Test func anAsyncProducerWaitsForRoom() async throws {
        let mailbox = InboundMailbox(capacity: 1, byteLimit: 1000)
        _ = mailbox.offer("one")
        let waited = Latch()
        let producer = Task {
            await mailbox.waitForRoom()
            waited.open()
        }
        try await Task.sleep(for: .milliseconds(30))
        #expect(!waited.isOpen, "no room yet")
        #expect(try await mailbox.receive() == "one")
        await waited.wait()
        await producer.value
    }

    @Test func aCancelledReceiveThrowsCancellation() async {
        let mailbox = InboundMailbox(capacity: 1, byteLimit: 10)
        let task = Task { try await mailbox.receive() }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}

@Suite("WebSocket core: outbound credit", .timeLimit(.minutes(1)))
struct OutboundCreditTests {
    final class Order: Sendable {
        private let list = Mutex<[Int]>([])
        func withLock<R>(_ body: (inout [Int]) -> R) -> R { list.withLock { body(&$0) } }
    }

    @Test func sendersWaitForCreditInOrderAndALargeFrameGoesAlone() async throws {
        let credit = OutboundCredit(limit: 100)
        try await credit.acquire(60)
        try await credit.acquire(40)
        #expect(credit.outstanding == 100)
        let order = Order()
        let a = Task {
            try await credit.acquire(30)
            order.withLock { $0.append(1) }
        }
        try await Task.sleep(for: .milliseconds(20))
        let b = Task {
            try await credit.acquire(500)  // larger than the whole limit: alone, once nothing is out
            order.withLock { $0.append(2) }
        }
        try await Task.sleep(for: .milliseconds(20))
        #expect(order.withLock { $0 }.isEmpty)
        credit.release(60)
        try await a.value
        #expect(order.withLock { $0 } == [1])
        credit.release(40)
        credit.release(30)
        try await b.value
        #expect(order.withLock { $0 } == [1, 2])
        credit.finish()
        await #expect(throws: OutboundCredit.Finished.self) { try await credit.acquire(1) }
    }
}
@Suite("Outbound credit, by callback")
struct OutboundCreditCallbackTests {
    @Test("granted at once when there is room; otherwise queued behind earlier waiters, granted on release, refused on finish")
    func callbacks() async throws {
        let credit = OutboundCredit(limit: 100)
        let granted = Mutex<[String]>([])
        #expect(credit.acquire(60) { _ in granted.withLock { $0.append("first") } } == true)
        #expect(credit.acquire(60) { ok in granted.withLock { $0.append("second \(ok)") } } == false)
        #expect(credit.acquire(10) { ok in granted.withLock { $0.append("third \(ok)") } } == false, "behind a waiter, even though it would fit")
        #expect(granted.withLock { $0 }.isEmpty)
        credit.release(60)
        #expect(granted.withLock { $0 } == ["second true", "third true"])
        #expect(credit.outstanding == 70)
        #expect(credit.acquire(50) { ok in granted.withLock { $0.append("fourth \(ok)") } } == false)
        credit.finish()
        #expect(granted.withLock { $0 } == ["second true", "third true", "fourth false"])
        #expect(credit.acquire(1) { _ in Issue.record("not called once finished") } == nil)
    }
}

