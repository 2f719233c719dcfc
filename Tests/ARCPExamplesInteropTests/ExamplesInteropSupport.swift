import ARCPTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the pieces are, and whether the reference's examples can run here.
enum ExamplesInterop {
    static let root = PackagePaths.root
    static let python = root.appendingPathComponent(".venv/bin/python").path
    /// The reference's examples, unpacked from its sdist by Scripts/setup-python-examples.sh.
    static let examples = root.appendingPathComponent(".venv/arcp-sdist/agentruntimecontrolprotocol-1.1.3/examples").path

    /// Why the examples cannot run here, or nil when they can: the venv Scripts/setup-python.sh
    /// makes must exist; Scripts/setup-python-examples.sh (idempotent, no network once done)
    /// then fetches the sdist and the packages the host examples import.
    static let unavailableReason: String? = {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return "no Python reference venv at \(python): run Scripts/setup-python.sh (Scripts/test.sh does) to run the examples interop tests"
        }
        let script = root.appendingPathComponent("Scripts/setup-python-examples.sh").path
        let (status, _, err) = runSync("/bin/bash", [script])
        guard status == 0 else {
            return err.split(separator: "\n").last.map(String.init) ?? "Scripts/setup-python-examples.sh exited \(status)"
        }
        return nil
    }()

    /// The trait every suite here carries: skipped (never passed) when the reference cannot run.
    static var needed: ConditionTrait {
        .enabled(if: unavailableReason == nil, Comment(rawValue: unavailableReason ?? "the reference's examples are available"))
    }

    /// The built `arcp-examples`: `ARCP_EXAMPLES_BIN`, else next to the test binary, else `.build/debug`.
    static let binary: String = {
        if let env = ProcessInfo.processInfo.environment["ARCP_EXAMPLES_BIN"], !env.isEmpty { return env }
        var candidates: [URL] = []
        #if os(Linux)
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("arcp-examples"))
        }
        #endif
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("arcp-examples"))
        }
        candidates.append(root.appendingPathComponent(".build/debug/arcp-examples"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }?.path ?? candidates[0].path
    }()

    static func requireBinary(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try #require(
            FileManager.default.isExecutableFile(atPath: binary),
            "arcp-examples is not at \(binary): build it (swift build --product arcp-examples) or set ARCP_EXAMPLES_BIN",
            sourceLocation: sourceLocation)
        return binary
    }

    static func file(_ example: String, _ name: String) -> String { "\(examples)/\(example)/\(name)" }

    /// Environment for a reference program: unbuffered output, no user site-packages.
    static func pythonEnvironment(port: Int?) -> [String: String] {
        // OTEL_BSP_SCHEDULE_DELAY: host_tracing's span exporter flushes every 100 ms, not 5 s.
        var env = ["PYTHONUNBUFFERED": "1", "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1", "OTEL_BSP_SCHEDULE_DELAY": "100"]
        if let port {
            env["ARCP_DEMO_PORT"] = "\(port)"
            env["ARCP_DEMO_URL"] = "ws://127.0.0.1:\(port)/arcp"
        }
        return env
    }

    /// Runs a reference `server.py` as `__main__` (unmodified), exiting when our stdin closes
    /// (so a crashed test run leaves no server behind).
    static let serverGuard = """
        import os, runpy, sys, threading
        path = sys.argv[1]
        sys.argv = [path]
        sys.path.insert(0, os.path.dirname(path))
        def _watch():
            try:
                while sys.stdin.buffer.read(65536):
                    pass
            finally:
                os._exit(0)
        threading.Thread(target=_watch, daemon=True).start()
        runpy.run_path(path, run_name="__main__")
        """
}

/// At most `width` holders at once: keeps the Python processes of the parallel pairs from
/// starving each other, and the suites running beside them (whose Python children must answer
/// a hello within 10 s), on a small machine: one pair per core, 2 to 6.
actor Limiter {
    static let pairs = Limiter(width: min(6, max(2, ProcessInfo.processInfo.activeProcessorCount)))

    private let width: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(width: Int) { self.width = width }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        if running < width {
            running += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty {
            running -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}

#if os(Linux)
private let streamSocket = Int32(SOCK_STREAM.rawValue)
#else
private let streamSocket = SOCK_STREAM
#endif

/// A free TCP port on 127.0.0.1 (bound and released; the reference's servers need a number up front).
func freePort() throws -> Int {
    let fd = socket(AF_INET, streamSocket, 0)
    guard fd >= 0 else { throw PortError(message: "socket(): errno \(errno)") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw PortError(message: "bind(): errno \(errno)") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    guard named == 0 else { throw PortError(message: "getsockname(): errno \(errno)") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func accepts(port: Int) -> Bool {
    let fd = socket(AF_INET, streamSocket, 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

struct PortError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
