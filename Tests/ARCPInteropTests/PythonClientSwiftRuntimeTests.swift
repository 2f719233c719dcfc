import ARCP
import Foundation
import Testing

/// The Python reference *client* (agentruntimecontrolprotocol 1.1.3, driven by
/// Tests/Interop/py_client.py) against the Swift runtime (`arcp serve`), over WebSocket and
/// over stdio (py_client spawns `arcp serve --stdio`, one child per session).
///
/// Off-spec side: the *reference client*. Its pydantic models reject three spec forms (see
/// Tests/Interop/REFERENCE_API.md): `job.error {final_status: "cancelled"}` (it only takes
/// "error"), budgets as numbers (it only takes "USD:1.00" strings) and `session.jobs`
/// entries without `submitted_at`. So these runs use `arcp serve --compat python-reference`,
/// which sends a cancelled job's end as `job.result {final_status: cancelled}` (after the
/// spec's `job.cancelled` ack), budget strings, and `submitted_at` beside `created_at`.
/// `referenceClientRejectsSpecForms` shows the same client failing on the spec forms.
private let compatTokens = ["--token", "tok=me@example.com", "--token", "tok2=other@example.com"]

private let swiftRuntimeWS = SharedServer {
    let arcp = try Interop.requireArcp()
    return try await startListening(
        arcp, ["serve", "--port", "0", "--compat", "python-reference", "--stop-on-eof", "--log-level", "warning"] + compatTokens,
        label: "arcp serve --compat python-reference")
}

private let swiftRuntimeSpecWS = SharedServer {
    let arcp = try Interop.requireArcp()
    return try await startListening(
        arcp, ["serve", "--port", "0", "--stop-on-eof", "--log-level", "warning"] + compatTokens, label: "arcp serve")
}

/// The py_client.py `all` runs, each made once and shared by the tests (the tasks are cached,
/// not their values, so concurrent first uses share one run).
private actor Runs {
    static let shared = Runs()
    private var ws: Task<PyClientRun, any Error>?
    private var stdio: Task<PyClientRun, any Error>?
    private var spec: Task<PyClientRun, any Error>?

    func webSocket() async throws -> PyClientRun {
        let task = ws ?? Task {
            let url = try await swiftRuntimeWS.url()
            return PyClientRun { ["--url", url, "all"] }
        }
        ws = task
        return try await task.value
    }

    func standardIO() async throws -> PyClientRun {
        let task = stdio ?? Task {
            let arcp = try Interop.requireArcp()
            return PyClientRun {
                ["--stdio", "all", "--", arcp, "serve", "--stdio", "--compat", "python-reference", "--log-level", "warning"] + compatTokens
            }
        }
        stdio = task
        return try await task.value
    }

    func specForms() async throws -> PyClientRun {
        let task = spec ?? Task {
            let url = try await swiftRuntimeSpecWS.url()
            return PyClientRun { ["--url", url, "all"] }
        }
        spec = task
        return try await task.value
    }
}

enum Carrier: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case webSocket = "ws"
    case stdio
    var testDescription: String { rawValue }
}

@Suite("Interop: Python client ↔ Swift runtime", Interop.needsPython, .timeLimit(.minutes(2)))
struct PythonClientSwiftRuntimeTests {
    func line(_ scenario: String, over carrier: Carrier) async throws -> ScenarioLine {
        let run = carrier == .webSocket ? try await Runs.shared.webSocket() : try await Runs.shared.standardIO()
        let line = try await run.line(scenario)
        #expect(line["transport"]?.stringValue == carrier.rawValue)
        #expect(line["runtime"]?.stringValue?.hasPrefix("swift-arcp") == true, "runtime: \(line.text)")
        return line
    }

    @Test("scenario passes", arguments: Carrier.allCases, requiredScenarios + extraScenarios)
    func scenarioPasses(_ carrier: Carrier, _ scenario: String) async throws {
        let line = try await line(scenario, over: carrier)
        let passed = line.ok
        #expect(passed, "\(scenario) over \(carrier.rawValue) failed: \(line.error)\n\(line.text)")
    }

    @Test("echo: result, log event, strictly increasing event_seq", arguments: Carrier.allCases)
    func echo(_ carrier: Carrier) async throws {
        let l = try await line("echo", over: carrier)
        #expect(l["result"] == ["echoed": ["hello": "world", "n": 1, "nested": ["list": [1, 2.5, nil, true, "é"]]]])
        #expect(l["events"] == ["log"])
        #expect(l["welcome_agents"]?.arrayValue?.compactMap(\.stringValue).contains("kitchen") == true)
    }

    @Test("every event kind reaches the reference client, in the spec's body forms", arguments: Carrier.allCases)
    func everyEventKind(_ carrier: Carrier) async throws {
        let l = try await line("all_event_kinds", over: carrier)
        #expect(l["kinds_missing"] == [])
        #expect(l["metric_names"] == ["tokens.in", "cost.usd"])
        // We send the spec's forms; the reference sends tool_call_id/name and media_type.
        #expect(l["tool_call_form"] == "spec")
        #expect(l["artifact_ref_form"] == "spec")
        #expect(l["every_event_has_ts"] == true)
    }

