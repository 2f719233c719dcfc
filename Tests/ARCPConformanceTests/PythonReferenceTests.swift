import ARCPConformance
import ARCPTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ConformanceKitTests {
    /// The kit against the Python reference runtime (`agentruntimecontrolprotocol==1.1.3`, its
    /// test server `shared/reference/python-1.1.3/server.py`, unchanged): the failures are exactly
    /// its known deviations (that file's NOTES.md, and those the kit found, listed in
    /// docs/CONFORMANCE-KIT.md). Skipped, with the reason, without the venv of
    /// `Scripts/setup-python.sh`.
    @Suite("Python reference", Reference.needsPython)
    struct PythonReferenceTests {
        /// Each failure, with the deviation it shows (NOTES.md item, or "kit" for one the kit found).
        static let knownDeviations: [String: String] = [
        "close.closed": "NOTES 1: session.close is rejected (only session.bye)",
        "cancel.cancelled": "NOTES 2: no job.cancelled",
        "cancel.error": "NOTES 2: a cancelled job ends with job.result cancelled",
        "timeout.error": "NOTES 2: a timed-out job ends with job.result timed_out",
        "resume.replay": "NOTES 3: after a resume the session gets no job frames (missed or live)",
        "resume.cancel-authority": "NOTES 3: after a resume the session gets no job frames, so the cancel's end never arrives",
        "resume.window-expired": "NOTES 3: no RESUME_WINDOW_EXPIRED; acknowledged events are silently skipped",
        "resume.wrong-token-keeps-session": "NOTES 3: a wrong token consumes the resume record",
        "resume.session-resume": "NOTES (wire facts): resume only through the hello's resume block; session.resume is rejected",
        "subscribe.subscribed-first": "NOTES 4: history before job.subscribed",
        "subscribe.seq-space": "NOTES 4: subscriber event_seq restarts at 1 per subscription",
        "subscribe.descriptor": "NOTES 4: replayed is an integer; no lease_constraints or budget",
        "subscribe.own-job": "NOTES 4: subscribing to an own job delivers every event twice, numbered in two colliding spaces",
        "errors.request-id": "NOTES 5: session.error names no request",
        "auth.missing-token": "NOTES 6: a hello without auth gets INTERNAL_ERROR",
        "submit.invalid-agent": "NOTES 6: INTERNAL_ERROR for an invalid agent name",
        "submit.missing-agent": "NOTES 6: INTERNAL_ERROR for a submit without agent",
        "bad-input.wrong-types": "NOTES 6: INTERNAL_ERROR for wrong types",
        "bad-input.out-of-range": "NOTES 6: INTERNAL_ERROR for integers beyond 64 bits",
        "lease.malformed": "NOTES 6: INTERNAL_ERROR for a lease whose patterns are not a list",
        "budget.malformed": "NOTES 6: INTERNAL_ERROR for a malformed cost.budget",
        "expiry.utc": "NOTES 6: INTERNAL_ERROR for a non-UTC expires_at",
        "expiry.invalid": "NOTES 6: INTERNAL_ERROR for an expires_at that is not a timestamp",
        "bad-input.malformed-json": "NOTES 6: malformed JSON closes the socket without an error frame",
        "bad-input.session-survives": "NOTES 6: malformed JSON closes the socket",
        "bad-input.not-an-object": "NOTES 6: JSON that is not an object closes the socket",
        "heartbeat.loss-error": "NOTES 7: heartbeat loss closes with 1000 and no HEARTBEAT_LOST",
        "budget.counters": "NOTES 8: budget echoed as \"USD:5.00\" strings",
        "budget.currencies": "NOTES 8: budget echoed as strings",
        "list-jobs.entry": "NOTES 8: session.jobs entries use submitted_at and omit lease and last_event_seq",
        "events.tool-call": "NOTES 8: tool_call uses tool_call_id/name/arguments",
        "events.tool-result": "NOTES 8: tool_result uses tool_call_id/output",
        "events.artifact-ref": "NOTES 8: artifact_ref uses media_type/size_bytes",
        "features.progress": "NOTES 9: progress not gated by negotiation",
        "features.result-chunk": "NOTES 9: result_chunk not gated by negotiation",
        "features.cost-budget": "NOTES 9: cost.budget not gated by negotiation",
        "features.lease-expires-at": "kit (as NOTES 9): lease_expires_at not gated by negotiation",
        "cancel.other-session": "kit: any session of the principal can cancel a job, not only the submitting one",
        "subscribe.no-cancel": "kit: a subscriber can cancel the job it observes",
        "trace.generated": "kit: no trace_id is generated for a job submitted without one",
        "security.resume-token": "kit: the resume token is a ULID minted beside the session id (sequential, derivable)",
        "events.delegate": "kit: server.py's kitchen emits delegate {child_job_id, agent} by hand; the SDK has no delegation",
        "delegation.child": "kit: no delegation (no child job.accepted)",
        "delegation.trace": "kit: no delegation (no child job)",
        "delegation.lease-subset": "kit: no delegation (no child job)",
        "lease.enforced": "kit: no delegation, so no lease check on it",
        "budget.exhausted": "kit: no operation checks the exhausted budget (no delegation)",
    ]

        @Test func failuresAreTheKnownDeviations() async throws {
            let server = try await Reference.start()
            let report = await ConformanceKit.run(.webSocket(url: server.url), options: Kit.options())
            // A throwaway server: no graceful shutdown to wait for.
            server.process.signal(SIGKILL)
            await server.process.wait()
            Kit.expect(report, failures: Set(Self.knownDeviations.keys), name: "python-reference")
        }
    }
}

