import Foundation
import Synchronization

/// Generation of identifiers real ARCP peers accept.
///
/// Message ids are ULIDs (Crockford base32, 48-bit millisecond time + 80 random bits,
/// monotonic within a millisecond). Swift's `UUID().uuidString` (v4, uppercase) is rejected
/// by the Python reference, so never use it for envelope ids.
public enum ARCPID {
    /// Crockford's base32 symbols (a static string: its bytes are in the binary, read in place).
    private static let crockford: StaticString = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

    private struct State {
        var lastMillis: UInt64 = 0
        var lastRandom: (hi: UInt16, lo: UInt64) = (0, 0)
        /// Random bits for identifiers (ULIDs, trace ids): not secrets (access is checked by
        /// principal, never by knowing an id), so a generator seeded from the system's
        /// replaces a `getrandom(2)` per draw (two per job before). Secrets (resume tokens,
        /// keys, credentials) still come from `SystemRandomNumberGenerator`.
        var random = IdentifierRandom()
    }
    private static let state = Mutex(State())

    /// A new ULID, e.g. `01J9Z6ZK3M8Q4P2V7W1X5Y0A2B`. Monotonic within one process.
    public static func ulid(now: Date = Date()) -> String {
        let ms = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let (t, hi, lo): (UInt64, UInt16, UInt64) = state.withLock { s in
            if ms <= s.lastMillis {
                // Same (or earlier) millisecond: increment the 80-bit random part.
                var (hi, lo) = s.lastRandom
                let (nlo, o) = lo.addingReportingOverflow(1)
                lo = nlo
                if o { hi &+= 1 }
                s.lastRandom = (hi, lo)
                return (s.lastMillis, hi, lo)
            }
            s.lastMillis = ms
            s.lastRandom = (UInt16(truncatingIfNeeded: s.random.next()) & 0x7FFF, s.random.next())
            return (ms, s.lastRandom.hi, s.lastRandom.lo)
        }
        return encode(time: t, hi: hi, lo: lo)
    }

    /// `prefix_` + a ULID (e.g. `job_01J…`).
    public static func make(_ prefix: String) -> String { prefix + "_" + ulid() }

    /// A new session id: `sess_` + a ULID.
    public static func sessionID() -> String { make("sess") }
    /// A new job id: `job_` + a ULID.
    public static func jobID() -> String { make("job") }
    /// A new result id (of a chunked result): `res_` + a ULID.
    public static func resultID() -> String { make("res") }
    /// A new provisioned-credential id: `cred_` + a ULID.
    public static func credentialID() -> String { make("cred") }
    /// A new delegation id: `del_` + a ULID.
    public static func delegateID() -> String { make("del") }

    /// A resume token with 160 random bits (`rtk_` + 32 base32 characters).
    public static func resumeToken() -> String {
        // 32 symbols of 5 bits from three 64-bit draws (each 5-bit field of a uniform word is
        // uniform): 3 calls into the system generator instead of 32 (each a `getrandom(2)` on
        // Linux; one token per welcome).
        var g = SystemRandomNumberGenerator()
        var words = (g.next() as UInt64, g.next() as UInt64, g.next() as UInt64)
        return String(unsafeUninitializedCapacity: 36) { out in
            for (i, c) in "rtk_".utf8.enumerated() { out[i] = c }
            let symbols = crockford.utf8Start
            for i in 0..<32 {
                let word = i / 12  // 12 symbols (60 bits) from each word: 12 + 12 + 8
                let v: UInt64
                switch word {
                case 0: v = words.0; words.0 >>= 5
                case 1: v = words.1; words.1 >>= 5
                default: v = words.2; words.2 >>= 5
                }
                out[4 + i] = symbols[Int(v & 31)]
            }
            return 36
        }
    }

    /// A random W3C trace-id: 32 lowercase hex characters, never all zero.
    public static func traceID() -> String {
        let (a, b) = state.withLock { s in
            var (a, b) = (s.random.next(), s.random.next())
            while a == 0 && b == 0 { (a, b) = (s.random.next(), s.random.next()) }
            return (a, b)
        }
        return String(unsafeUninitializedCapacity: 32) { out in
            let digits: StaticString = "0123456789abcdef"
            let d = digits.utf8Start
            for i in 0..<16 {
                out[i] = d[Int((a >> UInt64(60 - 4 * i)) & 15)]
                out[16 + i] = d[Int((b >> UInt64(60 - 4 * i)) & 15)]
            }
            return 32
        }
    }

