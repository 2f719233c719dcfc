import ARCP
import ARCPSubprocess
import Foundation

/// `stdio`: the runtime is a child process speaking newline-delimited JSON on its
/// stdin/stdout; the client starts it and talks over its pipes (v1.0 §4.2).
///
/// `arcp-examples serve stdio` serves one session on its own stdio (what the reference's
/// `runner.py` → `client.py` starts as `server.py`); `arcp-examples client stdio [-- CMD…]`
/// starts CMD (default: `arcp-examples serve stdio`) with `ChildProcessTransport`, e.g.
/// `-- python examples/stdio/server.py` for the reference's runtime.
enum WireStdio: WireExample {
    static let name = "stdio"
    static let defaultPort = 0
    static let summary = "The runtime as a child process on stdin/stdout (NDJSON); the client spawns it."
    static var hosting: WireHosting { .stdio }

    static func makeRuntime(_ setup: ServerSetup) throws -> ARCPRuntime {
        let runtime = ARCPRuntime(configuration: setup.configuration(name: "stdio-server"), verifier: setup.verifier)
        try runtime.register("echo") { input, ctx in
            await ctx.log("info", "stdio agent ran")
            return ["echoed": input]
        }
        return runtime
    }

    static func runClient(_ setup: ClientSetup) async throws {
        var command = setup.command
        if command.isEmpty { command = [selfExecutable(), "serve", "stdio"] }
        let child = try await ChildProcessTransport.spawn(executable: command[0], arguments: Array(command.dropFirst()))
        let client = ARCPClient(token: setup.token, options: setup.options(name: "stdio-client", features: []))
        do {
            try await client.connect(child)
            let job = try await client.submit(agent: "echo", input: ["hello": "stdio"])
            for try await event in job.events { say("[event] kind=\(event.body.kind)") }
            let outcome = try await job.result()
            say("terminal: \(outcome.finalStatus.rawValue) \(compact(outcome.result))")
            try check(outcome.finalStatus == .success, "the job succeeds")
        } catch {
            await client.close()
            _ = await child.closeAndWait()
            throw error
        }
        await client.close()
        let exit = await child.closeAndWait()
        say("child: \(exit.map { "\($0)" } ?? "unknown")")
    }

    /// This program's executable.
    static func selfExecutable() -> String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        return CommandLine.arguments[0]
    }
}
