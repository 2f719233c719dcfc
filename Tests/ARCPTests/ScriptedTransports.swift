import ARCP
import Foundation
import Synchronization
import Testing

/// The inbound side of a test transport: frames given up front or delivered later, then the
/// end (the peer closed its side, or the transport was closed).
final class ScriptedInbound: Sendable {
    private struct State {
        var frames: [String]
        var ended = false
        var receiver: CheckedContinuation<String?, Never>?
    }

    private let state: Mutex<State>

    init(_ frames: [String]) { state = Mutex(State(frames: frames)) }

    /// The next frame; nil once ended.
    func receive() async -> String? {
        await withCheckedContinuation { (c: CheckedContinuation<String?, Never>) in
            let now: String?? = state.withLock { s in
                if !s.frames.isEmpty { return .some(s.frames.removeFirst()) }
                if s.ended { return .some(nil) }
                s.receiver = c
                return nil
            }
            if let now { c.resume(returning: now) }
        }
    }

    func deliver(_ frame: String) {
        let receiver = state.withLock { s -> CheckedContinuation<String?, Never>? in
            guard let r = s.receiver else {
                s.frames.append(frame)
                return nil
            }
            s.receiver = nil
            return r
        }
        receiver?.resume(returning: frame)
    }

    /// No more frames: a waiting and every later `receive` gets nil (once the frames queued before are read).
    func end() {
        let receiver = state.withLock { s in
            s.ended = true
            defer { s.receiver = nil }
            return s.receiver
        }
        receiver?.resume(returning: nil)
    }
}

/// A transport whose sends never complete until it is closed (a peer that stopped reading),
/// whose inbound is `frames`, then waits for `endInbound()`.
final class StalledWriteTransport: Transport {
    private struct State {
        var closed = false
        var sends = 0
        var senders: [CheckedContinuation<Void, Never>] = []
    }

    private let inbound: ScriptedInbound
    private let state = Mutex(State())

    init(frames: [String]) { inbound = ScriptedInbound(frames) }

    var sendsStarted: Int { state.withLock { $0.sends } }
    var wasClosed: Bool { state.withLock { $0.closed } }

    func receive() async throws -> String? { await inbound.receive() }

    /// The peer closes its side.
    func endInbound() { inbound.end() }

    func send(_ frame: String) async throws {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let closed = state.withLock { s in
                s.sends += 1
                if s.closed { return true }
                s.senders.append(c)
                return false
            }
            if closed { c.resume() }
        }
        throw TransportError.closed
    }

    func close() async {
        let senders = state.withLock { s in
            s.closed = true
            defer { s.senders = [] }
            return s.senders
        }
        inbound.end()
        for sender in senders { sender.resume() }
    }
}

/// A `PushWritable` transport driven by the test: inbound frames are delivered by the test;
/// with `holdFirst` the first pushed batch waits for `grantHeld()`; `close(then:)` refuses a
/// held batch, as a closing connection's credit does.
final class ScriptedPushTransport: PushWritable {
    private struct State {
        var closed = false
        var closes = 0
        var pushed: [[String]] = []
        var holdNext: Bool
        var held: (any PushWaiter)?
    }

    private let inbound: ScriptedInbound
    private let state: Mutex<State>
    private let executor = DispatchQueue(label: "scripted-push")

    init(inbound frames: [String], holdFirst: Bool) {
        inbound = ScriptedInbound(frames)
        state = Mutex(State(holdNext: holdFirst))
    }

    /// The batches pushed, in order.
    var pushed: [[String]] { state.withLock { $0.pushed } }
    /// How many times the transport went from open to closed (at most once).
    var closes: Int { state.withLock { $0.closes } }

    func deliver(_ frame: String) { inbound.deliver(frame) }
    func endInbound() { inbound.end() }

    /// Credit comes back for the held batch: it is queued.
    func grantHeld() {
        let held = state.withLock { s in
            defer { s.held = nil }
            return s.held
        }
        held?.heldBatchEnded(queued: true)
    }

    func receive() async throws -> String? { await inbound.receive() }

    func send(_ frame: String) async throws {
        Issue.record("the writer of a PushWritable transport does not call send")
    }

    func close() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in close { c.resume() } }
    }

    func enqueue(_ body: @escaping @Sendable () -> Void) {
        executor.async(execute: body)
    }

    func push(_ frames: [String], waiter: any PushWaiter) -> PushResult {
        state.withLock { s in
            if s.closed { return .failed(.closed) }
            s.pushed.append(frames)
            guard s.holdNext else { return .queued }
            s.holdNext = false
            s.held = waiter
            return .held
        }
    }

    func close(then done: @escaping @Sendable () -> Void) {
        let held = state.withLock { s in
            if !s.closed { s.closes += 1 }
            s.closed = true
            defer { s.held = nil }
            return s.held
        }
        held?.heldBatchEnded(queued: false)
        inbound.end()
        done()
    }
}
