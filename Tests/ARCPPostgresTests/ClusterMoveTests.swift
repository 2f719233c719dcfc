import ARCP
@testable import ARCPPostgres
import ARCPTestSupport
import ARCPWebSocket
import Foundation
import PostgresNIO
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A session moving between `arcp serve --postgres` nodes while a job emits: every event
/// reaches the client exactly once, in order (docs/CLUSTER.md, "Moving a session" and
/// "Delivery guarantees").
@Suite(
    "Cluster: a session moving while its job runs", .enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)),
    .timeLimit(.minutes(4)))
struct ClusterMoveTests {
    typealias C = ClusterTests

    /// The `current` of each `progress` event.
    static func steps(_ frames: [Envelope]) -> [Int] {
        frames.compactMap { e -> Int? in
            guard case .jobEvent(let p) = e.message, case .progress(let b) = p.body else { return nil }
            return Int(b.current)
        }
    }

    @Sendable static func isTerminal(_ e: Envelope) -> Bool {
        switch e.message {
        case .jobResult, .jobError: return true
        default: return false
        }
    }

    /// The issue's test: three nodes, a 5,000-step `progress` job (5,001 events, then its
    /// `job.result`) on the first, and the client dropped and resumed on a random node 100
    /// times while it runs: it sees events 1…5,002 exactly once each, in order, the progress
    /// values 0…5,000 in order, then the terminal frame.
    @Test func fiveThousandEventsWhileTheClientResumesOnARandomNodeAHundredTimes() async throws {
        let db = try await PostgresServer.makeDatabase(prefix: "move")
        let nodes = [try await C.startNode(db, "a"), try await C.startNode(db, "b"), try await C.startNode(db, "c")]
        let steps = 5000
        let total = steps + 2  // progress 0…steps, then job.result
        let resumes = 100
        let started = ContinuousClock.now
        var s = try await C.open(nodes[0])
        try await s.transport.send(Frames.submit("progress", ["steps": .int(Int64(steps)), "delay": 0.002], session: s.id))
        var frames = try await C.read(s.transport) { ($0.eventSeq ?? 0) >= 20 }
        var events = frames.filter { $0.eventSeq != nil }
        var generator = SystemRandomNumberGenerator()
        var placements: [String] = []
        for i in 0..<resumes {
            await s.transport.close()
            let lastSeq = events.last?.eventSeq ?? 0
            // Spread what is left over the resumes left, so the terminal frame comes with the last.
            let left = resumes - i
            let target = lastSeq + max(1, (total - lastSeq + left - 1) / left)
            let node = nodes[Int.random(in: 0..<nodes.count, using: &generator)]
            placements.append(node.id)
            (s, frames) = try await C.resume(s, on: node, after: lastSeq, limit: .seconds(60)) {
                ($0.eventSeq ?? 0) >= target || Self.isTerminal($0)
            }
            let got = frames.filter { $0.eventSeq != nil }
            #expect(
                got.first?.eventSeq == lastSeq + 1 || got.isEmpty,
                "resume \(i + 1) on \(node.id) after \(lastSeq) began at \(got.first?.eventSeq ?? -1)")
            events += got
            if events.contains(where: Self.isTerminal) && i < resumes - 1 {
                Issue.record("the terminal frame came before the last resume (resume \(i + 1))")
                break
            }
        }
        if !events.contains(where: Self.isTerminal) {
            events += try await C.read(s.transport, limit: .seconds(60), until: Self.isTerminal).filter { $0.eventSeq != nil }
        }
        await s.transport.close()
        let seqs = events.compactMap(\.eventSeq)
        #expect(seqs == Array(1...total), "seqs: \(seqs.count) events, first break at \(zip(seqs, 1...).first { $0 != $1 }.map { "\($0)" } ?? "-")")
        #expect(Self.steps(events) == Array(0...steps), "progress values out of order, missing or twice")
        guard case .jobResult(let result)? = events.last?.message else {
            Issue.record("the last event is not the job.result: \(events.last.map { $0.message.type } ?? "-")")
            return
        }
        #expect(result.result == ["steps": .int(Int64(steps))])
        #expect(Set(placements).count == nodes.count, "\(placements)")
        print(
            "ClusterMoveTests: \(total) events, \(resumes) resumes in \(ContinuousClock.now - started)"
        )
        for node in nodes { #expect(await node.stop() == 0, "node \(node.id): \(node.process.stderr.suffix(2000))") }
    }
}
