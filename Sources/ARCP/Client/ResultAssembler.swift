import Foundation

/// Assembles a job's streamed results (`result_chunk` events, spec §8.4) for `JobOutcome`:
/// chunks of each `result_id` in `chunk_seq` order, text and base64 alike, bounded in bytes.
/// Pure: no I/O, no locks; the job's state machine owns one.
package struct ResultAssembler: Sendable {
    package enum Failure: Sendable, Equatable {
        /// A chunk out of order, or not valid base64.
        case invalidChunk(String)
        /// The streamed results together exceed the limit (bytes).
        case tooLarge(limit: Int)
    }

    /// One result being assembled.
    package struct Assembled: Sendable, Equatable {
        package var data = Data()
        package var text = ""
        /// Whether any chunk was base64 (then `text` is not the result).
        package var binary = false
        package var nextChunk = 0

        /// The assembled result as `JobOutcome.result` gives it.
        package var value: JSONValue {
            binary ? ["encoding": "base64", "data": .string(data.base64EncodedString())] : .string(text)
        }
    }

    package let limit: Int
    private var results: [String: Assembled] = [:]
    /// Bytes assembled so far, all results together.
    package private(set) var bytes = 0

    package init(limit: Int) { self.limit = limit }

    /// Adds one chunk. Returns a failure when the chunk cannot be taken; the assembler is
    /// then unusable for that job (the job fails locally).
    package mutating func add(_ chunk: ResultChunkBody) -> Failure? {
        // Taken out and put back, so the buffers are uniquely referenced while they grow (a copy
        // left in the dictionary would make every append copy the whole result so far).
        var entry = results.removeValue(forKey: chunk.resultId) ?? Assembled()
        guard chunk.chunkSeq == entry.nextChunk else {
            return .invalidChunk("result chunk \(chunk.chunkSeq) out of order (expected \(entry.nextChunk))")
        }
        entry.nextChunk += 1
        switch chunk.encoding {
        case .base64:
            guard let d = Data(base64Encoded: chunk.data) else { return .invalidChunk("result chunk \(chunk.chunkSeq) is not valid base64") }
            bytes += d.count
            guard bytes <= limit else { return .tooLarge(limit: limit) }
            entry.data.append(d)
            entry.binary = true
        default:
            bytes += chunk.data.utf8.count
            guard bytes <= limit else { return .tooLarge(limit: limit) }
            entry.data.append(contentsOf: chunk.data.utf8)
            entry.text += chunk.data
        }
        results[chunk.resultId] = entry
        return nil
    }

    /// Takes the assembled result `id` (nil when no chunk of it arrived).
    package mutating func take(_ id: String) -> Assembled? {
        results.removeValue(forKey: id)
    }
}
