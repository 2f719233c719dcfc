// libFuzzer harness: the JSON parser (ARCPJSON). Built by Scripts/fuzz.sh.
//
// Properties checked on every input (a violation is a crash, which libFuzzer reports with the
// input that caused it):
// - `JSONParser.parse` never traps and never reads outside the buffer (AddressSanitizer);
// - what it accepts, `JSONWriter` writes back, and that text parses to the same value
//   (numbers compared by value, members in order), and writing it again gives the same bytes.
import ARCPJSON

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let value = try? JSONParser.parse(bytes) else { return 0 }
    let text = JSONWriter.string(value)
    guard let again = try? JSONParser.parse(text) else {
        fatalError("the writer's output does not parse: \(text.prefix(200))")
    }
    guard equivalent(again, value) else {
        fatalError("round trip changed the value: \(text.prefix(200))")
    }
    let text2 = JSONWriter.string(again)
    guard text2 == text else { fatalError("writing is not stable: \(text.prefix(200)) vs \(text2.prefix(200))") }
    return 0
}

/// Structural equality where numbers compare by value (the writer may print `1.0` as `1`) and
/// object members compare in order, duplicates included.
func equivalent(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.int, .double), (.double, .int), (.double, .double): return a.doubleValue == b.doubleValue
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { equivalent($0, $1) }
    case (.object(let x), .object(let y)):
        return x.count == y.count && zip(x.members, y.members).allSatisfy { $0.key == $1.key && equivalent($0.value, $1.value) }
    default: return a == b
    }
}
