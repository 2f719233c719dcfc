import NIOCore

/// The head of an HTTP/1.x message as the WebSocket handshake reads it (RFC 9112 §2–§5): the
/// start line and the header fields, nothing else. ``WebSocketServer`` reads a request's
/// (``ServerHandshakeHandler``), the client a response's (``ClientHandshakeHandler``).
///
/// A handshake is the only HTTP either side speaks: no body is read, no connection is kept
/// alive, nothing is forwarded. So this is the strict subset the handshake needs, not a general
/// HTTP parser. What it refuses, RFC 9112 allows a recipient to refuse: a header name followed
/// by whitespace before its colon (§5.1), a line folded onto the previous one (§5.2), a control
/// character or a lone CR in a line, and a head longer than the reader's limit. A line may end
/// with LF alone (§2.2), and empty lines before the start line are skipped (§2.2).
struct HTTPHead {
    /// The start line, without its line end (checked: no control characters).
    var startLine: String
    /// In order, names as sent.
    var headers: [(name: String, value: String)]

    /// `method SP request-target SP HTTP/1.x` (RFC 9112 §3); nil if the start line is not one.
    func requestLine() -> (method: String, target: String, minorVersion: Int)? {
        let parts = startLine.utf8.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, let minor = Self.minorVersion(parts[2]) else { return nil }
        let (method, target) = (parts[0], parts[1])
        guard !method.isEmpty, method.allSatisfy(Self.isTokenChar), !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        return (String(Substring(method)), String(Substring(target)), minor)
    }

    /// `HTTP/1.x SP 3DIGIT SP [reason]` (RFC 9112 §4); nil if the start line is not one.
    func statusLine() -> (minorVersion: Int, status: Int, reason: String)? {
        let parts = startLine.utf8.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, let minor = Self.minorVersion(parts[0]), parts[1].count == 3,
            parts[1].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let status = Int(String(Substring(parts[1])))
        else { return nil }
        return (minor, status, parts.count == 3 ? String(Substring(parts[2])) : "")
    }

    private static func minorVersion(_ version: Substring.UTF8View.SubSequence) -> Int? {
        if version.elementsEqual("HTTP/1.1".utf8) { return 1 }
        if version.elementsEqual("HTTP/1.0".utf8) { return 0 }
        return nil
    }

    /// The request target's path: what comes before `?`.
    static func path(of target: String) -> Substring {
        target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    }

    /// The first value of the header `name` (case-insensitive, ASCII).
    func first(_ name: String) -> String? {
        headers.first { Self.sameName($0.name, name) }?.value
    }

    /// Every value of the header `name`, in order.
    func values(_ name: String) -> [String] {
        headers.filter { Self.sameName($0.name, name) }.map(\.value)
    }

