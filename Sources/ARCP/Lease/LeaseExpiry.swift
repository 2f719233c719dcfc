import Foundation

/// An `expires_at` instant (spec §9.5): RFC 3339, UTC, `Z` suffix.
public struct LeaseTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The text as received (echoed unchanged in `job.accepted`).
    public let text: String
    /// Seconds since 1970-01-01T00:00:00Z, whole part.
    public let epochSeconds: Int64
    /// Nanoseconds within the second (fractional digits beyond 9 are truncated).
    public let nanoseconds: Int32

    /// The instant as a `Date` (sub-microsecond precision is lost).
    public var date: Date {
        Date(timeIntervalSince1970: TimeInterval(epochSeconds) + TimeInterval(nanoseconds) / 1_000_000_000)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z`: uppercase `T` and `Z` only, no offset,
    /// a real calendar date, hour 00–23, minute and second 00–59 (no leap second).
    public init(parsing text: String) throws(LeaseError) {
        guard let (seconds, nanos) = LeaseTimestamp.parse(Array(text.utf8)) else {
            throw LeaseError(.invalidRequest, "expires_at \(LeaseText.quote(text)) is not an RFC 3339 UTC timestamp ending in Z")
        }
        self.text = text
        self.epochSeconds = seconds
        self.nanoseconds = nanos
    }

    /// The timestamp for `date`, rendered as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public init(_ date: Date) {
        let raw = date.timeIntervalSince1970
        let total = raw.isFinite ? min(max(raw, -62_135_596_800), 253_402_300_799) : 0  // years 0001...9999
        let whole = total.rounded(.down)
        let seconds = Int64(whole)
        let millis = min(999, Int32(((total - whole) * 1000).rounded(.down)))
        self.epochSeconds = seconds
        self.nanoseconds = millis * 1_000_000
        self.text = LeaseTimestamp.render(seconds: seconds, millis: Int(millis))
    }

    public static func < (a: LeaseTimestamp, b: LeaseTimestamp) -> Bool {
        (a.epochSeconds, a.nanoseconds) < (b.epochSeconds, b.nanoseconds)
    }

    public static func == (a: LeaseTimestamp, b: LeaseTimestamp) -> Bool {
        a.epochSeconds == b.epochSeconds && a.nanoseconds == b.nanoseconds
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(epochSeconds)
        hasher.combine(nanoseconds)
    }

    public var description: String { text }

    /// The signed time from `date` to this instant.
    func duration(since date: Date) -> Duration {
        let raw = date.timeIntervalSince1970
        let ref = raw.isFinite ? min(max(raw, -1e15), 1e15) : 0
        let refWhole = ref.rounded(.down)
        let refNanos = Int64(((ref - refWhole) * 1_000_000_000).rounded())
        let seconds = epochSeconds - Int64(refWhole)
        return .seconds(seconds) + .nanoseconds(Int64(nanoseconds) - refNanos)
    }

    private static func parse(_ b: [UInt8]) -> (Int64, Int32)? {
        guard b.count >= 20, b.count <= 40 else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let year = num(0..<4), b[4] == UInt8(ascii: "-"), let month = num(5..<7), b[7] == UInt8(ascii: "-"),
            let day = num(8..<10), b[10] == UInt8(ascii: "T"), let hour = num(11..<13), b[13] == UInt8(ascii: ":"),
            let minute = num(14..<16), b[16] == UInt8(ascii: ":"), let second = num(17..<19)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year, month), hour < 24, minute < 60, second < 60 else {
            return nil
        }
        var i = 19
        var nanos: Int32 = 0
        if b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            var scale: Int32 = 100_000_000
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                nanos += Int32(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i == b.count - 1, b[i] == UInt8(ascii: "Z") else { return nil }
        let days = daysFromCivil(year, month, day)
        return (days * 86_400 + Int64(hour * 3600 + minute * 60 + second), nanos)
    }

    private static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    private static func daysInMonth(_ y: Int, _ m: Int) -> Int {
        switch m {
        case 2: return isLeap(y) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
    private static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func render(seconds: Int64, millis: Int) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rem = seconds - days * 86_400
        // civil_from_days
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rem / 3600, 2)):\(pad(rem / 60 % 60, 2)):\(pad(rem % 60, 2)).\(pad(Int64(millis), 3))Z"
    }
}

/// The runtime clock used by leases: wall time to compare with `expires_at` at
/// acceptance, and monotonic time to enforce it afterwards (so wall-clock jumps do not
/// move the deadline).
public protocol LeaseClock: Sendable {
    /// The current wall-clock time.
    func now() -> Date
    /// Monotonic time since an arbitrary fixed origin; never goes backwards.
    func uptime() -> Duration
}

/// The real clock: `Date()` and `ContinuousClock` (which keeps counting while the machine
/// sleeps).
public struct SystemLeaseClock: LeaseClock {
    private let origin = ContinuousClock.now

    /// Creates a system clock.
    public init() {}

    /// `Date()`.
    public func now() -> Date { Date() }

    /// Time since this clock was created, on `ContinuousClock`.
    public func uptime() -> Duration { origin.duration(to: ContinuousClock.now) }
}

/// Validated `lease_constraints` of a job (spec §7.1, §9.5); the enforcement-side
/// counterpart of the wire type `LeaseConstraints`.
public struct ValidatedLeaseConstraints: Sendable, Equatable {
    /// When the lease stops authorizing anything; `nil` for no expiry.
    public var expiresAt: LeaseTimestamp?

    /// Constraints with an optional expiry.
    public init(expiresAt: LeaseTimestamp? = nil) {
        self.expiresAt = expiresAt
    }

    /// Validates submitted constraints: `expires_at`, when present, must parse and lie
    /// strictly after `now`; otherwise `INVALID_REQUEST` (§9.5).
    public init(expiresAt text: String?, now: Date) throws(LeaseError) {
        guard let text else {
            self.expiresAt = nil
            return
        }
        let ts = try LeaseTimestamp(parsing: text)
        guard ts.duration(since: now) > .zero else {
            throw LeaseError(.invalidRequest, "expires_at \(LeaseText.quote(text)) is not in the future")
        }
        self.expiresAt = ts
    }
}
