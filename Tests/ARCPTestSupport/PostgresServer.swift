import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway PostgreSQL server for tests: `initdb` into a temporary folder, a free port on
/// 127.0.0.1, trust authentication for user `postgres`, stopped (`pg_ctl -m immediate`) when
/// the test process exits, or, should the process die without running its exit handlers, by
/// a watchdog that notices the test process is gone.
///
/// PostgreSQL refuses to run as root: as root the server runs as the `postgres` user
/// (`runuser`), otherwise as the current user. The binaries are those of Debian's
/// `postgresql` package (`pg_config --bindir`, else `/usr/lib/postgresql/*/bin`), which
/// `Scripts/install-system-deps.sh` installs.
///
/// One server per test process (started on first use); each test makes its own database
/// (`makeDatabase`), so tests stay independent and may run in parallel.
public enum PostgresServer {
    /// Where the server binaries are, or nil when PostgreSQL is not installed.
    public static let binDirectory: String? = {
        var candidates: [String] = []
        let (status, _, out) = spawnAndWait("/usr/bin/env", ["pg_config", "--bindir"])
        if status == 0 { candidates.append(out.trimmingCharacters(in: .whitespacesAndNewlines)) }
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            for v in versions.sorted(by: >) { candidates.append("/usr/lib/postgresql/\(v)/bin") }
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }()

    /// Whether the server binaries are installed (tests that need them are skipped otherwise,
    /// with that reason).
    public static var isInstalled: Bool { binDirectory != nil }

    /// A running server.
    public struct Instance: Sendable {
        public let host: String
        public let port: Int
        public let user: String
        public let dataDirectory: String

        /// `postgres://postgres@127.0.0.1:PORT/DATABASE`.
        public func url(database: String) -> String { "postgres://\(user)@\(host):\(port)/\(database)" }
    }

    /// The shared server, started on first use.
    public static func shared() async throws -> Instance {
        try await starter.instance()
    }

    /// Creates an empty database on the shared server and returns its URL.
    public static func makeDatabase(prefix: String = "arcp") async throws -> String {
        let server = try await shared()
        let name = "\(prefix)_\(UInt64.random(in: 0...UInt64.max) & 0xffff_ffff_ffff)".lowercased()
        let (status, _, err) = try await runOffPool(
            binDirectory! + "/createdb", ["-h", server.host, "-p", String(server.port), "-U", server.user, name])
        guard status == 0 else { throw PostgresServerError("createdb \(name) failed: \(err)") }
        return server.url(database: name)
    }

    private static let starter = Starter()

    private actor Starter {
        var started: Task<Instance, any Error>?

        func instance() async throws -> Instance {
            if let started { return try await started.value }
            let task = Task { try await PostgresServer.start() }
            started = task
            return try await task.value
        }
    }

