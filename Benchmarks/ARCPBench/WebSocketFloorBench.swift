import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// `arcp-bench ws-floor`: the floor under `arcp-bench ws`. The same exchanges with the same
/// frame sizes, between two processes over loopback WebSocket, but raw swift-nio at both ends and
/// no ARCP: no JSON, no session, no job, no task hop. Client and server each handle a frame on
/// the event loop that read it and answer from there, so what is left is the kernel, the
/// WebSocket codec and NIO. `arcp-bench ws` figures divided by these are the overhead of
/// everything swift-arcp adds.
///
/// - latency: one connection; a request the size of an echo job's `job.submit`, answered by
///   frames the sizes of the runtime's replies; the next request leaves when the last reply
///   arrived (100 warm-up round trips, then `--jobs`);
/// - stream: one connection; a request the size of a flood `job.submit`, answered by N frames
///   the size of a `log` event and the job's closing frames (after a 200-frame warm-up);
/// - concurrent: C connections, each running J sequential round trips at the same time;
/// - sessions: S connections upgrade at once, then one round trip each, then S closes; the
///   server's peak RSS.
///
/// Frame sizes come from `arcp-bench ws --json` (`frame_sizes`, recorded from real sessions)
/// with `--sizes-from`, or from the flags.
enum WebSocketFloorBench: BenchCommand {
    static let name = "ws-floor"
    static let summary = "the floor: raw swift-nio WebSocket between two processes, same exchanges and frame sizes as `ws`"

    static let help = """
        usage: arcp-bench ws-floor [--sizes-from WS_JSON] [--reps N] [--conc-reps N] [--n N] [--jobs N]
                                   [--echo-sessions C] [--echo-jobs J] [--sessions S] [--json OUT]

          --sizes-from F  read the frame sizes from `arcp-bench ws --json F` (frame_sizes)
          --echo-request B, --echo-replies B[,B…], --flood-request B, --event B, --stream-tail B[,B…]
                          the frame sizes by hand (bytes)
          --reps N        repetitions of stream, latency and concurrent, a fresh server each (default 3)
          --conc-reps N   repetitions of the sessions measurement (default 2)
          --n N           frames in the stream (default 20000)
          --jobs N        sequential round trips in the latency loop (default 2000)
          --echo-sessions C, --echo-jobs J  connections and round trips each (default 50, 200)
          --sessions S    connections of the sessions measurement (default 1000)
          --json OUT      also write every number and the raw samples to OUT
        """

