import ARCP
import ARCPSubprocess
import ARCPWebSocket
import Foundation

/// The runtime under test: how to open a connection to it.
public struct ConformanceTarget: Sendable {
    /// What is tested, for the report (a URL, a command line, a name).
    public var name: String
    /// Whether every connection reaches the same runtime (true for a URL; false for stdio,
    /// where each connection starts its own child process). Scenarios that need several
    /// sessions on one runtime are skipped when false.
    public var sharesRuntime: Bool
    /// Opens a new connection.
    public var connect: @Sendable () async throws -> RawConnection

    /// A target called `name` whose connections `connect` opens; `sharesRuntime` says whether
    /// they all reach one runtime.
    public init(name: String, sharesRuntime: Bool, connect: @escaping @Sendable () async throws -> RawConnection) {
        self.name = name
        self.sharesRuntime = sharesRuntime
        self.connect = connect
    }

    /// A runtime at a `ws://` or `wss://` URL. `maxFrameSize` must exceed the options'
    /// `oversizedFrameBytes` so the kit can send the oversized frame.
    public static func webSocket(
        url: String, headers: [String: String] = [:], maxFrameSize: Int = 64 * 1024 * 1024,
        connectTimeout: Duration = .seconds(10)
    ) -> ConformanceTarget {
        ConformanceTarget(name: url, sharesRuntime: true) {
            let ws = try await WebSocketTransport.connect(
                to: url, headers: headers, maxFrameSize: maxFrameSize, timeout: connectTimeout)
            return RawConnection(transport: ws) {
                ws.peerCloseFrame.map { "WebSocket close \($0.code.map(String.init) ?? "without a code")\($0.reason.isEmpty ? "" : " \"\($0.reason)\"")" }
            }
        }
    }

    /// A runtime started as a child process per connection, spoken to over its stdio
    /// (newline-delimited JSON). `command[0]` is a path or a name looked up in `PATH`.
    public static func stdio(
        command: [String], environment: [String: String] = [:], maxLineLength: Int = 64 * 1024 * 1024
    ) -> ConformanceTarget {
        ConformanceTarget(name: command.joined(separator: " "), sharesRuntime: false) {
            guard let executable = command.first else { throw TransportError.connectFailed("no command") }
            let child = try await ChildProcessTransport.spawn(
                executable: executable, arguments: Array(command.dropFirst()), environment: environment,
                maxLineLength: maxLineLength, gracePeriod: .seconds(2))
            return RawConnection(transport: child)
        }
    }
}

/// How the kit runs.
public struct ConformanceOptions: Sendable {
    /// The bearer token of the primary principal.
    public var token: String
    /// A token of a different principal, for the isolation scenarios (skipped without it).
    public var otherToken: String?
    /// `--only` selectors (sections, ids, id prefixes); empty runs everything.
    public var only: [String]
    /// Scenarios run at the same time. Each uses its own sessions and idempotency keys, so
    /// they do not interfere; lower it for a runtime with a small session cap.
    public var concurrency: Int
    /// How long to wait for an answer to a request.
    public var responseTimeout: Duration
    /// How long to wait for a job of the test agents to end.
    public var jobTimeout: Duration
    /// A scenario's time limit unless it declares its own.
    public var scenarioTimeout: Duration
    /// The longest the heartbeat scenarios may wait; with a longer `heartbeat_interval_sec`
    /// they are skipped (run the runtime with a short interval, e.g. 1–2 s, to check them).
    public var heartbeatBudget: Duration
    /// The size of the frame the oversized-frame scenario sends (more than the runtime's cap).
    public var oversizedFrameBytes: Int

    /// Options with `token` (and `otherToken` for the isolation scenarios); each other parameter
    /// sets the property of the same name (`concurrency` at least 1).
    public init(
        token: String, otherToken: String? = nil, only: [String] = [], concurrency: Int = 8,
        responseTimeout: Duration = .seconds(5), jobTimeout: Duration = .seconds(20),
        scenarioTimeout: Duration = .seconds(60), heartbeatBudget: Duration = .seconds(12),
        oversizedFrameBytes: Int = 17 * 1024 * 1024
    ) {
        self.token = token
        self.otherToken = otherToken
        self.only = only
        self.concurrency = max(1, concurrency)
        self.responseTimeout = responseTimeout
        self.jobTimeout = jobTimeout
        self.scenarioTimeout = scenarioTimeout
        self.heartbeatBudget = heartbeatBudget
        self.oversizedFrameBytes = oversizedFrameBytes
    }
}
