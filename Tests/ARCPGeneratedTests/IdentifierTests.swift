@testable import ARCPGenerated
import Foundation
import Testing

@Suite("ARCPID")
struct IdentifierTests {
    static let crockford = Set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    /// The 48-bit millisecond time of a ULID.
    static func ulidMillis(_ s: String) -> UInt64? {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        var t: UInt64 = 0
        for c in s.prefix(10) {
            guard let i = alphabet.firstIndex(of: c) else { return nil }
            t = t << 5 | UInt64(i)
        }
        return t
    }

    @Test func ulidFormat() {
        for _ in 0..<1_000 {
            let id = ARCPID.ulid()
            #expect(id.count == 26)
            #expect(id.allSatisfy { Self.crockford.contains($0) })
            #expect(id.first.map { $0 <= "7" } == true)
            #expect(ARCPFormat.isMessageID(id))
            #expect(ARCPValidator.validate(.string(id), as: .messageId).isEmpty)
        }
    }

    @Test func ulidCarriesTheTime() {
        let before = UInt64(Date().timeIntervalSince1970 * 1000)
        let id = ARCPID.ulid()
        let after = UInt64(Date().timeIntervalSince1970 * 1000)
        let t = Self.ulidMillis(id) ?? 0
        // Monotonicity may carry the previous millisecond forward, never backward past `before - 1`.
        #expect(t + 1 >= before && t <= after + 1, "\(t) not in \(before)...\(after)")
    }

    @Test("ULIDs are strictly increasing, also within one millisecond and for a clock that goes back")
    func monotonic() {
        let fixed = Date(timeIntervalSince1970: 1_000_000)  // far in the past: the clock "went back"
        var previous = ARCPID.ulid()
        for i in 0..<20_000 {
            let next = i % 3 == 0 ? ARCPID.ulid(now: fixed) : ARCPID.ulid()
            #expect(next > previous, "\(next) <= \(previous)")
            previous = next
        }
    }

    @Test func prefixedIDs() {
        let ids = [("sess_", ARCPID.sessionID()), ("job_", ARCPID.jobID()), ("res_", ARCPID.resultID()), ("cred_", ARCPID.credentialID()),
                   ("del_", ARCPID.delegateID()), ("msg_", ARCPID.make("msg"))]
        for (prefix, id) in ids {
            #expect(id.hasPrefix(prefix))
            #expect(id.count == prefix.count + 26)
            #expect(ARCPFormat.isMessageID(id), "\(id)")
        }
    }

    @Test("Swift's UUID().uuidString is not a valid ARCP id")
    func uuidRejected() {
        #expect(!ARCPFormat.isMessageID(UUID().uuidString))
        #expect(!ARCPFormat.isMessageID(UUID().uuidString.lowercased()), "v4 is not v7")
    }

