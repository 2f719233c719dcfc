import ARCP
import Foundation

/// `arcp-bench leases`: `LeaseAuthority.isAuthorized` calls per second on a 50-pattern lease
/// (fs, net, tools, agents, models, budget) over a fixed mix of allowed and denied targets,
/// some needing full canonicalization. The figure shows a lease check costs far less than a tool call.
enum LeaseBench: BenchCommand {
    static let name = "leases"
    static let summary = "lease authorization calls/s on a 50-pattern lease"

    static func run(arguments: [String]) async throws {
        let a = try BenchArguments(arguments, valueFlags: ["--iterations", "--reps"], switchFlags: ["--json"])
        let iterations = try a.int("--iterations", default: 2_000_000)
        let reps = try a.int("--reps", default: 5)
        var rates: [Double] = []
        for _ in 0..<max(1, reps) { rates.append(authorizeCallsPerSecond(iterations: iterations)) }
        rates.sort()
        let median = rates[rates.count / 2]
        if a.has("--json") {
            print(#"{"bench":"leases","authorize_per_sec":\#(Int(median)),"ns_per_call":\#(median > 0 ? Int(1e9 / median) : 0)}"#)
        } else {
            print("lease authorize: \(Int(median)) calls/s (median of \(rates.count)), \(median > 0 ? Int(1e9 / median) : 0) ns per call")
        }
    }

    /// The 50-pattern lease the benchmark uses (fs, net, tools, agents, models, budget).
    static func benchmarkLease() throws(LeaseError) -> ValidatedLease {
        var fsRead: [String] = []
        for i in 0..<10 { fsRead.append("/workspace/project\(i)/**") }
        fsRead.append("/usr/share/dict/*")
        fsRead.append("/etc/ssl/certs/*.pem")
        var fsWrite: [String] = []
        for i in 0..<6 { fsWrite.append("/workspace/project\(i)/src/**") }
        fsWrite.append("/tmp/job-*/out/**")
        fsWrite.append("/workspace/**/build/*.log")
        var net: [String] = []
        for i in 0..<8 { net.append("https://api\(i).example.com/v1/**") }
        net.append("https://*.github.com/repos/*/*/issues/**")
        net.append("https://**.googleapis.com/**")
        net.append("http://localhost:8080/**")
        net.append("https://docs.example.org/guides/*.html")
        var tools: [String] = []
        for name in ["search", "humanq", "calc", "files", "git", "browser", "sql"] { tools.append("\(name).*") }
        tools.append("mcp:github/*")
        tools.append("mcp:slack/**")
        tools.append("exact-tool")
        let agents = ["test-runner", "lint-runner@2.*", "research.*", "summarizer"]
        let models = ["tier-fast/*", "anthropic/claude-3-haiku-*", "openai/gpt-4o-mini", "local/**"]
        let lease: [String: [String]] = [
            "fs.read": fsRead, "fs.write": fsWrite, "net.fetch": net, "tool.call": tools,
            "agent.delegate": agents, "model.use": models, "cost.budget": ["USD:1000.00"],
        ]
        return try ValidatedLease(lease)
    }

    /// Calls `authorize` `iterations` times over a fixed mix of allowed and denied targets
    /// (about half each, including some needing full canonicalization) on the 50-pattern
    /// lease, with the system clock and a budget, and returns calls per second measured
    /// with `ContinuousClock`. Returns 0 when `iterations` is not positive.
    static func authorizeCallsPerSecond(iterations: Int) -> Double {
        guard iterations > 0, let lease = try? benchmarkLease(), let authority = try? LeaseAuthority(lease: lease) else { return 0 }
        let targets: [(LeaseNamespace, String)] = [
            (.fsRead, "/workspace/project7/src/main/App.swift"),
            (.fsRead, "/etc/passwd"),
            (.fsRead, "/workspace/project3/../../etc/shadow"),
            (.fsWrite, "/workspace/project2/src/lib/a.swift"),
            (.fsWrite, "/workspace/project9/README.md"),
            (.netFetch, "https://api5.example.com/v1/items?limit=10"),
            (.netFetch, "https://evil.example.net/"),
            (.netFetch, "HTTPS://Www.GitHub.com:443/repos/apple/swift/issues/1"),
            (.toolCall, "search.web"),
            (.toolCall, "mcp:github/create_issue"),
            (.toolCall, "shell.exec"),
            (.agentDelegate, "lint-runner@2.1.0"),
            (.modelUse, "anthropic/claude-3-haiku-20240307"),
            (.modelUse, "anthropic/claude-3-opus-20240229"),
            (.fsRead, "/workspace/project1/a%20b/c.txt"),
            (.fsWrite, "/tmp/job-42/out/result.json"),
        ]
        var allowed = 0
        let clock = ContinuousClock()
        let start = clock.now
        for i in 0..<iterations {
            let (ns, target) = targets[i % targets.count]
            if authority.isAuthorized(ns, target) { allowed &+= 1 }
        }
        let elapsed = start.duration(to: clock.now)
        let (s, attos) = elapsed.components
        let seconds = Double(s) + Double(attos) / 1e18
        // Using `allowed` keeps the measured loop observable (it cannot be proven non-negative).
        guard allowed >= 0, seconds > 0 else { return 0 }
        return Double(iterations) / seconds
    }
}
