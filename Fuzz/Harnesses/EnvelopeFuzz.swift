// libFuzzer harness: the envelope decoder and validator (ARCPGenerated). Built by Scripts/fuzz.sh.
//
// Properties checked on every input:
// - neither the single-pass `Envelope.decodeValidated(frame:)` nor the two-pass path
//   (`JSONParser.parse` + `ARCPValidator.validate` + `Envelope(json:)`) traps;
// - both give the same violations and the same value (the generator documents them as equal);
// - an envelope that decodes without violations encodes (`jsonText()`) to a frame that decodes,
//   again without violations, to an equal envelope.
import ARCPGenerated

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnvelope(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let single = Envelope.decodeValidated(frame: bytes)
    guard let tree = try? JSONParser.parse(bytes) else {
        guard single.value == nil, single.violations.count == 1, single.violations[0].rule == "json" else {
            fatalError("not JSON, yet the single-pass decoder gave \(single.violations)")
        }
        return 0
    }
    let violations = ARCPValidator.validate(tree)
    let value = try? Envelope(json: tree)
    guard Set(violations) == Set(single.violations) else {
        fatalError("violations differ:\n single-pass \(single.violations)\n two-pass \(violations)")
    }
    guard value == single.value else {
        fatalError("decoded values differ:\n single-pass \(String(describing: single.value))\n two-pass \(String(describing: value))")
    }
    if let value, violations.isEmpty {
        let text = value.jsonText()
        let back = Envelope.decodeValidated(frame: text)
        guard back.violations.isEmpty else { fatalError("re-encoded envelope is invalid: \(back.violations)\n\(text.prefix(300))") }
        guard back.value == value else { fatalError("re-encoded envelope decodes differently:\n\(text.prefix(300))") }
    }
    return 0
}
