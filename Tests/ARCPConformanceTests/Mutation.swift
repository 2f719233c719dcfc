import ARCP
import ARCPConformance
import ARCPGenerated
import Foundation
import Synchronization

/// A deliberately broken runtime: our runtime behind a proxy that rewrites, drops or invents
/// frames on their way out (`s2c`) or in (`c2s`). Each mutation breaks one rule of the spec,
/// and the matching scenarios must then fail: proof that they can.
struct Mutation: Sendable {
    /// What one rewrite sees: the frame (parsed when it is a JSON object) and the connection's
    /// and the runtime's scratch state.
    struct Frame {
        var text: String
        var object: JSONObject?
        var type: String? { object?["type"]?.stringValue }
        var kind: String? { object?["payload"]?["kind"]?.stringValue }
        var jobID: String? { object?["job_id"]?.stringValue ?? object?["payload"]?["job_id"]?.stringValue }
    }

    /// Scratch state: per connection, and shared by every connection of the runtime.
    final class Link: Sendable {
        let local = Mutex<[String: JSONValue]>([:])
        /// Frames to hand to the kit before the next one from the runtime.
        let injected = Mutex<[String]>([])
        /// Set to close the connection after the frames already returned.
        let closing = Mutex(false)
        /// Queues `text` for the kit (e.g. from a `c2s` hook: a frame the runtime "sent").
        func inject(_ text: String) { injected.withLock { $0.append(text) } }
        /// Closes the connection once the frames returned so far are delivered.
        func closeAfter() { closing.withLock { $0 = true } }
        let sharedBox: SharedBox
        init(shared: SharedBox) { sharedBox = shared }
        /// Runs `body` on the state shared by every connection of the runtime.
        func shared<T>(_ body: (inout [String: JSONValue]) -> T) -> T { sharedBox.state.withLock { body(&$0) } }
        /// Runs `body` on this connection's state.
        func mine<T>(_ body: (inout [String: JSONValue]) -> T) -> T { local.withLock { body(&$0) } }
    }

    let name: String
    /// Frames the runtime sent → frames the kit receives.
    let s2c: @Sendable (Frame, Link) -> [String]
    /// Frames the kit sent → frames the runtime receives.
    let c2s: @Sendable (Frame, Link) -> [String]
    /// Called when the kit closes a connection.
    var onClose: @Sendable (Link) -> Void = { _ in }
    /// The largest frame the kit may send before the connection closes (nil: no cap).
    var frameCap: Int? = 16 * 1024 * 1024
    /// Shared by every connection through this mutation (a `final class` box for `Mutex`).
    let shared = SharedBox()

    final class SharedBox: Sendable { let state = Mutex<[String: JSONValue]>([:]) }

    init(
        _ name: String, s2c: @escaping @Sendable (Frame, Link) -> [String] = { f, _ in [f.text] },
        c2s: @escaping @Sendable (Frame, Link) -> [String] = { f, _ in [f.text] }
    ) {
        self.name = name
        self.s2c = s2c
        self.c2s = c2s
    }

    static let none = Mutation("none")

    static func text(_ o: JSONObject) -> String { JSONWriter.string(.object(o)) }

    /// Drops the runtime's frames that match.
    static func drop(_ name: String, _ match: @escaping @Sendable (Frame) -> Bool) -> Mutation {
        Mutation(name, s2c: { f, _ in match(f) ? [] : [f.text] })
    }

    /// Rewrites the runtime's frames that are JSON objects (`nil`: drop the frame).
    static func rewrite(_ name: String, _ body: @escaping @Sendable (inout JSONObject, Link) -> Bool) -> Mutation {
        Mutation(name, s2c: { f, link in
            guard var o = f.object else { return [f.text] }
            return body(&o, link) ? [text(o)] : []
        })
    }

    /// Rewrites the kit's frames before the runtime sees them.
    static func rewriteIncoming(_ name: String, _ body: @escaping @Sendable (inout JSONObject, Link) -> Bool) -> Mutation {
        Mutation(name, c2s: { f, link in
            guard var o = f.object else { return [f.text] }
            return body(&o, link) ? [text(o)] : []
        })
    }
}

extension JSONObject {
    /// Sets `payload.key` (nil removes it).
    mutating func setPayload(_ key: String, _ value: JSONValue?) {
        var p = self["payload"]?.objectValue ?? [:]
        p[key] = value
        self["payload"] = .object(p)
    }

    /// Rewrites `payload.body` of a job.event.
    mutating func setBody(_ body: (inout JSONObject) -> Void) {
        var p = self["payload"]?.objectValue ?? [:]
        var b = p["body"]?.objectValue ?? [:]
        body(&b)
        p["body"] = .object(b)
        self["payload"] = .object(p)
    }

    var payloadObject: JSONObject { self["payload"]?.objectValue ?? [:] }
}

/// The client end of an in-process connection, through a ``Mutation``. Frames from the kit
/// larger than the mutation's `frameCap` close the connection, as a WebSocket server's would.
final class MutatingTransport: Transport {
    private let inner: MemoryTransport
    private let mutation: Mutation
    private let link: Mutation.Link
    private let pending = Mutex<[String]>([])

    init(_ inner: MemoryTransport, _ mutation: Mutation) {
        self.inner = inner
        self.mutation = mutation
        self.link = Mutation.Link(shared: mutation.shared)
    }

    static func frame(_ text: String) -> Mutation.Frame {
        Mutation.Frame(text: text, object: text.utf8.count > 1 << 20 ? nil : (try? JSONParser.parse(text))?.objectValue)
    }

    func receive() async throws -> String? {
        while true {
            let injected = link.injected.withLock { i -> [String] in
                defer { i = [] }
                return i
            }
            if !injected.isEmpty { pending.withLock { $0.append(contentsOf: injected) } }
            if let next = pending.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return next }
            if link.closing.withLock({ $0 }) {
                await inner.close()
                return nil
            }
            guard let text = try await inner.receive() else {
                if link.injected.withLock({ !$0.isEmpty }) { continue }
                return nil
            }
            let out = mutation.s2c(Self.frame(text), link)
            pending.withLock { $0.append(contentsOf: out) }
        }
    }

    func send(_ frame: String) async throws {
        if let cap = mutation.frameCap, frame.utf8.count > cap {
            await inner.close()
            return
        }
        for f in mutation.c2s(Self.frame(frame), link) { try await inner.send(f) }
    }

    func close() async {
        mutation.onClose(link)
        await inner.close()
    }
}
