/// Checked conversions of numbers a peer sent.
///
/// Swift traps on a conversion that cannot be represented (`Int(1e19)`, `Duration.seconds(1e30)`,
/// `Int(Double.nan)`) and on arithmetic that overflows. A peer controls every number in a frame and
/// in an agent's `input`, so a runtime that converts one unchecked can be killed by a single frame.
/// Every conversion of a peer number goes through one of these functions instead: each checks the
/// value against a range the caller states, converts only what is in range, and otherwise throws
/// `ARCPError(.invalidRequest, …)` with a message naming the field and the accepted range. None of
/// them traps, for any input (NaN, ±infinity, ±0, subnormals, ±`Int64.max`, `1e308`).
///
/// ```swift
/// let steps = try PeerNumbers.int(input["steps"], field: "input.steps", in: 0...1_000_000) ?? 5
/// let delay = try PeerNumbers.duration(seconds: 0.25, field: "input.delay", max: .seconds(60))
/// ```
///
/// Fractions are truncated toward zero when an integer is asked for (`2.9` → `2`), as Python's
/// `int()` does, so inputs that work against the Python reference work here too.
public enum PeerNumbers {
    /// `2^53 − 1`: the largest integer every JSON implementation represents exactly (RFC 8259
    /// §6, I-JSON). The schema's ceilings for sequence numbers use it, and no duration longer than
    /// this many seconds is ever produced here.
    public static let maxSafeInteger: Int64 = 9_007_199_254_740_991

    /// The longest duration any function here returns: `maxSafeInteger` seconds (≈ 285 million
    /// years; still far inside `Duration`'s range, so adding it to a clock instant cannot
    /// overflow).
    public static let maxDuration: Duration = .seconds(maxSafeInteger)

    // MARK: Durations

    /// `seconds` (a JSON number) as a `Duration`, when `0 ≤ seconds ≤ max`.
    ///
    /// - Throws: `INVALID_REQUEST` naming `field` for NaN, an infinity, a negative value or one
    ///   above `max` (`-0` is zero; subnormals round to zero nanoseconds).
    public static func duration(seconds: Double, field: String, max: Duration) throws(ARCPError) -> Duration {
        let limit = Swift.min(Swift.max(max, .zero), maxDuration)
        guard seconds.isFinite, seconds >= 0, seconds <= secondsValue(limit) else {
            throw outOfRange(field, describe(seconds), "a number of seconds in 0…\(describe(secondsValue(limit)))")
        }
        return Swift.min(exactDuration(seconds: seconds), limit)
    }

    /// `milliseconds` (a JSON number) as a `Duration`, when `0 ≤ milliseconds ≤ max`.
    ///
    /// - Throws: `INVALID_REQUEST` naming `field`, as `duration(seconds:field:max:)`.
    public static func duration(milliseconds: Double, field: String, max: Duration) throws(ARCPError) -> Duration {
        let limit = Swift.min(Swift.max(max, .zero), maxDuration)
        let limitMillis = secondsValue(limit) * 1000
        guard milliseconds.isFinite, milliseconds >= 0, milliseconds <= limitMillis else {
            throw outOfRange(field, describe(milliseconds), "a number of milliseconds in 0…\(describe(limitMillis))")
        }
        return Swift.min(exactDuration(seconds: milliseconds / 1000), limit)
    }

    /// `seconds` (a JSON integer) as a `Duration`, when `0 ≤ seconds ≤ max`.
    ///
    /// - Throws: `INVALID_REQUEST` naming `field` for a negative value or one above `max`.
    public static func duration(seconds: Int64, field: String, max: Duration) throws(ARCPError) -> Duration {
        let limit = Swift.min(Swift.max(max, .zero), maxDuration)
        let limitSeconds = limit.components.seconds  // whole seconds: an integer never exceeds a fraction
        guard seconds >= 0, seconds <= limitSeconds else {
            throw outOfRange(field, String(seconds), "a number of seconds in 0…\(limitSeconds)")
        }
        return .seconds(seconds)
    }

    /// A JSON number of seconds (`.int` or `.double`) as a `Duration`; `nil` when `value` is
    /// `nil` or JSON `null` (absent).
    ///
    /// - Throws: `INVALID_REQUEST` naming `field` when `value` is not a number or out of range.
    public static func duration(seconds value: JSONValue?, field: String, max: Duration) throws(ARCPError) -> Duration? {
        switch value {
        case nil, .null?: return nil
        case .int(let i)?: return try duration(seconds: i, field: field, max: max)
        case .double(let d)?: return try duration(seconds: d, field: field, max: max)
        case let other?: throw notANumber(field, other)
        }
    }

    // MARK: Integers

    /// `value` truncated toward zero, as an `Int`, when the result lies in `range`.
    ///
    /// - Throws: `INVALID_REQUEST` naming `field` for NaN, an infinity, or a value whose integer
    ///   part is outside `range` (never traps, even for `±1e308` or `Double(Int.max)`).
    public static func int(_ value: Double, field: String, in range: ClosedRange<Int>) throws(ARCPError) -> Int {
        // `Int(exactly:)` is nil (never a trap) for NaN, infinities and anything beyond Int's
        // range, including Double(Int.max) = 2^63, which `<= Double(Int.max)` would let through.
        guard let i = Int(exactly: value.rounded(.towardZero)), range.contains(i) else {
            throw outOfRange(field, describe(value), "an integer in \(describe(range))")
        }
        return i
    }