    private static func encode(time: UInt64, hi: UInt16, lo: UInt64) -> String {
        // 128 bits: 48 time | 16 hi | 64 lo -> 26 chars (first char holds 3 bits). Written in
        // place: this runs for every envelope the runtime sends.
        String(unsafeUninitializedCapacity: 26) { out in
            let symbols = crockford.utf8Start
            // time: 48 bits -> 10 chars (50 bits, top 2 zero)
            var t = time
            for i in stride(from: 9, through: 0, by: -1) {
                out[i] = symbols[Int(t & 31)]
                t >>= 5
            }
            // random: 80 bits -> 16 chars
            var rlo = lo
            var rhi = UInt64(hi)
            for i in stride(from: 25, through: 10, by: -1) {
                out[i] = symbols[Int(rlo & 31)]
                rlo = (rlo >> 5) | ((rhi & 31) << 59)
                rhi >>= 5
            }
            return 26
        }
    }
}

/// RFC 3339 timestamps as ARCP sends them: UTC, `Z`, microseconds.
public enum ARCPTimestamp {
    /// Formats `date` as `2026-05-13T19:42:13.842123Z`. Writes the 27 bytes directly: this
    /// runs once per event, so it allocates nothing but the result.
    public static func string(_ date: Date = Date()) -> String {
        let t = date.timeIntervalSince1970
        var secs = Int64(t.rounded(.down))
        var micros = Int64(((t - Double(secs)) * 1_000_000).rounded())
        if micros >= 1_000_000 { secs += 1; micros -= 1_000_000 }
        var days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
        let rem = secs - days * 86400
        let h = rem / 3600, m = (rem % 3600) / 60, s = rem % 60
        // Civil-from-days (Howard Hinnant).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        var y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let mo = mp < 10 ? mp + 3 : mp - 9
        if mo <= 2 { y += 1 }
        y = min(max(y, 0), 9999)
        return String(unsafeUninitializedCapacity: 27) { buf in
            @inline(__always) func put(_ v: Int64, _ width: Int, at offset: Int) {
                var v = v
                var i = offset + width - 1
                while i >= offset {
                    buf[i] = UInt8(48 + v % 10)
                    v /= 10
                    i -= 1
                }
            }
            put(y, 4, at: 0); buf[4] = UInt8(ascii: "-")
            put(mo, 2, at: 5); buf[7] = UInt8(ascii: "-")
            put(d, 2, at: 8); buf[10] = UInt8(ascii: "T")
            put(h, 2, at: 11); buf[13] = UInt8(ascii: ":")
            put(m, 2, at: 14); buf[16] = UInt8(ascii: ":")
            put(s, 2, at: 17); buf[19] = UInt8(ascii: ".")
            put(micros, 6, at: 20); buf[26] = UInt8(ascii: "Z")
            return 27
        }
    }

    /// Parses an RFC 3339 timestamp (`Z` or a numeric offset, optional fraction). Nil when invalid.
    public static func parse(_ s: String) -> Date? {
        guard ARCPFormat.isTimestamp(s, requireZ: false) else { return nil }
        let b = Array(s.utf8)
        func n(_ r: Range<Int>) -> Int64 { r.reduce(0) { $0 * 10 + Int64(b[$1] - 48) } }
        let y = n(0..<4), mo = n(5..<7), d = n(8..<10), h = n(11..<13), mi = n(14..<16), sec = n(17..<19)
        var i = 19
        var frac = 0.0
        if b[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 0.1
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                frac += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
        }
        var offset: Int64 = 0
        if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign: Int64 = b[i] == UInt8(ascii: "+") ? 1 : -1
            offset = sign * (n((i + 1)..<(i + 3)) * 3600 + n((i + 4)..<(i + 6)) * 60)
        }
        // Days-from-civil (Howard Hinnant).
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = mo > 2 ? mo - 3 : mo + 9
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let secs = days * 86400 + h * 3600 + mi * 60 + sec - offset
        return Date(timeIntervalSince1970: Double(secs) + frac)
    }
}

/// xoshiro256** (Blackman and Vigna), seeded from `SystemRandomNumberGenerator` and reseeded
/// every 2^16 draws: the random part of identifiers. Not for secrets.
struct IdentifierRandom: RandomNumberGenerator {
    private var s0: UInt64 = 0, s1: UInt64 = 0, s2: UInt64 = 0, s3: UInt64 = 0
    private var untilReseed = 0

    init() {}

    /// A fixed state (tests: the reference outputs).
    init(state: (UInt64, UInt64, UInt64, UInt64)) {
        (s0, s1, s2, s3) = state
        untilReseed = 1 << 16
    }

    private mutating func reseed() {
        var system = SystemRandomNumberGenerator()
        repeat {
            (s0, s1, s2, s3) = (system.next(), system.next(), system.next(), system.next())
        } while s0 | s1 | s2 | s3 == 0
        untilReseed = 1 << 16
    }

    mutating func next() -> UInt64 {
        if untilReseed == 0 { reseed() }
        untilReseed -= 1
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }
}
