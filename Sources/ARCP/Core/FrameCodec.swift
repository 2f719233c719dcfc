import Foundation

/// The protocol version this package speaks and sends.
public let arcpProtocolVersion = "1.1"

/// Encoding and decoding of whole frames.
public enum FrameCodec {
    /// Encodes an envelope as one compact JSON text (no newlines: safe for stdio).
    @inline(__always)
    public static func encode(_ envelope: Envelope) -> String {
        envelope.jsonText()
    }

    /// Parses, validates and decodes one inbound frame in a single pass.
    ///
    /// - Parameters:
    ///   - text: one frame, a JSON text.
    ///   - validate: check every schema rule (the runtime does); without it only what
    ///     decoding needs is checked (the client is lenient with what peers send).
    /// - Returns: the envelope, or an `ARCPError` (INVALID_REQUEST) naming what is wrong, with
    ///   the envelope id when it could be read so the error can answer the request.
    public static func decode(_ text: String, validate: Bool = true) -> Result<Envelope, ARCPError> {
        let frame = validate ? Envelope.decodeValidated(frame: text) : Envelope.decodeLenient(frame: text)
        if !validate {
            // Lenient: whatever decodes is accepted (the client tolerates what peers send).
            if let value = frame.value { return .success(value) }
            var e = ARCPError.invalidRequest(frame.violations.first.map(\.description) ?? "malformed envelope")
            e.requestID = frame.id
            return .failure(e)
        }
        // Unknown message types decode to .unknown and are answered by the dispatcher.
        let relevant = frame.violations.filter { !($0.rule == "x-arcp-discriminator" && $0.path == "/type") }
        if let value = frame.value, relevant.isEmpty { return .success(value) }
        var e: ARCPError
        if relevant.isEmpty {
            e = .invalidRequest("malformed envelope")
        } else if relevant.count == 1, relevant[0].rule == "json" {
            e = .invalidRequest("malformed JSON: \(relevant[0].message)")
        } else {
            let text = relevant.prefix(5).map(\.description).joined(separator: "; ")
            e = .invalidRequest("schema violation: \(text)")
            e.details = .object(["violations": .array(relevant.prefix(20).map {
                .object(["path": .string($0.path), "rule": .string($0.rule), "message": .string($0.message)])
            })])
        }
        e.requestID = frame.id
        return .failure(e)
    }
}

extension Envelope {
    /// A new envelope with a fresh ULID id and `arcp: "1.1"`.
    public static func make(
        _ message: Message, sessionID: String? = nil, jobID: String? = nil, eventSeq: Int? = nil, traceID: String? = nil
    ) -> Envelope {
        Envelope(arcp: arcpProtocolVersion, id: ARCPID.ulid(), message: message, sessionId: sessionID, traceId: traceID, jobId: jobID, eventSeq: eventSeq)
    }
}
