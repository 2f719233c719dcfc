import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Hands memory the retention freed back to the operating system.
///
/// glibc's allocator keeps what a thread frees in that thread's arena: after a burst of big
/// jobs on many threads, a runtime that dropped every one of them still shows their peak in
/// its resident size, for as long as it runs (the hostile suite measured +18 MiB after
/// 10 × 2 MiB inputs, none of it reachable). `malloc_trim(0)` returns the free pages of every
/// arena. It walks the arenas under their locks, so it runs only after something was freed,
/// from the retention sweeper's task, at most once per `Configuration.Retention.trimInterval`.
///
/// `malloc_trim` is looked up at run time (Swift's Glibc module does not export `malloc.h`);
/// where it does not exist (Darwin, musl) this does nothing.
package final class FreedMemory: Sendable {
    /// Set on every job end and connection close (a hot path: one atomic store, no lock).
    private let freedSinceTrim = Atomic<Bool>(false)
    /// When the last trim ran (uptime); only the sweeper's task reads and writes it.
    private let lastTrim = RankedMutex<Duration?>(.leaf, nil)

    package init() {}

    /// Something was freed: a job ended, a connection closed, finished jobs were dropped, a
    /// session expired. (Setting a flag: the trim itself waits for the sweeper.)
    package func noteFreed() {
        freedSinceTrim.store(true, ordering: .relaxed)
    }

    /// Trims when something was freed since the last trim and `interval` passed (uptime
    /// `now`). Returns whether it trimmed.
    @discardableResult
    package func trimIfDue(at now: Duration, every interval: Duration?) -> Bool {
        guard let interval, freedSinceTrim.load(ordering: .relaxed) else { return false }
        let due = lastTrim.withLock { last -> Bool in
            if let l = last, now - l < interval { return false }
            last = now
            return true
        }
        guard due else { return false }
        // Cleared before the trim: what is freed while it runs is trimmed next time.
        freedSinceTrim.store(false, ordering: .relaxed)
        Self.trim()
        return true
    }

    private typealias MallocTrim = @convention(c) (Int) -> Int32

    /// glibc's `malloc_trim`, if this process has it.
    private static let mallocTrim: MallocTrim? = {
        #if canImport(Glibc)
        // RTLD_DEFAULT (a null handle): the symbol as the process resolves it.
        guard let symbol = dlsym(nil, "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: MallocTrim.self)
        #else
        return nil
        #endif
    }()

    static func trim() {
        _ = mallocTrim?(0)
    }
}
