import ARCP
import Foundation
import Synchronization

// Small helpers shared by the examples. None of this is SDK API: it is the glue a program
// would write for itself (printing, a one-shot gate, a transport that shows its frames).

// MARK: - Output

/// Where examples print. `nil` (the default) is standard output; the tests capture the
/// output of one example by binding a sink for the duration of its `run()`.
public enum Console {
    @TaskLocal public static var sink: (@Sendable (String) -> Void)? = nil
}

/// Prints one line of an example's narration.
func say(_ line: String) {
    if let sink = Console.sink { sink(line) } else { print(line) }
}

/// Prints a heading for a step of an example.
func step(_ title: String) {
    say("\n== \(title)")
}

/// An example's own check failed: the SDK did not behave as the example claims.
public struct ExampleFailure: Error, CustomStringConvertible {
    public let description: String
}

/// Throws `ExampleFailure` unless `condition` holds.
func check(_ condition: Bool, _ what: @autoclosure () -> String) throws {
    guard condition else { throw ExampleFailure(description: "check failed: \(what())") }
}

/// Runs `body`, which must throw an `ARCPError`, and returns that error.
func expectError(_ what: String, _ body: () async throws -> Void) async throws -> ARCPError {
    do {
        try await body()
    } catch let e as ARCPError {
        return e
    }
    throw ExampleFailure(description: "expected \(what) to fail with an ARCPError, but it succeeded")
}

/// One line for an event, as the examples print it: `[seq] kind details`.
func describe(_ event: JobEvent) -> String {
    let detail: String
    switch event.body {
    case .log(let l): detail = "\(l.level): \(l.message)"
    case .thought(let t): detail = t.text
    case .toolCall(let c): detail = "\(c.tool ?? "?") \(c.args.map { "\($0)" } ?? "") (call \(c.callId ?? "-"))"
    case .toolResult(let r):
        if let error = r.error {
            detail = "error \(error["code"]?.stringValue ?? "?") (call \(r.callId ?? "-"))"
        } else {
            detail = "\(r.result.map { "\($0)" } ?? "null") (call \(r.callId ?? "-"))"
        }
    case .status(let s): detail = s.phase + (s.message.map { ": \($0)" } ?? "")
    case .metric(let m): detail = "\(m.name) = \(m.value)\(m.unit.map { " \($0)" } ?? "")"
    case .artifactRef(let a): detail = "\(a.uri) (\(a.contentType ?? "?"))"
    case .delegate(let d): detail = "\(d.agent) → child \(d.childJobId ?? "none") (delegate \(d.delegateId ?? "-"))"
    case .progress(let p): detail = "\(p.current)\(p.total.map { "/\($0)" } ?? "") \(p.units ?? "")\(p.message.map { " — \($0)" } ?? "")"
    case .resultChunk(let c): detail = "#\(c.chunkSeq) \(c.encoding.rawValue) \(c.data.debugDescription) more=\(c.more)"
    case .vendor(_, let body): detail = "\(body)"
    @unknown default: detail = "\(event.body.bodyJSON)"  // a kind a later schema adds (docs/CODEGEN.md)
    }
    return "[\(event.seq)] \(event.body.kind) \(detail)"
}

// MARK: - Connecting in one process

/// Connects `client` to `runtime` over a fresh `MemoryTransport` pair: the runtime serves
/// one end in a background task, the client takes the other. This is the whole wiring;
/// `submit-and-stream` spells it out inline.
func connectInMemory(_ client: ARCPClient, to runtime: ARCPRuntime) async throws {
    let (clientEnd, runtimeEnd) = MemoryTransport.pair()
    Task { await runtime.accept(runtimeEnd) }
    try await client.connect(clientEnd)
}

// MARK: - Typed values

/// A `JSONValue` holding `value` as JSON (for inputs of APIs that take `JSONValue`).
func json<T: Encodable>(_ value: T) throws -> JSONValue {
    try JSONParser.parse(JSONEncoder().encode(value))
}

/// Decodes a `JSONValue` (a job's `result`, a child's result) into a `Decodable` type.
func decode<T: Decodable>(_ type: T.Type, from value: JSONValue?) throws -> T {
    try JSONDecoder().decode(T.self, from: JSONWriter.data(value ?? .null))
}

// MARK: - Gate

/// A one-shot signal: `wait()` suspends until `open()` is called (at once afterwards).
/// Examples use it to hold an agent at a known point while the client does something.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }
}

// MARK: - A transport that shows its frames

/// Wraps a transport and reports every frame that crosses it, by message type. With
/// `muteOutbound` set, frames the client sends are silently swallowed: a frozen link.
final class FrameTap: Transport {
    enum Direction: String, Sendable {
        case sent = "→"
        case received = "←"
    }

    private let inner: any Transport
    private let observe: @Sendable (Direction, String, String) -> Void
    private let muted = Mutex(false)

    /// `observe(direction, type, frame)` is called for every frame.
    init(_ inner: any Transport, observe: @escaping @Sendable (Direction, String, String) -> Void) {
        self.inner = inner
        self.observe = observe
    }

    /// Stops (or resumes) delivering outbound frames.
    func muteOutbound(_ on: Bool) { muted.withLock { $0 = on } }

    static func type(of frame: String) -> String {
        (try? Envelope(jsonText: frame))?.message.type ?? "?"
    }

    func receive() async throws -> String? {
        let frame = try await inner.receive()
        if let frame { observe(.received, Self.type(of: frame), frame) }
        return frame
    }

    func send(_ frame: String) async throws {
        if muted.withLock({ $0 }) { return }
        observe(.sent, Self.type(of: frame), frame)
        try await inner.send(frame)
    }

    func close() async { await inner.close() }
}
