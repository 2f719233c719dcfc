import ARCP
import Foundation
import Testing

/// `PeerNumbers`: every conversion of a peer number either returns an in-range value or throws
/// INVALID_REQUEST naming the field; none traps, whatever the input.
@Suite("Peer numbers")
struct PeerNumbersTests {
    /// The doubles a hostile peer (or a fuzzer) reaches for first.
    static let extremeDoubles: [Double] = [
        0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude, 0.5, 1, -1,
        2.9, -2.9, 1e15, 9_007_199_254_740_991, 9_007_199_254_740_992, Double(Int64.max), -Double(Int64.max),
        Double(Int64.min), 1e19, -1e19, 1e30, -1e30, 1e308, -1e308, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
        .infinity, -.infinity, .nan, -.nan, .signalingNaN,
    ]
    static let extremeInts: [Int64] = [0, 1, -1, 42, 9_007_199_254_740_991, 9_007_199_254_740_992, .max, .min, .max - 1, .min + 1]

    func expectInvalid(_ field: String, _ body: () throws(ARCPError) -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try body()
            Issue.record("expected INVALID_REQUEST for \(field)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == .invalidRequest, sourceLocation: sourceLocation)
            #expect(error.message.contains(field), "the message names the field: \(error.message)", sourceLocation: sourceLocation)
        }
    }

