#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

// The runtime's lock order.
//
// Every lock the runtime's engine takes is a `RankedMutex` (or, for the job table that every
// connection and job reaches, a `ParkingMutex`) with a `LockRank`. A thread may take
// a lock only while every lock it already holds has a lower rank, so the order below is total
// and no cycle (no deadlock between two of these locks) can form. Debug builds check it on
// every acquisition and trap on a violation, so any test that reaches an inversion fails.
//
//   10  JobEventFanOut (one per job)       — history, subscribers, the job's terminal frame
//   20  RuntimeSession (one per session)   — lifecycle, outbox, resume tokens
//   30  leaves                              — RuntimeJob's lifecycle, the session table, the job
//                                             table, the idempotency index, the agent registry,
//                                             the connection table, the store writer's queue
//
// Three rules make the order hold by construction rather than by care:
// 1. The tables (`SessionTable`, `JobTable`, `IdempotencyIndex`) are `async` protocols, and a
//    `Mutex` body is synchronous: no table is ever reached while an engine lock is held. Their
//    in-memory implementations keep values and references only and call nothing while
//    holding their own lock.
// 2. A session never refers to jobs: a job's fan-out delivers to sessions (10 → 20), never the
//    other way. (Issue 10 item 8 was the inversion attach → welcome builder → registry against
//    expiry → registry → session: the welcome is now built before the session lock is taken,
//    and expiry is a transition of the session's own state machine, with the table removal
//    done afterwards, outside any lock.)
// 3. Leaves call out to nothing: a state machine transition runs under the lock, and its
//    actions (resuming continuations, cancelling tasks, instrumentation, hooks) run after the
//    lock is released.

/// The rank of a runtime lock (see the lock order above).
package enum LockRank: Int, Sendable, Comparable {
    case jobFanOut = 10
    case session = 20
    case leaf = 30

    package static func < (a: LockRank, b: LockRank) -> Bool { a.rawValue < b.rawValue }
}

/// A `Mutex` with a place in the runtime's lock order (checked in debug builds).
package struct RankedMutex<Value: ~Copyable>: ~Copyable, Sendable {
    private let mutex: Mutex<Value>
    package let rank: LockRank

    package init(_ rank: LockRank, _ value: consuming sending Value) {
        self.rank = rank
        mutex = Mutex(value)
    }

    /// Runs `body` with the value, holding the lock.
    @inline(__always)
    package borrowing func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        #if DEBUG
        let held = LockOrderCheck.acquire(rank)
        defer { LockOrderCheck.release(restoring: held) }
        #endif
        return try mutex.withLock(body)
    }
}

/// A lock for the runtime-wide tables that every connection and every job reaches (the job
/// table), with a place in the runtime's lock order like `RankedMutex`.
///
/// `Mutex` on Linux spins about a thousand `pause` instructions (tens of microseconds) before
/// it parks a waiter, which pays when the holder is running on another CPU and is about to
/// release. A table lock is taken from the event loops (every submit) and from the pool
/// (every job's end); on a host with fewer CPUs than busy threads its holder is often the
/// thread that was just preempted, and the spin is then pure waste: 11 % of the runtime's
/// CPU in the 50-session echo measurement (docs/BENCHMARKS.md, "Contention on the job
/// table"). A `pthread_mutex_t` of the default kind parks at once instead. Its critical
/// sections must stay short, as a `RankedMutex`'s; per-session and per-job locks, rarely
/// contended and taken several times per event, stay `RankedMutex`es.
package final class ParkingMutex<Value: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `value` (itself Sendable) is read and written only inside
    // `withLock`, between `pthread_mutex_lock` and `pthread_mutex_unlock` of `mutex`, which
    // orders every access; `mutex` is allocated once, never moves, and is destroyed only in
    // `deinit`, when no other reference exists.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value
    package let rank: LockRank

    package init(_ rank: LockRank, _ value: Value) {
        self.rank = rank
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        // With default attributes it cannot fail (glibc, musl and Darwin return 0).
        _ = pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock.
    @inline(__always)
    package func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        #if DEBUG
        let held = LockOrderCheck.acquire(rank)
        defer { LockOrderCheck.release(restoring: held) }
        #endif
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

#if DEBUG
/// The highest rank held by the current thread, kept in a thread-specific slot (a `Mutex`
/// body never suspends, so the slot follows the lock's scope exactly).
package enum LockOrderCheck {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The rank held now (0: none).
    package static var held: Int { Int(bitPattern: pthread_getspecific(key)) }

    static func acquire(_ rank: LockRank) -> Int {
        let held = Self.held
        precondition(rank.rawValue > held, "runtime lock order violated: taking a rank-\(rank.rawValue) lock while holding rank \(held)")
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: rank.rawValue))
        return held
    }

    static func release(restoring held: Int) {
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: held))
    }
}
#endif
