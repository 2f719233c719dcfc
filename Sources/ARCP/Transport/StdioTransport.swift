#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Newline-delimited JSON (spec §4) over a pair of file descriptors.
///
/// Each frame is one line: the JSON text followed by `\n`. Use it
/// - in a process that *is* a runtime and talks ARCP on its own stdin/stdout:
///   ``standardIO(maxLineLength:inboundCapacity:protectStandardOutput:)``;
/// - over any pair of descriptors (pipes, sockets, a child's stdio):
///   ``init(readingFrom:writingTo:maxLineLength:inboundCapacity:closesDescriptors:)``.
///   `ChildProcessTransport` (target `ARCPSubprocess`) builds on this to spawn a child runtime.
///
/// Behaviour:
/// - **Reading** happens on a dedicated thread (never on the cooperative pool), which hands
///   lines to a ``BoundedAsyncQueue``. While that queue is full the thread stops reading, so
///   the pipe fills and the writer on the other side blocks: a flood is back-pressured, not
///   buffered.
/// - **Line cap**: a line longer than `maxLineLength` bytes (not counting the `\n`) is not
///   buffered. Its bytes are discarded up to and including the next `\n`, and only then does
///   ``receive()`` throw ``TransportError/frameTooLarge(limit:)`` once for that line. The
///   transport stays usable: the next ``receive()`` returns the next line. A caller that wants
///   to survive a bad frame (e.g. answer with an error envelope) catches that error and keeps
///   receiving. A line that is not valid UTF-8 is reported the same way with
///   ``TransportError/invalidFrame(_:)``. Empty lines are skipped, and a trailing `\r` is
///   removed. A last line without a final `\n` at end of input is still delivered.
/// - **Writing** happens on a private serial dispatch queue (blocking `write(2)` never runs on
///   the cooperative pool); `send` returns once the whole line is written, so a slow reader
///   back-pressures the sender. A frame containing a raw `\n` is refused with
///   ``TransportError/invalidFrame(_:)``: JSON encoders escape newlines, so one means a bug.
///   A frame longer than `maxLineLength` is refused with ``TransportError/frameTooLarge(limit:)``.
/// - The process ignores `SIGPIPE` once a `StdioTransport` exists, so a vanished peer shows as
///   ``TransportError/io(_:)`` from `send` instead of killing the process.
/// - End of input makes ``receive()`` return `nil`; a read error makes it throw
///   ``TransportError/io(_:)``.
public final class StdioTransport: Transport {
    /// The default line-length cap: 16 MiB.
    public static let defaultMaxLineLength = 16 * 1024 * 1024

    /// The largest accepted line, in bytes, not counting the newline.
    public let maxLineLength: Int

    private let inbox: BoundedAsyncQueue<LineSplitter.Item>
    private let reader: DescriptorReader
    private let writer: DescriptorWriter
    private let isClosed = Mutex(false)

    /// A transport over two file descriptors.
    ///
    /// - Parameters:
    ///   - readFD: descriptor frames are read from (e.g. the read end of a pipe).
    ///   - writeFD: descriptor frames are written to. May equal `readFD` (a socket).
    ///   - maxLineLength: cap on one inbound or outbound line, in bytes.
    ///   - inboundCapacity: lines buffered before reading pauses.
    ///   - closesDescriptors: whether ``close()`` (and end of input) close the descriptors.
    public init(
        readingFrom readFD: Int32,
        writingTo writeFD: Int32,
        maxLineLength: Int = StdioTransport.defaultMaxLineLength,
        inboundCapacity: Int = 256,
        closesDescriptors: Bool = true
    ) {
        Self.ignoreSIGPIPE
        let limit = Swift.max(1, maxLineLength)
        self.maxLineLength = limit
        let inbox = BoundedAsyncQueue<LineSplitter.Item>(capacity: inboundCapacity)
        self.inbox = inbox
        let sameDescriptor = readFD == writeFD
        self.reader = DescriptorReader(
            fd: readFD,
            closeWhenDone: closesDescriptors && !sameDescriptor,
            maxLineLength: limit,
            inbox: inbox
        )
        self.writer = DescriptorWriter(fd: writeFD, closeWhenDone: closesDescriptors)
        reader.start()
    }

