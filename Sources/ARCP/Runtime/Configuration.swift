import Foundation
import Logging

extension ARCPRuntime {
    /// How the runtime behaves. Every field has a sensible default.
    public struct Configuration: Sendable {
        /// Bounds on per-session buffers (spec §6.5).
        public struct Buffering: Sendable {
            /// Events kept for resume per session; beyond it the oldest are evicted (reported).
            public var maxBufferedEvents = 100_000
            /// Bytes kept for resume per session.
            public var maxBufferedBytes = 64 << 20
            /// Frames queued for a connection before emitters wait (transport back-pressure).
            public var maxPendingFrames = 512
            /// Bytes queued for a connection before emitters wait (whichever of this and
            /// `maxPendingFrames` comes first).
            public var maxPendingBytes = 8 << 20
            /// A subscriber's outbound queue (spec §7.6: an observer has no authority over the
            /// job, so it never slows it): when a job's event finds the subscribing session's
            /// queue holding this many frames or bytes (or, with `ack`, `maxUnackedEvents`
            /// unacknowledged events), the session is unsubscribed from that job with
            /// `session.error INTERNAL_ERROR` (`details.limit` `subscriber_buffer`). Keep it
            /// above `historyBytesPerJob`, which a subscribe with history queues at once.
            public var maxSubscriberPendingFrames = 4096
            /// The same bound in bytes of encoded frames (16 MiB).
            public var maxSubscriberPendingBytes = 16 << 20
            /// With `ack` negotiated: unacknowledged events before emitters wait.
            public var maxUnackedEvents = 20_000
            /// With `ack` negotiated: lag at which a `status` `back_pressure` event is sent.
            public var backPressureThreshold = 10_000
            /// Called when events are evicted under the caps (session id, count).
            public var onEviction: (@Sendable (String, Int) -> Void)? = nil
            /// The defaults above.
            public init() {}
        }

        /// Wire forms for peers that deviate from the spec.
        public enum Compatibility: Sendable, Equatable {
            /// Send the spec's forms (default).
            case spec
            /// Send the forms the Python reference client (1.1.3) accepts where they differ:
            /// a cancelled job ends with `job.error CANCELLED` and `final_status: "error"`, a
            /// timed-out one with `job.result {final_status: timed_out}`, budgets are echoed as
            /// `"USD:1.00"` strings and `session.jobs` entries carry `submitted_at`.
            case pythonReference
        }

