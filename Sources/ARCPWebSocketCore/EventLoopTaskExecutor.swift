import NIOCore
import Synchronization

/// A connection's event loop as a Swift `TaskExecutor`: a transport's `preferredExecutor`, where
/// the runtime (and the client) decode, dispatch and answer that connection's frames, on the
/// thread that reads and writes its socket, with no hop in between. A frame read by the event
/// loop wakes the session's read loop on the same thread (an enqueue on the loop's own task
/// queue, no system call), and what the session sends is written from there.
///
/// swift-nio 2.101 makes an `EventLoop` a `SerialExecutor` (for actors) but not a
/// `TaskExecutor`; this is the adapter, one per connection.
///
/// Only work that neither blocks nor runs long may be given to it: every connection on the same
/// event loop waits while it runs. The runtime keeps agent bodies and store I/O on the
/// cooperative pool; the transports' own code on it never blocks (locks are held for a few
/// instructions, waiting is always a suspension).
///
/// **When the connection is gone** (``retire()``, called from the channel's close future), jobs
/// go to the global concurrent executor instead: an event loop that has shut down drops what it
/// is given, which would leave a suspended task waiting forever. A job enqueued before the
/// retirement is still run by the loop: NIO closes a loop's channels (which retires their
/// executors) before it stops, and runs the tasks already queued.
package final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop jobs run on while the connection is open.
    package let eventLoop: any EventLoop
    private let retired = Atomic<Bool>(false)

    package init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Whether jobs now go to the global concurrent executor.
    package var isRetired: Bool { retired.load(ordering: .acquiring) }

    /// From now on, jobs run on the global concurrent executor (the connection closed).
    package func retire() {
        retired.store(true, ordering: .releasing)
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if retired.load(ordering: .acquiring) {
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
            return
        }
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