    /// A transport on this process's standard input and standard output, for a process that is
    /// itself an ARCP runtime (`arcp serve --stdio`).
    ///
    /// With `protectStandardOutput` (the default) the transport takes private duplicates of
    /// descriptors 0 and 1 and then points descriptor 1 at standard error, so a stray `print`
    /// elsewhere in the process cannot corrupt the frame stream; ``close()`` then closes the
    /// private duplicate, so the parent sees end of input.
    public static func standardIO(
        maxLineLength: Int = StdioTransport.defaultMaxLineLength,
        inboundCapacity: Int = 256,
        protectStandardOutput: Bool = true
    ) -> StdioTransport {
        guard protectStandardOutput else {
            return StdioTransport(
                readingFrom: STDIN_FILENO, writingTo: STDOUT_FILENO,
                maxLineLength: maxLineLength, inboundCapacity: inboundCapacity, closesDescriptors: false
            )
        }
        fflush(nil)  // flush every stdio stream before descriptor 1 changes
        let input = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3)
        let output = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3)
        guard input >= 0, output >= 0 else {
            if input >= 0 { _ = systemClose(input) }
            if output >= 0 { _ = systemClose(output) }
            return StdioTransport(
                readingFrom: STDIN_FILENO, writingTo: STDOUT_FILENO,
                maxLineLength: maxLineLength, inboundCapacity: inboundCapacity, closesDescriptors: false
            )
        }
        _ = dup2(STDERR_FILENO, STDOUT_FILENO)
        return StdioTransport(
            readingFrom: input, writingTo: output,
            maxLineLength: maxLineLength, inboundCapacity: inboundCapacity, closesDescriptors: true
        )
    }

    /// The next line. Throws ``TransportError/frameTooLarge(limit:)`` or
    /// ``TransportError/invalidFrame(_:)`` for one bad line (the transport stays usable),
    /// ``TransportError/io(_:)`` when reading failed; `nil` at end of input or after ``close()``.
    public func receive() async throws -> String? {
        guard let item = try await inbox.next() else { return nil }
        switch item {
        case .line(let text): return text
        case .tooLong: throw TransportError.frameTooLarge(limit: maxLineLength)
        case .notUTF8: throw TransportError.invalidFrame("line is not valid UTF-8")
        }
    }

    /// Writes `frame` and a newline. Suspends until the whole line is written.
    public func send(_ frame: String) async throws {
        var bytes = Array(frame.utf8)
        if bytes.contains(UInt8(ascii: "\n")) {
            throw TransportError.invalidFrame("frame contains a raw newline")
        }
        if bytes.count > maxLineLength {
            throw TransportError.frameTooLarge(limit: maxLineLength)
        }
        if isClosed.withLock({ $0 }) { throw TransportError.closed }
        bytes.append(UInt8(ascii: "\n"))
        try await writer.write(bytes)
    }

    /// Writes several frames, each followed by a newline, with one `write(2)` where possible.
    /// All frames are checked first: if one is refused (raw newline, too long) none is written.
    public func send(batch frames: [String]) async throws {
        if frames.isEmpty { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(frames.reduce(0) { $0 + $1.utf8.count + 1 })
        for frame in frames {
            let start = bytes.count
            bytes.append(contentsOf: frame.utf8)
            if bytes[start...].contains(UInt8(ascii: "\n")) {
                throw TransportError.invalidFrame("frame contains a raw newline")
            }
            if bytes.count - start > maxLineLength {
                throw TransportError.frameTooLarge(limit: maxLineLength)
            }
            bytes.append(UInt8(ascii: "\n"))
        }
        if isClosed.withLock({ $0 }) { throw TransportError.closed }
        try await writer.write(bytes)
    }

    /// Stops reading, lets already queued writes finish, then closes the write side (the peer
    /// sees end of input). Idempotent. Afterwards ``receive()`` drains and returns `nil`.
    public func close() async {
        let first = isClosed.withLock { closed -> Bool in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        inbox.finish()
        reader.stop()
        await writer.close()
    }

    private static let ignoreSIGPIPE: Void = {
        _ = signal(SIGPIPE, SIG_IGN)
    }()
}

// MARK: - Line splitting

/// Splits a byte stream into lines of at most `maxLineLength` bytes (see ``StdioTransport``).
///
/// Not thread-safe: one owner feeds it.
package struct LineSplitter {
    /// One result of splitting.
    package enum Item: Sendable, Equatable {
        /// A complete line, without its terminator.
        case line(String)
        /// A line longer than the cap; its bytes were discarded.
        case tooLong
        /// A line that is not valid UTF-8.
        case notUTF8
    }

    package let maxLineLength: Int
    private var pending: [UInt8] = []
    private var discarding = false

    package init(maxLineLength: Int) {
        self.maxLineLength = Swift.max(1, maxLineLength)
    }

    /// Feeds a chunk and appends every completed item to `out`.
    package mutating func feed(_ chunk: UnsafeRawBufferPointer, into out: inout [Item]) {
        guard let base = chunk.baseAddress else { return }
        var start = 0
        let count = chunk.count
        while start < count {
            let remaining = count - start
            guard let hit = memchr(base + start, Int32(UInt8(ascii: "\n")), remaining) else {
                // No newline: keep (or discard) the rest.
                if discarding { return }
                if pending.count + remaining > maxLineLength {
                    discarding = true
                    pending = []
                } else {
                    pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start..<count]))
                }
                return
            }
            let end = base.distance(to: UnsafeRawPointer(hit))
            if discarding {
                discarding = false
                out.append(.tooLong)
            } else if pending.count + (end - start) > maxLineLength {
                pending = []
                out.append(.tooLong)
            } else if pending.isEmpty {
                if let item = Self.item(UnsafeRawBufferPointer(rebasing: chunk[start..<end])) {
                    out.append(item)
                }
            } else {
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start..<end]))
                let line = pending
                pending = []
                if let item = line.withUnsafeBytes({ Self.item($0) }) { out.append(item) }
            }
            start = end + 1
        }
    }

    /// Feeds bytes (convenience for tests and small inputs).
    package mutating func feed(_ bytes: [UInt8], into out: inout [Item]) {
        bytes.withUnsafeBytes { feed($0, into: &out) }
    }

    /// End of input: delivers an unterminated last line (or reports it as too long).
    package mutating func finish(into out: inout [Item]) {
        if discarding {
            discarding = false
            out.append(.tooLong)
        } else if !pending.isEmpty {
            let line = pending
            pending = []
            if let item = line.withUnsafeBytes({ Self.item($0) }) { out.append(item) }
        }
    }

    private static func item(_ raw: UnsafeRawBufferPointer) -> Item? {
        var bytes = raw
        if let last = bytes.last, last == UInt8(ascii: "\r") {
            bytes = UnsafeRawBufferPointer(rebasing: bytes.dropLast())
        }
        if bytes.isEmpty { return nil }
        guard let text = String(validating: bytes, as: UTF8.self) else { return .notUTF8 }
        return .line(text)
    }
}

