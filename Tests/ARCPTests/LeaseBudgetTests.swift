import ARCP
import ARCPTesting
import Foundation
import Testing

/// An exact decimal from text (NaN when malformed, which makes any comparison fail).
func exactDecimal(_ s: String) -> Decimal { Decimal(string: s, locale: Locale(identifier: "en_US_POSIX")) ?? .nan }

@Suite("Budget (§9.6)")
struct LeaseBudgetTests {
    @Test("amount grammar", arguments: [
        ("USD:5.00", true), ("credits:1000", true), ("EUR:0", true), ("USD:0.000001", true), ("my_tokens-v2:12.5", true),
        ("USD:-1", false), ("USD:1e3", false), ("USD:.5", false), ("USD:5.", false), ("USD", false), (":5", false),
        ("5USD:5", false), ("US D:5", false), ("USD:5.00.0", false), ("USD:\u{0661}", false), ("USD: 5", false),
        ("USD:+5", false), ("USD:1234567890123456789012345678901", false), ("", false),
    ])
    func grammar(_ text: String, _ valid: Bool) {
        #expect(((try? CostAmount(parsing: text)) != nil) == valid)
    }

    @Test("amounts parse exactly")
    func exactParse() throws {
        let a = try CostAmount(parsing: "USD:5.00")
        #expect(a.currency == "USD")
        #expect(a.value == 5)
        #expect(try CostAmount(parsing: "USD:0.1").value == exactDecimal("0.1"))
        #expect(try ValidatedLease(["cost.budget": ["USD:5.00", "credits:1000"]]).budget.count == 2)
        let dup = #expect(throws: LeaseError.self) { try ValidatedLease(["cost.budget": ["USD:5", "USD:3"]]) }
        #expect(dup?.code == .invalidRequest)
    }

    @Test("spending exactly the budget in tenths leaves exactly zero, then BUDGET_EXHAUSTED")
    func exactBoundary() throws {
        let authority = try LeaseAuthority(lease: try ValidatedLease(["tool.call": ["**"], "cost.budget": ["USD:1.00"]]), clock: ManualLeaseClock())
        for _ in 0..<9 { authority.recordMetric(name: "cost.inference", value: exactDecimal("0.1"), unit: "USD") }
        #expect(authority.budgetRemaining["USD"] == exactDecimal("0.1"))
        #expect(throws: Never.self) { try authority.authorize(.toolCall, "x") }
        let last = authority.recordMetric(name: "cost.inference", value: exactDecimal("0.1"), unit: "USD")
        #expect(last == .decremented(currency: "USD", remaining: 0, emitRemaining: true))
        let error = #expect(throws: LeaseError.self) { try authority.authorize(.toolCall, "x") }
        #expect(error?.code == .budgetExhausted)
        #expect(error?.retryable == false)
    }

    @Test("one cent left still authorizes; overspend goes negative and stays exhausted")
    func nearBoundary() throws {
        var counters = BudgetCounters([try CostAmount(parsing: "USD:1.00")])
        _ = counters.record(metricName: "cost.a", value: exactDecimal("0.99"), unit: "USD")
        #expect(!counters.isExhausted)
        #expect(counters.remaining["USD"] == exactDecimal("0.01"))
        _ = counters.record(metricName: "cost.a", value: exactDecimal("0.02"), unit: "USD")
        #expect(counters.isExhausted)
        #expect(counters.remaining["USD"] == exactDecimal("-0.01"))
        #expect(counters.exhaustedCurrency == "USD")
    }

    @Test("a zero budget is exhausted from the start")
    func zeroBudget() throws {
        let authority = try LeaseAuthority(lease: try ValidatedLease(["tool.call": ["**"], "cost.budget": ["USD:0"]]), clock: ManualLeaseClock())
        #expect(#expect(throws: LeaseError.self) { try authority.authorize(.toolCall, "x") }?.code == .budgetExhausted)
    }

    @Test("metric filtering: negative, NaN, other units, non-cost names, cost.budget.remaining")
    func filtering() throws {
        var counters = BudgetCounters([try CostAmount(parsing: "USD:5"), try CostAmount(parsing: "credits:10")])
        #expect(counters.record(metricName: "cost.inference", value: -1, unit: "USD") == .rejectedNegative)
        #expect(counters.record(metricName: "cost.inference", value: .nan, unit: "USD") == .rejectedNegative)
        #expect(counters.record(metricName: "cost.inference", value: 1, unit: "EUR") == .unbudgetedCurrency)
        #expect(counters.record(metricName: "cost.inference", value: 1, unit: nil) == .unbudgetedCurrency)
        #expect(counters.record(metricName: "tokens.used", value: 1, unit: "USD") == .notCost)
        #expect(counters.record(metricName: "costly", value: 1, unit: "USD") == .notCost)
        #expect(counters.record(metricName: "cost.budget.remaining", value: 1, unit: "USD") == .notCost)
        #expect(counters.record(metricName: "cost.inference", value: 1, unit: "usd") == .unbudgetedCurrency)
        #expect(counters.remaining == ["USD": 5, "credits": 10])
        #expect(counters.record(metricName: "cost.inference", value: 0, unit: "USD") == .decremented(currency: "USD", remaining: 5, emitRemaining: false))
        // Currencies are independent; one exhausted counter is enough.
        _ = counters.record(metricName: "cost.api", value: 10, unit: "credits")
        #expect(counters.remaining["USD"] == 5)
        #expect(counters.isExhausted)
    }

