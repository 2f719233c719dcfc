import Foundation

/// One `cost.budget` amount, `currency ":" decimal` (spec §9.6), parsed into a `Decimal`
/// (the wire carries it as an `Amount` string).
public struct CostAmount: Sendable, Hashable, CustomStringConvertible {
    /// The currency, e.g. `USD`, `EUR`, `credits` (grammar `[A-Za-z][A-Za-z0-9_-]*`,
    /// at most 32 characters; compared exactly, case-sensitively).
    public let currency: String
    /// The amount, never negative.
    public let value: Decimal

    /// Creates an amount; `nil` when the currency is malformed or the value is negative or NaN.
    public init?(currency: String, value: Decimal) {
        guard CostAmount.isValidCurrency(currency), !value.isNaN, value >= 0 else { return nil }
        self.currency = currency
        self.value = value
    }

    /// Parses `currency ":" decimal` with `decimal ::= digits ("." digits)?`
    /// (ASCII digits only, no sign, no exponent, at most 30 digits).
    public init(parsing text: String) throws(LeaseError) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, CostAmount.isValidCurrency(String(parts[0])),
            let value = LeaseDecimal.parseAmountDecimal(String(parts[1]))
        else {
            throw LeaseError(.invalidRequest, "invalid cost.budget amount \(LeaseText.quote(text)): expected currency:decimal, e.g. USD:5.00")
        }
        self.currency = String(parts[0])
        self.value = value
    }

    /// The wire form, e.g. `USD:5.00` (the decimal as `Decimal` prints it, e.g. `USD:5`).
    public var description: String { "\(currency):\(LeaseDecimal.format(value))" }

    static func isValidCurrency(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard let first = b.first, b.count <= 32 else { return false }
        func isLetter(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) }
        guard isLetter(first) else { return false }
        return b.allSatisfy { isLetter($0) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }
}

/// Decimal parsing helpers (never through `Double` arithmetic).
public enum LeaseDecimal {
    private static let posix = Locale(identifier: "en_US_POSIX")

    /// Parses the §9.6 `decimal ::= digits ("." digits)?` grammar (at most 30 digits).
    public static func parseAmountDecimal(_ s: String) -> Decimal? {
        let b = Array(s.utf8)
        var i = 0
        var digits = 0
        while i < b.count, b[i] >= 48, b[i] <= 57 {
            i += 1
            digits += 1
        }
        guard i > 0 else { return nil }
        if i < b.count {
            guard b[i] == UInt8(ascii: ".") else { return nil }
            i += 1
            let fracStart = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                i += 1
                digits += 1
            }
            guard i > fracStart, i == b.count else { return nil }
        }
        guard digits <= 30 else { return nil }
        return Decimal(string: s, locale: posix)
    }

    /// Parses a JSON number's text (`-?digits(.digits)?([eE][+-]?digits)?`) exactly.
    public static func parseJSONNumber(_ s: String) -> Decimal? {
        let b = Array(s.utf8)
        guard !b.isEmpty, b.count <= 64 else { return nil }
        var i = 0
        if b[i] == UInt8(ascii: "-") { i += 1 }
        let intStart = i
        while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
        guard i > intStart else { return nil }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let f = i
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
            guard i > f else { return nil }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            let e = i
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
            guard i > e, i - e <= 3 else { return nil }
        }
        guard i == b.count, let d = Decimal(string: s, locale: posix), !d.isNaN else { return nil }
        return d
    }

    /// Converts a decoded JSON double exactly as it was written, using the shortest
    /// round-trip decimal text of the double (so `0.0234` becomes exactly `0.0234`).
    /// `nil` for NaN and infinities.
    ///
    /// `Decimal` holds magnitudes up to about 3.4e165 and down to about 1e-128, a double up to
    /// 1.8e308: beyond that the result saturates (±`Decimal.greatestFiniteMagnitude`, or zero
    /// for a magnitude too small), so a cost metric of `1e200` exhausts a budget instead of
    /// being dropped as unparsable.
    public static func fromDouble(_ d: Double) -> Decimal? {
        guard d.isFinite else { return nil }
        if let exact = parseJSONNumber(d.description.replacingOccurrences(of: "e+", with: "e")) { return exact }
        if d.magnitude < 1 { return 0 }
        return d < 0 ? -Decimal.greatestFiniteMagnitude : Decimal.greatestFiniteMagnitude
    }

    /// `a - b`, saturating at ±`Decimal.greatestFiniteMagnitude` where `Decimal` arithmetic
    /// overflows (it returns NaN, and NaN compares false with everything: a counter that became
    /// NaN would never read as exhausted again).
    static func subtracting(_ a: Decimal, _ b: Decimal) -> Decimal {
        let r = a - b
        guard r.isNaN, !a.isNaN, !b.isNaN else { return r }
        return a < b ? -Decimal.greatestFiniteMagnitude : Decimal.greatestFiniteMagnitude
    }

    /// `a + b`, saturating as `subtracting(_:_:)` does.
    static func adding(_ a: Decimal, _ b: Decimal) -> Decimal {
        let r = a + b
        guard r.isNaN, !a.isNaN, !b.isNaN else { return r }
        return a < 0 ? -Decimal.greatestFiniteMagnitude : Decimal.greatestFiniteMagnitude
    }

    /// Plain decimal text (`5`, `1.42`, `-0.25`), for messages and amounts.
    public static func format(_ d: Decimal) -> String {
        var value = d
        return NSDecimalString(&value, posix)
    }
}