    @Test("resume tokens: rtk_ + 32 base32 characters (160 bits), uniform and distinct")
    func resumeTokens() {
        var seen = Set<String>()
        var counts: [Character: Int] = [:]
        let n = 2_000
        for _ in 0..<n {
            let t = ARCPID.resumeToken()
            #expect(t.hasPrefix("rtk_"))
            #expect(t.count == 36)
            let body = t.dropFirst(4)
            #expect(body.allSatisfy { Self.crockford.contains($0) })
            for c in body { counts[c, default: 0] += 1 }
            seen.insert(t)
        }
        #expect(seen.count == n)
        // 64,000 characters over 32 symbols: 2,000 expected each, σ ≈ 44. ±400 is > 9σ.
        #expect(counts.count == 32)
        for (c, k) in counts { #expect(abs(k - 2_000) < 400, "\(c): \(k)") }
    }

    @Test func traceIDs() {
        var seen = Set<String>()
        for _ in 0..<1_000 {
            let t = ARCPID.traceID()
            #expect(t.count == 32)
            #expect(ARCPFormat.isTraceID(t))
            #expect(t.allSatisfy { $0.isHexDigit && !$0.isUppercase })
            seen.insert(t)
        }
        #expect(seen.count == 1_000)
        // 32,000 hex digits over 16 symbols: 2,000 expected each, σ ≈ 43. ±400 is > 9σ.
        var counts: [Character: Int] = [:]
        for t in seen { for c in t { counts[c, default: 0] += 1 } }
        #expect(counts.count == 16)
        for (c, k) in counts { #expect(abs(k - 2_000) < 400, "\(c): \(k)") }
    }

    @Test("the identifiers' generator is xoshiro256**: the reference outputs for state (1, 2, 3, 4)")
    func identifierGenerator() {
        var g = IdentifierRandom(state: (1, 2, 3, 4))
        #expect([g.next(), g.next(), g.next()] == [11520, 0, 1_509_978_240])
        // Seeded from the system: two generators differ.
        var a = IdentifierRandom(), b = IdentifierRandom()
        #expect((0..<4).map { _ in a.next() } != (0..<4).map { _ in b.next() })
    }

    @Test func concurrentULIDsAreDistinct() async {
        let all = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<8 { group.addTask { (0..<2_000).map { _ in ARCPID.ulid() } } }
            var out: [String] = []
            for await chunk in group {
                // Each task's own sequence is increasing.
                #expect(chunk == chunk.sorted())
                out += chunk
            }
            return out
        }
        #expect(Set(all).count == all.count)
    }
}

@Suite("ARCPTimestamp")
struct TimestampTests {
    @Test func format() {
        #expect(ARCPTimestamp.string(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000000Z")
        #expect(ARCPTimestamp.string(Date(timeIntervalSince1970: 1_778_701_333.5)) == "2026-05-13T19:42:13.500000Z")
        #expect(ARCPTimestamp.string(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000000Z")
        #expect(ARCPTimestamp.string(Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59.000000Z")
        // Microsecond rounding carries into the seconds.
        #expect(ARCPTimestamp.string(Date(timeIntervalSince1970: 59.9999996)) == "1970-01-01T00:01:00.000000Z")
    }

    @Test func parse() throws {
        let d = try #require(ARCPTimestamp.parse("2026-05-13T19:42:13.842123Z"))
        #expect(abs(d.timeIntervalSince1970 - 1_778_701_333.842123) < 1e-6)
        #expect(ARCPTimestamp.parse("2026-05-13T21:42:13+02:00") == ARCPTimestamp.parse("2026-05-13T19:42:13Z"))
        #expect(ARCPTimestamp.parse("2026-05-13T19:42:13-00:30") == ARCPTimestamp.parse("2026-05-13T20:12:13Z"))
        #expect(ARCPTimestamp.parse("2026-11-25T02:05:17.056664+00:00") == ARCPTimestamp.parse("2026-11-25T02:05:17.056664Z"))
        #expect(ARCPTimestamp.parse("2024-02-29T00:00:00Z")?.timeIntervalSince1970 == 1_709_164_800)
        #expect(ARCPTimestamp.parse("1900-03-01T00:00:00Z")?.timeIntervalSince1970 == -2_203_891_200)
        for bad in ["", "2026-05-13", "2026-05-13T19:42:13", "2026-13-01T00:00:00Z", "2026-05-13T19:42:13.Z", "yesterday", "2026-05-13t19:42:13Z"] {
            #expect(ARCPTimestamp.parse(bad) == nil, "\(bad)")
        }
    }

    @Test("string → parse round trip for 5,000 seeded dates, 1900–2200")
    func roundTrip() throws {
        var rng = SeededRandom(seed: 2026)
        for _ in 0..<5_000 {
            let micros = Int64(rng.below(9_467_280_000)) * 1_000_000 - 2_208_988_800_000_000 + Int64(rng.below(1_000_000))
            let date = Date(timeIntervalSince1970: Double(micros) / 1_000_000)
            let s = ARCPTimestamp.string(date)
            #expect(ARCPFormat.isTimestamp(s, requireZ: true), "\(s)")
            let back = try #require(ARCPTimestamp.parse(s))
            #expect(abs(back.timeIntervalSince1970 - date.timeIntervalSince1970) < 1e-5, "\(s)")
            #expect(ARCPTimestamp.string(back) == s)
        }
    }

    @Test("agrees with Foundation's ISO 8601 parser")
    func matchesFoundation() throws {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        for s in ["2026-05-13T19:42:13Z", "1999-12-31T23:59:59Z", "2026-05-13T21:42:13+02:00", "2100-02-28T12:00:00-05:00"] {
            #expect(ARCPTimestamp.parse(s) == f.date(from: s), "\(s)")
        }
    }
}