// MARK: - Descriptor I/O

/// `close(2)` on every C library (`package`: the subprocess transport uses it too).
package func systemClose(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    return Glibc.close(fd)
    #elseif canImport(Musl)
    return Musl.close(fd)
    #else
    return Darwin.close(fd)
    #endif
}

private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buffer, count)
    #elseif canImport(Musl)
    return Musl.write(fd, buffer, count)
    #else
    return Darwin.write(fd, buffer, count)
    #endif
}

/// A pipe whose ends are close-on-exec from the start (no window in which a concurrently
/// spawned child could inherit them).
package func makeCloseOnExecPipe() -> (read: Int32, write: Int32)? {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { return nil }
    _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
    _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
    return (fds[0], fds[1])
}

private func errnoDescription(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// Reads lines on a dedicated thread and pushes them, back-pressured, into the inbox.
private final class DescriptorReader: Sendable {
    let fd: Int32
    let closeWhenDone: Bool
    let maxLineLength: Int
    let inbox: BoundedAsyncQueue<LineSplitter.Item>
    /// Self-pipe: a byte written to `wake.write` makes `poll` return so the thread can exit.
    let wake: (read: Int32, write: Int32)?
    /// `stopRequested` is set by `stop()`; `exited` by the thread as it closes the self-pipe.
    /// Both change under this lock, so `stop()` never writes to a closed (or reused) descriptor.
    let lifecycle = Mutex((stopRequested: false, exited: false))

    init(fd: Int32, closeWhenDone: Bool, maxLineLength: Int, inbox: BoundedAsyncQueue<LineSplitter.Item>) {
        self.fd = fd
        self.closeWhenDone = closeWhenDone
        self.maxLineLength = maxLineLength
        self.inbox = inbox
        self.wake = makeCloseOnExecPipe()
    }

    func start() {
        let thread = Thread { [self] in self.run() }
        thread.name = "arcp-stdio-reader"
        thread.start()
    }

    /// Asks the thread to exit; it closes the read descriptor (if owned) on its way out.
    func stop() {
        lifecycle.withLock { state in
            guard !state.stopRequested, !state.exited else { return }
            state.stopRequested = true
            guard let wake else { return }
            var byte: UInt8 = 1
            _ = systemWrite(wake.write, &byte, 1)  // one byte into an empty pipe: never blocks
        }
    }

    private func run() {
        var splitter = LineSplitter(maxLineLength: maxLineLength)
        var items: [LineSplitter.Item] = []
        let bufferSize = 64 * 1024
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer {
            buffer.deallocate()
            if closeWhenDone { _ = systemClose(fd) }
            lifecycle.withLock { state in
                state.exited = true
                if let wake {
                    _ = systemClose(wake.read)
                    _ = systemClose(wake.write)
                }
            }
        }
        while true {
            guard waitReadable() else { return }  // asked to stop
            let n = read(fd, buffer.baseAddress, bufferSize)
            if n < 0 {
                let code = errno
                if code == EINTR || code == EAGAIN { continue }
                inbox.finish(throwing: TransportError.io("read failed: \(errnoDescription(code))"))
                return
            }
            items.removeAll(keepingCapacity: true)
            if n == 0 {
                splitter.finish(into: &items)
                for item in items where !deliver(item) { return }
                inbox.finish()
                return
            }
            splitter.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), into: &items)
            for item in items where !deliver(item) { return }
        }
    }

    /// Waits until `fd` is readable (true) or a stop was requested (false).
    private func waitReadable() -> Bool {
        if lifecycle.withLock({ $0.stopRequested }) { return false }
        guard let wake else { return true }
        var fds = [
            pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let rc = poll(&fds, 2, -1)
            if rc < 0 {
                if errno == EINTR { continue }
                return true  // let read() report the problem
            }
            if fds[1].revents != 0 { return false }
            return true
        }
    }

    /// Hands one item to the inbox, blocking this (dedicated) thread while the inbox is full.
    /// Returns false once the inbox is finished (the transport was closed).
    private func deliver(_ item: LineSplitter.Item) -> Bool {
        if inbox.trySend(item) { return true }
        if inbox.isFinished { return false }
        let done = DispatchSemaphore(value: 0)
        let outcome = SendOutcome()
        let inbox = self.inbox
        Task {
            do {
                try await inbox.send(item)
                outcome.delivered.withLock { $0 = true }
            } catch {}
            done.signal()
        }
        done.wait()
        return outcome.delivered.withLock { $0 }
    }
}

