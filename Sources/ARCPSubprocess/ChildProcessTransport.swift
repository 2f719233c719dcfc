import ARCP
import Subprocess
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Spawns a child process that is an ARCP runtime and talks ARCP to it over its standard input
/// and output (newline-delimited JSON, spec §4).
///
/// ```swift
/// let transport = try await ChildProcessTransport.spawn(
///     executable: "arcp", arguments: ["serve", "--stdio"])
/// try await transport.send(helloFrame)
/// let reply = try await transport.receive()
/// await transport.close()   // closes the child's stdin, waits for it, terminates it if needed
/// ```
///
/// Framing, the line cap and back-pressure are those of `StdioTransport`, which this type
/// wraps around two pipes. The child's standard error goes to this process's standard error.
/// The child is started with swift-subprocess, which also reaps it and terminates it.
///
/// Always call ``close()``: the child is owned by this transport and only released there.
public final class ChildProcessTransport: Transport {
    /// How the child ended.
    public enum Termination: Sendable, Equatable, CustomStringConvertible {
        /// It exited with this status code.
        case exited(Int32)
        /// A signal ended it.
        case signalled(Int32)

        public var description: String {
            switch self {
            case .exited(let code): return "exited with status \(code)"
            case .signalled(let signal): return "killed by signal \(signal)"
            }
        }
    }

    /// The child's process id.
    public let processIdentifier: Int32
    /// How long ``close()`` waits for the child after closing its stdin before sending
    /// `SIGTERM`, and again before `SIGKILL`.
    public let gracePeriod: Duration

    private let stdio: StdioTransport
    private let closeRequested: Latch
    private let supervisor: Task<Termination?, Never>

    private init(
        processIdentifier: Int32, gracePeriod: Duration, stdio: StdioTransport,
        closeRequested: Latch, supervisor: Task<Termination?, Never>
    ) {
        self.processIdentifier = processIdentifier
        self.gracePeriod = gracePeriod
        self.stdio = stdio
        self.closeRequested = closeRequested
        self.supervisor = supervisor
    }

    /// Starts `executable` and connects to its stdin/stdout.
    ///
    /// - Parameters:
    ///   - executable: a path (contains `/`) or a name looked up in `PATH`.
    ///   - arguments: arguments, not including the executable.
    ///   - environment: variables added to (or overriding) this process's environment.
    ///   - workingDirectory: the child's working directory; `nil` inherits this process's.
    ///   - maxLineLength: cap on one line in either direction (default 16 MiB).
    ///   - gracePeriod: see ``gracePeriod``.
    /// - Throws: `TransportError.connectFailed` when the child cannot be started.
    public static func spawn(
        executable: String,
        arguments: [String] = [],
        environment: [String: String] = [:],
        workingDirectory: String? = nil,
        maxLineLength: Int = StdioTransport.defaultMaxLineLength,
        gracePeriod: Duration = .seconds(2)
    ) async throws -> ChildProcessTransport {
        // Pipes are close-on-exec: the child gets only the ends dup'ed onto its 0 and 1.
        let toChild = try makePipe()
        let fromChild: (read: Int32, write: Int32)
        do {
            fromChild = try makePipe()
        } catch {
            _ = systemClose(toChild.read)
            _ = systemClose(toChild.write)
            throw error
        }
        let stdio = StdioTransport(
            readingFrom: fromChild.read, writingTo: toChild.write,
            maxLineLength: maxLineLength, closesDescriptors: true
        )

        let exe: Executable = executable.contains("/") ? .path(.init(executable)) : .name(executable)
        var updates: [Environment.Key: String?] = [:]
        for (key, value) in environment {
            if let k = Environment.Key(rawValue: key) { updates[k] = value }
        }
        let env: Environment = updates.isEmpty ? .inherit : .inherit.updating(updates)
        let configuration = Configuration(
            executable: exe,
            arguments: Arguments(arguments),
            environment: env,
            workingDirectory: workingDirectory.map { .init($0) }
        )
        let started = StartGate()
        let closeRequested = Latch()
        let steps: [TeardownStep] = [
            // Signal 0 delivers nothing: this step only waits up to the grace period for the
            // child to exit on its own after its stdin was closed.
            .send(signal: Signal(rawValue: 0), allowedDurationToNextStep: gracePeriod),
            .gracefulShutDown(allowedDurationToNextStep: gracePeriod),
        ]

        let supervisor = Task<Termination?, Never> {
            do {
                let result = try await Subprocess.run(
                    configuration,
                    input: .fileDescriptor(.init(rawValue: toChild.read), closeAfterSpawningProcess: true),
                    output: .fileDescriptor(.init(rawValue: fromChild.write), closeAfterSpawningProcess: true),
                    error: .currentStandardError
                ) { execution in
                    started.open(.success(execution.processIdentifier.value))
                    await closeRequested.wait()
                    await execution.teardown(using: steps)
                }
                switch result.terminationStatus {
                case .exited(let code): return .exited(code)
                case .signaled(let signal): return .signalled(signal)
                }
            } catch {
                started.open(.failure(Self.describe(error, executable: executable)))
                return nil
            }
        }

        do {
            let pid = try await started.value()
            return ChildProcessTransport(
                processIdentifier: pid, gracePeriod: gracePeriod, stdio: stdio,
                closeRequested: closeRequested, supervisor: supervisor
            )
        } catch {
            await stdio.close()
            throw error
        }
    }

