@testable import ARCP
import ARCPTesting
import Foundation
import Testing

/// Budget arithmetic at the edges of `Decimal` (about ±3.4e165): a cost a double can carry but a
/// `Decimal` cannot must exhaust the budget, never be dropped or turn a counter into NaN.
@Suite("Lease budget saturation")
struct LeaseBudgetSaturationTests {
    @Test("doubles beyond Decimal's range saturate instead of being dropped")
    func fromDoubleSaturates() {
        #expect(LeaseDecimal.fromDouble(1e200) == Decimal.greatestFiniteMagnitude)
        #expect(LeaseDecimal.fromDouble(.greatestFiniteMagnitude) == Decimal.greatestFiniteMagnitude)
        #expect(LeaseDecimal.fromDouble(-1e300) == -Decimal.greatestFiniteMagnitude)
        #expect(LeaseDecimal.fromDouble(1e-200) == 0)
        #expect(LeaseDecimal.fromDouble(.leastNonzeroMagnitude) == 0)
        #expect(LeaseDecimal.fromDouble(-0.0) == 0)
        #expect(LeaseDecimal.fromDouble(.nan) == nil)
    }

    @Test("overflowing arithmetic saturates")
    func saturatingArithmetic() {
        let max = Decimal.greatestFiniteMagnitude
        #expect(LeaseDecimal.subtracting(-max, max) == -max)
        #expect(LeaseDecimal.subtracting(max, -max) == max)
        #expect(LeaseDecimal.adding(max, max) == max)
        #expect(LeaseDecimal.adding(-max, -max) == -max)
        #expect(LeaseDecimal.subtracting(5, 2) == 3)
    }

    @Test("huge cost metrics exhaust the budget and keep it exhausted")
    func hugeCostsExhaust() throws {
        var counters = BudgetCounters([try CostAmount(parsing: "USD:5.00")])
        let huge = try #require(LeaseDecimal.fromDouble(1e300))
        for _ in 0..<3 {
            guard case .decremented(_, let left, _) = counters.record(metricName: "cost.usd", value: huge, unit: "USD") else {
                Issue.record("a cost metric in a budgeted currency must decrement")
                return
            }
            #expect(!left.isNaN && left < 0)
        }
        #expect(counters.isExhausted)
        #expect(counters.exhaustedCurrency == "USD")

        let lease = try ValidatedLease(["cost.budget": ["USD:5.00"], "tool.call": ["**"]])
        let authority = try LeaseAuthority(lease: lease, clock: ManualLeaseClock())
        for _ in 0..<3 { authority.recordMetric(name: "cost.usd", value: huge, unit: "USD") }
        #expect(throws: LeaseError.self) { try authority.authorize(.toolCall, "search") }
        #expect(authority.exhaustedCurrency() == "USD")
    }
}