/// A value in a `budget` map read back from the wire (`job.accepted`, `job.subscribed`).
///
/// The spec sends numbers (`{"USD": 5.0}`); the Python reference echoes strings
/// (`{"USD": "USD:1.00"}`, or `"0.75"`). Both are accepted.
public enum BudgetEchoValue: Sendable, Hashable {
    /// A JSON number, already converted to `Decimal` (see `LeaseDecimal.fromDouble`).
    case number(Decimal)
    /// A JSON string: `"CUR:decimal"` or a bare decimal.
    case string(String)
}

/// Result of feeding a `metric` event to `BudgetCounters.record(metricName:value:unit:)`.
public enum BudgetRecordOutcome: Sendable, Equatable {
    /// The metric is not a cost metric (its name does not start with `cost.`, or it is a
    /// `cost.budget.*` metric such as `cost.budget.remaining`).
    case notCost
    /// A cost metric whose unit is not a budgeted currency: nothing to enforce.
    case unbudgetedCurrency
    /// A negative or NaN value: rejected, no decrement (§9.6). Report it to the agent.
    case rejectedNegative
    /// The counter for `currency` now holds `remaining`. When `emitRemaining` is true the
    /// runtime should emit a `cost.budget.remaining` metric with `remaining` and unit
    /// `currency`.
    case decremented(currency: String, remaining: Decimal, emitRemaining: Bool)
}

/// One counter per budgeted currency, initialized from `cost.budget` (§9.6).
///
/// A value type: `LeaseAuthority` keeps one behind its lock. Arithmetic is `Decimal`
/// throughout; a counter at or below zero makes `isExhausted` true.
public struct BudgetCounters: Sendable, Equatable {
    /// The budget at acceptance, per currency.
    public let initial: [String: Decimal]
    /// The current counters, per currency (may go negative after an overspend).
    public private(set) var remaining: [String: Decimal]
    /// A `cost.budget.remaining` metric is suggested once the spend not yet reported
    /// reaches this fraction of the initial budget (0 = after every positive decrement).
    /// Reaching zero always suggests one.
    public let emitFraction: Decimal
    private var unreported: [String: Decimal] = [:]
    /// Whether any counter is at or below zero (§9.6: then operations fail with
    /// `BUDGET_EXHAUSTED`). Kept up to date on every change, so checking is O(1).
    public private(set) var isExhausted: Bool

