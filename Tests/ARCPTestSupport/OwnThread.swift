import Foundation

/// Runs blocking work (a child process's `waitUntilExit`, a compiler run, seconds of CPU) on a
/// thread of its own and awaits its result.
///
/// Swift Testing runs the suite's tests in parallel on the cooperative pool, which has one thread
/// per core: two on a CI machine. A test that blocks one of them for a minute (building a fixture
/// package, compiling generated code) stalls every other test, and their timeouts fire. The
/// closure runs outside any task, so it must not record issues (`#expect`): return what the test
/// should check instead.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
