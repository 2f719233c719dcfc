import ARCPGenerated
import Foundation
import Testing

@Suite("JSONParser")
struct JSONParserTests {
    func parse(_ s: String) throws(JSONSyntaxError) -> JSONValue { try JSONParser.parse(s) }

    func rejects(_ s: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: JSONSyntaxError.self, "\(s.debugDescription)", sourceLocation: sourceLocation) { try JSONParser.parse(s) }
    }

    @Test func literalsAndWhitespace() throws {
        #expect(try parse("null") == .null)
        #expect(try parse(" \t\r\ntrue\n") == .bool(true))
        #expect(try parse("false") == .bool(false))
        for bad in ["", " ", "nul", "nulll", "True", "NULL", "tru", "n", "undefined", "\u{A0}null", "null x", "{} {}"] { rejects(bad) }
    }

    @Test func integers() throws {
        #expect(try parse("0") == .int(0))
        #expect(try parse("-0") == .int(0))
        #expect(try parse("42") == .int(42))
        #expect(try parse("-17") == .int(-17))
        #expect(try parse("9223372036854775807") == .int(Int64.max))
        #expect(try parse("-9223372036854775808") == .int(Int64.min))
        // One past the Int64 range becomes a double.
        #expect(try parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try parse("-9223372036854775809") == .double(-9_223_372_036_854_775_808))  // nearest double
        #expect(try parse("99999999999999999999") == .double(1e20))
    }

    @Test func fractionsAndExponents() throws {
        #expect(try parse("1.5") == .double(1.5))
        #expect(try parse("-0.25") == .double(-0.25))
        #expect(try parse("1e3") == .double(1000))
        #expect(try parse("1E+3") == .double(1000))
        #expect(try parse("25e-1") == .double(2.5))
        #expect(try parse("1.0") == .double(1.0))
        #expect(try parse("1.7976931348623157e308") == .double(.greatestFiniteMagnitude))
        #expect(try parse("4.9e-324") == .double(.leastNonzeroMagnitude))
        #expect(try parse("1e-400") == .double(0))
        // Out of the double range: rejected, never infinity.
        for bad in ["1e400", "-1e400", "1E309"] { rejects(bad) }
        for bad in ["01", "-01", "00", "1.", ".5", "+1", "-", "1e", "1e+", "1.e3", "0x10", "1_000", "NaN", "Infinity", "-Infinity", "--1", "1..2"] {
            rejects(bad)
        }
    }

    @Test func strings() throws {
        #expect(try parse(#""""#) == .string(""))
        #expect(try parse(#""plain ascii""#) == .string("plain ascii"))
        #expect(try parse(#""\" \\ \/ \b \f \n \r \t""#) == .string("\" \\ / \u{8} \u{C} \n \r \t"))
        #expect(try parse(#""\u0041\u00e9\u20AC""#) == .string("Aé€"))
        #expect(try parse(#""\u0000""#) == .string("\u{0}"))
        // Raw UTF-8, 2-, 3- and 4-byte sequences.
        #expect(try parse("\"é€😀\"") == .string("é€😀"))
        // Surrogate pairs.
        #expect(try parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try parse(#""\uD83D\uDE00 ok""#) == .string("😀 ok"))
        // Escapes and raw UTF-8 mixed.
        #expect(try parse(#""é\n😀""#) == .string("é\n😀"))
    }

    /// Strings are scanned eight bytes at a time: put every kind of special byte at every
    /// position of strings of every length around the word size.
    @Test("special bytes at every position of strings of length 0-24")
    func wordBoundaries() throws {
        for length in 0...24 {
            let plain = String(repeating: "a", count: length)
            #expect(try JSONParser.parse("\"\(plain)\"") == .string(plain))
            for pos in 0..<max(length, 1) where length > 0 {
                func with(_ middle: String) -> String {
                    "\"" + String(repeating: "a", count: pos) + middle + String(repeating: "a", count: length - pos - 1) + "\""
                }
                let expectedPrefix = String(repeating: "a", count: pos), expectedSuffix = String(repeating: "a", count: length - pos - 1)
                // Escapes.
                #expect(try JSONParser.parse(with(#"\""#)) == .string(expectedPrefix + "\"" + expectedSuffix))
                #expect(try JSONParser.parse(with(#"\\"#)) == .string(expectedPrefix + "\\" + expectedSuffix))
                #expect(try JSONParser.parse(with(#"\u00e9"#)) == .string(expectedPrefix + "é" + expectedSuffix))
                // Raw non-ASCII (2, 3 and 4 bytes), and bytes just around the special ranges.
                for raw in ["é", "€", "😀", " ", "~", "\u{7F}", "!", "#", "[", "]"] {
                    #expect(try JSONParser.parse(with(raw)) == .string(expectedPrefix + raw + expectedSuffix), "\(length) \(pos) \(raw)")
                }
                // A raw control character is an error at its offset.
                do {
                    _ = try JSONParser.parse(with("\u{1F}"))
                    Issue.record("control character accepted at \(pos)")
                } catch {
                    #expect(error.offset == pos + 1 && error.message == "control character in string")
                }
                // Invalid UTF-8 is an error at the string's start.
                var bytes = Array(with("X").utf8)
                bytes[pos + 1] = 0xFF
                do {
                    _ = try JSONParser.parse(bytes)
                    Issue.record("invalid UTF-8 accepted at \(pos)")
                } catch {
                    #expect(error.offset == 1 && error.message == "invalid UTF-8 in string")
                }
                // An early quote ends the string: the rest is trailing garbage.
                #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(with("\"")) }
            }
        }
    }

    @Test func badStrings() {
        for bad in [
            #""unterminated"#, #""\"#, #""\x41""#, #""\u12""#, #""\u12G4""#, #""\ud800""#, #""\ud800x""#, #""\ud800\u0041""#,
            #""\udc00""#, #""\ude00\ud83d""#, "\"tab\there\"", "\"nl\nhere\"", "\"\u{1F}\"", "'single'",
        ] {
            rejects(bad)
        }
    }

    @Test func invalidUTF8() {
        let cases: [[UInt8]] = [
            [0x22, 0xFF, 0x22], [0x22, 0x80, 0x22], [0x22, 0xC0, 0x80, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
            [0x22, 0xE2, 0x82, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x22, 0xC3, 0x22],
            // Also on the slow path, after an escape.
            Array(#""\n"#.utf8) + [0xFF, 0x22],
            // Outside strings.
            [0xFF], [0x5B, 0xC3, 0xA9, 0x5D],
        ]
        for bytes in cases {
            #expect(throws: JSONSyntaxError.self, "\(bytes)") { try JSONParser.parse(bytes) }
        }
        #expect((try? JSONParser.parse([0x22, 0xC3, 0xA9, 0x22])) == .string("é"))
    }

    @Test func structures() throws {
        #expect(try parse("[]") == .array([]))
        #expect(try parse("{}") == .object(JSONObject()))
        #expect(try parse(#" [ 1 , "a" , [ ] , { } , null ] "#) == [1, "a", [], .object(JSONObject()), nil])
        let o = try parse(#"{"b":1,"a":2,"c":{"d":[true]}}"#)
        #expect(o.objectValue?.keys == ["b", "a", "c"], "member order is kept")
        #expect(o["c"]?["d"] == [true])
        for bad in ["[", "]", "{", "}", "[1,]", "[,1]", "[1 2]", #"{"a":1,}"#, #"{"a" 1}"#, #"{"a":}"#, #"{a:1}"#, #"{1:1}"#,
                    #"{"a":1"b":2}"#, "[1]]", "{}}", #"{"a":1]"#, "[1}"] {
            rejects(bad)
        }
    }

    @Test func duplicateKeysAreKeptInOrder() throws {
        let v = try parse(#"{"k":1,"x":0,"k":2}"#)
        let o = try #require(v.objectValue)
        #expect(o.members.map(\.key) == ["k", "x", "k"])
        #expect(o["k"] == 2, "lookup gives the last one")
        #expect(JSONWriter.string(v) == #"{"k":1,"x":0,"k":2}"#)
    }

    @Test func depthLimit() throws {
        let ok = String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        #expect(throws: Never.self) { try JSONParser.parse(ok) }
        let deep = String(repeating: "[", count: JSONParser.maxDepth + 1) + String(repeating: "]", count: JSONParser.maxDepth + 1)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(deep) }
        let objects = String(repeating: #"{"a":"#, count: JSONParser.maxDepth + 1) + "1" + String(repeating: "}", count: JSONParser.maxDepth + 1)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(objects) }
        // Far beyond the limit: rejected early, no stack overflow.
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(String(repeating: "[", count: 1_000_000)) }
    }

    @Test func errorOffsets() {
        func offset(_ s: String) -> Int? {
            do {
                _ = try JSONParser.parse(s)
                return nil
            } catch { return error.offset }
        }
        #expect(offset("[1,x]") == 3)
        #expect(offset(#"{"a":1 "b"}"#) == 7)
        #expect(offset("[1] x") == 4)
        #expect(offset("") == 0)
        #expect(offset("1e400") == 0)
    }

    @Test func entryPointsAgree() throws {
        let text = #"{"a":[1,2.5,"é",null,true],"b":{"c":"\u0041"}}"#
        let fromString = try JSONParser.parse(text)
        #expect(try JSONParser.parse(Data(text.utf8)) == fromString)
        #expect(try JSONParser.parse(Array(text.utf8)) == fromString)
        #expect(try Array(text.utf8).withUnsafeBufferPointer { try JSONParser.parse($0) } == fromString)
        // A Data slice with a non-zero start index.
        let padded = Data(("xx" + text).utf8)
        #expect(try JSONParser.parse(padded.dropFirst(2)) == fromString)
    }
}

@Suite("JSONWriter and JSONValue")
struct JSONWriterTests {
    @Test func scalars() {
        #expect(JSONWriter.string(nil) == "null")
        #expect(JSONWriter.string(true) == "true")
        #expect(JSONWriter.string(false) == "false")
        #expect(JSONWriter.string(0) == "0")
        #expect(JSONWriter.string(-1) == "-1")
        #expect(JSONWriter.string(.int(Int64.max)) == "9223372036854775807")
        #expect(JSONWriter.string(.int(Int64.min)) == "-9223372036854775808")
        #expect(JSONWriter.string(1.5) == "1.5")
        #expect(JSONWriter.string(.double(1.0)) == "1.0")
        #expect(JSONWriter.string(.double(.nan)) == "null")
        #expect(JSONWriter.string(.double(.infinity)) == "null")
    }

    @Test func escapes() {
        #expect(JSONWriter.string("a\"b\\c/d") == #""a\"b\\c/d""#)
        #expect(JSONWriter.string("\n\r\t\u{8}\u{C}") == #""\n\r\t\b\f""#)
        #expect(JSONWriter.string("\u{0}\u{1}\u{1F}") == #""\u0000\u0001\u001f""#)
        #expect(JSONWriter.string("é€😀\u{7F}") == "\"é€😀\u{7F}\"")
        #expect(JSONWriter.string(["k\"": "v"]) == #"{"k\"":"v"}"#)
    }

    /// Strings long enough for the writer's eight-bytes-at-a-time path, with each character
    /// that needs escaping (and non-ASCII ones) at every offset: the same text as escaping
    /// character by character.
    @Test func escapesAtEveryOffset() {
        func reference(_ s: String) -> String {
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{8}": out += "\\b"
                case "\u{C}": out += "\\f"
                case _ where u.value < 0x20: out += "\\u00" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16)
                default: out.unicodeScalars.append(u)
                }
            }
            return out + "\""
        }
        for special in ["\"", "\\", "\n", "\u{0}", "\u{1F}", "é", "😀", "\u{7F}", " ", "!", "#", "[", "]"] {
            for length in [7, 8, 9, 17, 40] {
                for at in 0..<length {
                    var chars = Array(repeating: "a", count: length)
                    chars[at] = special
                    let s = chars.joined()
                    #expect(JSONWriter.string(.string(s)) == reference(s), "\(special.debugDescription) at \(at) of \(length)")
                }
            }
        }
    }

    @Test func compactStructures() {
        let v: JSONValue = ["a": [1, 2, ["b": nil]], "c": .object(JSONObject()), "d": []]
        #expect(JSONWriter.string(v) == #"{"a":[1,2,{"b":null}],"c":{},"d":[]}"#)
        #expect(JSONWriter.data(v) == Data(JSONWriter.string(v).utf8))
        #expect(v.description == JSONWriter.string(v))
    }

    /// A random JSON value (seeded) with awkward strings and numbers.
    static func randomValue(_ rng: inout SeededRandom, depth: Int = 0) -> JSONValue {
        let pieces = ["a", "é", "😀", "\"", "\\", "\n", "\u{0}", "\u{1F}", "/", "€", " ", "\u{7F}", "\u{FFFF}", "\u{10FFFF}", "key", "~"]
        func str() -> String { (0..<rng.below(6)).map { _ in rng.pick(pieces) }.joined() }
        switch rng.below(depth > 4 ? 5 : 7) {
        case 0: return .null
        case 1: return .bool(rng.chance(2))
        case 2: return .int(Int64(bitPattern: rng.next()) >> Int64(rng.below(64)))
        case 3:
            let d = Double(bitPattern: rng.next())
            return d.isFinite ? .double(d) : .double(Double(rng.below(1000)) / 7)
        case 4: return .string(str())
        case 5: return .array((0..<rng.below(5)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            return .object(JSONObject((0..<rng.below(5)).map { _ in .init(key: str(), value: randomValue(&rng, depth: depth + 1)) }))
        }
    }

    @Test("parse(write(v)) == v for 3,000 random values")
    func roundTrip() throws {
        var rng = SeededRandom(seed: 99)
        for _ in 0..<3_000 {
            let v = Self.randomValue(&rng)
            let text = JSONWriter.string(v)
            let back = try JSONParser.parse(text)
            #expect(back == v, "\(text)")
            #expect(JSONWriter.string(back) == text)
        }
    }

    @Test func semanticEquality() {
        #expect(JSONValue.int(42).semanticallyEquals(.double(42.0)))
        #expect(!JSONValue.int(42).semanticallyEquals(.double(42.5)))
        #expect((["a": 1, "b": 2] as JSONValue).semanticallyEquals(["b": 2, "a": 1]))
        #expect((["a": 1, "n": nil] as JSONValue).semanticallyEquals(["a": 1]))
        #expect(!(["a": 1] as JSONValue).semanticallyEquals(["a": 2]))
        #expect(!(["a": 1] as JSONValue).semanticallyEquals(["a": 1, "b": 0]))
        #expect(!([1, 2] as JSONValue).semanticallyEquals([2, 1]))
        #expect(!JSONValue.string("1").semanticallyEquals(1))
        #expect(!JSONValue.bool(true).semanticallyEquals(1))
    }

    @Test func accessors() {
        let v: JSONValue = ["s": "x", "i": 3, "d": 2.0, "f": 2.5, "b": true, "a": [1], "o": ["k": nil]]
        #expect(v["s"]?.stringValue == "x")
        #expect(v["i"]?.int64Value == 3)
        #expect(v["d"]?.int64Value == 2)
        #expect(v["f"]?.int64Value == nil)
        #expect(v["f"]?.doubleValue == 2.5)
        #expect(v["b"]?.boolValue == true)
        #expect(v["a"]?.arrayValue == [1])
        #expect(v["o"]?["k"]?.isNull == true)
        #expect(v["missing"] == nil)
        #expect(JSONValue.double(1e19).int64Value == nil)
        #expect(JSONValue.double(.nan).int64Value == nil)
        #expect(v.typeName == "object")
        var o = JSONObject()
        o["a"] = 1
        o["b"] = 2
        o["a"] = 3
        #expect(o.keys == ["a", "b"] && o["a"] == 3)
        o["a"] = nil
        #expect(o.keys == ["b"])
    }

    @Test("Codable bridge: JSONEncoder/JSONDecoder carry JSONValue and generated types")
    func codableBridge() throws {
        let v: JSONValue = ["a": [1, 2.5, "x", true, nil]]
        let data = try JSONEncoder().encode(v)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data).semanticallyEquals(v))
        let env = try Envelope(jsonText: try Fixtures.benchEventText())
        let viaFoundation = try JSONDecoder().decode(Envelope.self, from: try JSONEncoder().encode(env))
        #expect(viaFoundation.toJSON().semanticallyEquals(env.toJSON()))
    }
}

