import ARCP
import ARCPTestSupport
import ARCPWebSocket
import Foundation
import Logging
import Testing

/// A hostile peer asks for a file through a symlink that leaves the tree its lease grants.
///
/// `arcp serve`'s demo agents touch no files, so this case runs what `arcp serve` runs (the
/// runtime with its default configuration behind a `WebSocketServer`) in-process, with one agent
/// that reads the file named in its input under an `fs.read` lease, over real WebSocket.
@Suite("Hostile peer: fs leases and symlinks", .timeLimit(.minutes(1)))
struct HostileLeaseTests {
    /// A temp tree: granted/{file.txt, escape → ../secret, up → .., dangling → secret/missing},
    /// secret/key, outside.txt. Removed on deinit.
    final class Tree {
        let root: String
        init() throws {
            let fm = FileManager.default
            let base = fm.temporaryDirectory.appendingPathComponent("hostile-\(UUID().uuidString)")
            try fm.createDirectory(at: base, withIntermediateDirectories: true)
            root = base.resolvingSymlinksInPath().path
            try fm.createDirectory(atPath: root + "/granted", withIntermediateDirectories: true)
            try fm.createDirectory(atPath: root + "/secret", withIntermediateDirectories: true)
            _ = fm.createFile(atPath: root + "/granted/file.txt", contents: Data("ok".utf8))
            _ = fm.createFile(atPath: root + "/secret/key", contents: Data("secret".utf8))
            _ = fm.createFile(atPath: root + "/outside.txt", contents: Data("outside".utf8))
            try fm.createSymbolicLink(atPath: root + "/granted/escape", withDestinationPath: "../secret")
            try fm.createSymbolicLink(atPath: root + "/granted/up", withDestinationPath: "..")
            try fm.createSymbolicLink(atPath: root + "/granted/dangling", withDestinationPath: root + "/secret/missing")
        }
        deinit { try? FileManager.default.removeItem(atPath: root) }
    }

    /// `read-file {"path": P}`: authorizes fs.read on P, then returns the file's text.
    @Sendable static func readFile(_ input: JSONValue, _ ctx: JobContext) async throws -> JSONValue {
        let path = input["path"]?.stringValue ?? ""
        try ctx.authorize(.fsRead, path)
        return ["text": .string((try? String(contentsOfFile: path, encoding: .utf8)) ?? "")]
    }

    @Test("a symlink inside the granted tree that leads out of it is PERMISSION_DENIED; the session lives on")
    func escapingSymlinksAreDenied() async throws {
        let tree = try Tree()
        var cfg = ARCPRuntime.Configuration()  // the default lease enforcement, as `arcp serve` has it
        cfg.heartbeatInterval = nil
        cfg.logger.logLevel = .critical
        let runtime = ARCPRuntime(configuration: cfg, verifier: StaticBearerVerifier(["tok": "me@example.com"]))
        try runtime.register("read-file", Self.readFile)
        var logger = Logger(label: "test.hostile")
        logger.logLevel = .critical
        let server = WebSocketServer(
            configuration: .init(port: 0), logger: logger, onShutdown: { await runtime.shutdown() },
            handler: { await runtime.accept($0) })
        try await server.start()
        var options = ARCPClient.Options()
        options.logger.logLevel = .critical
        let client = ARCPClient(token: "tok", options: options)
        try await client.connect(try await WebSocketTransport.connect(to: "ws://127.0.0.1:\(server.port ?? 0)/arcp"))
        let lease: Lease = ["fs.read": [tree.root + "/granted/**"]]

        let ok = try await client.submit(agent: "read-file", input: ["path": .string(tree.root + "/granted/file.txt")], leaseRequest: lease)
        #expect(try await ok.result().result == ["text": "ok"])
        for path in ["/granted/escape/key", "/granted/up/outside.txt", "/granted/up/secret/key", "/granted/escape/../outside.txt", "/granted/dangling"] {
            let job = try await client.submit(agent: "read-file", input: ["path": .string(tree.root + path)], leaseRequest: lease)
            do {
                let outcome = try await job.result()
                Issue.record("\(path) was read: \(String(describing: outcome.result))")
            } catch let e as ARCPError {
                #expect(e.code == .permissionDenied, "\(path): \(e)")
            }
        }
        // Still the same, working session.
        let again = try await client.submit(agent: "read-file", input: ["path": .string(tree.root + "/granted/file.txt")], leaseRequest: lease)
        #expect(try await again.result().result == ["text": "ok"])
        await client.close()
        await server.stop()
    }
}