    /// The next frame from the child's stdout; `nil` once it closed stdout (usually: exited).
    /// See `StdioTransport.receive()` for the errors of a single bad line.
    public func receive() async throws -> String? {
        try await stdio.receive()
    }

    /// Writes one frame (one line) to the child's stdin.
    public func send(_ frame: String) async throws {
        try await stdio.send(frame)
    }

    /// Closes the child's stdin, waits up to ``gracePeriod`` for it to exit, then sends
    /// `SIGTERM`, and after another grace period `SIGKILL`. Returns once the child is reaped.
    /// Idempotent.
    public func close() async {
        _ = await closeAndWait()
    }

    /// Like ``close()``, and tells how the child ended (`nil` only if it could not be monitored).
    @discardableResult
    public func closeAndWait() async -> Termination? {
        await stdio.close()
        closeRequested.open()
        return await supervisor.value
    }

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        guard let fds = makeCloseOnExecPipe() else {
            throw TransportError.connectFailed("cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        return fds
    }

    private static func describe(_ error: any Error, executable: String) -> TransportError {
        if let error = error as? SubprocessError {
            if error.code == .executableNotFound {
                return .connectFailed("cannot start \(executable): executable not found")
            }
            if let underlying = error.underlyingError {
                return .connectFailed("cannot start \(executable): \(String(cString: strerror(underlying.rawValue)))")
            }
        }
        return .connectFailed("cannot start \(executable): \(error)")
    }
}



/// Delivers the child's pid (or the spawn failure) once.
private final class StartGate: Sendable {
    private struct State {
        var result: Result<Int32, TransportError>?
        var waiter: CheckedContinuation<Int32, any Error>?
    }
    private let state = Mutex(State())

    func open(_ result: Result<Int32, TransportError>) {
        let waiter = state.withLock { s -> CheckedContinuation<Int32, any Error>? in
            guard s.result == nil else { return nil }
            s.result = result
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(with: result.mapError { $0 as any Error })
    }

    func value() async throws -> Int32 {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Int32, any Error>) in
            let ready = state.withLock { s -> Result<Int32, TransportError>? in
                if let r = s.result { return r }
                s.waiter = cont
                return nil
            }
            if let ready { cont.resume(with: ready.mapError { $0 as any Error }) }
        }
    }
}

extension ChildProcessTransport {
    /// Pipes to a child process: nobody between the two ends.
    public var isConfidential: Bool { true }
}
