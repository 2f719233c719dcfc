import ARCPExamples
import Foundation
import Synchronization
import Testing

/// Runs every example of `arcp-examples` in-process, as the command line would, and
/// requires it to finish without throwing (each example checks its own outcome) and
/// within a few seconds. Serialized: a few examples measure short real-time intervals
/// (heartbeats, a lease expiry), which is more reliable on a quiet machine.
@Suite("arcp-examples", .serialized)
struct ExamplesTests {
    /// The Python SDK's example list, in its order (of the host integrations, `host-tracing` only).
    static let expected = [
        "submit-and-stream", "delegate", "resume", "idempotent-retry", "lease-violation", "cancel", "stdio", "vendor-extensions",
        "custom-auth", "heartbeat", "ack-backpressure", "list-jobs", "subscribe", "agent-versions", "lease-expires-at",
        "cost-budget", "progress", "result-chunk", "host-tracing",
    ]

    @Test("the gallery holds each example of the Python SDK's list once, each with a summary and spec sections")
    func inventory() {
        #expect(Gallery.all.map { $0.name } == Self.expected)
        for example in Gallery.all {
            #expect(Gallery.named(example.name)?.name == example.name)
            #expect(!example.summary.isEmpty)
            #expect(example.spec.contains("§"))
        }
        #expect(Gallery.named("no-such-example") == nil)
    }

    @Test("runs end to end without throwing, within 20 s", arguments: expected)
    func runs(_ name: String) async throws {
        let transcript = Transcript()
        let start = ContinuousClock.now
        let outcome = await Self.run(name, within: .seconds(20), sink: { transcript.append($0) })
        let elapsed = ContinuousClock.now - start
        switch outcome {
        case nil:
            Issue.record("\(name) did not finish within 20 s; output so far:\n\(transcript.text)")
        case .failure(let error)?:
            Issue.record("\(name) threw \(error); output:\n\(transcript.text)")
        case .success?:
            #expect(elapsed < .seconds(20))
            #expect(transcript.lines.count >= 3, "\(name) printed what happened")
        }
    }

    /// Runs example `name` with its output going to `sink`; nil when it did not finish
    /// within `limit` (it is then cancelled and abandoned, so a hang fails the test
    /// instead of blocking the run).
    static func run(_ name: String, within limit: Duration, sink: @escaping @Sendable (String) -> Void) async -> Result<Void, any Error>? {
        let once = Once()
        return await withCheckedContinuation { (c: CheckedContinuation<Result<Void, any Error>?, Never>) in
            let timer = Task {
                try? await Task.sleep(for: limit)
                if !Task.isCancelled, once.claim() { c.resume(returning: nil) }
            }
            Task {
                let result: Result<Void, any Error>
                do {
                    guard let example = Gallery.named(name) else { throw UnknownExample(name: name) }
                    try await Console.$sink.withValue(sink) { try await example.run() }
                    result = .success(())
                } catch {
                    result = .failure(error)
                }
                timer.cancel()
                if once.claim() { c.resume(returning: result) }
            }
        }
    }
}

struct UnknownExample: Error {
    let name: String
}

/// True for the first caller only.
final class Once: Sendable {
    private let claimed = Mutex(false)
    func claim() -> Bool {
        claimed.withLock { c in
            defer { c = true }
            return !c
        }
    }
}

/// The lines an example printed.
final class Transcript: Sendable {
    private let state = Mutex<[String]>([])
    func append(_ line: String) { state.withLock { $0.append(line) } }
    var lines: [String] { state.withLock { $0 } }
    var text: String { lines.joined(separator: "\n") }
}