private final class SendOutcome: Sendable {
    let delivered = Mutex(false)
}

/// Serialises blocking writes on a private dispatch queue.
private final class DescriptorWriter: Sendable {
    private let fd: Int32
    private let closeWhenDone: Bool
    private let queue = DispatchQueue(label: "arcp.stdio.writer")
    /// Whether the descriptor is still open; changed only on `queue`.
    private let open = Mutex(true)

    init(fd: Int32, closeWhenDone: Bool) {
        self.fd = fd
        self.closeWhenDone = closeWhenDone
    }

    func write(_ bytes: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
            queue.async { [self] in
                guard open.withLock({ $0 }) else {
                    cont.resume(throwing: TransportError.closed)
                    return
                }
                cont.resume(with: writeAll(bytes))
            }
        }
    }

    func close() async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            queue.async { [self] in
                let wasOpen = open.withLock { o -> Bool in
                    defer { o = false }
                    return o
                }
                if wasOpen && closeWhenDone { _ = systemClose(fd) }
                cont.resume()
            }
        }
    }

    private func writeAll(_ bytes: [UInt8]) -> Result<Void, any Error> {
        bytes.withUnsafeBytes { raw -> Result<Void, any Error> in
            guard let base = raw.baseAddress else { return .success(()) }
            var offset = 0
            while offset < raw.count {
                let n = systemWrite(fd, base + offset, raw.count - offset)
                if n < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    if code == EAGAIN || code == EWOULDBLOCK {
                        // A non-blocking descriptor: wait until it is writable.
                        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                        _ = poll(&pfd, 1, -1)
                        continue
                    }
                    if code == EPIPE {
                        return .failure(TransportError.io("broken pipe: the peer stopped reading"))
                    }
                    return .failure(TransportError.io("write failed: \(errnoDescription(code))"))
                }
                offset += n
            }
            return .success(())
        }
    }
}
