import ARCPTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The commands the PostgreSQL tests run (`runOffPool`): bounded, and isolated from this
/// process's descriptors.
@Suite("Test processes")
struct SpawnTests {
    #if os(Linux)
    /// A command the tests start (the PostgreSQL server among them) gets none of this
    /// process's descriptors: a server holding the write end of another test's pipe kept that
    /// test's read from ever reaching end of file (the full suite hung).
    @Test func aSpawnedCommandInheritsNoDescriptor() async throws {
        let pipe = Pipe()
        let fd = pipe.fileHandleForWriting.fileDescriptor
        // Foundation leaves it inheritable (else this test would prove nothing).
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC == 0)
        let (status, _, out) = try await runOffPool("/bin/sh", ["-c", "if [ -e /proc/self/fd/\(fd) ]; then echo inherited; else echo closed; fi"])
        #expect(status == 0)
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "closed", "descriptor \(fd): \(out)")
        try pipe.fileHandleForWriting.close()
    }
    #endif

    @Test func aCommandPastItsTimeIsKilled() async throws {
        // Killed (SIGKILL, said in its output), not run to its end: no timing asserted.
        let (status, _, out) = try await runOffPool("/bin/sleep", ["60"], timeout: .milliseconds(200))
        #expect(status == 128 + SIGKILL, "\(out)")
        #expect(out.contains("killed after"), "\(out)")
    }
}