    /// `convert` returns a duration in 0…maxDuration or throws INVALID_REQUEST naming input.seconds.
    func expectInRangeOrInvalid(_ d: Double, _ convert: () throws(ARCPError) -> Duration, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let v = try convert()
            #expect(v >= .zero && v <= PeerNumbers.maxDuration, "\(d) → \(v)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == .invalidRequest, sourceLocation: sourceLocation)
            #expect(error.message.contains("input.seconds"), sourceLocation: sourceLocation)
        }
    }

    @Test func secondsToDurationInRangeIsExact() throws {
        let max = Duration.seconds(31 * 86_400)
        #expect(try PeerNumbers.duration(seconds: 0.0, field: "f", max: max) == .zero)
        #expect(try PeerNumbers.duration(seconds: -0.0, field: "f", max: max) == .zero)
        #expect(try PeerNumbers.duration(seconds: .leastNonzeroMagnitude, field: "f", max: max) == .zero)
        #expect(try PeerNumbers.duration(seconds: 0.25, field: "f", max: max) == .milliseconds(250))
        #expect(try PeerNumbers.duration(seconds: 1.5, field: "f", max: max) == .milliseconds(1500))
        #expect(try PeerNumbers.duration(seconds: 2_678_400.0, field: "f", max: max) == max)
        #expect(try PeerNumbers.duration(seconds: Int64(2_678_400), field: "f", max: max) == max)
        #expect(try PeerNumbers.duration(milliseconds: 1500.0, field: "f", max: max) == .milliseconds(1500))
        #expect(try PeerNumbers.duration(seconds: JSONValue.int(3), field: "f", max: max) == .seconds(3))
        #expect(try PeerNumbers.duration(seconds: JSONValue.double(0.5), field: "f", max: max) == .milliseconds(500))
        #expect(try PeerNumbers.duration(seconds: JSONValue?.none, field: "f", max: max) == nil)
        #expect(try PeerNumbers.duration(seconds: JSONValue.null, field: "f", max: max) == nil)
    }

    @Test func everyExtremeDoubleEitherConvertsInRangeOrThrows() {
        let max = Duration.seconds(31 * 86_400)
        for d in Self.extremeDoubles {
            expectInRangeOrInvalid(d) { () throws(ARCPError) -> Duration in try PeerNumbers.duration(seconds: d, field: "input.seconds", max: max) }
            expectInRangeOrInvalid(d) { () throws(ARCPError) -> Duration in try PeerNumbers.duration(milliseconds: d, field: "input.seconds", max: max) }
            expectInRangeOrInvalid(d) { () throws(ARCPError) -> Duration in try PeerNumbers.duration(seconds: d, field: "input.seconds", max: PeerNumbers.maxDuration * 4) }
            do {
                let i = try PeerNumbers.int(d, field: "input.steps", in: -1_000...1_000)
                #expect((-1_000...1_000).contains(i))
            } catch {
                #expect(error.code == .invalidRequest)
                #expect(error.message.contains("input.steps"))
            }
            do {
                let i = try PeerNumbers.int(d, field: "input.n", in: Int.min...Int.max)
                #expect(Double(i) == d.rounded(.towardZero), "\(d) → \(i)")
            } catch {
                #expect(error.code == .invalidRequest)
            }
        }
    }

    @Test func outOfRangeDoublesAreInvalidRequestNamingTheField() {
        let max = Duration.seconds(60)
        for bad in [-1.0, -1e-9, 60.000001, 1e19, 1e30, 1e308, .infinity, -.infinity, .nan] {
            expectInvalid("input.seconds") { () throws(ARCPError) in _ = try PeerNumbers.duration(seconds: bad, field: "input.seconds", max: max) }
            expectInvalid("input.delay") { () throws(ARCPError) in _ = try PeerNumbers.duration(milliseconds: bad * 1000, field: "input.delay", max: max) }
        }
        for bad in [1e19, -1e19, Double(Int64.max), Double(Int64.min) * 2, 1e308, .nan, .infinity, -.infinity] {
            expectInvalid("input.n") { () throws(ARCPError) in _ = try PeerNumbers.int(bad, field: "input.n", in: Int.min...Int.max) }
        }
        expectInvalid("input.steps") { () throws(ARCPError) in _ = try PeerNumbers.int(1_000_001.0, field: "input.steps", in: 0...1_000_000) }
        expectInvalid("input.steps") { () throws(ARCPError) in _ = try PeerNumbers.int(-1.0, field: "input.steps", in: 0...1_000_000) }
    }

    @Test func integersAreCheckedAgainstTheRange() {
        for i in Self.extremeInts {
            do {
                let d = try PeerNumbers.duration(seconds: i, field: "max_runtime_sec", max: .seconds(2_678_400))
                #expect(d == .seconds(i) && i >= 0 && i <= 2_678_400)
            } catch {
                #expect(i < 0 || i > 2_678_400)
                #expect(error.message.contains("max_runtime_sec"))
            }
            do {
                let d = try PeerNumbers.duration(seconds: i, field: "f", max: .seconds(Int64.max))
                #expect(d <= PeerNumbers.maxDuration)
            } catch {
                #expect(i < 0 || i > PeerNumbers.maxSafeInteger)
            }
            do {
                let n = try PeerNumbers.int(i, field: "limit", in: 1...1000)
                #expect((1...1000).contains(n))
            } catch {
                #expect(!(1...1000).contains(i))
            }
        }
    }

    @Test func jsonNumbersAndTypes() throws {
        #expect(try PeerNumbers.int(JSONValue.int(5), field: "f", in: 0...10) == 5)
        #expect(try PeerNumbers.int(JSONValue.double(5.9), field: "f", in: 0...10) == 5)
        #expect(try PeerNumbers.int(JSONValue.double(-0.0), field: "f", in: 0...10) == 0)
        #expect(try PeerNumbers.int(JSONValue?.none, field: "f", in: 0...10) == nil)
        #expect(try PeerNumbers.count(JSONValue.int(10), field: "f", max: 10) == 10)
        #expect(try PeerNumbers.byteCount(JSONValue.int(4096), field: "f", max: 1 << 20) == 4096)
        #expect(try PeerNumbers.double(JSONValue.int(.max), field: "f") == Double(Int64.max))
        expectInvalid("input.n") { () throws(ARCPError) in _ = try PeerNumbers.count(JSONValue.string("5"), field: "input.n", max: 10) }
        expectInvalid("input.n") { () throws(ARCPError) in _ = try PeerNumbers.count(JSONValue.int(-1), field: "input.n", max: 10) }
        expectInvalid("input.n") { () throws(ARCPError) in _ = try PeerNumbers.count(JSONValue.int(.max), field: "input.n", max: 10) }
        expectInvalid("input.n") { () throws(ARCPError) in _ = try PeerNumbers.count(JSONValue.double(1e19), field: "input.n", max: .max) }
        expectInvalid("size") { () throws(ARCPError) in _ = try PeerNumbers.byteCount(JSONValue.double(-1e19), field: "size", max: 1 << 20) }
        expectInvalid("x") { () throws(ARCPError) in _ = try PeerNumbers.double(JSONValue.bool(true), field: "x") }
        expectInvalid("x") { () throws(ARCPError) in _ = try PeerNumbers.double(JSONValue.double(.infinity), field: "x") }
        expectInvalid("x") { () throws(ARCPError) in _ = try PeerNumbers.duration(seconds: JSONValue.array([]), field: "x", max: .seconds(1)) }
    }

    @Test func arithmeticReportsOverflowInsteadOfTrapping() throws {
        #expect(try PeerNumbers.adding(2, 3, field: "f") == 5)
        #expect(try PeerNumbers.multiplying(-4, 3, field: "f") == -12)
        expectInvalid("offset") { () throws(ARCPError) in _ = try PeerNumbers.adding(.max, 1, field: "offset") }
        expectInvalid("offset") { () throws(ARCPError) in _ = try PeerNumbers.adding(.min, -1, field: "offset") }
        expectInvalid("total") { () throws(ARCPError) in _ = try PeerNumbers.multiplying(.max, 2, field: "total") }
        expectInvalid("total") { () throws(ARCPError) in _ = try PeerNumbers.multiplying(.min, -1, field: "total") }
    }

    @Test func aNegativeOrHugeLimitIsClampedNotTrusted() throws {
        #expect(try PeerNumbers.duration(seconds: 0.0, field: "f", max: .seconds(-5)) == .zero)
        expectInvalid("f") { () throws(ARCPError) in _ = try PeerNumbers.duration(seconds: 1.0, field: "f", max: .seconds(-5)) }
        // A limit beyond maxDuration is capped at it: the result stays addable to any clock instant.
        let huge = try PeerNumbers.duration(seconds: 9e15, field: "f", max: .seconds(Int64.max))
        #expect(huge <= PeerNumbers.maxDuration)
        expectInvalid("f") { () throws(ARCPError) in _ = try PeerNumbers.duration(seconds: 1e16, field: "f", max: .seconds(Int64.max)) }
        #expect(ContinuousClock.now + PeerNumbers.maxDuration > ContinuousClock.now)
    }
}
