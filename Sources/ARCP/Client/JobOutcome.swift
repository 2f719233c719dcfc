import Foundation

/// One event of a job as the client sees it.
public struct JobEvent: Sendable, Hashable {
    /// The session-scoped sequence number.
    public var seq: Int
    /// When the runtime emitted the event (RFC 3339), if it said.
    public var ts: String?
    /// The event itself: its kind and fields.
    public var body: EventBody
}

/// How a job ended successfully (or was cancelled under the Python reference's form).
public struct JobOutcome: Sendable, Hashable {
    /// How the job ended (`success`, or `cancelled` in the reference's form).
    public var finalStatus: FinalStatus
    /// The inline result, or for a streamed result the assembled text (utf8 chunks) or
    /// `{"encoding":"base64","data":…}` when any chunk was binary.
    public var result: JSONValue?
    /// The assembled bytes of a streamed result.
    public var streamedBytes: Data?
    /// For a streamed result: its `result_id`.
    public var resultID: String?
    /// For a streamed result: its size in bytes, as the runtime reported it.
    public var resultSize: Int?
    /// The runtime's one-line summary of the result, if it sent one.
    public var summary: String?
    /// The `job.result` payload as received.
    public var payload: JobResultPayload

    /// Decodes the result into a Decodable type.
    /// - Throws: INVALID_REQUEST when there is no result or it does not match `T`.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        guard let result else { throw ARCPError.invalidRequest("the job has no inline result") }
        do {
            return try JSONDecoder().decode(T.self, from: JSONWriter.data(result))
        } catch {
            throw ARCPError.invalidRequest("result does not match \(T.self): \(error)")
        }
    }
}