    private static func sameName(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8) { lowerASCII($0) == lowerASCII($1) }
    }

    static func lowerASCII(_ c: UInt8) -> UInt8 {
        c >= 0x41 && c <= 0x5A ? c | 0x20 : c
    }

    /// What the bytes received so far hold.
    enum Parsed {
        /// The head is not complete yet (and within the limit).
        case needMore
        /// A whole head, and how many bytes it took (the rest belongs to what follows it).
        case head(HTTPHead, length: Int)
        /// Not an HTTP/1.x head; a few words on why.
        case malformed(String)
        /// No end of the head within `limit` bytes.
        case tooLarge
    }

    /// Parses the head at the start of `bytes`, if it is there.
    /// - Parameters:
    ///   - bytes: what the connection has received, from its first byte.
    ///   - limit: the most bytes a head may take, its empty line included.
    ///   - scanFrom: where a previous call stopped looking for the head's end (`bytes` only grew
    ///     since): a head sent a byte at a time is scanned once, not once per byte. Updated.
    static func parse(_ bytes: ByteBufferView, limit: Int, scanFrom: inout Int) -> Parsed {
        guard let end = headEnd(bytes, limit: limit, scanFrom: &scanFrom) else {
            return bytes.count > limit ? .tooLarge : .needMore
        }
        return parseHead(bytes[bytes.startIndex..<(bytes.startIndex + end)], length: end)
    }

    /// The offset just past the empty line that ends the head, if it is within `limit` bytes.
    private static func headEnd(_ bytes: ByteBufferView, limit: Int, scanFrom: inout Int) -> Int? {
        let count = min(bytes.count, limit)
        let base = bytes.startIndex
        // Empty lines before the request line are skipped: the head's end is the first LF
        // after some content that is followed by LF or by CR LF.
        var start = 0
        while start < count, bytes[base + start] == 0x0A || bytes[base + start] == 0x0D { start += 1 }
        var i = max(start, scanFrom)
        while i < count {
            if bytes[base + i] == 0x0A {
                if i + 1 < count && bytes[base + i + 1] == 0x0A { return i + 2 }
                if i + 2 < count && bytes[base + i + 1] == 0x0D && bytes[base + i + 2] == 0x0A { return i + 3 }
            }
            i += 1
        }
        // A terminator is at most three bytes: the last two are looked at again next time.
        scanFrom = max(start, count - 2)
        return nil
    }

    private static func parseHead(_ head: ByteBufferView.SubSequence, length: Int) -> Parsed {
        var lines: [ArraySlice<UInt8>] = []
        var line: [UInt8] = []
        for c in head {
            if c == 0x0A {
                if line.last == 0x0D { line.removeLast() }
                lines.append(line[...])
                line.removeAll(keepingCapacity: true)
            } else {
                line.append(c)
            }
        }
        // Leading empty lines, and the empty line that ends the head.
        while let l = lines.first, l.isEmpty { lines.removeFirst() }
        while let l = lines.last, l.isEmpty { lines.removeLast() }
        guard let startLine = lines.first else { return .malformed("no start line") }
        guard startLine.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            return .malformed("a control character in the start line")
        }
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(lines.count - 1)
        for field in lines.dropFirst() {
            guard let first = field.first else { return .malformed("an empty line inside the head") }
            if first == 0x20 || first == 0x09 { return .malformed("a folded header line") }
            guard let colon = field.firstIndex(of: 0x3A) else { return .malformed("a header line without a colon") }
            let name = field[field.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenChar) else { return .malformed("an invalid header name") }
            var value = field[(colon + 1)...]
            while let c = value.first, c == 0x20 || c == 0x09 { value.removeFirst() }
            while let c = value.last, c == 0x20 || c == 0x09 { value.removeLast() }
            guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                return .malformed("a control character in a header value")
            }
            headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        return .head(HTTPHead(startLine: String(decoding: startLine, as: UTF8.self), headers: headers), length: length)
    }

    /// Whether `text` is an RFC 9110 token (a header name, a method).
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy(isTokenChar)
    }

    /// RFC 9110 §5.6.2 `tchar`.
    private static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }
}

/// A connection's first bytes, gathered until they hold a whole head (for the handshake
/// handlers, on the event loop).
struct HTTPHeadReader {
    enum Outcome {
        case needMore
        /// No end of the head within the limit.
        case tooLarge
        case malformed(String)
        /// The head, and the bytes that came after it.
        case head(HTTPHead, rest: ByteBuffer)
    }

    let limit: Int
    private var received: ByteBuffer?
    private var scanFrom = 0

    init(limit: Int) {
        self.limit = limit
    }

    /// Adds the bytes of a read and looks for the head's end.
    mutating func read(_ bytes: ByteBuffer) -> Outcome {
        if received == nil {
            received = bytes
        } else {
            var bytes = bytes
            received?.writeBuffer(&bytes)
        }
        guard var buffer = received else { return .needMore }
        switch HTTPHead.parse(buffer.readableBytesView, limit: limit, scanFrom: &scanFrom) {
        case .needMore: return .needMore
        case .tooLarge: return .tooLarge
        case .malformed(let why): return .malformed(why)
        case .head(let head, let length):
            received = nil
            buffer.moveReaderIndex(forwardBy: length)
            return .head(head, rest: buffer)
        }
    }

    /// Drops what was gathered (the connection is being answered or has ended).
    mutating func drop() {
        received = nil
    }
}
