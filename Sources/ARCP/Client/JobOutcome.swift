import Foundation

/// One event of a job as the client sees it.
public struct JobEvent: Sendable, Hashable {
    /// The session-scoped sequence number.
    public var seq: Int
    public var ts: String?
    public var body: EventBody
}

/// How a job ended successfully (or was cancelled under the Python reference's form).
public struct JobOutcome: Sendable, Hashable {
    public var finalStatus: FinalStatus
    /// The inline result, or for a streamed result the assembled text (utf8 chunks) or
    /// `{"encoding":"base64","data":…}` when any chunk was binary.
    public var result: JSONValue?
    /// The assembled bytes of a streamed result.
    public var streamedBytes: Data?
    public var resultID: String?
    public var resultSize: Int?
    public var summary: String?
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
