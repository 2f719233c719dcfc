import ARCP
@testable import ARCPJWT
import ARCPTestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// A JWKS served over HTTP on loopback (Hummingbird, port 0): what it serves, and how often it was asked.
final class JWKSServer: Sendable {
    struct State: Sendable {
        var document = #"{"keys":[]}"#
        var status: HTTPResponse.Status = .ok
        var cacheControl: String? = nil
        var fetches = 0
    }

    /// What the route serves (shared with it).
    final class Shared: Sendable {
        let state = Mutex(State())
    }

    let shared: Shared
    let group: ServiceGroup
    let running: Task<Void, any Error>
    let port: Int
    var url: String { "http://127.0.0.1:\(port)/.well-known/jwks.json" }
    var fetches: Int { shared.state.withLock { $0.fetches } }

    private init(shared: Shared, group: ServiceGroup, running: Task<Void, any Error>, port: Int) {
        self.shared = shared
        self.group = group
        self.running = running
        self.port = port
    }

    func serve(_ document: String, status: HTTPResponse.Status = .ok, cacheControl: String? = nil) {
        shared.state.withLock {
            $0.document = document
            $0.status = status
            $0.cacheControl = cacheControl
        }
    }

    static func start() async throws -> JWKSServer {
        let shared = Shared()
        let router = Router()
        router.get("/.well-known/jwks.json") { _, _ -> Response in
            let s = shared.state.withLock { s -> State in
                s.fetches += 1
                return s
            }
            var headers: HTTPFields = [.contentType: "application/jwk-set+json"]
            if let cc = s.cacheControl { headers[.cacheControl] = cc }
            return Response(status: s.status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: s.document)))
        }
        var logger = Logger(label: "test.jwks")
        logger.logLevel = .critical
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int?.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port) }, logger: logger)
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: logger)
        let running = Task {
            defer { portContinuation.yield(nil) }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let first = await iterator.next(), let port = first else {
            running.cancel()
            Issue.record("the JWKS server did not start")
            throw CancellationError()
        }
        return JWKSServer(shared: shared, group: group, running: running, port: port)
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await running.value
    }
}

@Suite("JWKS from a file and a URL", .timeLimit(.minutes(1)))
struct JWKSSourceTests {
    static func configuration() -> JWTBearerVerifier.Configuration {
        var c = JWTBearerVerifier.Configuration()
        c.logger.logLevel = .critical
        return c
    }

    @Test func aURLIsFetchedOnceAndAgainForAnUnknownKid() async throws {
        let server = try await JWKSServer.start()
        let k1 = await TestKey.hs256(kid: "k1"), k2 = try await TestKey.es256(kid: "k2")
        server.serve(jwks([k1]), cacheControl: "max-age=3600")
        var c = Self.configuration()
        c.minimumRefreshInterval = .zero
        let v = JWTBearerVerifier(jwks: .url(server.url), configuration: c)
        try await v.loadKeys()
        #expect(server.fetches == 1)
        for _ in 0..<5 { #expect(try await v.verify(try await k1.sign(.standard())) == "alice@example.com") }
        #expect(server.fetches == 1, "a fresh set is served from memory")

        // The issuer rotates: a token signed by the new key makes the verifier fetch again.
        server.serve(jwks([k2]))
        #expect(try await v.verify(try await k2.sign(.standard(sub: "rotated"))) == "rotated")
        #expect(server.fetches == 2)
        // The old key is gone with the old document.
        #expect(await rejection(v, try await k1.sign(.standard()))?.reason == .unknownKey)
        try await server.stop()
    }

    @Test func unknownKidsCannotMakeItFetchInALoop() async throws {
        let server = try await JWKSServer.start()
        let k1 = await TestKey.hs256(kid: "k1")
        server.serve(jwks([k1]))
        var c = Self.configuration()
        c.minimumRefreshInterval = .seconds(3600)
        let v = JWTBearerVerifier(jwks: .url(server.url), configuration: c)
        try await v.loadKeys()
        for i in 0..<20 {
            let token = handMade(header: #"{"alg":"HS256","kid":"made-up-\#(i)"}"#, payload: #"{"sub":"x"}"#)
            await #expect(throws: JWTRejection.self) { try await v.verify(token) }
        }
        #expect(server.fetches == 1)
        try await server.stop()
    }

    @Test func aFailedFetchKeepsTheKeysItHasAndAFirstFailureIsReported() async throws {
        let server = try await JWKSServer.start()
        let k1 = await TestKey.hs256(kid: "k1"), k2 = await TestKey.hs256(kid: "k2")
        server.serve("oops", status: .internalServerError)
        var c = Self.configuration()
        c.minimumRefreshInterval = .zero
        let v = JWTBearerVerifier(jwks: .url(server.url), configuration: c)
        await #expect(throws: JWKSError.self) { try await v.loadKeys() }
        #expect(await rejection(v, try await k1.sign(.standard()))?.reason == .keysUnavailable)

        // The server recovers: the next token loads the set.
        server.serve(jwks([k1]))
        #expect(try await v.verify(try await k1.sign(.standard())) == "alice@example.com")
        // It fails again: a token for an unknown kid is refused, the known key still works.
        server.serve("{}", status: .badGateway)
        #expect(await rejection(v, try await k2.sign(.standard()))?.reason == .unknownKey)
        #expect(try await v.verify(try await k1.sign(.standard())) == "alice@example.com")
        try await server.stop()
    }

    @Test func anOversizedDocumentIsRefused() async throws {
        let server = try await JWKSServer.start()
        server.serve(#"{"keys":[],"pad":""# + String(repeating: "x", count: 4096) + #""}"#)
        var c = Self.configuration()
        c.maxJWKSBytes = 1024
        let v = JWTBearerVerifier(jwks: .url(server.url), configuration: c)
        await #expect(throws: (any Error).self) { try await v.loadKeys() }
        try await server.stop()
    }

    @Test func aFileIsReadAgainWhenATokenNamesANewKey() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-jwks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("jwks.json")
        let k1 = try await TestKey.eddsa(kid: "d1"), k2 = try await TestKey.rs256(kid: "r2")
        try Data(jwks([k1]).utf8).write(to: file)
        var c = Self.configuration()
        c.minimumRefreshInterval = .zero
        let v = JWTBearerVerifier(jwks: JWKSSource(parsing: file.path), configuration: c)
        #expect(try await v.verify(try await k1.sign(.standard())) == "alice@example.com")
        try Data(jwks([k1, k2]).utf8).write(to: file)
        #expect(try await v.verify(try await k2.sign(.standard(sub: "r2"))) == "r2")
        #expect(try await v.verify(try await k1.sign(.standard(sub: "d1"))) == "d1")

        let missing = JWTBearerVerifier(jwks: .file(dir.appendingPathComponent("nope.json").path), configuration: c)
        await #expect(throws: JWKSError.self) { try await missing.loadKeys() }
    }

    @Test func sourcesFromTheCommandLine() {
        #expect(JWKSSource(parsing: "https://auth.example.com/jwks.json") == .url("https://auth.example.com/jwks.json"))
        #expect(JWKSSource(parsing: "HTTP://127.0.0.1:1/k") == .url("HTTP://127.0.0.1:1/k"))
        #expect(JWKSSource(parsing: "/etc/arcp/jwks.json") == .file("/etc/arcp/jwks.json"))
    }
}
