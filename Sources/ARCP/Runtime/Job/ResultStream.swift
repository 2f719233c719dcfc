import Foundation

/// Writes a job's result in pieces (spec §8.4). Text goes out as `utf8` chunks, bytes as
/// `base64`; each chunk is at most the runtime's chunk cap. `finish` ends the job with a
/// `job.result` carrying `result_id` and `result_size`; after streaming starts the job can
/// never also send an inline result.
///
/// When the session did not negotiate `result_chunk`, the pieces are assembled and sent
/// inline instead (a string, or `{"encoding":"base64","data":…}` if any piece was binary).
public final class ResultStream: Sendable {
    struct State {
        var held: (data: String, encoding: ChunkEncoding)? = nil
        var chunkSeq = 0
        var total = 0
        var finished = false
        var inlineText = ""
        var inlineBytes = Data()
        var inlineBinary = false
    }

    let context: JobContext
    let chunkSize: Int
    let maxTotal: Int
    /// The id of the assembled result.
    public let resultID = ARCPID.resultID()
    private let state = RankedMutex(.leaf, State())
    private var chunked: Bool { context.negotiated(.resultChunk) }

    init(context: JobContext, chunkSize: Int, maxTotal: Int) {
        self.context = context
        self.chunkSize = max(1, chunkSize)
        self.maxTotal = maxTotal
        context.job.markResultStreamed()
    }

    /// Appends text.
    public func write(_ text: String) async throws {
        var pieces: [String] = []
        var current = ""
        var currentBytes = 0
        for ch in text.unicodeScalars {
            let n = String(ch).utf8.count
            if currentBytes + n > chunkSize, !current.isEmpty {
                pieces.append(current)
                current = ""
                currentBytes = 0
            }
            current.unicodeScalars.append(ch)
            currentBytes += n
        }
        if !current.isEmpty { pieces.append(current) }
        for p in pieces { try await push(p, encoding: .utf8, bytes: p.utf8.count, raw: Data(p.utf8)) }
    }

    /// Appends bytes.
    public func write(_ data: Data) async throws {
        var offset = 0
        while offset < data.count {
            let end = min(data.count, offset + chunkSize)
            let slice = data.subdata(in: offset..<end)
            try await push(slice.base64EncodedString(), encoding: .base64, bytes: slice.count, raw: slice)
            offset = end
        }
    }

    private func push(_ piece: String, encoding: ChunkEncoding, bytes: Int, raw: Data) async throws {
        let toSend: (String, ChunkEncoding, Int)? = try state.withLock { s in
            guard !s.finished else { throw ARCPError.invalidRequest("result stream already finished") }
            s.total += bytes
            guard s.total <= maxTotal else {
                throw ARCPError(.internalError, "streamed result exceeds \(maxTotal) bytes", retryable: false)
            }
            if !chunked {
                if encoding == .base64 { s.inlineBinary = true }
                s.inlineBytes.append(raw)
                if encoding == .utf8 { s.inlineText += piece }
                return nil
            }
            let previous = s.held.map { ($0.data, $0.encoding, s.chunkSeq) }
            if previous != nil { s.chunkSeq += 1 }
            s.held = (piece, encoding)
            return previous
        }
        if let (data, enc, seq) = toSend {
            await context.emit(.resultChunk(ResultChunkBody(resultId: resultID, chunkSeq: seq, data: data, encoding: enc, more: true)))
        }
    }

    /// Ends the stream and the job (`job.result` with `result_id` and `result_size`).
    public func finish(summary: String? = nil) async throws {
        let (last, total, inline): ((String, ChunkEncoding, Int)?, Int, JSONValue?) = try state.withLock { s in
            guard !s.finished else { throw ARCPError.invalidRequest("result stream already finished") }
            s.finished = true
            if !chunked {
                let v: JSONValue = s.inlineBinary
                    ? ["encoding": "base64", "data": .string(s.inlineBytes.base64EncodedString())]
                    : .string(s.inlineText)
                return (nil, s.total, v)
            }
            let held = s.held.map { ($0.data, $0.encoding, s.chunkSeq) } ?? ("", ChunkEncoding.utf8, s.chunkSeq)
            return (held, s.total, nil)
        }
        if let inline {
            context.job.end(.success(inline, summary: summary))
            return
        }
        if let (data, enc, seq) = last {
            await context.emit(.resultChunk(ResultChunkBody(resultId: resultID, chunkSeq: seq, data: data, encoding: enc, more: false)))
        }
        context.job.end(.streamed(resultID: resultID, size: total, summary: summary))
    }
}
