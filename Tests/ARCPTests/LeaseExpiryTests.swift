import ARCP
import ARCPTesting
import Foundation
import Testing

@Suite("Lease expiry (§9.5)")
struct LeaseExpiryTests {
    let wall = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z

    @Test("valid RFC 3339 UTC timestamps", arguments: [
        "2026-05-13T23:42:00Z", "2026-11-25T02:05:20.124960Z", "2028-02-29T00:00:00Z", "2026-05-13T23:42:00.1Z",
        "2000-01-01T00:00:00.123456789Z",
    ])
    func valid(_ text: String) throws {
        #expect(try LeaseTimestamp(parsing: text).text == text)
    }

    @Test("invalid timestamps are INVALID_REQUEST", arguments: [
        "2026-05-13T23:42:00+00:00", "2026-05-13 23:42:00Z", "2026-05-13T23:42:00z", "2026-02-30T00:00:00Z",
        "2027-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-05-13T24:00:00Z", "2026-05-13T23:60:00Z",
        "2026-05-13T23:42:60Z", "2026-05-13T23:42Z", "", "2026-05-13T23:42:00.Z", "tomorrow", "2026-05-13t23:42:00Z",
        "2026-05-13T23:42:00", "+2026-05-13T23:42:00Z", "2026-05-13T23:42:00ZZ",
    ])
    func invalid(_ text: String) {
        let error = #expect(throws: LeaseError.self) { try LeaseTimestamp(parsing: text) }
        #expect(error?.code == .invalidRequest)
    }

    @Test("timestamps map to the right instant")
    func instants() throws {
        #expect(try LeaseTimestamp(parsing: "1970-01-01T00:00:00Z").epochSeconds == 0)
        #expect(try LeaseTimestamp(parsing: "2000-03-01T00:00:00Z").epochSeconds == 951_868_800)
        #expect(try LeaseTimestamp(parsing: "2026-11-25T02:05:20.124960Z").nanoseconds == 124_960_000)
        #expect(LeaseTimestamp(wall).text == "2027-01-15T08:00:00.000Z")
        #expect(try LeaseTimestamp(parsing: "2026-05-13T23:42:00Z") < LeaseTimestamp(parsing: "2026-05-13T23:42:00.001Z"))
    }

    @Test("expires_at must be in the future at submission")
    func future() throws {
        let past = #expect(throws: LeaseError.self) { try ValidatedLeaseConstraints(expiresAt: "2027-01-15T07:59:59Z", now: wall) }
        #expect(past?.code == .invalidRequest)
        let now = #expect(throws: LeaseError.self) { try ValidatedLeaseConstraints(expiresAt: "2027-01-15T08:00:00Z", now: wall) }
        #expect(now?.code == .invalidRequest)
        #expect(try ValidatedLeaseConstraints(expiresAt: "2027-01-15T08:00:00.001Z", now: wall).expiresAt != nil)
        #expect(try ValidatedLeaseConstraints(expiresAt: nil, now: wall).expiresAt == nil)
        // The authority checks again against its own clock.
        let clock = ManualLeaseClock(wall: wall.addingTimeInterval(10))
        let stale = try ValidatedLeaseConstraints(expiresAt: "2027-01-15T08:00:05Z", now: wall)
        #expect(throws: LeaseError.self) { try LeaseAuthority(lease: .empty, constraints: stale, clock: clock) }
    }

    func authority(expiresIn seconds: Int, grace: Duration, clock: ManualLeaseClock) throws -> LeaseAuthority {
        let expiry = LeaseTimestamp(clock.now().addingTimeInterval(TimeInterval(seconds))).text
        return try LeaseAuthority(
            lease: try ValidatedLease(["tool.call": ["**"]]), constraints: try ValidatedLeaseConstraints(expiresAt: expiry, now: clock.now()),
            clock: clock, configuration: .init(expiryGrace: grace))
    }

    @Test("operations at or after expires_at fail with LEASE_EXPIRED (no grace)")
    func exactExpiry() throws {
        let clock = ManualLeaseClock(wall: wall)
        let a = try authority(expiresIn: 10, grace: .zero, clock: clock)
        clock.advance(by: .milliseconds(9_999))
        #expect(throws: Never.self) { try a.authorize(.toolCall, "x") }
        #expect(a.timeUntilExpiry == .milliseconds(1))
        clock.advance(by: .milliseconds(1))
        let error = #expect(throws: LeaseError.self) { try a.authorize(.toolCall, "x") }
        #expect(error?.code == .leaseExpired)
        #expect(error?.retryable == false)
        #expect(a.isExpired)
        #expect(a.timeUntilExpiry == .zero)
    }

    @Test("the default grace is one second, and bounded")
    func grace() throws {
        let clock = ManualLeaseClock(wall: wall)
        let a = try authority(expiresIn: 10, grace: LeaseAuthority.Configuration().expiryGrace, clock: clock)
        clock.advance(by: .milliseconds(10_999))
        #expect(a.isAuthorized(.toolCall, "x"))
        clock.advance(by: .milliseconds(1))
        #expect(!a.isAuthorized(.toolCall, "x"))
        #expect(LeaseAuthority.Configuration(expiryGrace: .seconds(3600)).expiryGrace == .seconds(60))
        #expect(LeaseAuthority.Configuration(expiryGrace: .seconds(-5)).expiryGrace == .zero)
    }

    @Test("wall-clock jumps after acceptance do not move the deadline")
    func wallClockJumps() throws {
        let clock = ManualLeaseClock(wall: wall)
        let a = try authority(expiresIn: 10, grace: .zero, clock: clock)
        clock.setWall(wall.addingTimeInterval(86_400))
        #expect(a.isAuthorized(.toolCall, "x"), "a forward jump does not expire the lease")
        clock.setWall(wall.addingTimeInterval(-86_400))
        clock.advance(by: .seconds(10))
        #expect(!a.isAuthorized(.toolCall, "x"), "a backward jump does not extend the lease")
    }

    @Test("checks run in order: expiry, then budget, then patterns")
    func order() throws {
        let clock = ManualLeaseClock(wall: wall)
        let expiry = LeaseTimestamp(wall.addingTimeInterval(5)).text
        let a = try LeaseAuthority(
            lease: try ValidatedLease(["tool.call": ["allowed"], "cost.budget": ["USD:1"]]),
            constraints: try ValidatedLeaseConstraints(expiresAt: expiry, now: wall), clock: clock, configuration: .init(expiryGrace: .zero))
        #expect(#expect(throws: LeaseError.self) { try a.authorize(.toolCall, "denied") }?.code == .permissionDenied)
        a.recordMetric(name: "cost.x", value: 1, unit: "USD")
        #expect(#expect(throws: LeaseError.self) { try a.authorize(.toolCall, "denied") }?.code == .budgetExhausted)
        clock.advance(by: .seconds(5))
        #expect(#expect(throws: LeaseError.self) { try a.authorize(.toolCall, "denied") }?.code == .leaseExpired)
    }

    @Test("a lease without expires_at never expires")
    func noExpiry() throws {
        let clock = ManualLeaseClock(wall: wall)
        let a = try LeaseAuthority(lease: try ValidatedLease(["tool.call": ["**"]]), clock: clock)
        clock.advance(by: .seconds(1_000_000))
        #expect(a.isAuthorized(.toolCall, "x"))
        #expect(a.timeUntilExpiry == nil)
    }

    @Test("the system clock is monotonic")
    func systemClock() {
        let clock = SystemLeaseClock()
        let a = clock.uptime()
        let b = clock.uptime()
        #expect(b >= a)
    }
}
