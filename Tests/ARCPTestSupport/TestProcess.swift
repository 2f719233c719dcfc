import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Paths of the package the tests run in.
public enum PackagePaths {
    /// The package root (this file is Tests/ARCPTestSupport/TestProcess.swift).
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// The built `arcp` executable.
public enum ArcpBinary {
    /// `ARCP_BIN`, else the `arcp` next to the test binary (the build products folder), else
    /// `.build/debug/arcp`.
    public static let path: String = {
        if let env = ProcessInfo.processInfo.environment["ARCP_BIN"], !env.isEmpty { return env }
        var candidates: [URL] = []
        #if os(Linux)
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("arcp"))
        }
        #endif
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("arcp"))
        }
        candidates.append(PackagePaths.root.appendingPathComponent(".build/debug/arcp"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }?.path ?? candidates[0].path
    }()

    /// The executable's path; fails the test with a clear message when it is missing.
    public static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try #require(
            FileManager.default.isExecutableFile(atPath: path),
            "the arcp executable is not at \(path): build it (swift build --product arcp) or set ARCP_BIN",
            sourceLocation: sourceLocation)
        return path
    }
}

/// Runs a command to completion (blocking; for quick checks only).
public func runSync(_ executable: String, _ arguments: [String]) -> (Int32, String, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    do { try p.run() } catch { return (-1, "", "\(error)") }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// A child process with its output collected and its stdin a pipe kept open until closed (so
/// a server started with "stop on stdin EOF" dies with the test process).
///
/// `@unchecked Sendable`: `Process` and the pipes are configured before `run()` and later only
/// used through thread-safe calls (`isRunning`, `terminate`, `waitUntilExit`,
/// `processIdentifier`, closing or writing a file handle); the collected output lives in a
/// `Mutex` (``PipeCollector``).
public final class TestProcess: @unchecked Sendable {
    public let process = Process()
    public let label: String
    private let input = Pipe()
    private let out = Pipe()
    private let err = Pipe()
    private let collectors: (out: PipeCollector, err: PipeCollector)

    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], label: String? = nil) throws {
        self.label = label ?? URL(fileURLWithPath: executable).lastPathComponent
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.standardInput = input
        process.standardOutput = out
        process.standardError = err
        collectors = (PipeCollector(out.fileHandleForReading), PipeCollector(err.fileHandleForReading))
        try process.run()
    }

    public var stdout: String { collectors.out.text }
    public var stderr: String { collectors.err.text }
    /// Both output pipes reached end of file.
    public var outputFinished: Bool { collectors.out.finished && collectors.err.finished }
    public var pid: Int32 { process.processIdentifier }

    public func write(_ text: String) { try? input.fileHandleForWriting.write(contentsOf: Data(text.utf8)) }
    public func closeStdin() { try? input.fileHandleForWriting.close() }
    public func signal(_ sig: Int32) { kill(pid, sig) }

    /// The first stdout line starting with `prefix`, waiting up to `timeout` (or the exit).
    public func line(startingWith prefix: String, timeout: Duration = .seconds(20)) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let l = stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(l) }
            if !process.isRunning { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        // One last look once the output is complete: the line may have come with the exit.
        if !process.isRunning { await drainOutput() }
        return stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }).map(String.init)
    }

    /// Waits for the exit (SIGKILL after `timeout`, recorded as an issue) and returns the status
    /// once the output is complete.
    @discardableResult
    public func wait(timeout: Duration = .seconds(20)) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                Issue.record("\(label) \(process.arguments ?? []) still running after \(timeout); killed")
                kill(pid, SIGKILL)
                break
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        process.waitUntilExit()
        await drainOutput()
        return process.terminationStatus
    }

    /// A test that throws before it stops its process does not leave it running (a server
    /// left behind by a failed test kept a CPU busy for the rest of the suite).
    deinit {
        if process.isRunning { process.terminate() }
    }

    /// Closes stdin, sends SIGTERM and waits for the exit.
    @discardableResult
    public func stop() async -> Int32 {
        closeStdin()
        if process.isRunning { process.terminate() }
        return await wait(timeout: .seconds(10))
    }

    /// The output is complete once both pipes reach end of file (bounded: a grandchild may hold them).
    private func drainOutput() async {
        let deadline = ContinuousClock.now + .seconds(2)
        while !outputFinished && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
    }
}

/// Reads a pipe to its end on a dedicated thread and keeps what it read.
public final class PipeCollector: Sendable {
    private let state = Mutex((data: Data(), finished: false))

    public init(_ handle: FileHandle) {
        let thread = Thread { [self] in
            while true {
                let chunk = handle.availableData  // blocks; empty at end of file
                if chunk.isEmpty { break }
                self.state.withLock { $0.data.append(chunk) }
            }
            self.state.withLock { $0.finished = true }
        }
        thread.start()
    }

    public var text: String { state.withLock { String(decoding: $0.data, as: UTF8.self) } }
    public var finished: Bool { state.withLock { $0.finished } }
}
