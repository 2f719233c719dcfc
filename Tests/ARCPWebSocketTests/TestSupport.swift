import ARCP
import ARCPWebSocket
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A server plus a log of what its connection handler saw.
struct TestServer {
    let server: WebSocketServer
    let events: BoundedAsyncQueue<String>
    var port: Int { server.port ?? 0 }
    var url: String { "ws://127.0.0.1:\(port)/arcp" }

    /// Starts a server whose handler echoes every frame and logs how the connection ended
    /// ("end" or "error: …").
    static func echo(
        _ configuration: WebSocketServer.Configuration = .init(),
        onShutdown: (@Sendable () async -> Void)? = nil
    ) async throws -> TestServer {
        try await start(configuration, onShutdown: onShutdown) { transport, events in
            do {
                while let message = try await transport.receive() {
                    try await transport.send(message)
                }
                try? await events.send("end")
            } catch {
                try? await events.send("error: \(error)")
            }
        }
    }

    static func start(
        _ configuration: WebSocketServer.Configuration = .init(),
        onShutdown: (@Sendable () async -> Void)? = nil,
        handler: @escaping @Sendable (any Transport, BoundedAsyncQueue<String>) async -> Void
    ) async throws -> TestServer {
        let events = BoundedAsyncQueue<String>(capacity: 1000)
        let server = WebSocketServer(configuration: configuration, onShutdown: onShutdown) { transport in
            await handler(transport, events)
        }
        try await server.start()
        return TestServer(server: server, events: events)
    }

    /// The next logged event, or nil when none comes within `timeout` (so a broken test fails
    /// instead of hanging).
    func nextEvent(timeout: Duration = .seconds(30)) async throws -> String? {
        let events = self.events
        return try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask { try await events.next() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }
}

/// A tiny blocking HTTP/1.1 exchange over a POSIX socket, for non-WebSocket requests. Runs on
/// its own thread so the blocking calls never occupy the cooperative pool.
func rawHTTP(port: Int, request: String) async -> String {
    await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
        let thread = Thread {
            continuation.resume(returning: blockingHTTP(port: port, request: request))
        }
        thread.start()
    }
}

private func blockingHTTP(port: Int, request: String) -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return "socket failed" }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { return "connect failed" }
    let bytes = Array(request.utf8)
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response.append(contentsOf: buffer[0..<n])
    }
    return String(decoding: response, as: UTF8.self)
}

/// A TCP port bound on 127.0.0.1 without listening: connections to it are refused.
struct ReservedPort {
    let fd: Int32
    let port: Int

    init?() {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            close(fd)
            return nil
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    func release() { close(fd) }
}

/// Runs `openssl` to make a self-signed certificate for `localhost`/127.0.0.1.
/// Returns (certificate PEM path, key PEM path), or nil when openssl is not available.
func makeSelfSignedCertificate() -> (cert: String, key: String)? {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-tls-\(UUID().uuidString)")
    do {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    } catch {
        return nil
    }
    let cert = dir.appendingPathComponent("cert.pem").path
    let key = dir.appendingPathComponent("key.pem").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do {
        try process.run()
    } catch {
        return nil
    }
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return (cert, key)
}

let opensslAvailable: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["openssl", "version"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}()

/// Waits (polling briefly) until `condition` holds or `timeout` passes; returns the final value.
func eventually(timeout: Duration = .seconds(10), _ condition: @Sendable () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now > deadline { return false }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return true
}
