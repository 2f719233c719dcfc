/// What each example does in each direction, and why a failure fails. Keep it and the
/// examples matrix in docs/INTEROP.md in step (`MatrixDocTests` checks them against each other).
enum Matrix {
    /// The reference's example directories.
    static let examples = [
        "ack_backpressure", "agent_versions", "cancel", "cost_budget", "custom_auth", "delegate", "heartbeat", "host_aiohttp",
        "host_asgi", "host_tracing", "idempotent_retry", "lease_expires_at", "lease_violation", "list_jobs", "progress",
        "provisioned_credentials", "result_chunk", "resume", "stdio", "submit_and_stream", "subscribe", "vendor_extensions",
    ]

    /// The examples that mount the runtime in a web application, and the Swift web frameworks
    /// each runs on (`arcp-examples serve NAME --framework F`). Without `--framework`,
    /// host_asgi runs on Hummingbird and host_aiohttp on Vapor (`defaultFramework`). Both
    /// directions that involve our runtime pass on both frameworks.
    static let hostExamples = ["host_aiohttp", "host_asgi"]
    static let frameworks = ["hummingbird", "vapor"]
    static let defaultFramework = ["host_aiohttp": "vapor", "host_asgi": "hummingbird"]
    /// The directions run once per framework: those where our runtime serves.
    static let frameworkDirections: [Direction] = [.referenceClient, .swiftPair]

    /// Examples whose reference client needs `serve --compat python-reference`: it rejects a
    /// spec form our runtime sends (docs/INTEROP.md says which).
    static let compatExamples = ["cancel", "cost_budget", "list_jobs", "provisioned_credentials", "subscribe"]

    /// Who is wrong when a run fails.
    enum Cause: String, Sendable {
        /// The reference's server.py breaks its own client (the reference fails against itself too).
        case referenceServer = "reference server"
        /// The reference's client.py expects something the spec does not allow; we send the spec's form.
        case referenceClientOffSpec = "reference client expects an off-spec form"
        /// Our runtime is wrong (listed in /work/notes/examples-failures.md, to be fixed).
        case swiftRuntime = "Swift runtime"
        /// Our client is wrong (listed in /work/notes/examples-failures.md, to be fixed).
        case swiftClient = "Swift client"
    }

    enum Outcome: Sendable {
        case pass
        /// Fails because of `cause`, as `why` explains; `evidence` appears in the client's output.
        case fail(Cause, why: String, evidence: String)
    }

    struct Key: Hashable, Sendable {
        var example: String
        var direction: Direction
    }

    /// Every run not listed passes.
    static let expected: [Key: Outcome] = [
        // The reference client rejects spec forms (its pydantic models); --compat serves it.
        Key(example: "cancel", direction: .referenceClient): .fail(
            .referenceClientOffSpec,
            why: "rejects the spec's job.error {code: CANCELLED, final_status: \"cancelled\"} (final_status must be \"error\"); its read pump dies and the client hangs",
            evidence: "Input should be 'error'"),
        Key(example: "cost_budget", direction: .referenceClient): .fail(
            .referenceClientOffSpec, why: "rejects job.accepted's budget as a number (the spec's form); wants \"USD:1.00\"",
            evidence: "budget.USD"),
        Key(example: "provisioned_credentials", direction: .referenceClient): .fail(
            .referenceClientOffSpec, why: "rejects job.accepted's budget as a number (the spec's form); wants \"USD:1.00\"",
            evidence: "budget.USD"),
        Key(example: "list_jobs", direction: .referenceClient): .fail(
            .referenceClientOffSpec, why: "rejects session.jobs entries without submitted_at (the spec names created_at)",
            evidence: "submitted_at"),
        Key(example: "subscribe", direction: .referenceClient): .fail(
            .referenceClientOffSpec, why: "rejects session.jobs entries without submitted_at (the spec names created_at)",
            evidence: "submitted_at"),
        Key(example: "delegate", direction: .referenceClient): .fail(
            .referenceClientOffSpec,
            why: "submits the parent with no lease yet expects it to delegate; §9.1 and §10 need an agent.delegate grant, so the delegation is PERMISSION_DENIED",
            evidence: "PermissionDeniedError: the lease grants no agent.delegate"),
        // The reference's server.py breaks its own client.py too.
        Key(example: "cost_budget", direction: .swiftClient): .fail(
            .referenceServer,
            why: "its agent's authorize(\"cost.budget\", \"USD\") fails at once (PERMISSION_DENIED, not BUDGET_EXHAUSTED) and no cost.budget.remaining is sent",
            evidence: "a tool_result carried BUDGET_EXHAUSTED"),
        Key(example: "custom_auth", direction: .swiftClient): .fail(
            .referenceServer, why: "its verifier answers a malformed token with INTERNAL_ERROR (int(\"a\") raises), not UNAUTHENTICATED",
            evidence: "INTERNAL_ERROR: invalid literal for int()"),
        Key(example: "host_asgi", direction: .swiftClient): .fail(
            .referenceServer, why: "its ASGI app mounted as a Starlette WebSocketRoute endpoint gets the wrong arguments: the upgrade is HTTP 500",
            evidence: "HTTP 500"),
        Key(example: "subscribe", direction: .swiftClient): .fail(
            .referenceServer, why: "it drops a non-submitter's job.cancel silently instead of refusing it (PERMISSION_DENIED)",
            evidence: "timed out: no answer to job.cancel"),
    ]

    static func expectation(_ example: String, _ direction: Direction) -> Outcome {
        expected[Key(example: example, direction: direction)] ?? .pass
    }
}
