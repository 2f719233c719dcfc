import Foundation

/// One `arcp-bench` subcommand.
protocol BenchCommand {
    /// The word after `arcp-bench`.
    static var name: String { get }
    /// One line for the usage text.
    static var summary: String { get }
    /// Runs with the arguments after the subcommand name.
    static func run(arguments: [String]) async throws
}

enum BenchUsage {
    static func text(_ commands: [any BenchCommand.Type]) -> String {
        var s = "usage: arcp-bench <subcommand> [options]   (build with -c release)\n\nsubcommands:\n"
        for c in commands { s += "  \(c.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(c.summary)\n" }
        s += "\nRun `arcp-bench <subcommand> --help` for its options."
        return s
    }
}

/// A usage or input problem, printed as is.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Minimal `--flag value` / `--switch` parsing.
struct BenchArguments {
    private var values: [String: String] = [:]
    private var switches: Set<String> = []

    /// `valueFlags` take a value; `switchFlags` do not. Anything else is an error.
    init(_ args: [String], valueFlags: Set<String>, switchFlags: Set<String>) throws {
        var i = 0
        while i < args.count {
            let a = args[i]
            if switchFlags.contains(a) {
                switches.insert(a)
                i += 1
            } else if valueFlags.contains(a) {
                guard i + 1 < args.count else { throw BenchError("\(a) needs a value") }
                values[a] = args[i + 1]
                i += 2
            } else {
                throw BenchError("unknown option \(a)")
            }
        }
    }

    func has(_ flag: String) -> Bool { switches.contains(flag) }
    func string(_ flag: String) -> String? { values[flag] }

    func int(_ flag: String, default d: Int) throws -> Int {
        guard let v = values[flag] else { return d }
        guard let n = Int(v.replacingOccurrences(of: "_", with: "")), n > 0 else { throw BenchError("\(flag) must be a positive integer") }
        return n
    }

    func double(_ flag: String) throws -> Double? {
        guard let v = values[flag] else { return nil }
        guard let d = Double(v.replacingOccurrences(of: ",", with: "")), d > 0 else { throw BenchError("\(flag) must be a positive number") }
        return d
    }
}

/// Median, minimum and maximum of per-repetition rates.
struct Summary: Sendable {
    var median: Double
    var min: Double
    var max: Double
    var samples: [Double]

    init(_ samples: [Double]) {
        let s = samples.sorted()
        self.samples = samples
        self.min = s.first ?? 0
        self.max = s.last ?? 0
        if s.isEmpty {
            median = 0
        } else if s.count % 2 == 1 {
            median = s[s.count / 2]
        } else {
            median = (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
    }

    var json: [String: Any] { ["median": median, "min": min, "max": max, "samples": samples] }
}

enum Format {
    /// `170031` → `170,031`.
    static func grouped(_ v: Double) -> String {
        let n = Int(v.rounded())
        let s = String(n.magnitude)
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0, (s.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    static func ratio(_ v: Double) -> String { String(format: "%.1fx", v) }
}

/// Wall-clock seconds of `body`.
@inline(__always)
func measure(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    let d = clock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Keeps a value alive so the optimizer cannot drop the work that produced it.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

/// The shared reference material: `$ARCP_SHARED_DIR`, else `../shared` beside the repository.
enum SharedPaths {
    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // ARCPBench
        .deletingLastPathComponent()  // Benchmarks
        .deletingLastPathComponent()  // repo

    static var shared: URL {
        if let env = ProcessInfo.processInfo.environment["ARCP_SHARED_DIR"], !env.isEmpty { return URL(fileURLWithPath: env) }
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }

    static var transcripts: URL { shared.appendingPathComponent("reference/python-1.1.3/transcripts") }
}

/// Machine facts for the JSON report.
enum Machine {
    static var description: [String: Any] {
        var out: [String: Any] = [
            "cpus": ProcessInfo.processInfo.activeProcessorCount,
            "os": ProcessInfo.processInfo.operatingSystemVersionString,
        ]
        out["build"] = build
        if let load = loadavg() { out["loadavg_1m"] = load }
        return out
    }

    /// `debug` or `release`: how this benchmark was compiled.
    static var build: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    /// The 1-minute load average (`/proc/loadavg`), where there is one.
    static func loadavg() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }
}
