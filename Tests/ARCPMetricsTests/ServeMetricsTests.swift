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

    /// `--trace-spans FILE` with `--metrics-port`: both instrumentations installed at once
    /// (`MultiplexInstrumentation`); the job's span carries the client's trace id.
    @Test func tracingAndMetricsTogether() async throws {
        let arcp = try ArcpBinary.require()
        let spans = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-spans-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: spans) }
        let server = try TestProcess(
            arcp, ["serve", "--port", "0", "--token", "tok", "--metrics-port", "0", "--trace-spans", spans, "--log-level", "error"])
        let listening = try #require(await server.line(startingWith: "LISTENING "), "stderr: \(server.stderr)")
        let metricsLine = try #require(await server.line(startingWith: "METRICS "), "stderr: \(server.stderr)")
        var options = ARCPClient.Options()
        options.logger.logLevel = .critical
        let client = ARCPClient(token: "tok", options: options)
        try await client.connect(try await WebSocketTransport.connect(to: String(listening.dropFirst("LISTENING ".count))))
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        let job = try await client.submit(agent: "echo", input: 1, traceID: trace)
        #expect(try await job.result().result == ["echoed": 1])

        let x = Exposition(try await get(String(metricsLine.dropFirst("METRICS ".count))).body)
        #expect(x.value("arcp_jobs_finished_total", ["agent": "echo", "status": "success"]) == 1, "\(x)")
        await client.close()
        #expect(await server.stop() == 0)

        let lines = try String(contentsOfFile: spans, encoding: .utf8).split(separator: "\n").map(String.init)
        let objects = lines.compactMap { try? JSONParser.parse($0) }
        #expect(objects.count == lines.count, "every line is JSON: \(lines)")
        let jobSpan = try #require(objects.first { $0["name"]?.stringValue == "arcp.job echo" }, "spans: \(lines)")
        #expect(jobSpan["trace_id"]?.stringValue == trace)
        #expect(jobSpan["attributes"]?["arcp.job_id"]?.stringValue == job.jobID)
        #expect(objects.contains { $0["name"]?.stringValue == "arcp.session" })
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