@Suite("JSONReader")
struct JSONReaderTests {
    /// Reads an object's member names and values step by step.
    static func members(_ text: String) throws(JSONSyntaxError) -> [(String, Bool, JSONValue)] {
        var text = text
        let result: Result<[(String, Bool, JSONValue)], JSONSyntaxError> = text.withUTF8 { buf in
            var r = JSONReader(buf)
            var out: [(String, Bool, JSONValue)] = []
            do throws(JSONSyntaxError) {
                r.skipWhitespace()
                guard r.current == UInt8(ascii: "{") else { throw r.error("not an object") }
                if try r.beginObject(depth: 1) {
                    repeat {
                        let key = try r.readKey()
                        out.append((key.string, key.is("id") && key.count == 2, try r.readValue(depth: 1)))
                    } while try r.nextMember()
                }
                try r.expectEnd()
                return .success(out)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    @Test func stepByStep() throws {
        let m = try Self.members(#" { "id" : 1 , "t\u0069d":"x","é":null,"id":[true]} "#)
        #expect(m.map(\.0) == ["id", "tid", "é", "id"])
        #expect(m.map(\.1) == [true, false, false, true])
        #expect(m.map(\.2) == [1, "x", nil, [true]])
        #expect(try Self.members("{}").isEmpty)
        // Escaped names compare by their decoded text.
        #expect(try Self.members(#"{"\u0069d":0}"#).first?.1 == true)
    }

    @Test("errors and offsets are the parser's")
    func errors() {
        for bad in [#"{"a" 1}"#, #"{"a":1 "b":2}"#, #"{"a":1,}"#, #"{a:1}"#, #"{"a":1"#, #"{"a\u12":1}"#, "{\"a\u{1}\":1}", #"{"a":1}x"#] {
            var viaReader: JSONSyntaxError? = nil
            var viaParser: JSONSyntaxError? = nil
            do { _ = try Self.members(bad) } catch { viaReader = error }
            do { _ = try JSONParser.parse(bad) } catch { viaParser = error }
            #expect(viaReader != nil && viaReader == viaParser, "\(bad): \(String(describing: viaReader)) vs \(String(describing: viaParser))")
        }
    }

    @Test func nullAndRewind() throws {
        var text = #"[null,nul]"#
        text.withUTF8 { buf in
            var r = JSONReader(buf)
            r.offset = 1
            let first = r.consumeNull()
            #expect(first)
            #expect(r.offset == 5)
            r.offset = 6
            let second = r.consumeNull()
            #expect(!second)
            let again = r.at(1)
            #expect(again.offset == 1 && again.current == UInt8(ascii: "n"))
        }
    }
}