    /// Counters for `amounts` (one per currency; later duplicates are ignored by `ValidatedLease`,
    /// which rejects them).
    public init(_ amounts: [CostAmount], emitFraction: Decimal = 0) {
        var map: [String: Decimal] = [:]
        for a in amounts where map[a.currency] == nil { map[a.currency] = a.value }
        self.init(remaining: map, emitFraction: emitFraction)
    }

    /// Counters starting at `remaining` (e.g. a child's budget).
    public init(remaining: [String: Decimal], emitFraction: Decimal = 0) {
        self.initial = remaining
        self.remaining = remaining
        self.emitFraction = emitFraction
        self.isExhausted = remaining.values.contains { $0 <= 0 }
    }

    /// Whether no currency is budgeted.
    public var isEmpty: Bool { initial.isEmpty }


    /// The first exhausted currency (alphabetically), if any.
    public var exhaustedCurrency: String? { remaining.filter { $0.value <= 0 }.keys.min() }

    /// Applies a `metric` event: a name starting with `cost.` (but not `cost.budget.`) whose
    /// `unit` is a budgeted currency decrements that counter by `value`.
    public mutating func record(metricName: String, value: Decimal, unit: String?) -> BudgetRecordOutcome {
        guard metricName.hasPrefix("cost."), !metricName.hasPrefix("cost.budget.") else { return .notCost }
        guard let unit, let current = remaining[unit] else { return .unbudgetedCurrency }
        guard !value.isNaN, value >= 0 else { return .rejectedNegative }
        guard value > 0 else { return .decremented(currency: unit, remaining: current, emitRemaining: false) }
        let next = LeaseDecimal.subtracting(current, value)
        remaining[unit] = next
        if next <= 0 { isExhausted = true }
        let pending = LeaseDecimal.adding(unreported[unit] ?? 0, value)
        let threshold = (initial[unit] ?? 0) * emitFraction
        let emit = pending >= threshold || next <= 0
        unreported[unit] = emit ? 0 : pending
        return .decremented(currency: unit, remaining: next, emitRemaining: emit)
    }

    /// Decrements `currency` by a child's spend without emission bookkeeping; used to
    /// propagate costs up a delegation tree. Unbudgeted currencies and non-positive values
    /// are ignored.
    mutating func absorb(currency: String, value: Decimal) {
        guard value > 0, let current = remaining[currency] else { return }
        let next = LeaseDecimal.subtracting(current, value)
        remaining[currency] = next
        if next <= 0 { isExhausted = true }
    }

    /// Reads a `budget` map back from the wire, accepting numbers and the reference's
    /// strings (`"USD:1.00"` under key `USD`, or a bare `"1.00"`). A string naming another
    /// currency than its key, or anything unparsable, is `INVALID_REQUEST`.
    public static func parseEcho(_ map: [String: BudgetEchoValue]) throws(LeaseError) -> [String: Decimal] {
        var out: [String: Decimal] = [:]
        for (currency, value) in map {
            guard CostAmount.isValidCurrency(currency) else {
                throw LeaseError(.invalidRequest, "invalid budget currency \(LeaseText.quote(currency))")
            }
            switch value {
            case .number(let d):
                guard !d.isNaN else { throw LeaseError(.invalidRequest, "budget for \(currency) is not a number") }
                out[currency] = d
            case .string(let s):
                if s.contains(":") {
                    let amount = try CostAmount(parsing: s)
                    guard amount.currency == currency else {
                        throw LeaseError(.invalidRequest, "budget entry \(currency) holds an amount in \(LeaseText.quote(amount.currency))")
                    }
                    out[currency] = amount.value
                } else if let d = LeaseDecimal.parseJSONNumber(s) {
                    out[currency] = d
                } else {
                    throw LeaseError(.invalidRequest, "invalid budget value \(LeaseText.quote(s)) for \(currency)")
                }
            }
        }
        return out
    }
}
