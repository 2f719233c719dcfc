#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

// Blocking reads and writes of file descriptors, kept off the cooperative pool (a reader
// thread, a serial writer queue), for `StdioTransport` and the subprocess transport.

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
final class DescriptorReader: Sendable {
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
final class DescriptorWriter: Sendable {
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
