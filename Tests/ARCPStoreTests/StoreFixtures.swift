import ARCP
import ARCPStore
import Foundation
import Testing

/// The stores the conformance suite runs against.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory
    case sqlite

    var testDescription: String { rawValue }
}

/// A fresh, empty temporary folder, removed by `cleanUp()`.
struct TempFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "arcp-store-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func cleanUp() { try? FileManager.default.removeItem(at: url) }
}

/// Runs `body` with a fresh store of `kind`, then disposes of it.
func withStore(_ kind: StoreKind, _ body: (any RuntimeStore) async throws -> Void) async throws {
    switch kind {
    case .memory:
        try await body(InMemoryRuntimeStore())
    case .sqlite:
        let folder = try TempFolder()
        defer { folder.cleanUp() }
        let store = try SQLiteRuntimeStore(path: folder.path("events.sqlite"))
        defer { try? store.close() }
        try await body(store)
    }
}

/// A fixed instant with sub-millisecond digits, to check that dates round-trip exactly.
let t0 = Date(timeIntervalSinceReferenceDate: 800_000_000.123_456_7)

func sessionRecord(
    _ id: String, principal: String = "alice", limits: BufferLimits = .default, lastSeenAt: Date = t0
) -> SessionRecord {
    SessionRecord(
        sessionID: id, principal: principal, resumeTokenHash: ResumeTokenHasher.hash("rtk_\(id)"),
        createdAt: t0, lastSeenAt: lastSeenAt, limits: limits, stateJSON: #"{"features":["ack","heartbeat"]}"#)
}

/// A `job.event`-shaped frame for `seq`; `padding` extra characters make it bigger.
func event(_ session: String, _ seq: Int64, job: String = "job_1", padding: Int = 0) -> StoredEvent {
    let frame =
        #"{"arcp":"1.1","type":"job.event","session_id":""# + session + #"","job_id":""# + job
        + #"","event_seq":"# + String(seq) + #","payload":{"kind":"log","body":{"message":""#
        + String(repeating: "x", count: padding) + #""}}}"#
    return StoredEvent(sessionID: session, seq: seq, jobID: job, frame: frame)
}

func events(_ session: String, _ seqs: ClosedRange<Int64>, job: String = "job_1") -> [StoredEvent] {
    seqs.map { event(session, $0, job: job) }
}