    static func run(arguments: [String]) async throws {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(help)
            return
        }
        let a = try BenchArguments(
            arguments,
            valueFlags: [
                "--sizes-from", "--echo-request", "--echo-replies", "--flood-request", "--event", "--stream-tail",
                "--reps", "--conc-reps", "--n", "--jobs", "--echo-sessions", "--echo-jobs", "--sessions", "--json",
            ],
            switchFlags: [])
        var given = FrameSizes(echoRequest: 220, echoReplies: [300, 380], floodRequest: 200, event: 230, streamTail: [380])
        if let path = a.string("--sizes-from") {
            let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
            given = try FrameSizes(json: (doc as? [String: Any])?["frame_sizes"])
        }
        given.echoRequest = try a.int("--echo-request", default: given.echoRequest)
        if let r = a.string("--echo-replies") { given.echoReplies = try WebSocketFloorServer.sizes(r, flag: "--echo-replies") }
        given.floodRequest = try a.int("--flood-request", default: given.floodRequest)
        given.event = try a.int("--event", default: given.event)
        if let t = a.string("--stream-tail") { given.streamTail = try WebSocketFloorServer.sizes(t, flag: "--stream-tail") }
        let sizes = given
        let reps = try a.int("--reps", default: 3)
        let concReps = try a.int("--conc-reps", default: 2)
        let n = try a.int("--n", default: 20_000)
        let jobs = try a.int("--jobs", default: 2_000)
        let echoSessions = try a.int("--echo-sessions", default: 50)
        let echoJobs = try a.int("--echo-jobs", default: 200)
        let sessions = try a.int("--sessions", default: 1000)
        _ = WebSocketBench.raiseNoFileLimit()
        let me = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments.first ?? "arcp-bench")
        let server = RuntimeCommand.floorServer(me, [
            "--echo-replies", sizes.echoReplies.map(String.init).joined(separator: ","),
            "--event", String(sizes.event),
            "--stream-tail", sizes.streamTail.map(String.init).joined(separator: ","),
        ])
        let logDir = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-wsfloor-\(getpid())")
        try FileManager.default.createDirectory(at: logDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: logDir) }
        let requests = FloorRequests(sizes: sizes)

        var results: [String: Any] = [:]
        var samples: [String: Any] = [:]
        func add(_ key: String, _ values: [Double], unit: String, what: String) {
            var d = Summary(values).json
            d["n"] = values.count
            d["unit"] = unit
            d["what"] = what
            results[key] = d
        }
        let t0 = ContinuousClock.now

        var stream: [[String: Double]] = []
        for r in 0..<reps {
            let s = try await WebSocketBench.withRuntime(server, logDir: logDir, tag: "floor_stream_\(r)") { url, pid in
                let connection = try await FloorConnection.connect(url)
                _ = try await connection.stream(requests.stream(200), frames: 200 + sizes.streamTail.count)
                let s0 = Proc.cpuSeconds(pid: pid) ?? 0, c0 = Proc.selfCPUSeconds()
                let seconds = try await connection.stream(requests.stream(n), frames: n + sizes.streamTail.count)
                let s1 = Proc.cpuSeconds(pid: pid) ?? 0, c1 = Proc.selfCPUSeconds()
                await connection.close()
                return ["events_per_s": Double(n) / seconds, "seconds": seconds, "server_cpu_s": s1 - s0, "client_cpu_s": c1 - c0]
            }
            WebSocketBench.progress("floor stream rep \(r + 1)/\(reps): \(Format.grouped(s["events_per_s"] ?? 0)) frames/s")
            stream.append(s)
        }
        add("floor_stream_events_per_s", stream.compactMap { $0["events_per_s"] }, unit: "frames/s",
            what: "\(n) frames of \(sizes.event) B after a \(sizes.floodRequest) B request, raw swift-nio at both ends")
        add("floor_stream_server_cpu_us_per_event", stream.compactMap { $0["server_cpu_s"].map { $0 * 1e6 / Double(n) } }, unit: "µs/frame", what: "server CPU / frames")
        add("floor_stream_client_cpu_us_per_event", stream.compactMap { $0["client_cpu_s"].map { $0 * 1e6 / Double(n) } }, unit: "µs/frame", what: "client CPU / frames")
        samples["stream"] = stream

        var latency: [[String: Double]] = []
        for r in 0..<reps {
            let s = try await WebSocketBench.withRuntime(server, logDir: logDir, tag: "floor_latency_\(r)") { url, pid in
                let connection = try await FloorConnection.connect(url)
                _ = try await connection.roundTrips(requests.echo, replies: sizes.echoReplies.count, count: 100)
                let s0 = Proc.cpuSeconds(pid: pid) ?? 0, c0 = Proc.selfCPUSeconds()
                let start = ContinuousClock.now
                let lat = try await connection.roundTrips(requests.echo, replies: sizes.echoReplies.count, count: jobs).sorted()
                let seconds = (ContinuousClock.now - start).seconds
                let s1 = Proc.cpuSeconds(pid: pid) ?? 0, c1 = Proc.selfCPUSeconds()
                await connection.close()
                return [
                    "p50_us": WebSocketBench.percentile(lat, 50), "p99_us": WebSocketBench.percentile(lat, 99),
                    "round_trips_per_s": Double(jobs) / seconds, "server_cpu_s": s1 - s0, "client_cpu_s": c1 - c0,
                ]
            }
            WebSocketBench.progress("floor latency rep \(r + 1)/\(reps): p50 \(Int(s["p50_us"] ?? 0)) µs, p99 \(Int(s["p99_us"] ?? 0)) µs")
            latency.append(s)
        }
        let latencyWhat = "\(jobs) sequential round trips on one connection: \(sizes.echoRequest) B out, \(sizes.echoReplies.map(String.init).joined(separator: " + ")) B back"
        add("floor_latency_p50_us", latency.compactMap { $0["p50_us"] }, unit: "µs", what: latencyWhat)
        add("floor_latency_p99_us", latency.compactMap { $0["p99_us"] }, unit: "µs", what: latencyWhat)
        add("floor_latency_round_trips_per_s", latency.compactMap { $0["round_trips_per_s"] }, unit: "round trips/s", what: latencyWhat)
        add("floor_latency_server_cpu_us_per_round_trip", latency.compactMap { $0["server_cpu_s"].map { $0 * 1e6 / Double(jobs) } }, unit: "µs", what: "server CPU / round trips")
        add("floor_latency_client_cpu_us_per_round_trip", latency.compactMap { $0["client_cpu_s"].map { $0 * 1e6 / Double(jobs) } }, unit: "µs", what: "client CPU / round trips")
        samples["latency"] = latency

        var concurrent: [[String: Double]] = []
        for r in 0..<reps {
            let s = try await WebSocketBench.withRuntime(server, logDir: logDir, tag: "floor_concurrent_\(r)") { url, _ in
                var connections: [FloorConnection] = []
                for _ in 0..<echoSessions { connections.append(try await FloorConnection.connect(url)) }
                for c in connections { _ = try await c.roundTrips(requests.echo, replies: sizes.echoReplies.count, count: 10) }
                let start = ContinuousClock.now
                let all = try await withThrowingTaskGroup(of: [Double].self) { group in
                    for c in connections {
                        group.addTask { try await c.roundTrips(requests.echo, replies: sizes.echoReplies.count, count: echoJobs) }
                    }
                    var out: [Double] = []
                    for try await lat in group { out += lat }
                    return out.sorted()
                }
                let seconds = (ContinuousClock.now - start).seconds
                for c in connections { await c.close() }
                return [
                    "round_trips_per_s": Double(all.count) / seconds,
                    "p50_us": WebSocketBench.percentile(all, 50), "p99_us": WebSocketBench.percentile(all, 99),
                ]
            }
            WebSocketBench.progress("floor concurrent rep \(r + 1)/\(reps): \(Format.grouped(s["round_trips_per_s"] ?? 0)) round trips/s")
            concurrent.append(s)
        }
        add("floor_concurrent_round_trips_per_s", concurrent.compactMap { $0["round_trips_per_s"] }, unit: "round trips/s",
            what: "\(echoSessions) connections x \(echoJobs) sequential round trips, all at once")
        add("floor_concurrent_p50_us", concurrent.compactMap { $0["p50_us"] }, unit: "µs", what: "per round trip")
        add("floor_concurrent_p99_us", concurrent.compactMap { $0["p99_us"] }, unit: "µs", what: "per round trip")
        samples["concurrent"] = concurrent

        var sessionSamples: [[String: Double]] = []
        for r in 0..<concReps {
            let s = try await WebSocketBench.withRuntime(server, logDir: logDir, tag: "floor_sessions_\(r)") { url, pid in
                let warm = try await FloorConnection.connect(url)
                _ = try await warm.roundTrips(requests.echo, replies: sizes.echoReplies.count, count: 1)
                await warm.close()
                let hwmBefore = Proc.statusKB(pid: pid, "VmHWM")
                let start = ContinuousClock.now
                let s0 = Proc.cpuSeconds(pid: pid) ?? 0, c0 = Proc.selfCPUSeconds()
                let connections = try await withThrowingTaskGroup(of: FloorConnection.self) { group in
                    for _ in 0..<sessions { group.addTask { try await FloorConnection.connect(url) } }
                    var out: [FloorConnection] = []
                    for try await c in group { out.append(c) }
                    return out
                }
                let connected = ContinuousClock.now
                let cpu1 = Proc.bothCPUSeconds(pid: pid)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for c in connections {
                        group.addTask { _ = try await c.roundTrips(requests.echo, replies: sizes.echoReplies.count, count: 1) }
                    }
                    try await group.waitForAll()
                }
                let exchanged = ContinuousClock.now
                let cpu2 = Proc.bothCPUSeconds(pid: pid)
                await withDiscardingTaskGroup { group in
                    for c in connections { group.addTask { await c.close() } }
                }
                let end = ContinuousClock.now
                let s1 = Proc.cpuSeconds(pid: pid) ?? 0, c1 = Proc.selfCPUSeconds()
                let perSession = 1e6 / Double(sessions)
                return [
                    "total_s": (end - start).seconds, "connect_s": (connected - start).seconds,
                    "jobs_s": (exchanged - connected).seconds, "close_s": (end - exchanged).seconds,
                    "server_cpu_us_per_session": (s1 - s0) * perSession, "client_cpu_us_per_session": (c1 - c0) * perSession,
                    "connect_cpu_us_per_session": (cpu1 - s0 - c0) * perSession, "jobs_cpu_us_per_session": (cpu2 - cpu1) * perSession,
                    "close_cpu_us_per_session": (s1 + c1 - cpu2) * perSession,
                    "server_vmhwm_mib": Double(Proc.statusKB(pid: pid, "VmHWM") ?? 0) / 1024,
                    "server_vmhwm_before_mib": Double(hwmBefore ?? 0) / 1024,
                ]
            }
            WebSocketBench.progress("floor sessions rep \(r + 1)/\(concReps): total \(String(format: "%.3f", s["total_s"] ?? 0)) s, server VmHWM \(String(format: "%.1f", s["server_vmhwm_mib"] ?? 0)) MiB")
            sessionSamples.append(s)
        }
        let sessionsWhat = "\(sessions) connections (upgrade) at once, one round trip each, then \(sessions) close handshakes"
        for key in ["total_s", "connect_s", "jobs_s", "close_s"] {
            add("floor_concurrency_\(sessions)_\(key)", sessionSamples.compactMap { $0[key] }, unit: "s", what: sessionsWhat)
        }
        for key in ["server_cpu_us_per_session", "client_cpu_us_per_session", "connect_cpu_us_per_session", "jobs_cpu_us_per_session", "close_cpu_us_per_session"] {
            add("floor_concurrency_\(sessions)_\(key)", sessionSamples.compactMap { $0[key] }, unit: "µs/session",
                what: sessionsWhat + (key.hasPrefix("server") || key.hasPrefix("client") ? "; CPU over the three phases / connections" : "; server + client CPU in that phase / connections"))
        }
        add("floor_concurrency_\(sessions)_server_peak_rss_mib", sessionSamples.compactMap { $0["server_vmhwm_mib"] }, unit: "MiB", what: sessionsWhat + "; server VmHWM")
        add("floor_concurrency_\(sessions)_server_idle_rss_mib", sessionSamples.compactMap { $0["server_vmhwm_before_mib"] }, unit: "MiB", what: "server VmHWM after one warm-up connection")
        samples["concurrency"] = sessionSamples

        let elapsed = (ContinuousClock.now - t0).seconds
        print("Floor: raw swift-nio WebSocket at both ends, two processes, loopback (\(Machine.build) build); \(String(format: "%.0f", elapsed)) s")
        for key in results.keys.sorted() {
            if let d = results[key] as? [String: Any], let m = d["median"] as? Double {
                print("  \(key): \(String(format: "%.3f", m)) \(d["unit"] ?? "")")
            }
        }
        if let out = a.string("--json") {
            let doc: [String: Any] = [
                "what": "the floor under arcp-bench ws: raw swift-nio WebSocket client and server processes over loopback, same exchanges and frame sizes, no ARCP",
                "command": CommandLine.arguments.joined(separator: " "),
                "when": ISO8601DateFormatter().string(from: Date()),
                "elapsed_s": elapsed,
                "frame_sizes": sizes.json,
                "params": ["reps": reps, "concurrency_reps": concReps, "n": n, "jobs": jobs,
                           "echo_sessions": echoSessions, "echo_jobs_per_session": echoJobs, "sessions": sessions],
                "machine": Machine.description,
                "results": results,
                "samples": samples,
            ]
            try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
                .write(to: URL(fileURLWithPath: out))
            WebSocketBench.progress("wrote \(out)")
        }
    }
}

