#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ARCP
import Foundation

/// The stdio transport: newline-delimited JSON, one envelope per line, over a pair of
/// file descriptors. A runtime that is a child process speaks it on its stdin/stdout
/// (`StdioTransport.standardIO()`), and a parent spawns it with `ChildProcessTransport`
/// (target `ARCPSubprocess`). Here both ends live in this process, joined by two pipes, so
/// the example needs no second program; the frames are exactly what a child would see.
public enum Stdio: Example {
    public static let name = "stdio"
    public static let summary = "Runtime and client over StdioTransport (NDJSON on a pipe pair), printing each line."
    public static let spec = "§4 (v1.0 §4.2), §5"

    public static func run() async throws {
        let runtime = ARCPRuntime(verifier: StaticBearerVerifier(["demo-token": "alice@example.com"]))
        try runtime.register("upper") { input, ctx in
            await ctx.log("info", "upper-casing")
            return .string((input["text"]?.stringValue ?? "").uppercased())
        }

        // Two pipes: client → runtime and runtime → client.
        let toRuntime = try makePipe()
        let toClient = try makePipe()
        // The runtime's end reads what the client writes, and writes what the client reads:
        // in a child process these would be its stdin and stdout.
        let runtimeEnd = StdioTransport(readingFrom: toRuntime.read, writingTo: toClient.write)
        let clientEnd = StdioTransport(readingFrom: toClient.read, writingTo: toRuntime.write)
        Task { await runtime.accept(runtimeEnd) }

        // Show the lines as they cross the pipes (shortened).
        let tapped = FrameTap(clientEnd) { direction, _, frame in
            let line = frame.count > 110 ? String(frame.prefix(107)) + "..." : frame
            say("\(direction.rawValue) \(line)")
        }
        let client = ARCPClient(token: "demo-token")
        try await client.connect(tapped)
        let job = try await client.submit(agent: "upper", input: ["text": "hello over a pipe"])
        for try await event in job.events { _ = event }
        let outcome = try await job.result()
        say("result: \(outcome.result ?? .null)")
        try check(outcome.result == "HELLO OVER A PIPE", "the job ran over stdio")

        // Closing the client ends its write side; the runtime sees end of input. Each
        // transport closes the descriptors it was given.
        await client.close()
        await runtime.shutdown()
    }

    /// A pipe whose descriptors are not inherited by child processes.
    static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw ExampleFailure(description: "pipe() failed: errno \(errno)") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return (fds[0], fds[1])
    }
}
