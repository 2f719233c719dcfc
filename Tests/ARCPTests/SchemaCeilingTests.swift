import ARCP
import Foundation
import Testing

/// The ceilings in schema/arcp.schema.json (docs/SECURITY.md): a peer number above one is
/// refused by the generated validator (rule `maximum`) before any code converts it, and the
/// runtime's frame decoding turns that into INVALID_REQUEST. Every transcript frame and spec
/// example still validates (GoldenTranscriptTests, SpecExampleTests).
@Suite("Schema ceilings")
struct SchemaCeilingTests {
    static let safe: Int64 = 9_007_199_254_740_991

    /// (frame type, payload, extra envelope members, pointer of the bounded value, its ceiling)
    static var cases: [(String, (Int64) -> JSONValue, (Int64) -> JSONObject, String, Int64)] { [
        ("job.submit", { ["agent": "echo", "input": [:], "max_runtime_sec": .int($0)] }, { _ in [:] }, "/payload/max_runtime_sec", 2_678_400),
        ("session.ack", { ["last_processed_seq": .int($0)] }, { _ in [:] }, "/payload/last_processed_seq", safe),
        ("session.list_jobs", { ["limit": .int($0)] }, { _ in [:] }, "/payload/limit", safe),
        ("job.subscribe", { ["job_id": "job_1", "from_event_seq": .int($0)] }, { _ in [:] }, "/payload/from_event_seq", safe),
        ("session.resume", { ["session_id": "sess_1", "resume_token": "rtk_1", "last_event_seq": .int($0)] }, { _ in [:] },
         "/payload/last_event_seq", safe),
        ("session.hello", { ["auth": ["scheme": "bearer", "token": "tok"], "resume": ["session_id": "sess_1", "resume_token": "rtk_1", "last_event_seq": .int($0)]] },
         { _ in [:] }, "/payload/resume/last_event_seq", safe),
        ("job.event", { _ in ["kind": "log", "body": ["level": "info", "message": "x"]] }, { ["job_id": "job_1", "event_seq": .int($0)] }, "/event_seq", safe),
        ("job.event", { ["kind": "progress", "body": ["current": .int($0)]] }, { _ in ["job_id": "job_1", "event_seq": 1] }, "/payload/body/current", safe),
        ("session.welcome", { ["runtime": ["name": "r", "version": "1"], "session_id": "sess_1", "resume_token": "rtk_1", "heartbeat_interval_sec": .int($0)] },
         { _ in ["session_id": "sess_1"] }, "/payload/heartbeat_interval_sec", safe),
    ] }

    static func frame(_ type: String, payload: JSONValue, extra: JSONObject) -> String {
        var o: JSONObject = ["arcp": "1.1", "id": "01M8876EHRZFYBWW8NAFTYKXP3", "type": .string(type)]
        for m in extra { o.append(m.key, m.value) }
        o.append("payload", payload)
        return JSONWriter.string(.object(o))
    }

    @Test("at the ceiling a frame is valid; one above it (and at Int64.max) it is refused with rule maximum")
    func ceilings() {
        for (type, payload, extra, pointer, ceiling) in Self.cases {
            let ok = Self.frame(type, payload: payload(ceiling), extra: extra(ceiling))
            #expect(ARCPValidator.validate(frame: ok).filter { $0.path == pointer }.isEmpty, "\(type) at \(ceiling)")
            for bad in [ceiling + 1, Int64.max] {
                let text = Self.frame(type, payload: payload(bad), extra: extra(bad))
                let violations = ARCPValidator.validate(frame: text)
                #expect(violations.contains { $0.path == pointer && $0.rule == "maximum" }, "\(type) \(pointer) = \(bad): \(violations)")
                // What the runtime does with such a frame: INVALID_REQUEST, with the request id.
                guard case .failure(let e) = FrameCodec.decode(text) else {
                    Issue.record("\(type) with \(pointer) = \(bad) decoded")
                    continue
                }
                #expect(e.code == .invalidRequest)
                #expect(e.message.contains(pointer), "\(e.message)")
            }
        }
    }

    @Test("a huge double in an integer field is refused too, never converted")
    func hugeDoubles() {
        for bad in ["1e19", "1e300", "9223372036854775808", "-1e19"] {
            let text = #"{"arcp":"1.1","id":"01M8876EHRZFYBWW8NAFTYKXP3","type":"job.submit","payload":{"agent":"echo","max_runtime_sec":"# + bad + "}}"
            guard case .failure(let e) = FrameCodec.decode(text) else {
                Issue.record("max_runtime_sec \(bad) decoded")
                continue
            }
            #expect(e.code == .invalidRequest, "\(bad)")
        }
    }
}
