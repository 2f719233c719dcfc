import ARCP
import ARCPConformance
import ARCPDemoAgents
import ARCPTestSupport
import ARCPTesting
import Foundation
import Synchronization
import Testing

/// Every test of the kit, one after another: each run already has a dozen scenarios going
/// at once, and the heartbeat scenarios must not starve for CPU.
@Suite("Conformance kit", .serialized, .timeLimit(.minutes(10)))
struct ConformanceKitTests {}

/// The runtimes the kit is pointed at, and what every run shares.
enum Kit {
    /// Options for the test runs: the two principals of `arcp serve` and the Python server.
    static func options(
        only: [String] = [], concurrency: Int = 12, responseTimeout: Duration = .seconds(8), jobTimeout: Duration = .seconds(30)
    ) -> ConformanceOptions {
        ConformanceOptions(
            token: "tok", otherToken: "tok2", only: only, concurrency: concurrency, responseTimeout: responseTimeout,
            jobTimeout: jobTimeout, scenarioTimeout: .seconds(90), heartbeatBudget: .seconds(12))
    }

    /// The heartbeat interval the runtimes under test run with: short enough for the heartbeat
    /// scenarios (they wait up to three intervals), long enough that a loaded CI machine still
    /// exchanges a message per interval.
    static let heartbeatSec = 3

    /// `arcp serve` arguments: both principals, a short heartbeat, quiet logs, and provisioned
    /// credentials from a `--credentials-file` (offered over loopback `ws://` by opting in, and
    /// without a durable store: the tokens expire by themselves).
    static let serveArguments = [
        "serve", "--token", "tok=me@example.com", "--token", "tok2=other@example.com",
        "--heartbeat-sec", String(heartbeatSec), "--log-level", "error",
        "--credentials-file", credentialsFile.path, "--allow-credentials-without-tls", "--allow-non-durable-credential-revocation",
    ]

    /// A credentials file private to this test process (mode 0600) issuing a token for every
    /// job whose lease grants `model.use`, with its deny-list beside it.
    static let credentialsFile: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-kit-credentials-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("credentials.json")
        var rng = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in String(rng.next() as UInt8, radix: 16) }.joined()
        let json = """
            {"revocation_list": "revoked.txt", "credentials": [{"name": "gateway", \
            "endpoint": "https://gateway.example.invalid/v1", "profile": "openai", \
            "capabilities": ["model.use"], "signing_key": "\(key)", "ttl_sec": 300}]}
            """
        _ = FileManager.default.createFile(atPath: url.path, contents: Data(json.utf8), attributes: [.posixPermissions: 0o600])
        return url
    }()

    /// Records the report under `.build/conformance/NAME.{txt,json}` (for docs and for reading
    /// a failure), and returns the failed ids.
    @discardableResult
    static func record(_ report: ConformanceReport, as name: String) -> Set<String> {
        let dir = PackagePaths.root.appendingPathComponent(".build/conformance")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try? Data(report.table().utf8).write(to: dir.appendingPathComponent("\(name).txt"))
        try? Data(report.json().utf8).write(to: dir.appendingPathComponent("\(name).json"))
        return report.failedIDs
    }

    /// Checks that `report` fails exactly `expected`, that every skip has a reason, and that
    /// the run reached the runtime.
    static func expect(
        _ report: ConformanceReport, failures expected: Set<String>, name: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let failed = record(report, as: name)
        #expect(report.profileError == nil, "\(name): \(report.profileError ?? "")", sourceLocation: sourceLocation)
        let unexpected = failed.subtracting(expected)
        let fixed = expected.subtracting(failed)
        #expect(
            unexpected.isEmpty,
            "\(name): new failures \(unexpected.sorted()):\n\(details(report, unexpected))", sourceLocation: sourceLocation)
        #expect(
            fixed.isEmpty,
            "\(name): now passing (or skipped), remove from the expected failures: \(fixed.sorted())", sourceLocation: sourceLocation)
        for r in report.skipped {
            if case .skipped(let why) = r.outcome { #expect(!why.isEmpty, "\(r.scenario.id) skipped without a reason", sourceLocation: sourceLocation) }
        }
    }

    /// The failure blocks of the report for `ids`.
    static func details(_ report: ConformanceReport, _ ids: Set<String>) -> String {
        let table = report.table()
        return table.components(separatedBy: "\nFAIL ").dropFirst()
            .filter { block in ids.contains { block.hasPrefix($0 + " ") } }
            .map { "FAIL " + $0 }.joined(separator: "\n")
    }
}

/// A process serving ARCP on WebSocket, started once per test process.
actor SharedProcess {
    private var started: Task<(TestProcess, String), any Error>?
    private let make: @Sendable () async throws -> (TestProcess, String)

    init(_ make: @escaping @Sendable () async throws -> (TestProcess, String)) { self.make = make }

    /// The server's `ws://` URL, starting it on first use.
    func url() async throws -> String {
        if started == nil { started = Task { try await make() } }
        guard let started else { throw CancellationError() }
        return try await started.value.1
    }
}

/// `arcp serve --port 0` with the test principals (stops with the test process: stdin EOF).
let arcpServe = SharedProcess {
    let arcp = try ArcpBinary.require()
    let child = try TestProcess(arcp, Kit.serveArguments + ["--port", "0", "--stop-on-eof"], label: "arcp serve")
    guard let line = await child.line(startingWith: "LISTENING ") else {
        await child.stop()
        throw KitTestError("arcp serve printed no LISTENING line; stderr: \(child.stderr.suffix(2000))")
    }
    return (child, String(line.dropFirst("LISTENING ".count)))
}

struct KitTestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// An in-process runtime with the demo agents, reached through `MemoryTransport` pairs, each
/// optionally behind a ``Mutation`` that breaks what the runtime sends or receives.
final class InProcessRuntime: Sendable {
    let runtime: ARCPRuntime

    /// With `credentials`, the runtime offers `provisioned_credentials` (an in-memory
    /// provisioner, revocation not durable: fine for a test), which `arcp serve` does not.
    init(credentials: Bool = false) throws {
        var cfg = ARCPRuntime.Configuration()
        cfg.heartbeatInterval = .seconds(Kit.heartbeatSec)
        if credentials {
            cfg.credentialProvisioner = InMemoryCredentialProvisioner()
            cfg.allowsNonDurableCredentialRevocation = true
        }
        runtime = ARCPRuntime(
            configuration: cfg, verifier: StaticBearerVerifier(["tok": "me@example.com", "tok2": "other@example.com"]))
        try DemoAgents.register(on: runtime, includeFlood: false)
    }

    /// The kit's target: a new in-process connection per call, through `mutation`.
    func target(_ mutation: Mutation = .none) -> ConformanceTarget {
        let runtime = self.runtime
        return ConformanceTarget(name: "in-process (\(mutation.name))", sharesRuntime: true) {
            let (client, server) = MemoryTransport.pair()
            Task { await runtime.accept(server) }
            return RawConnection(transport: MutatingTransport(client, mutation))
        }
    }

    func shutdown() async { await runtime.shutdown() }
}
