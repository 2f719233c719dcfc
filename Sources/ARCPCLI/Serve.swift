import ARCP
import ARCPDemoAgents
import ARCPJWT
import ARCPMetrics
import ARCPPostgres
import ARCPTracing
import ARCPStore
import ARCPWebSocket
import ArgumentParser
import Foundation
import Logging
import Metrics
import NIOSSL
import Prometheus
import UnixSignals

/// `arcp serve`: a runtime with the demo agents, on WebSocket or on stdio.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an ARCP runtime with the demo agents (WebSocket, or one session on stdio).",
        discussion: """
            Agents: echo, slow, progress, chunked, fails, kitchen, versioned@1.0.0 (default) and \
            versioned@2.0.0, with the same names, inputs and results as the Python reference's \
            test agents, plus flood {"n": N} (N log events, for benchmarks).

            On WebSocket the first line on stdout is `LISTENING ws://HOST:PORT/PATH` once the \
            socket is bound (with --port 0, the port picked). Logs go to stderr. SIGINT or \
            SIGTERM shut down gracefully: new connections and job.submit are refused (the \
            refusal is retryable) while running jobs finish, for at most --drain-timeout-sec \
            (default 30 s with --postgres, where a client resumes on another node meanwhile \
            and its jobs' events follow it there; 0 without: running jobs are cancelled at \
            once); jobs still running then end with a retryable job.error. Then every \
            session gets session.bye and connections are closed.

            With --db the event log is a SQLite database: a client can resume (and replay \
            its missed events) from a runtime restarted on the same file, jobs that did not \
            survive the restart are reported with job.error, and `arcp replay` prints a \
            session's events offline.

            With --postgres the runtime is a node of a cluster sharing one PostgreSQL database \
            (docs/CLUSTER.md): a client resumes its session on any node, an idempotency key \
            names one job across nodes, list_jobs sees every node's jobs, and the jobs of a \
            node that dies are ended with job.error for their clients (those of agents given \
            with --restartable-agent run again, once, on another node). With \
            --max-running-jobs N a node runs at most N submitted jobs; the others wait in \
            the cluster's queue in PostgreSQL and run on any node with a free slot (their \
            events reach the client wherever its session is). An unreachable database at \
            start exits with code 2.

            With --credentials-file the runtime offers provisioned_credentials (§9.8): for each \
            job, every entry of the file that matches its agent and lease gives it an HS256 JWT \
            (unique jti, sub the principal, exp at most the lease's expires_at) that the \
            upstream gateway verifies with the entry's key; when the job ends the jti is \
            appended to the file's revocation_list, which the gateway reads. Keys and tokens \
            are never logged or stored. Offered over wss:// and stdio only, unless \
            --allow-credentials-without-tls; and only with --db or --postgres, unless \
            --allow-non-durable-credential-revocation.

            With --stdio the runtime serves one session over its own stdin/stdout \
            (newline-delimited JSON) and exits when it ends; nothing but frames goes to stdout.

            Examples:
              arcp serve --token tok=me@example.com
              arcp serve --port 0 --token tok=me@example.com \\
                  --token tok2=other@example.com
              arcp serve --host 0.0.0.0 --token s3cret --principal ops@example.com
              arcp serve --stdio --token tok
              arcp serve --compat python-reference --token tok
              arcp serve --tls-cert cert.pem --tls-key key.pem --token tok
              arcp serve --db arcp.sqlite --token tok=me@example.com
              arcp serve --postgres postgres://arcp@db:5432/arcp --node-id a --token tok
              arcp serve --postgres postgres://arcp@db:5432/arcp --max-running-jobs 8 --token tok
              arcp serve --jwks https://auth.example.com/.well-known/jwks.json \\
                  --issuer https://auth.example.com/ --audience arcp
              arcp serve --token tok --metrics-port 9464
              arcp serve --db arcp.sqlite --tls-cert cert.pem --tls-key key.pem \\
                  --credentials-file credentials.json --token tok
            """)

    enum Compat: String, ExpressibleByArgument, CaseIterable {
        case spec
        case pythonReference = "python-reference"
    }

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one; the LISTENING line tells which).")
    var port = 7777

    @Option(help: "The WebSocket path; other paths get HTTP 404.")
    var path = "/arcp"

    @Option(
        name: .customLong("token"),
        help: ArgumentHelp(
            "An accepted bearer token, TOKEN or TOKEN=PRINCIPAL (repeatable; at least one).",
            valueName: "token[=principal]"))
    var tokens: [String] = []

    @Option(help: "The principal for a --token given without =PRINCIPAL.")
    var principal = "cli-user"

    @Flag(help: "Serve one session on stdin/stdout (newline-delimited JSON) instead of WebSocket.")
    var stdio = false

    @Option(help: ArgumentHelp(
        "Wire forms: spec (default), or python-reference: job.error CANCELLED with final_status \"error\" for a cancelled job, budgets as \"USD:1.00\" strings and session.jobs submitted_at, which the Python reference client 1.1.3 needs.",
        valueName: "mode"))
    var compat: Compat = .spec

    @Option(help: "Runtime heartbeat interval in seconds (0 disables runtime pings).")
    var heartbeatSec = 30

    @Option(help: "Resume window in seconds.")
    var resumeWindowSec = 600

    @Option(help: ArgumentHelp(
        "SQLite event log: session events, resume records, jobs and idempotency keys survive a restart (created if missing; `arcp replay` reads it).",
        valueName: "path"))
    var db: String?

    @Flag(
        inversion: .prefixedNo,
        help: "With --db or --postgres, write each event to the database before it is sent (no event a client saw is lost in a crash; costs a database round trip per outbound batch). Default: on with --postgres (no event is acknowledged that the cluster's database did not accept), off with --db.")
    var persistBeforeSend: Bool? = nil

    @Option(help: ArgumentHelp(
        "Run as a node of a cluster on this PostgreSQL database (postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=disable|prefer|require]); the schema is migrated at start.",
        valueName: "url"))
    var postgres: String?

    @Option(help: ArgumentHelp("This node's id in the cluster (default: node- and random hex digits).", valueName: "id"))
    var nodeID: String?

    @Option(help: "Seconds without a heartbeat after which a cluster node is declared lost and its jobs ended.")
    var nodeTimeoutSec = 10

    @Option(help: ArgumentHelp(
        "With --postgres: register demo agent NAME restartable (repeatable): a job of it whose node is lost runs again, once, on another node instead of ending with job.error.",
        valueName: "name"))
    var restartableAgent: [String] = []

    @Flag(help: "Start every demo agent's jobs on the cooperative pool, echo included (echo otherwise starts on the connection's event loop and moves to the pool at its first suspension).")
    var agentsOnPool = false

    @Option(help: "Jobs running on other cluster nodes one session may follow with job.subscribe at once.")
    var maxFollowedJobsPerSession = 256

    @Option(help: "Largest accepted WebSocket message in bytes (bigger ones close with 1009).")
    var maxFrameBytes = WebSocketTransport.defaultMaxFrameSize

    @Option(help: "Largest first WebSocket message in bytes, before the session is established (bigger ones close with 1009).")
    var maxFirstMessageBytes = WebSocketServer.Configuration().maxFirstMessageSize

    @Option(help: "Open WebSocket connections at most; a handshake beyond it gets HTTP 503.")
    var maxConnections = WebSocketServer.Configuration().maxConnections

    @Option(help: "Connections one principal may hold at once; a hello beyond it gets PERMISSION_DENIED (retryable).")
    var maxConnectionsPerPrincipal = ARCPRuntime.Configuration().maxConnectionsPerPrincipal

    @Option(help: "Seconds a new connection may take for its WebSocket handshake (then 408 or a close).")
    var handshakeTimeoutSec: Double = 10

    @Option(help: "Longest request head (request line and headers) of a WebSocket handshake in bytes; a longer one gets HTTP 431.")
    var maxHandshakeBytes = WebSocketServer.Configuration().maxHandshakeBytes

    @Option(help: "Bytes a connection may have accepted for sending and not yet written before its sender waits.")
    var outboundQueueBytes = WebSocketServer.Configuration().outboundByteLimit

    @Option(help: "Pings a peer may send while not reading the pongs before its connection is closed with 1008.")
    var maxUnansweredPings = WebSocketServer.Configuration().maxUnansweredPings

    @Option(help: ArgumentHelp("An allowed Origin header value (repeatable; default: any).", valueName: "origin"))
    var allowedOrigin: [String] = []

    @Option(help: ArgumentHelp("An allowed Host header value (repeatable; default: any).", valueName: "host"))
    var allowedHost: [String] = []

    @Option(help: ArgumentHelp("PEM certificate chain: serve wss:// (with --tls-key).", valueName: "path"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("PEM private key for --tls-cert.", valueName: "path"))
    var tlsKey: String?

    @Option(help: "Longest max_runtime_sec a job.submit may ask for, in seconds (1…2678400; longer is INVALID_REQUEST).")
    var maxRuntimeSec = 2_678_400

    @Option(help: "How long a resume token rotated out by a resume stays valid if the client is not heard from, in seconds (0…10).")
    var resumeTokenGraceSec = 10

    @Flag(help: "Stop (gracefully) when stdin reaches end of file: for a parent process that owns this server.")
    var stopOnEof = false

    @Option(help: "Log level on stderr (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .info

    @OptionGroup(title: "Retention and limits")
    var limits: ServeLimitOptions
    // MARK: JWT bearer tokens (ARCPJWT)

    @Option(help: ArgumentHelp(
        "Accept JWT bearer tokens signed with a key of this JWKS: a file, or an http(s) URL (fetched, cached, refreshed). With --token too, a static token is tried first.",
        valueName: "file|url"))
    var jwks: String?

    @Option(help: ArgumentHelp("With --jwks: an accepted iss claim (repeatable; default: any).", valueName: "issuer"))
    var issuer: [String] = []

    @Option(help: ArgumentHelp("With --jwks: an accepted aud value (repeatable; default: any).", valueName: "audience"))
    var audience: [String] = []

    @Option(help: "With --jwks: the claim naming the principal.")
    var principalClaim = "sub"

    @Option(help: "With --jwks: clock skew tolerated on exp, nbf and iat, in seconds.")
    var jwtLeewaySec = 60

    @Option(help: "With --jwks: refuse tokens issued longer ago than this, in seconds (by iat; default: no limit).")
    var jwtMaxAgeSec: Int?

    @Option(help: "With --jwks: longest accepted token, in bytes.")
    var jwtMaxTokenBytes = JWTBearerVerifier.Configuration().maxTokenBytes

    @Option(help: "With --jwks: largest JWKS document read, in bytes.")
    var jwksMaxBytes = JWTBearerVerifier.Configuration().maxJWKSBytes

    @Option(help: "With --jwks: how long a key set is used before it is loaded again, in seconds (a URL's Cache-Control max-age may shorten it).")
    var jwksRefreshSec = 600

    @Option(help: "With --jwks: least time between two loads of the key set, in seconds (a token naming an unknown kid triggers one).")
    var jwksMinRefreshSec = 30

    // MARK: provisioned credentials (§9.8)

    @Option(help: ArgumentHelp(
        "Offer provisioned_credentials: each job gets short-lived signed tokens for the upstreams this JSON file names, revoked through its deny-list when the job ends (docs/CLI.md). The file must be private to the runtime's user (chmod 600). Needs --db or --postgres (revocation survives a restart) or --allow-non-durable-credential-revocation.",
        valueName: "path"))
    var credentialsFile: String?

    @Flag(help: "With --credentials-file: offer provisioned_credentials on plain ws:// too (behind a TLS-terminating proxy, or on loopback). Without it they are offered only over --tls-cert (wss://) and --stdio.")
    var allowCredentialsWithoutTls = false

    @Flag(help: "With --credentials-file: offer provisioned_credentials without --db or --postgres; a credential not yet revoked when the process dies stays valid at the upstream until its exp.")
    var allowNonDurableCredentialRevocation = false

    // MARK: metrics (ARCPMetrics, Prometheus)

    @Option(help: ArgumentHelp(
        "Serve the runtime's metrics in the Prometheus text format at http://METRICS-HOST:PORT/metrics (0 picks a free port; a METRICS line on stdout tells which).",
        valueName: "port"))
    var metricsPort: Int?

    @Option(help: "Address the metrics endpoint listens on.")
    var metricsHost = "127.0.0.1"

    // MARK: tracing (ARCPTracing)

    @Option(help: ArgumentHelp(
        "Write every finished span (sessions, jobs; W3C trace ids, the job's trace_id) as one JSON line to PATH, or to stderr with -. With --metrics-port both are installed.",
        valueName: "path"))
    var traceSpans: String?

    func validate() throws {
        if let unknown = restartableAgent.first(where: { !DemoAgents.names.contains($0) }) {
            throw ValidationError("--restartable-agent \(unknown): not a demo agent (\(DemoAgents.names.joined(separator: ", ")))")
        }
        if persistBeforeSend == true && db == nil && postgres == nil { throw ValidationError("--persist-before-send needs --db or --postgres") }
        if tokens.isEmpty && jwks == nil { throw ValidationError("give at least one --token TOKEN[=PRINCIPAL], or --jwks") }
        if jwks == nil && !(issuer.isEmpty && audience.isEmpty) { throw ValidationError("--issuer and --audience need --jwks") }
        guard jwtLeewaySec >= 0 else { throw ValidationError("--jwt-leeway-sec must be ≥ 0") }
        if let jwtMaxAgeSec, jwtMaxAgeSec < 1 { throw ValidationError("--jwt-max-age-sec must be ≥ 1") }
        guard jwtMaxTokenBytes >= 64 else { throw ValidationError("--jwt-max-token-bytes must be ≥ 64") }
        guard jwksMaxBytes >= 64 else { throw ValidationError("--jwks-max-bytes must be ≥ 64") }
        guard jwksMinRefreshSec >= 0, jwksRefreshSec >= jwksMinRefreshSec else {
            throw ValidationError("--jwks-refresh-sec must be ≥ --jwks-min-refresh-sec ≥ 0")
        }
        if credentialsFile == nil && (allowCredentialsWithoutTls || allowNonDurableCredentialRevocation) {
            throw ValidationError("--allow-credentials-without-tls and --allow-non-durable-credential-revocation need --credentials-file")
        }
        if let metricsPort, !(0...65535).contains(metricsPort) { throw ValidationError("--metrics-port must be 0…65535") }
        for t in tokens where t.isEmpty || t.hasPrefix("=") { throw ValidationError("--token \(t): the token is empty") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        guard path.hasPrefix("/") else { throw ValidationError("--path must start with /") }
        guard heartbeatSec >= 0 else { throw ValidationError("--heartbeat-sec must be ≥ 0") }
        guard resumeWindowSec >= 0 else { throw ValidationError("--resume-window-sec must be ≥ 0") }
        guard maxFrameBytes >= 1024 else { throw ValidationError("--max-frame-bytes must be ≥ 1024") }
        guard maxFirstMessageBytes >= 1024 else { throw ValidationError("--max-first-message-bytes must be ≥ 1024") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be ≥ 1") }
        guard maxConnectionsPerPrincipal >= 1 else { throw ValidationError("--max-connections-per-principal must be ≥ 1") }
        guard handshakeTimeoutSec > 0, handshakeTimeoutSec <= 86_400 else {
            throw ValidationError("--handshake-timeout-sec must be > 0 and ≤ 86400")
        }
        guard (256...1_048_576).contains(maxHandshakeBytes) else { throw ValidationError("--max-handshake-bytes must be 256…1048576") }
        guard outboundQueueBytes >= 1024 else { throw ValidationError("--outbound-queue-bytes must be ≥ 1024") }
        guard maxUnansweredPings >= 1 else { throw ValidationError("--max-unanswered-pings must be ≥ 1") }
        guard (1...2_678_400).contains(maxRuntimeSec) else { throw ValidationError("--max-runtime-sec must be 1…2678400") }
        guard (0...10).contains(resumeTokenGraceSec) else { throw ValidationError("--resume-token-grace-sec must be 0…10") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if stdio && tlsCert != nil { throw ValidationError("--tls-cert has no meaning with --stdio") }
        if postgres != nil && db != nil { throw ValidationError("--db and --postgres are two different stores: give one") }
        if postgres == nil && nodeID != nil { throw ValidationError("--node-id needs --postgres") }
        guard (1...3600).contains(nodeTimeoutSec) else { throw ValidationError("--node-timeout-sec must be 1…3600") }
        guard maxFollowedJobsPerSession >= 1 else { throw ValidationError("--max-followed-jobs-per-session must be ≥ 1") }
    }

    /// With --postgres: this process's node of the cluster (connected, migrated, joined).
    func joinCluster() async throws -> PostgresCluster? {
        guard let postgres else { return nil }
        var settings = PostgresCluster.Configuration(nodeID: nodeID)
        settings.nodeTimeout = .seconds(nodeTimeoutSec)
        settings.heartbeatInterval = .milliseconds(max(200, nodeTimeoutSec * 1000 / 5))
        settings.maxFollowedJobsPerSession = maxFollowedJobsPerSession
        do {
            return try await PostgresCluster.join(url: postgres, configuration: settings, logger: Logger(label: "arcp.cluster"))
        } catch {
            throw CLIFailure(message: "\(error)")
        }
    }

    /// TOKEN or TOKEN=PRINCIPAL → the verifier's table.
    var tokenTable: [String: String] {
        var table: [String: String] = [:]
        for spec in tokens {
            if let eq = spec.firstIndex(of: "=") {
                let p = String(spec[spec.index(after: eq)...])
                table[String(spec[..<eq])] = p.isEmpty ? principal : p
            } else {
                table[spec] = principal
            }
        }
        return table
    }

    func makeRuntime(
        verifier: any BearerVerifier, instrumentation: (any RuntimeInstrumentation)? = nil, cluster: PostgresCluster? = nil
    ) throws -> ARCPRuntime {
        var cfg = ARCPRuntime.Configuration()
        cfg.instrumentation = instrumentation
        cfg.logger = Logger(label: "arcp.runtime")
        cfg.heartbeatInterval = heartbeatSec > 0 ? .seconds(heartbeatSec) : nil
        cfg.resumeWindow = .seconds(resumeWindowSec)
        cfg.maxConnectionsPerPrincipal = maxConnectionsPerPrincipal
        cfg.compatibility = compat == .pythonReference ? .pythonReference : .spec
        limits.apply(to: &cfg)
        // A cluster node drains (its clients resume on the other nodes meanwhile); one process
        // cancels at once unless told otherwise: its clients have nowhere to go.
        cfg.drainTimeout = limits.drainTimeoutSec.map { .seconds($0) } ?? (postgres == nil ? .zero : cfg.drainTimeout)
        cfg.maxJobRuntime = .seconds(maxRuntimeSec)
        cfg.resumeTokenGrace = .seconds(resumeTokenGraceSec)
        // What the runtime sends is held to what it accepts (a peer is assumed to accept as much).
        cfg.maxOutboundFrameBytes = maxFrameBytes
        if let db {
            do {
                cfg.store = try SQLiteRuntimeStore(path: db)
            } catch {
                throw CLIFailure(message: "cannot open the event log \(db): \(error)")
            }
        }
        cluster?.configure(&cfg)
        if let credentialsFile {
            do {
                cfg.credentialProvisioner = try FileCredentialProvisioner(contentsOf: URL(fileURLWithPath: credentialsFile))
            } catch {
                throw CLIFailure(message: "cannot use --credentials-file \(credentialsFile): \(error)")
            }
            cfg.allowsCredentialsWithoutConfidentialTransport = allowCredentialsWithoutTls
            cfg.allowsNonDurableCredentialRevocation = allowNonDurableCredentialRevocation
            if !stdio && tlsCert == nil && !allowCredentialsWithoutTls {
                cfg.logger.warning(
                    "provisioned_credentials is offered only over a confidential transport: give --tls-cert, or --allow-credentials-without-tls behind a TLS-terminating proxy")
            }
        }
        cfg.persistEventsBeforeSending = persistBeforeSend ?? (postgres != nil)
        let runtime = ARCPRuntime(configuration: cfg, verifier: verifier)
        try DemoAgents.register(on: runtime, restartable: Set(restartableAgent), immediate: agentsOnPool ? [] : DemoAgents.startingImmediately)
        return runtime
    }

    func run() async throws {
        bootstrapLogging(logLevel)
        do {
            let cluster = try await joinCluster()
            let metrics = try await startMetrics()
            var instrumentations: [any RuntimeInstrumentation] = []
            if let traceSpans {
                let tracer = SpanLogTracer(sink: try SpanLogSink.open(traceSpans))
                instrumentations.append(TracingInstrumentation(tracer: tracer))
            }
            if let metrics { instrumentations.append(metrics.instrumentation) }
            let instrumentation: (any RuntimeInstrumentation)? =
                instrumentations.count > 1 ? MultiplexInstrumentation(instrumentations) : instrumentations.first
            let runtime = try makeRuntime(verifier: try await makeVerifier(), instrumentation: instrumentation, cluster: cluster)
            cluster?.attach(runtime)
            if stdio {
                try await serveStdio(runtime)
            } else {
                try await serveWebSocket(runtime, metrics: metrics?.endpoint)
            }
            await metrics?.endpoint.stop()
            await cluster?.leave()
        } catch let e as ExitCode {
            throw e
        } catch {
            throw report("serve", error)
        }
    }

    // MARK: WebSocket

    func serveWebSocket(_ runtime: ARCPRuntime, metrics: MetricsEndpoint? = nil) async throws {
        let logger = Logger(label: "arcp.serve")
        var wsConfig = WebSocketServer.Configuration(host: host, port: port, path: path, maxFrameSize: maxFrameBytes)
        wsConfig.maxFirstMessageSize = maxFirstMessageBytes
        wsConfig.maxConnections = maxConnections
        wsConfig.handshakeTimeout = .milliseconds(Int64((handshakeTimeoutSec * 1000).rounded()))
        wsConfig.maxHandshakeBytes = maxHandshakeBytes
        wsConfig.outboundByteLimit = outboundQueueBytes
        wsConfig.maxUnansweredPings = maxUnansweredPings
        if !allowedOrigin.isEmpty { wsConfig.allowedOrigins = Set(allowedOrigin) }
        if !allowedHost.isEmpty { wsConfig.allowedHosts = Set(allowedHost) }
        if let tlsCert, let tlsKey {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(tlsCert).map { NIOSSLCertificateSource.certificate($0) }
                let key = try NIOSSLPrivateKey(file: tlsKey, format: .pem)
                wsConfig.tlsConfiguration = .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            } catch {
                throw CLIFailure(message: "cannot load --tls-cert/--tls-key: \(error)")
            }
        }
        let server = WebSocketServer(
            configuration: wsConfig, logger: Logger(label: "arcp.websocket"),
            onShutdown: { await runtime.shutdown(drainingFor: runtime.configuration.drainTimeout) },
            handler: { [tls = tlsCert != nil] transport in await runtime.accept(transport, isConfidential: tls) })
        do {
            try await server.start()
        } catch {
            throw CLIFailure(message: describe(error).0)
        }
        let scheme = tlsCert == nil ? "ws" : "wss"
        let shownHost = host.contains(":") ? "[\(host)]" : host
        writeStdout("LISTENING \(scheme)://\(shownHost):\(server.port ?? port)\(path)\n")
        if let metrics { writeStdout("METRICS \(metrics.url)\n") }
        logger.info("serving agents \(DemoAgents.names.joined(separator: ", ")) on \(scheme)://\(shownHost):\(server.port ?? port)\(path)")
        let why = await waitForStop()
        logger.info("shutting down (\(why))")
        await server.stop()
        logger.info("stopped")
    }

    // MARK: bearer tokens, metrics

    /// The static --token table, the --jwks verifier, or both (a static token first).
    func makeVerifier() async throws -> any BearerVerifier {
        let table = StaticBearerVerifier(tokenTable)
        guard let jwks else { return table }
        var c = JWTBearerVerifier.Configuration()
        c.issuers = Set(issuer)
        c.audiences = Set(audience)
        c.principalClaim = principalClaim
        c.leeway = .seconds(jwtLeewaySec)
        c.maxTokenAge = jwtMaxAgeSec.map { .seconds($0) }
        c.maxTokenBytes = jwtMaxTokenBytes
        c.maxJWKSBytes = jwksMaxBytes
        c.refreshInterval = .seconds(jwksRefreshSec)
        c.minimumRefreshInterval = .seconds(jwksMinRefreshSec)
        c.logger = Logger(label: "arcp.jwt")
        let jwt = JWTBearerVerifier(jwks: JWKSSource(parsing: jwks), configuration: c)
        do {
            try await jwt.loadKeys()
        } catch {
            throw CLIFailure(message: "cannot load --jwks \(jwks): \(error)")
        }
        return tokens.isEmpty ? jwt : EitherBearerVerifier(first: table, then: jwt)
    }

    /// With --metrics-port: the runtime's metrics, exposed in the Prometheus text format.
    func startMetrics() async throws -> (instrumentation: MetricsInstrumentation, endpoint: MetricsEndpoint)? {
        guard let metricsPort else { return nil }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["arcp_job_duration_seconds"] = [
            .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(900), .seconds(3600),
        ]
        factory.valueHistogramBuckets["arcp_outbound_queue_depth_frames"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        // The process's own swift-metrics users report here too.
        MetricsSystem.bootstrap(factory)
        let endpoint: MetricsEndpoint
        do {
            endpoint = try await MetricsEndpoint.start(host: metricsHost, port: metricsPort) { registry.emitToBuffer() }
        } catch {
            throw CLIFailure(message: "cannot listen on --metrics-host \(metricsHost) --metrics-port \(metricsPort): \(error)")
        }
        Logger(label: "arcp.serve").info("metrics at \(endpoint.url)")
        return (MetricsInstrumentation(factory: factory), endpoint)
    }

    // MARK: stdio

    func serveStdio(_ runtime: ARCPRuntime) async throws {
        let logger = Logger(label: "arcp.serve")
        let transport = StdioTransport.standardIO()
        logger.info("serving one session on stdio")
        let session = Task { await runtime.accept(transport) }
        let why = await firstOf([
            { await session.value; return "session ended" },
            { await Self.signal() },
        ])
        logger.info("shutting down (\(why))")
        // The one session ended: nobody is left to receive its jobs' events, so none is waited for.
        let drain = why == "session ended" ? Duration.zero : runtime.configuration.drainTimeout
        await runtime.shutdown(drainingFor: drain)
        await transport.close()
    }

    // MARK: stopping

    /// Waits for SIGINT/SIGTERM (or stdin EOF with --stop-on-eof); returns why.
    func waitForStop() async -> String {
        var waits: [@Sendable () async -> String] = [{ await Self.signal() }]
        if stopOnEof {
            waits.append {
                await waitForStdinEOF()
                return "end of stdin"
            }
        }
        return await firstOf(waits)
    }

    static func signal() async -> String {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        for await s in signals { return "\(s)" }
        return "cancelled"
    }
}

/// Tries `first`, then `then`: static tokens beside JWTs.
struct EitherBearerVerifier: BearerVerifier {
    let first: any BearerVerifier
    let then: any BearerVerifier
    var mayBlock: Bool { first.mayBlock || then.mayBlock }
    func principal(for token: String) async -> String? {
        if let p = await first.principal(for: token) { return p }
        return await then.principal(for: token)
    }
}

/// Runs every body in its own task and returns the first answer; the others are cancelled
/// (and not waited for).
func firstOf(_ bodies: [@Sendable () async -> String]) async -> String {
    let (stream, continuation) = AsyncStream.makeStream(of: String.self)
    let tasks = bodies.map { body in Task { continuation.yield(await body()) } }
    var iterator = stream.makeAsyncIterator()
    let first = await iterator.next() ?? "stop"
    for t in tasks { t.cancel() }
    continuation.finish()
    return first
}

/// Returns when standard input reaches end of file (read on a dedicated thread).
func waitForStdinEOF() async {
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                if n == 0 { break }
                if n < 0 && errno != EINTR { break }
            }
            done.resume()
        }
        thread.start()
    }
}
