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
///   lines to a `BoundedAsyncQueue`. While that queue is full the thread stops reading, so
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

extension StdioTransport {
    /// A pipe (or terminal) between two processes the operator connected: confidential as
    /// far as this process can tell.
    public var isConfidential: Bool { true }
}
