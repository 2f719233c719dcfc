import ARCP
import ARCPTestSupport
import ARCPWebSocket
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// `arcp serve --metrics-port 0`: the METRICS line, and a scrape over HTTP after a job.
@Suite("arcp serve --metrics-port", .timeLimit(.minutes(1)))
struct ServeMetricsTests {
    func get(_ url: String, method: HTTPMethod = .GET) async throws -> (status: UInt, contentType: String?, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, response.headers.first(name: "content-type"), String(buffer: body))
    }

    @Test func scrapesWhatTheRuntimeDid() async throws {
        let arcp = try ArcpBinary.require()
        let server = try TestProcess(arcp, ["serve", "--port", "0", "--token", "tok", "--metrics-port", "0", "--log-level", "error"])
        let listening = try #require(await server.line(startingWith: "LISTENING "), "stderr: \(server.stderr)")
        let metricsLine = try #require(await server.line(startingWith: "METRICS "), "stderr: \(server.stderr)")
        let metricsURL = String(metricsLine.dropFirst("METRICS ".count))
        #expect(metricsURL.hasPrefix("http://127.0.0.1:") && metricsURL.hasSuffix("/metrics"))

        var options = ARCPClient.Options()
        options.logger.logLevel = .critical
        let client = ARCPClient(token: "tok", options: options)
        try await client.connect(try await WebSocketTransport.connect(to: String(listening.dropFirst("LISTENING ".count))))
        #expect(try await client.submit(agent: "echo", input: 1).result().result == ["echoed": 1])
        await #expect(throws: ARCPError.self) { try await client.submit(agent: "fails", input: [:]).result() }

        let scrape = try await get(metricsURL)
        #expect(scrape.status == 200)
        #expect(scrape.contentType?.hasPrefix("text/plain; version=0.0.4") == true)
        let x = Exposition(scrape.body)
        #expect(x.value("arcp_jobs_finished_total", ["agent": "echo", "status": "success"]) == 1, "\(x)")
        #expect(x.value("arcp_jobs_finished_total", ["agent": "fails", "status": "error"]) == 1)
        #expect(x.value("arcp_session_events_total", ["event": "opened"]) == 1)
        #expect(x.value("arcp_sessions_connected") == 1)
        #expect(x.value("arcp_job_duration_seconds_bucket", ["agent": "echo", "le": "3600.0"]) == 1)

        let base = String(metricsURL.dropLast("/metrics".count))
        #expect(try await get(base + "/elsewhere").status == 404)
        #expect(try await get(metricsURL, method: .POST).status == 405)
        await client.close()
        #expect(await server.stop() == 0)
    }

    @Test func aMetricsPortThatIsTakenIsAClearError() async throws {
        let arcp = try ArcpBinary.require()
        let first = try TestProcess(arcp, ["serve", "--port", "0", "--token", "tok", "--metrics-port", "0", "--log-level", "error"])
        let line = try #require(await first.line(startingWith: "METRICS "), "stderr: \(first.stderr)")
        let port = try #require(URLComponents(string: String(line.dropFirst("METRICS ".count)))?.port)
        let second = try TestProcess(arcp, ["serve", "--port", "0", "--token", "tok", "--metrics-port", "\(port)"])
        #expect(await second.wait() == 2)
        #expect(second.stderr.contains("--metrics-port \(port)"), "\(second.stderr)")
        #expect(await first.stop() == 0)
    }
}