    private static func start() async throws -> Instance {
        guard let bin = binDirectory else {
            throw PostgresServerError("PostgreSQL is not installed (Scripts/install-system-deps.sh installs Debian's postgresql)")
        }
        let asRoot = getuid() == 0
        if asRoot && getpwnam("postgres") == nil {
            throw PostgresServerError("PostgreSQL refuses to run as root, and there is no postgres user to run it as (Debian's postgresql package makes one)")
        }
        // As root the server runs as `postgres`, which must reach the folder: /tmp, not a
        // TMPDIR it may not be able to traverse.
        let parent = asRoot ? URL(fileURLWithPath: "/tmp") : FileManager.default.temporaryDirectory
        let dir = parent.appendingPathComponent("arcp-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if asRoot {
            let (s, _, e) = spawnAndWait("/bin/chown", ["postgres:", dir])
            guard s == 0 else { throw PostgresServerError("chown \(dir) failed: \(e)") }
        }
        func asServerUser(_ tool: String, _ args: [String]) async throws -> (Int32, String, String) {
            if asRoot { return try await runOffPool("/usr/sbin/runuser", ["-u", "postgres", "--", bin + "/" + tool] + args) }
            return try await runOffPool(bin + "/" + tool, args)
        }
        let data = dir + "/data"
        let (initStatus, _, initErr) = try await asServerUser(
            "initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
        guard initStatus == 0 else { throw PostgresServerError("initdb failed: \(initErr)") }
        // A throwaway server: durability off (the tests kill it), room for three nodes' pools.
        let options = "-c listen_addresses=127.0.0.1 -k \(data) -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        var lastError = ""
        for _ in 0..<5 {
            let port = freePort()
            let (status, _, err) = try await asServerUser(
                "pg_ctl", ["-D", data, "-l", data + "/server.log", "-o", "-p \(port) \(options)", "-w", "-t", "60", "start"])
            if status == 0 {
                let instance = Instance(host: "127.0.0.1", port: port, user: "postgres", dataDirectory: data)
                stopAtExit(bin: bin, data: data, dir: dir, asRoot: asRoot)
                return instance
            }
            lastError = err + ((try? String(contentsOfFile: data + "/server.log", encoding: .utf8)) ?? "")
        }
        throw PostgresServerError("pg_ctl start failed: \(lastError)")
    }

    /// Stops the server when this process exits (`atexit`), and starts a watchdog that stops it
    /// should this process die without exit handlers (a crash, SIGKILL).
    private static func stopAtExit(bin: String, data: String, dir: String, asRoot: Bool) {
        let stop = (asRoot ? "/usr/sbin/runuser -u postgres -- " : "") + "\(bin)/pg_ctl -D '\(data)' -m immediate stop"
        let script = "\(stop) >/dev/null 2>&1; rm -rf '\(dir)'"
        exitCommand.withLock { $0 = script }
        atexit {
            guard let script = PostgresServer.exitCommand.withLock({ $0 }) else { return }
            _ = spawnAndWait("/bin/sh", ["-c", script])
        }
        // The watchdog outlives a crashed test process: it polls the parent's pid. Started
        // like the server (no descriptor of this process), since it lives as long.
        _ = spawn("/bin/sh", ["-c", "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(script)"])
    }

    static let exitCommand = LockedString()

    /// A free TCP port on 127.0.0.1 (the OS picks it; the socket is closed again).
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// A failure to start or use the throwaway server.
public struct PostgresServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A string under a lock (the exit handler's command).
final class LockedString: @unchecked Sendable {
    // @unchecked Sendable: `value` is only read or written while `lock` is held.
    private let lock = NSLock()
    private var value: String?

    func withLock<T>(_ body: (inout String?) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// Runs a command to completion on its own thread (`onOwnThread`), so that a slow command
/// (initdb) does not hold one of the cooperative pool's few threads; killed after `timeout`.
/// Its output (stdout and stderr together, returned as the third value) goes through a
/// temporary file, not a pipe: `pg_ctl start` leaves a server running that must not keep the
/// caller waiting for end of file, and `posix_spawn` + `waitpid` do not depend on Foundation's
/// child-process monitor.
public func runOffPool(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(120)) async throws -> (Int32, String, String) {
    try await onOwnThread { spawnAndWait(executable, arguments, timeout: timeout) }
}

/// `posix_spawn`s `executable` with stdin from /dev/null, stdout and stderr to a temporary
/// file and no other descriptor of this process, waits for it (SIGKILL after `timeout`), and
/// returns (status, "", output); (-1, "", reason) when it cannot start.
///
/// No other descriptor: `posix_spawn` otherwise hands the child every descriptor not marked
/// close-on-exec, and Foundation's `Pipe` does not mark them. A PostgreSQL server started
/// this way (it lives until the test process exits) then held the write ends of pipes other
/// tests were reading to end of file (`readDataToEndOfFile`) at that moment, and those reads
/// never ended: the full suite hung.
func spawnAndWait(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(120)) -> (Int32, String, String) {
    let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-spawn-\(UUID().uuidString).log").path
    defer { unlink(outPath) }
    let pid: pid_t
    switch spawn(executable, arguments, output: outPath) {
    case .failure(let reason): return (-1, "", reason.description)
    case .success(let p): pid = p
    }
    var status: Int32 = 0
    let deadline = ContinuousClock.now + timeout
    var killed = false
    while true {
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { break }
        if r < 0 && errno != EINTR { break }
        if !killed && ContinuousClock.now >= deadline {
            kill(pid, SIGKILL)
            killed = true
        }
        usleep(killed ? 1_000 : 5_000)
    }
    var output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    if killed { output += "\n(killed after \(timeout))" }
    // WIFEXITED / WEXITSTATUS by hand (the macros do not import).
    let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (code, "", output)
}

/// `posix_spawn`s `executable` with stdin from /dev/null, stdout and stderr to `output` (or
/// /dev/null) and no other descriptor of this process; returns its pid.
func spawn(_ executable: String, _ arguments: [String], output: String = "/dev/null") -> Result<pid_t, PostgresServerError> {
    #if canImport(Glibc)
    var actions = posix_spawn_file_actions_t()
    var attributes = posix_spawnattr_t()
    #else
    var actions: posix_spawn_file_actions_t? = nil
    var attributes: posix_spawnattr_t? = nil
    #endif
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    #if os(Linux)
    closeInheritedDescriptors(&actions)
    #elseif canImport(Darwin)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_CLOEXEC_DEFAULT))
    #endif
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    guard spawned == 0 else { return .failure(PostgresServerError("cannot run \(executable): \(String(cString: strerror(spawned)))")) }
    return .success(pid)
}

#if os(Linux)
/// Adds to `actions` the closing of every descriptor from 3 up: glibc's
/// `posix_spawn_file_actions_addclosefrom_np` (2.34+; not exported by Swift's Glibc module,
/// so looked up by name), else one close action per descriptor open now.
private func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
        let closeFrom = unsafeBitCast(symbol, to: CloseFrom.self)
        if closeFrom(&actions, 3) == 0 { return }
    }
    let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    for fd in open.compactMap({ Int32($0) }) where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
}
#endif