    @Test("cost.budget.remaining emission after material decrements")
    func emission() throws {
        var every = BudgetCounters([try CostAmount(parsing: "USD:10")])
        #expect(every.record(metricName: "cost.a", value: exactDecimal("0.01"), unit: "USD") == .decremented(currency: "USD", remaining: exactDecimal("9.99"), emitRemaining: true))
        var tenth = BudgetCounters([try CostAmount(parsing: "USD:10")], emitFraction: exactDecimal("0.1"))
        #expect(tenth.record(metricName: "cost.a", value: exactDecimal("0.5"), unit: "USD") == .decremented(currency: "USD", remaining: exactDecimal("9.5"), emitRemaining: false))
        #expect(tenth.record(metricName: "cost.a", value: exactDecimal("0.5"), unit: "USD") == .decremented(currency: "USD", remaining: 9, emitRemaining: true))
        #expect(tenth.record(metricName: "cost.a", value: exactDecimal("0.2"), unit: "USD") == .decremented(currency: "USD", remaining: exactDecimal("8.8"), emitRemaining: false))
        #expect(tenth.record(metricName: "cost.a", value: exactDecimal("8.8"), unit: "USD") == .decremented(currency: "USD", remaining: 0, emitRemaining: true))
    }

    @Test("budget maps echoed as numbers or as the reference's strings")
    func echo() throws {
        let parsed = try BudgetCounters.parseEcho([
            "USD": .string("USD:1.00"), "EUR": .number(exactDecimal("5.0")), "credits": .string("0.75"),
        ])
        #expect(parsed == ["USD": 1, "EUR": 5, "credits": exactDecimal("0.75")])
        #expect(throws: LeaseError.self) { try BudgetCounters.parseEcho(["USD": .string("EUR:1.00")]) }
        #expect(throws: LeaseError.self) { try BudgetCounters.parseEcho(["USD": .string("lots")]) }
        #expect(throws: LeaseError.self) { try BudgetCounters.parseEcho(["U SD": .number(1)]) }
    }

    @Test("JSON doubles convert to the decimal they were written as")
    func doubles() {
        #expect(LeaseDecimal.fromDouble(0.0234) == exactDecimal("0.0234"))
        #expect(LeaseDecimal.fromDouble(0.1) == exactDecimal("0.1"))
        #expect(LeaseDecimal.fromDouble(1e-05) == exactDecimal("0.00001"))
        #expect(LeaseDecimal.fromDouble(1e20) == exactDecimal("100000000000000000000"))
        #expect(LeaseDecimal.fromDouble(-2.5) == exactDecimal("-2.5"))
        #expect(LeaseDecimal.fromDouble(.nan) == nil)
        #expect(LeaseDecimal.fromDouble(.infinity) == nil)
        #expect(LeaseDecimal.parseJSONNumber("1.5e2") == 150)
        #expect(LeaseDecimal.parseJSONNumber("0x10") == nil)
    }

    @Test("job.accepted counters and concurrent spending add up exactly")
    func concurrent() async throws {
        let authority = try LeaseAuthority(lease: try ValidatedLease(["tool.call": ["**"], "cost.budget": ["USD:100.00"]]), clock: ManualLeaseClock())
        #expect(authority.initialBudget == ["USD": 100])
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<125 {
                        _ = authority.isAuthorized(.toolCall, "t")
                        authority.recordMetric(name: "cost.inference", value: exactDecimal("0.01"), unit: "USD")
                    }
                }
            }
        }
        #expect(authority.budgetRemaining == ["USD": 90])
        #expect(authority.initialBudget == ["USD": 100])
    }

    @Test("a lease without cost.budget is never exhausted")
    func unbudgeted() throws {
        let authority = try LeaseAuthority(lease: try ValidatedLease(["tool.call": ["**"]]), clock: ManualLeaseClock())
        #expect(authority.recordMetric(name: "cost.x", value: 1_000_000, unit: "USD") == .unbudgetedCurrency)
        #expect(authority.isAuthorized(.toolCall, "x"))
        #expect(authority.budgetRemaining.isEmpty)
    }
}