/// The request frames of the floor, prepared once: sizes as the ARCP frames they stand for.
struct FloorRequests: Sendable {
    let echo: ByteBuffer
    let floodRequestSize: Int

    init(sizes: FrameSizes) {
        echo = FloorScript.payload(sizes.echoRequest, "E")
        floodRequestSize = sizes.floodRequest
    }

    /// `S<n>` padded to a flood `job.submit`'s size.
    func stream(_ n: Int) -> ByteBuffer {
        let head = "S\(n)-"
        return ByteBuffer(string: head + String(repeating: "x", count: max(0, floodRequestSize - head.utf8.count)))
    }
}

/// One raw client connection of the floor. Each exchange runs on the channel's event loop
/// from the first request to the last reply; only its outcome crosses to the calling task.
struct FloorConnection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<FloorClientHandler>

    static func connect(_ url: String) async throws -> FloorConnection {
        guard let target = URLComponents(string: url), let host = target.host, let port = target.port else {
            throw BenchError("bad floor URL \(url)")
        }
        let upgraded: EventLoopFuture<FloorConnection?> = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketClientUpgrader<FloorConnection?>(
                        maxFrameSize: 1 << 24,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                let handler = FloorClientHandler()
                                try channel.pipeline.syncOperations.addHandler(handler)
                                return FloorConnection(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
                            }
                        })
                    let head = HTTPRequestHead(
                        version: .http1_1, method: .GET, uri: "/", headers: ["Host": "\(host):\(port)"])
                    var configuration = NIOUpgradableHTTPClientPipelineConfiguration(
                        upgradeConfiguration: .init(
                            upgradeRequestHead: head, upgraders: [upgrader],
                            notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture(nil) }))
                    configuration.leftOverBytesStrategy = .forwardBytes
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: configuration)
                }
            }
        guard let connection = try await upgraded.get() else { throw BenchError("the floor server refused the upgrade") }
        return connection
    }

    /// `count` sequential round trips; each one's time in µs.
    func roundTrips(_ request: ByteBuffer, replies: Int, count: Int) async throws -> [Double] {
        let handler = self.handler
        return try await channel.eventLoop.flatSubmit {
            handler.value.roundTrips(request, replies: replies, count: count)
        }.get()
    }

    /// Sends `request` and waits for `frames` frames; the seconds from sending to the last.
    func stream(_ request: ByteBuffer, frames: Int) async throws -> Double {
        let handler = self.handler
        return try await channel.eventLoop.flatSubmit {
            handler.value.stream(request, frames: frames)
        }.get()
    }

    /// Close handshake; returns once the socket is closed.
    func close() async {
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: ByteBuffer(bytes: [0x03, 0xE8]))
        channel.writeAndFlush(frame, promise: nil)
        try? await channel.closeFuture.get()
    }
}