    /// `value` as an `Int`, when it lies in `range`.
    ///
    /// - Throws: `INVALID_REQUEST` naming `field` otherwise.
    public static func int(_ value: Int64, field: String, in range: ClosedRange<Int>) throws(ARCPError) -> Int {
        guard let i = Int(exactly: value), range.contains(i) else {
            throw outOfRange(field, String(value), "an integer in \(describe(range))")
        }
        return i
    }

    /// A JSON number (`.int`, or `.double` truncated toward zero) as an `Int` in `range`; `nil`
    /// when `value` is `nil` or JSON `null` (absent).
    ///
    /// - Throws: `INVALID_REQUEST` naming `field` when `value` is not a number or out of range.
    public static func int(_ value: JSONValue?, field: String, in range: ClosedRange<Int>) throws(ARCPError) -> Int? {
        switch value {
        case nil, .null?: return nil
        case .int(let i)?: return try int(i, field: field, in: range)
        case .double(let d)?: return try int(d, field: field, in: range)
        case let other?: throw notANumber(field, other)
        }
    }

    /// A count of things (events, steps, items, jobs): a JSON number in `0…max`; `nil` when absent.
    ///
    /// - Throws: `INVALID_REQUEST` naming `field` when negative, above `max` or not a number.
    public static func count(_ value: JSONValue?, field: String, max: Int) throws(ARCPError) -> Int? {
        try int(value, field: field, in: 0...Swift.max(0, max))
    }

    /// A size in bytes: a JSON number in `0…max`; `nil` when absent.
    ///
    /// - Throws: `INVALID_REQUEST` naming `field` when negative, above `max` or not a number.
    public static func byteCount(_ value: JSONValue?, field: String, max: Int) throws(ARCPError) -> Int? {
        try int(value, field: field, in: 0...Swift.max(0, max))
    }

    /// A JSON number as a `Double`; `nil` when absent (`nil` or JSON `null`). Any JSON number is
    /// finite (the parser rejects the rest), so this only checks the type.
    ///
    /// - Throws: `INVALID_REQUEST` naming `field` when `value` is not a number.
    public static func double(_ value: JSONValue?, field: String) throws(ARCPError) -> Double? {
        switch value {
        case nil, .null?: return nil
        case .int(let i)?: return Double(i)
        case .double(let d)? where d.isFinite: return d
        case .double(let d)?: throw outOfRange(field, describe(d), "a finite number")
        case let other?: throw notANumber(field, other)
        }
    }

    // MARK: Arithmetic

    /// `a + b`, or `INVALID_REQUEST` naming `field` when the sum overflows `Int`.
    public static func adding(_ a: Int, _ b: Int, field: String) throws(ARCPError) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw ARCPError(.invalidRequest, "\(field) is too large (\(a) + \(b) overflows)") }
        return sum
    }

    /// `a × b`, or `INVALID_REQUEST` naming `field` when the product overflows `Int`.
    public static func multiplying(_ a: Int, _ b: Int, field: String) throws(ARCPError) -> Int {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw ARCPError(.invalidRequest, "\(field) is too large (\(a) × \(b) overflows)") }
        return product
    }

    // MARK: - Helpers

    /// The duration in seconds as a `Double` (exact enough for range checks: the limit is at most
    /// 2^53 seconds).
    static func secondsValue(_ d: Duration) -> Double {
        let (s, attos) = d.components
        return Double(s) + Double(attos) / 1e18
    }

    /// `seconds` (finite, `0…maxSafeInteger`) as a `Duration`, to the nanosecond, with integer
    /// arithmetic only (never `Duration.seconds(Double)`, which traps out of range).
    static func exactDuration(seconds: Double) -> Duration {
        let whole = seconds.rounded(.down)
        let wholeSeconds = Int64(exactly: whole) ?? 0  // 0 ≤ whole ≤ 2^53: always exact
        let nanos = Int64(exactly: ((seconds - whole) * 1e9).rounded()) ?? 0  // 0…1e9
        return .seconds(wholeSeconds) + .nanoseconds(nanos)
    }

    static func outOfRange(_ field: String, _ got: String, _ expected: String) -> ARCPError {
        ARCPError(.invalidRequest, "\(field) must be \(expected) (got \(got))")
    }

    static func notANumber(_ field: String, _ value: JSONValue) -> ARCPError {
        ARCPError(.invalidRequest, "\(field) must be a number (got \(value.typeName))")
    }

    /// A short, exact-enough rendering for messages (`5`, `0.25`, `1e+30`, `nan`).
    static func describe(_ d: Double) -> String {
        if d.isFinite, d == d.rounded(), Swift.abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }

    static func describe(_ range: ClosedRange<Int>) -> String { "\(range.lowerBound)…\(range.upperBound)" }
}
