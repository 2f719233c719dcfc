import ARCP
import ARCPStore
import ArgumentParser
import Foundation

/// `arcp replay`: print a session's stored events from a SQLite event log, offline.
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a session's events from the SQLite event log of `arcp serve --db`.",
        discussion: """
            Reads the database directly (no runtime needed, and a running `arcp serve` on the \
            same file is fine: SQLite's WAL lets readers in). It prints the job.event, \
            job.result and job.error frames the session buffered for resume, in event_seq \
            order, from --after-seq + 1 on: exactly what a client resuming with that \
            last_event_seq would be sent.

            Events already released (acknowledged with session.ack, or evicted under the \
            session's buffer caps) are no longer stored; when the requested range starts \
            before the first stored event, a note on stderr says which seqs are gone.

            --json prints each stored frame verbatim, one per line (JSONL), ready for \
            `arcp validate -` or jq.

            Exit status: 0 printed (possibly nothing after --after-seq); 2 when the database \
            cannot be opened or has no such session.

            Examples:
              arcp serve --db arcp.sqlite --token tok=me@example.com
              arcp replay --db arcp.sqlite --session sess_01JC0ZQ6S3V6M8D3R4X2K1N0PZ
              arcp replay --db arcp.sqlite --session sess_01JC… --after-seq 120 --json | arcp validate -
              arcp replay --db arcp.sqlite --session sess_01JC… --job job_01JC…
              arcp replay --db arcp.sqlite --list
            """)

    @Option(help: ArgumentHelp("The SQLite event log written by `arcp serve --db`.", valueName: "path"))
    var db: String

    @Option(help: ArgumentHelp("The session whose events to print.", valueName: "id"))
    var session: String?

    @Option(help: ArgumentHelp("Print events with event_seq greater than this (the resume point).", valueName: "n"))
    var afterSeq: Int64 = 0

    @Option(help: ArgumentHelp("Only this job's events.", valueName: "id"))
    var job: String?

    @Flag(help: "List the sessions in the database (id, principal, last seq, stored events) instead.")
    var list = false

    @Flag(help: "Print the stored frames verbatim, one JSON object per line.")
    var json = false

    func validate() throws {
        if session == nil && !list { throw ValidationError("give --session ID (or --list to see the sessions)") }
        if session != nil && list { throw ValidationError("--list and --session go separately") }
        if afterSeq < 0 { throw ValidationError("--after-seq must be ≥ 0") }
    }

    func run() async throws {
        do {
            let store = try openStore()
            defer { try? store.close() }
            if list {
                try await listSessions(store)
            } else if let session {
                try await replay(store, session: session)
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            throw report("replay", error)
        }
    }

    func openStore() throws -> SQLiteRuntimeStore {
        guard FileManager.default.fileExists(atPath: db) else {
            throw CLIFailure(message: "no database at \(db) (write one with `arcp serve --db \(db)`)")
        }
        do {
            return try SQLiteRuntimeStore(path: db)
        } catch {
            throw CLIFailure(message: "cannot open \(db) as an ARCP event log: \(error)")
        }
    }

    func listSessions(_ store: SQLiteRuntimeStore) async throws {
        let sessions = try await store.sessions(lastSeenBefore: nil).sorted { $0.createdAt < $1.createdAt }
        for record in sessions {
            let status = try await store.bufferStatus(session: record.sessionID)
            if json {
                let line: JSONObject = [
                    "session_id": .string(record.sessionID), "principal": .string(record.principal),
                    "created_at": .string(ARCPTimestamp.string(record.createdAt)),
                    "last_seen_at": .string(ARCPTimestamp.string(record.lastSeenAt)),
                    "closed": .bool(record.closed),
                    "last_event_seq": .int(status?.lastSeq ?? 0),
                    "stored_events": .int(Int64(status?.eventCount ?? 0)),
                ]
                writeStdout(compactJSON(.object(line)) + "\n")
            } else {
                let seq = status?.lastSeq ?? 0
                let stored = status?.eventCount ?? 0
                writeStdout("\(record.sessionID)  \(record.principal)  last_event_seq \(seq)  stored \(stored)\(record.closed ? "  closed" : "")\n")
            }
        }
        if sessions.isEmpty && !json { writeStderr("arcp replay: \(db) holds no sessions\n") }
    }

    func replay(_ store: SQLiteRuntimeStore, session: String) async throws {
        guard let status = try await store.bufferStatus(session: session) else {
            throw CLIFailure(message: "no session \(session) in \(db) (`arcp replay --db \(db) --list` shows them)")
        }
        if let first = status.firstRetainedSeq, first > afterSeq + 1 {
            writeStderr("arcp replay: events \(afterSeq + 1)…\(first - 1) of \(session) were released (acknowledged or evicted); printing from \(first)\n")
        } else if status.firstRetainedSeq == nil, status.lastSeq > afterSeq {
            writeStderr("arcp replay: events \(afterSeq + 1)…\(status.lastSeq) of \(session) were released (acknowledged or evicted); nothing is stored\n")
        }
        var cursor = afterSeq
        let page = 1000
        while true {
            let batch: [StoredEvent]
            if let job {
                batch = try await store.events(session: session, job: job, after: cursor, limit: page)
            } else {
                batch = try await store.events(session: session, after: cursor, limit: page)
            }
            for event in batch { printEvent(event) }
            guard let last = batch.last, batch.count == page else { break }
            cursor = last.seq
        }
    }

    func printEvent(_ event: StoredEvent) {
        if json {
            writeStdout(event.frame + "\n")
            return
        }
        guard let envelope = try? Envelope(jsonText: event.frame) else {
            writeStdout("[\(event.seq)] \(event.jobID) (unreadable frame) \(shortJSON(.string(event.frame)))\n")
            return
        }
        let head = "[\(event.seq)] \(event.jobID) "
        switch envelope.message {
        case .jobEvent(let e):
            writeStdout(head + EventPrinter.describe(e.body) + "\n")
        case .jobResult(let r):
            var line = head + "result (\(r.finalStatus.rawValue))"
            if let id = r.resultId { line += " streamed as \(id)" }
            if let s = r.summary { line += ": \(s)" }
            if let value = r.result { line += " " + shortJSON(value) }
            writeStdout(line + "\n")
        case .jobError(let e):
            writeStdout(head + "error \(e.code.rawValue): \(e.message)\(e.retryable == true ? " (retryable)" : "")\n")
        default:
            writeStdout(head + envelope.message.type + "\n")
        }
    }
}