/// Where the reference server is and whether it can run.
enum Reference {
    static let python = PackagePaths.root.appendingPathComponent(".venv/bin/python").path

    /// `server.py` of the shared reference beside the package (`../shared/…`, as CI lays it
    /// out, or two levels up for a worktree), else the interop tests' copy of its agents
    /// (`Tests/Interop/py_runtime.py`).
    static let server: String = {
        let relative = "shared/reference/python-1.1.3/server.py"
        let up1 = PackagePaths.root.deletingLastPathComponent()
        for dir in [up1, up1.deletingLastPathComponent()] {
            let path = dir.appendingPathComponent(relative).path
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return PackagePaths.root.appendingPathComponent("Tests/Interop/py_runtime.py").path
    }()

    static let unavailableReason: String? = {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return "no Python reference venv at \(python): run Scripts/setup-python.sh (Scripts/test.sh does)"
        }
        let (status, _, err) = runSync(python, ["-c", "import arcp, importlib.metadata as m; assert m.version('agentruntimecontrolprotocol') == '1.1.3'"])
        guard status == 0 else {
            return "the venv at \(python) lacks agentruntimecontrolprotocol==1.1.3 (\(err.split(separator: "\n").last ?? "")): run Scripts/setup-python.sh"
        }
        return nil
    }()

    static var needsPython: ConditionTrait {
        .enabled(if: unavailableReason == nil, Comment(rawValue: unavailableReason ?? "Python reference available"))
    }

    /// A free loopback port (the OS picks it; `server.py` takes no port 0).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw KitTestError("socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0 else { throw KitTestError("bind() failed") }
        let named = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        guard named == 0 else { throw KitTestError("getsockname() failed") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Starts the reference server on a free port with a 2 s heartbeat; returns once it listens.
    static func start() async throws -> (process: TestProcess, url: String) {
        var lastError = ""
        for _ in 0..<3 {
            let port = try freePort()
            let child = try TestProcess(python, [server, "--port", String(port), "--heartbeat-sec", String(Kit.heartbeatSec)], label: "server.py")
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline, child.process.isRunning, !child.stderr.contains("listening on") && !child.stdout.contains("LISTENING") {
                try await Task.sleep(for: .milliseconds(50))
            }
            if child.process.isRunning, child.stderr.contains("listening on") || child.stdout.contains("LISTENING") {
                return (child, "ws://127.0.0.1:\(port)/arcp")
            }
            lastError = child.stderr.suffix(1500).description
            child.signal(SIGKILL)
            await child.wait()
        }
        throw KitTestError("the Python reference server did not start: \(lastError)")
    }
}