        /// The runtime's name and version, sent in `session.welcome`.
        public var runtime = PeerInfo(name: "swift-arcp", version: ARCPVersion.string)
        /// Features offered in `session.welcome`.
        public var features: [Feature] = [
            .heartbeat, .ack, .listJobs, .subscribe, .leaseExpiresAt, .costBudget, .modelUse, .progress, .resultChunk, .agentVersions,
        ]
        /// How long a session outlives its transport for a resume (`resume_window_sec`, spec §6.3).
        public var resumeWindow: Duration = .seconds(600)
        /// Advertised heartbeat interval; nil disables runtime pings.
        public var heartbeatInterval: Duration? = .seconds(30)
        /// How long a new connection may take to send its hello.
        public var helloTimeout: Duration = .seconds(10)
        /// Connections one principal may hold at once (counted from its `session.hello`). A
        /// hello beyond it is answered, like every limit (spec v1.0 §14), `INTERNAL_ERROR`
        /// (not retryable, `details.limit` `connections_per_principal`) and the connection
        /// closed. A resume is counted but never refused: it takes over a session the
        /// principal already holds. Default 256.
        public var maxConnectionsPerPrincipal = 256
        /// Submitted jobs this process runs at once (placement, docs/CLUSTER.md). Beyond it an
        /// accepted job waits (`pending`) in a queue, first in first out, and starts when a
        /// running job ends; in a cluster (`PostgresCluster`) it waits in the cluster's queue in
        /// PostgreSQL, which any node with a free slot claims. Delegated jobs are not counted
        /// (a parent waits for its children). Nil (the default): no limit, nothing queues.
        public var maxRunningJobs: Int? = nil
        /// Jobs that may wait for a slot (with `maxRunningJobs`); in a cluster, across all
        /// nodes. A submit beyond it is refused with `INTERNAL_ERROR`, retryable,
        /// `details.limit` `queued_jobs`; 0 refuses at once (`running_jobs`). Default 1,000.
        public var maxQueuedJobs = 1000
        /// How long a draining shutdown (`ARCPRuntime.shutdown(drainingFor:)`; `arcp serve` on
        /// SIGTERM or SIGINT, `--drain-timeout-sec`) lets running jobs finish. Meanwhile the
        /// runtime accepts no new connection and refuses `job.submit` with `INTERNAL_ERROR`,
        /// retryable, `details.reason` `shutting_down` (and `details.node`, this runtime's
        /// `nodeID`); delegated jobs of running jobs are still accepted. Jobs still running
        /// when it passes are ended with `job.error` `INTERNAL_ERROR`, retryable,
        /// `details.reason` `drain_timeout`. Zero: running jobs are cancelled at once (what
        /// `shutdown()` does). Default 30 s (`arcp serve` uses it with `--postgres`, and 0
        /// without unless `--drain-timeout-sec` is given).
        public var drainTimeout: Duration = .seconds(30)
        /// This runtime's name in a cluster (`PostgresCluster.configure` sets it to the node
        /// id), given in the errors a client can retry on another node. Nil: none.
        public var nodeID: String? = nil
        /// How long an agent may ignore cancellation before its job is ended anyway.
        public var cancelGracePeriod: Duration = .seconds(30)
        /// Per-session event buffers, subscriber queues and acknowledgement limits.
        public var buffering = Buffering()
        /// Who may subscribe to or list a job besides its submitter (default: its principal only).
        public var observePolicy: ObservePolicy = .samePrincipal
        /// Maximum `limit` for session.list_jobs.
        public var maxListLimit = 1000
        /// The key binding `session.list_jobs` cursors to their principal (HMAC-SHA-256; at
        /// least 16 bytes, else the process key is used). Nil: 32 random bytes drawn once per
        /// process, so a cursor is honoured only by the process that gave it. Runtimes that
        /// serve one listing between them must share one: `PostgresCluster.configure` sets
        /// the cluster's, so a client that resumed on another node goes on with its listing.
        public var listCursorKey: [UInt8]? = nil
        /// Events per job kept for subscribers' history.
        public var historyLimitPerJob = 10_000
        /// Bytes (encoded frames) per job kept for subscribers' history; beyond it the
        /// oldest events are dropped from the history (a subscriber asking for them gets
        /// what is left; the submitter's own resume buffer is not affected).
        public var historyBytesPerJob = 8 << 20
        /// How long finished jobs, their history and idempotency keys are kept (time, count
        /// and bytes), in memory and in the store.
        public var retention = Retention()
        /// Per-principal and per-session resource limits (sessions, running jobs, idle
        /// connections, lease size).
        public var limits = Limits()
        /// Largest result_chunk payload (bytes, before encoding).
        public var chunkSizeCap = 1 << 20
        /// Largest streamed result in total (bytes).
        public var maxStreamedResultBytes = 1 << 30
        /// Which wire forms the runtime sends (default: the spec's).
        public var compatibility: Compatibility = .spec
        /// After a connection's reader ends, how long its last frames may take to be written
        /// before the writer is cancelled (a peer that no longer reads).
        public var closeFlushTimeout: Duration = .seconds(5)
        /// How long `shutdown` waits for the runtime store to take what is queued for it (a
        /// store that cannot be reached would otherwise keep the process from ending); what it
        /// has not taken by then is lost, and the log says how much.
        public var shutdownStoreFlushTimeout: Duration = .seconds(10)
        /// Where sessions, events, jobs, idempotency keys and outstanding credentials are
        /// persisted (nil: memory only). With a durable store (`SQLiteRuntimeStore`), a
        /// runtime restarted on the same store still serves resume and replay, and reports
        /// jobs lost in the restart as `job.error INTERNAL_ERROR`.
        public var store: (any RuntimeStore)? = nil
        /// With a store: whether an event is written to it before it is sent (issue 10 item 9).
        /// Off (the default), the store is written behind the socket, in batches: a crash
        /// (`kill -9`) can lose the last events a client already saw, so a resume after a
        /// restart may not replay them. On, each batch a connection's writer takes waits until
        /// the store holds everything emitted so far: a client never sees an event a restart
        /// could lose; the cost (docs/BENCHMARKS.md, "Durability") is a store round trip per
        /// outbound batch.
        public var persistEventsBeforeSending = false
        /// Store operations queued before emitters wait.
        public var storeQueueLimit = 8192
        /// Where the runtime logs.
        public var logger = Logger(label: "arcp.runtime")

        // MARK: Authority (spec §9–§10)

