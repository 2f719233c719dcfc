#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