/// The client end of a floor connection: sends the next request from the event loop as soon as
/// the last reply of the previous one arrived.
final class FloorClientHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private enum Exchange {
        case idle
        case roundTrips(done: EventLoopPromise<[Double]>)
        case stream(done: EventLoopPromise<Double>)
    }

    private var exchange = Exchange.idle
    private var context: ChannelHandlerContext?
    // The running exchange's counters (kept out of the enum so that appending a time does not
    // copy the array).
    private var request = ByteBuffer()
    private var expected = 0
    private var seen = 0
    private var left = 0
    private var started = NIODeadline.now()
    private var times: [Double] = []

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func roundTrips(_ request: ByteBuffer, replies: Int, count: Int) -> EventLoopFuture<[Double]> {
        guard let context else { return failed() }
        let done = context.eventLoop.makePromise(of: [Double].self)
        self.request = request
        expected = replies
        seen = 0
        left = count - 1
        times = []
        times.reserveCapacity(count)
        exchange = .roundTrips(done: done)
        started = .now()
        send(context, request)
        return done.futureResult
    }

    func stream(_ request: ByteBuffer, frames: Int) -> EventLoopFuture<Double> {
        guard let context else { return failed() }
        let done = context.eventLoop.makePromise(of: Double.self)
        expected = frames
        seen = 0
        exchange = .stream(done: done)
        started = .now()
        send(context, request)
        return done.futureResult
    }

    private func failed<T>() -> EventLoopFuture<T> {
        MultiThreadedEventLoopGroup.singleton.next().makeFailedFuture(BenchError("floor connection closed"))
    }

    private func send(_ context: ChannelHandlerContext, _ payload: ByteBuffer) {
        let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: payload)
        context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        guard frame.opcode == .text else { return }
        seen += 1
        guard seen == expected else { return }
        let now = NIODeadline.now()
        switch exchange {
        case .idle:
            break
        case .roundTrips(let done):
            times.append(Double((now - started).nanoseconds) / 1000)
            if left == 0 {
                exchange = .idle
                let result = times
                times = []
                done.succeed(result)
            } else {
                left -= 1
                seen = 0
                started = now
                send(context, request)
            }
        case .stream(let done):
            exchange = .idle
            done.succeed(Double((now - started).nanoseconds) / 1e9)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch exchange {
        case .idle: break
        case .roundTrips(let done): done.fail(BenchError("floor connection closed"))
        case .stream(let done): done.fail(BenchError("floor connection closed"))
        }
        exchange = .idle
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension FloorClientHandler: Sendable {}