        /// May reduce each requested lease (never widen it: see `LeasePolicyEnforcement`).
        public var leasePolicy: any LeasePolicy = GrantRequestedLeasePolicy()
        /// Lease enforcement settings: model policy, expiry grace, symlink resolution and
        /// how often `cost.budget.remaining` is emitted.
        public var leaseEnforcement = LeaseAuthority.Configuration()
        /// What a lease without `model.use` means (§9.7); shorthand for
        /// `leaseEnforcement.modelPolicy`.
        public var modelPolicy: LeaseModelPolicy {
            get { leaseEnforcement.modelPolicy }
            set { leaseEnforcement.modelPolicy = newValue }
        }
        /// The clock leases are checked against; inject a `ManualLeaseClock` in tests.
        public var leaseClock: any LeaseClock = SystemLeaseClock()
        /// Runtime-defined lease namespaces accepted besides the reserved ones.
        public var namespaceRegistry: LeaseNamespaceRegistry = .standard
        /// Whether an exhausted budget ends the job (`job.error BUDGET_EXHAUSTED`) instead of
        /// only failing the operation (the `tool_result` form the spec prefers, §9.6).
        public var budgetExhaustionIsFatal = false
        /// Longest sleep of the proactive lease-expiry watchdog between checks of the lease
        /// clock. The watchdog sleeps until the expiry, but at most this long, so a clock that
        /// is not real time (`ManualLeaseClock`) is still noticed.
        public var expiryCheckInterval: Duration = .seconds(60)
        /// Deepest delegation chain (a submitted job is depth 0).
        public var maxDelegationDepth = 8
        /// Issues, rotates and revokes provisioned credentials (§9.8). When nil,
        /// `provisioned_credentials` is never offered. When set, it is offered only if
        /// revocation is durable (a `store` whose `durablyKeepsOutstandingCredentials`
        /// is true, e.g. `SQLiteRuntimeStore`) or `allowsNonDurableCredentialRevocation` is set.
        public var credentialProvisioner: (any CredentialProvisioner)? = nil
        /// Retry policy for credential revocation, and the callback reporting credentials
        /// that could not be revoked.
        public var credentialRevocation = CredentialRevocationPolicy()
        /// Offer `provisioned_credentials` even though revocation is not durable (no runtime
        /// store, or one that loses its outstanding-credential records with the process).
        ///
        /// Spec §14: "A runtime that cannot guarantee revocation MUST NOT advertise
        /// `provisioned_credentials`." Without a durable store, a credential whose revocation
        /// has not succeeded when the process ends (a crash, or an upstream outage longer
        /// than the retries) is forgotten, and stays live at the upstream until it expires.
        /// So by default (`false`) such a runtime does not offer the feature and logs a
        /// warning at start. Set it to `true` only if you accept that risk, for instance
        /// because the upstream expires credentials quickly by itself, or in tests.
        public var allowsNonDurableCredentialRevocation = false
        /// Observes sessions and jobs (spans, metrics): see `RuntimeInstrumentation`, and
        /// `ARCPTracing.TracingInstrumentation` for distributed tracing (spec §11). Nil (the
        /// default) costs nothing.
        public var instrumentation: (any RuntimeInstrumentation)? = nil
        /// The owners of the runtime's shared state (session table, job table, idempotency
        /// index, subscription fan-out). Nil: in this process's memory. The seam a runtime
        /// spanning several processes fills; `package` until that design is public API.
        package var tables: RuntimeTables? = nil

        // MARK: Hardening (issue 10; docs/SECURITY.md)

        /// The longest `max_runtime_sec` a `job.submit` may ask for; longer is
        /// `INVALID_REQUEST`. The schema's ceiling (31 days) is the default and the most.
        public var maxJobRuntime: Duration = .seconds(2_678_400)
        /// After a resume rotates the token, how long the token the client resumed with
        /// stays valid in case the new `session.welcome` was lost: until the client sends
        /// anything on the new connection, or this long at most (clamped to 0…10 s).
        public var resumeTokenGrace: Duration = .seconds(10)
        /// The largest frame this runtime sends (bytes of the encoded envelope), which should
        /// be no more than what its peers accept (`WebSocketServer.Configuration.maxFrameSize`
        /// is the usual figure; `arcp serve --max-frame-bytes` sets both). A job whose
        /// `job.result` (or any of whose events) would exceed it ends with `INTERNAL_ERROR`
        /// instead, and its session lives on: stream large results with `result_chunk`.
        public var maxOutboundFrameBytes = 16 << 20
        /// Offer `provisioned_credentials` on connections whose transport is not confidential
        /// (`Transport.isConfidential`: plain `ws://`, for instance). Off by default: a
        /// credential's value crosses the wire in `job.accepted`, so without TLS anyone on the
        /// path reads it. Set it only behind a TLS-terminating proxy, or in tests.
        public var allowsCredentialsWithoutConfidentialTransport = false

        /// The defaults above.
        public init() {}
    }
}

extension ARCPRuntime.Configuration {
    /// Every configured duration within 0…`PeerNumbers.maxDuration` (2^53 s): a clock instant
    /// plus any of them, or a sleep for it, cannot trap (`Task.sleep(for: .seconds(Int64.max))`
    /// does), whatever an operator or a flag set. The resume-token grace is at most 10 s.
    mutating func clampDurations() {
        func clamp(_ d: Duration) -> Duration { min(max(d, .zero), PeerNumbers.maxDuration) }
        resumeWindow = clamp(resumeWindow)
        heartbeatInterval = heartbeatInterval.map(clamp)
        helloTimeout = clamp(helloTimeout)
        cancelGracePeriod = clamp(cancelGracePeriod)
        drainTimeout = clamp(drainTimeout)
        closeFlushTimeout = clamp(closeFlushTimeout)
        shutdownStoreFlushTimeout = clamp(shutdownStoreFlushTimeout)
        expiryCheckInterval = clamp(expiryCheckInterval)
        maxJobRuntime = clamp(maxJobRuntime)
        resumeTokenGrace = min(clamp(resumeTokenGrace), .seconds(10))
    }
}
