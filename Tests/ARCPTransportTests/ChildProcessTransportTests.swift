import ARCP
import ARCPSubprocess
import Testing

@Suite("ChildProcessTransport", .timeLimit(.minutes(1)))
struct ChildProcessTransportTests {
    @Test func catEchoesFramesAndExitsOnClose() async throws {
        let child = try await ChildProcessTransport.spawn(executable: "/bin/cat")
        #expect(child.processIdentifier > 0)
        for i in 0..<100 {
            try await child.send("{\"n\":\(i)}")
        }
        for i in 0..<100 {
            #expect(try await child.receive() == "{\"n\":\(i)}")
        }
        let ending = await child.closeAndWait()
        #expect(ending == .exited(0), "cat exits by itself once its stdin is closed")
        #expect(try await child.receive() == nil)
        await child.close()  // idempotent
    }

    @Test func pathLookupArgumentsAndEnvironment() async throws {
        let child = try await ChildProcessTransport.spawn(
            executable: "sh",
            arguments: ["-c", #"printf '{"v":"%s"}\n' "$ARCP_TEST_VALUE"; exit 3"#],
            environment: ["ARCP_TEST_VALUE": "hello"]
        )
        #expect(try await child.receive() == #"{"v":"hello"}"#)
        #expect(try await child.receive() == nil, "child exited: end of input")
        #expect(await child.closeAndWait() == .exited(3))
    }

    @Test func missingExecutableIsAOneLineError() async {
        await #expect(throws: TransportError.connectFailed("cannot start /nonexistent/arcp-runtime: executable not found")) {
            _ = try await ChildProcessTransport.spawn(executable: "/nonexistent/arcp-runtime")
        }
    }

    @Test func childThatIgnoresEndOfInputIsTerminated() async throws {
        let child = try await ChildProcessTransport.spawn(
            executable: "/bin/sleep", arguments: ["30"], gracePeriod: .milliseconds(100))
        let ending = await child.closeAndWait()
        // `sleep 30` that was not terminated would end `.exited(0)` after 30 s: SIGTERM proves the
        // grace period ran out and the child was stopped (no wall-clock bound: it flakes under load).
        #expect(ending == .signalled(15), "SIGTERM after the grace period")
    }
}
