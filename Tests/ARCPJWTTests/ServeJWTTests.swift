import ARCP
@testable import ARCPJWT
import ARCPTestSupport
import ARCPWebSocket
import Foundation
import Testing

/// `arcp serve --jwks FILE --issuer … --audience …`, driven over WebSocket.
@Suite("arcp serve --jwks", .timeLimit(.minutes(1)))
struct ServeJWTTests {
    func connect(_ url: String, token: String) async throws -> ARCPClient {
        var options = ARCPClient.Options()
        options.logger.logLevel = .critical
        let client = ARCPClient(token: token, options: options)
        try await client.connect(try await WebSocketTransport.connect(to: url))
        return client
    }

    @Test func jwtsFromAJWKSFileBesideAStaticToken() async throws {
        let arcp = try ArcpBinary.require()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-serve-jwks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = try await TestKey.es256(kid: "serve-1")
        let file = dir.appendingPathComponent("jwks.json")
        try Data(jwks([key]).utf8).write(to: file)

        let server = try TestProcess(arcp, [
            "serve", "--port", "0", "--jwks", file.path, "--issuer", "https://auth.example.com/", "--audience", "arcp",
            "--token", "ops-token=ops@example.com", "--log-level", "info",
        ])
        let line = try #require(await server.line(startingWith: "LISTENING "), "stderr: \(server.stderr)")
        let url = String(line.dropFirst("LISTENING ".count))

        let good = try await key.sign(.standard(sub: "erin@example.com", ["iss": .string("https://auth.example.com/"), "aud": .string("arcp")]))
        let client = try await connect(url, token: good)
        #expect(try await client.submit(agent: "echo", input: 1).result().result == ["echoed": 1])
        await client.close()

        // The static token still works.
        let ops = try await connect(url, token: "ops-token")
        await ops.close()

        // A token for another audience is refused; the log says why, not what the token was.
        let other = try await key.sign(.standard(["iss": .string("https://auth.example.com/"), "aud": .string("billing")]))
        let refused = await #expect(throws: ARCPError.self) { _ = try await connect(url, token: other) }
        #expect(refused?.code == .unauthenticated)
        #expect(await server.stop() == 0)
        #expect(server.stderr.contains("wrongAudience"), "\(server.stderr)")
        #expect(!server.stderr.contains(other.split(separator: ".")[2]))
    }

    @Test func aJWKSThatCannotBeLoadedStopsTheStart() async throws {
        let arcp = try ArcpBinary.require()
        let run = try TestProcess(arcp, ["serve", "--port", "0", "--jwks", "/nonexistent/jwks.json"])
        #expect(await run.wait() == 2)
        #expect(run.stderr.contains("cannot load --jwks /nonexistent/jwks.json"), "\(run.stderr)")
        let bare = try TestProcess(arcp, ["serve", "--port", "0", "--issuer", "x"])
        #expect(await bare.wait() != 0)
        #expect(bare.stderr.contains("need --jwks") || bare.stderr.contains("--token"), "\(bare.stderr)")
    }
}