    @Test("job.error: INTERNAL_ERROR (retryable) and a typed code", arguments: Carrier.allCases)
    func jobError(_ carrier: Carrier) async throws {
        let l = try await line("job_error", over: carrier)
        #expect(l["plain"]?["error"]?["code"] == "INTERNAL_ERROR")
        #expect(l["plain_retryable"] == true)
        #expect(l["typed"]?["error"]?["code"] == "PERMISSION_DENIED")
    }

    @Test("cancel: job.cancelled ack, then job.error CANCELLED (final_status \"error\" with --compat), which the reference client raises", arguments: Carrier.allCases)
    func cancel(_ carrier: Carrier) async throws {
        let l = try await line("cancel", over: carrier)
        #expect(l["form"] == "spec")
        #expect(l["job_cancelled_ack"] == true)
        #expect(l["client_error_code"] == "CANCELLED")
    }

    @Test("versions: inventory, default 1.0.0, explicit 2.0.0, missing version", arguments: Carrier.allCases)
    func versions(_ carrier: Carrier) async throws {
        let l = try await line("versions", over: carrier)
        #expect(l["welcome_inventory"] == ["versions": ["1.0.0", "2.0.0"], "default": "1.0.0"])
        #expect(l["missing_version_error"] == "AGENT_VERSION_NOT_AVAILABLE")
        // Ours carries the request id; the reference's session.error does not.
        #expect(l["missing_version_error_frame"] == "session.error (with request id)")
    }

    @Test("idempotent resubmit: same job, DUPLICATE_KEY on conflict", arguments: Carrier.allCases)
    func idempotent(_ carrier: Carrier) async throws {
        let l = try await line("idempotent", over: carrier)
        #expect(l["same_job_id"] == true)
        #expect(l["second_result"] == ["echoed": ["n": 1]])
        #expect(l["conflict_error"] == "DUPLICATE_KEY")
    }

    @Test("bad token: UNAUTHENTICATED, then the connection closes", arguments: Carrier.allCases)
    func badToken(_ carrier: Carrier) async throws {
        let l = try await line("bad_token", over: carrier)
        #expect(l["error_code"] == "UNAUTHENTICATED")
        #expect(l["closed_after_error"] == true)
        if carrier == .webSocket { #expect(l["ws_close_code"] == 1000) } else { #expect(l["child_exit"] == 0) }
    }

    @Test("list_jobs: statuses, filters, paging; entries carry both created_at and submitted_at", arguments: Carrier.allCases)
    func listJobs(_ carrier: Carrier) async throws {
        let l = try await line("list_jobs", over: carrier)
        #expect(l["statuses"] == ["echo": "success", "slow": "running"])
        #expect(l["paged"] == true)
        let fields = l["entry_fields"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(fields.contains("created_at") && fields.contains("submitted_at") && fields.contains("last_event_seq"))
    }

    /// `budget` (kitchen under a cost.budget lease) needs the runtime to emit
    /// `cost.budget.remaining` after a cost metric, which ARCPRuntime does not do yet.
    @Test("budget: string echo accepted; cost.budget.remaining metric", arguments: Carrier.allCases)
    func budget(_ carrier: Carrier) async throws {
        let l = try await line("budget", over: carrier)
        #expect(l["budget_form"] == "reference" || !l.ok, "with --compat the budget is echoed as a string: \(l.text)")
        withKnownIssue("ARCPRuntime does not emit cost.budget.remaining metrics yet (lease/budget work)", isIntermittent: true) {
            let passed = l.ok
            #expect(passed, "\(l.error)")
        }
    }

    /// The same reference client against `arcp serve` *without* --compat: the spec's forms
    /// break it. This pins down that the reference client, not our runtime, is off-spec.
    @Test("reference client rejects the spec's forms (reference is off-spec)")
    func referenceClientRejectsSpecForms() async throws {
        let run = try await Runs.shared.specForms()
        let cancel = try await run.line("cancel")
        #expect(cancel.ok == false)
        #expect(cancel.error.contains("final_status"), "spec job.error {code: CANCELLED, final_status: cancelled}: \(cancel.error)")
        let list = try await run.line("list_jobs")
        #expect(!list.ok)
        #expect(list.error.contains("submitted_at"), "spec session.jobs entries (created_at): \(list.error)")
        let budget = try await run.line("budget")
        #expect(!budget.ok)
        #expect(budget.error.contains("budget"), "spec budget numbers: \(budget.error)")
        // Everything else works in spec mode as well.
        for scenario in ["echo", "all_event_kinds", "job_error", "versions", "idempotent", "bad_token"] {
            let l = try await run.line(scenario)
            let passed = l.ok
            #expect(passed, "\(scenario) in spec mode: \(l.error)")
        }
    }
}
