import ARCP
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pipe; the ends are plain descriptors owned by whoever takes them.
private func makePipe() throws -> (read: Int32, write: Int32) {
    // Close-on-exec, so children spawned by tests running in parallel do not inherit them.
    guard let fds = makeCloseOnExecPipe() else { throw TransportError.io("pipe failed") }
    return fds
}

/// Two StdioTransports joined by two pipes.
private func connectedPair(
    maxLineLength: Int = StdioTransport.defaultMaxLineLength, inboundCapacity: Int = 256
) throws -> (StdioTransport, StdioTransport) {
    let aToB = try makePipe()
    let bToA = try makePipe()
    let a = StdioTransport(
        readingFrom: bToA.read, writingTo: aToB.write,
        maxLineLength: maxLineLength, inboundCapacity: inboundCapacity)
    let b = StdioTransport(
        readingFrom: aToB.read, writingTo: bToA.write,
        maxLineLength: maxLineLength, inboundCapacity: inboundCapacity)
    return (a, b)
}

private func writeRaw(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    bytes.withUnsafeBytes { raw in
        while offset < raw.count {
            let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}

@Suite("LineSplitter", .timeLimit(.minutes(1)))
struct LineSplitterTests {
    @Test func splitsLinesAcrossChunks() {
        var splitter = LineSplitter(maxLineLength: 100)
        var out: [LineSplitter.Item] = []
        for byte in Array("{\"a\":1}\n{\"b\":2}\r\n\n{\"c\"".utf8) {
            splitter.feed([byte], into: &out)
        }
        #expect(out == [.line("{\"a\":1}"), .line("{\"b\":2}")])
        splitter.feed(Array(":3}".utf8), into: &out)
        splitter.finish(into: &out)
        #expect(out == [.line("{\"a\":1}"), .line("{\"b\":2}"), .line("{\"c\":3}")])
    }

    @Test func overlongLineIsDiscardedThenReportedOnce() {
        var splitter = LineSplitter(maxLineLength: 8)
        var out: [LineSplitter.Item] = []
        splitter.feed(Array("12345".utf8), into: &out)
        splitter.feed(Array("6789abcdef".utf8), into: &out)
        #expect(out.isEmpty, "not reported until the rest of the line is discarded")
        splitter.feed(Array("ghij\nok\n".utf8), into: &out)
        #expect(out == [.tooLong, .line("ok")])
        // Exactly at the limit is fine; one more byte is not.
        out = []
        splitter.feed(Array("12345678\n123456789\n".utf8), into: &out)
        #expect(out == [.line("12345678"), .tooLong])
    }

    @Test func overlongLineAtEndOfInput() {
        var splitter = LineSplitter(maxLineLength: 4)
        var out: [LineSplitter.Item] = []
        splitter.feed(Array("abcdefgh".utf8), into: &out)
        splitter.finish(into: &out)
        #expect(out == [.tooLong])
    }

    @Test func invalidUTF8IsReported() {
        var splitter = LineSplitter(maxLineLength: 100)
        var out: [LineSplitter.Item] = []
        splitter.feed([0x7B, 0xFF, 0xFE, 0x7D, 0x0A, 0x31, 0x0A], into: &out)
        #expect(out == [.notUTF8, .line("1")])
    }
}

@Suite("StdioTransport", .timeLimit(.minutes(1)))
struct StdioTransportTests {
    @Test func roundTripBothWaysOverPipes() async throws {
        let (a, b) = try connectedPair()
        try await a.send(#"{"from":"a","n":1}"#)
        try await b.send(#"{"from":"b","n":1}"#)
        #expect(try await b.receive() == #"{"from":"a","n":1}"#)
        #expect(try await a.receive() == #"{"from":"b","n":1}"#)
        // Non-ASCII text survives.
        try await a.send(#"{"text":"héllo ✓ 🚀"}"#)
        #expect(try await b.receive() == #"{"text":"héllo ✓ 🚀"}"#)
        await a.close()
        #expect(try await b.receive() == nil, "closing one side is end of input for the other")
        await b.close()
        #expect(try await a.receive() == nil)
    }

    @Test func lineCapReportsErrorAndSessionSurvives() async throws {
        let pipeIn = try makePipe()
        let sink = try makePipe()
        let t = StdioTransport(readingFrom: pipeIn.read, writingTo: sink.write, maxLineLength: 1024)
        var big = Array(repeating: UInt8(ascii: "x"), count: 200_000)
        big.append(UInt8(ascii: "\n"))
        let good = Array(#"{"ok":true}"#.utf8) + [UInt8(ascii: "\n")]
        let writer = Task.detached {
            writeRaw(pipeIn.write, big + good)
            close(pipeIn.write)
        }
        await #expect(throws: TransportError.frameTooLarge(limit: 1024)) {
            _ = try await t.receive()
        }
        #expect(try await t.receive() == #"{"ok":true}"#)
        #expect(try await t.receive() == nil)
        await writer.value
        await t.close()
        close(sink.read)
    }

    @Test func sendRejectsRawNewlineAndOversizeFrames() async throws {
        let (a, b) = try connectedPair(maxLineLength: 16)
        await #expect(throws: TransportError.invalidFrame("frame contains a raw newline")) {
            try await a.send("{\"a\":\n1}")
        }
        await #expect(throws: TransportError.frameTooLarge(limit: 16)) {
            try await a.send(String(repeating: "y", count: 17))
        }
        try await a.send("{}")
        #expect(try await b.receive() == "{}")
        await a.close()
        await b.close()
    }

    @Test func closeEndsReceiveAndSend() async throws {
        let (a, b) = try connectedPair()
        let pending = Task { try await a.receive() }
        await a.close()
        #expect(try await pending.value == nil)
        await #expect(throws: TransportError.closed) { try await a.send("{}") }
        await a.close()  // idempotent
        #expect(try await b.receive() == nil)
        await b.close()
    }

    @Test func floodIsBackPressuredAndNothingIsLost() async throws {
        let (a, b) = try connectedPair(inboundCapacity: 4)
        let total = 4000
        let payload = String(repeating: "z", count: 1000)
        let sent = Atomic<Int>(0)
        let sender = Task {
            for i in 0..<total {
                try await a.send("{\"i\":\(i),\"p\":\"\(payload)\"}")
                sent.add(1, ordering: .relaxed)
            }
        }
        // Wait until the sender stalls: the pipe (64 KiB), the reader's buffer and 4 queued
        // lines hold far less than the 4 MB being sent.
        var last = -1
        var stableRounds = 0
        let deadline = ContinuousClock.now + .seconds(5)
        while stableRounds < 5 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            let now = sent.load(ordering: .relaxed)
            stableRounds = now == last ? stableRounds + 1 : 0
            last = now
        }
        #expect(last < total / 4, "sender should be blocked by back-pressure, sent \(last)")
        for i in 0..<total {
            let frame = try #require(try await b.receive())
            #expect(frame.hasPrefix("{\"i\":\(i),"))
        }
        try await sender.value
        #expect(sent.load(ordering: .relaxed) == total)
        await a.close()
        await b.close()
    }

    @Test func peerGoneMakesSendFail() async throws {
        let p = try makePipe()
        let source = try makePipe()
        let t = StdioTransport(readingFrom: source.read, writingTo: p.write)
        close(p.read)
        await #expect(throws: TransportError.io("broken pipe: the peer stopped reading")) {
            try await t.send("{}")
        }
        close(source.write)
        #expect(try await t.receive() == nil)
        await t.close()
    }
}
