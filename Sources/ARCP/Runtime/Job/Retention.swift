import Foundation

extension ARCPRuntime.Configuration {
    /// How long what a finished job holds is kept (issue 10: nothing grows without bound).
    ///
    /// A finished job stays listed (`session.list_jobs`), subscribable (`job.subscribe` gets
    /// its history and outcome) and, with an idempotency key, answerable to a resubmit
    /// (spec §7.2), until the first of these drops it (oldest ended first):
    /// - its age since it ended passes `finishedJobs` (`idempotencyWindow` for a job
    ///   submitted with an `idempotency_key`);
    /// - more than `maxFinishedJobs` finished jobs are held;
    /// - the finished jobs hold more than `maxFinishedJobBytes` (their event history and
    ///   terminal frames, as encoded on the wire).
    ///
    /// Dropping a job frees its history, releases its idempotency key and, with
    /// `deleteFromStore`, deletes its record from the `RuntimeStore`. Ages are measured on
    /// `Configuration.leaseClock` (inject a `ManualLeaseClock` in tests).
    public struct Retention: Sendable {
        /// How long a finished job is kept after it ended.
        public var finishedJobs: Duration = .seconds(600)
        /// How long a finished job submitted with an `idempotency_key` is kept, so that a
        /// resubmit with the same key gets the same job (draft-02 §7.2's default window:
        /// 24 hours). The count and byte caps still apply.
        public var idempotencyWindow: Duration = .seconds(86_400)
        /// Most finished jobs held at once.
        public var maxFinishedJobs = 10_000
        /// Most bytes the finished jobs' histories and terminal frames may hold at once.
        public var maxFinishedJobBytes = 256 << 20
        /// Whether a dropped job's record is also deleted from the runtime store, an expired
        /// session's record and events too, and idempotency records older than
        /// `idempotencyWindow` purged.
        public var deleteFromStore = true
        /// How often the retention is applied by time (the caps apply at once).
        public var sweepInterval: Duration = .seconds(1)
        /// How often the runtime store is swept for sessions past their resume window and
        /// idempotency records past `idempotencyWindow` (with a store and `deleteFromStore`).
        public var storeSweepInterval: Duration = .seconds(60)
        /// How often, at most, memory the retention freed is handed back to the operating
        /// system (glibc's `malloc_trim`, after a sweep that dropped jobs or sessions); nil
        /// never. Without it glibc keeps a burst's peak in per-thread arenas for good.
        public var trimInterval: Duration? = .seconds(5)
        /// The defaults above.
        public init() {}
    }
}

/// A finished job the job table dropped: what the runtime must release with it.
package struct RetiredJob: Sendable, Equatable {
    package var id: String
    package var principal: String
    package var idempotencyKey: String?

    package init(id: String, principal: String, idempotencyKey: String?) {
        self.id = id
        self.principal = principal
        self.idempotencyKey = idempotencyKey
    }
}

/// The retention rules the in-memory job table applies, from `Configuration.Retention`.
package struct JobRetentionPolicy: Sendable {
    package var finishedJobs: Duration
    package var keyedJobs: Duration
    package var maxFinishedJobs: Int
    package var maxFinishedBytes: Int

    package init(finishedJobs: Duration, keyedJobs: Duration, maxFinishedJobs: Int, maxFinishedBytes: Int) {
        self.finishedJobs = finishedJobs
        self.keyedJobs = max(keyedJobs, finishedJobs)
        self.maxFinishedJobs = max(0, maxFinishedJobs)
        self.maxFinishedBytes = max(0, maxFinishedBytes)
    }

    package init(_ r: ARCPRuntime.Configuration.Retention) {
        self.init(
            finishedJobs: r.finishedJobs, keyedJobs: r.idempotencyWindow, maxFinishedJobs: r.maxFinishedJobs,
            maxFinishedBytes: r.maxFinishedJobBytes)
    }

    /// Keeps everything (a table built without a policy).
    package static let keepEverything = JobRetentionPolicy(
        finishedJobs: .seconds(1 << 53), keyedJobs: .seconds(1 << 53), maxFinishedJobs: .max, maxFinishedBytes: .max)
}

/// Where a `session.list_jobs` page ends: the listing order's key, `(createdAt, id)`, so a
/// cursor stays valid when the job it names is dropped meanwhile (keyset pagination). On
/// the wire it is opaque (base64 of `<createdAt bits in hex>:<job id>`).
package struct JobListingKey: Sendable, Hashable, Comparable {
    package var createdAt: Date
    package var id: String

    package init(createdAt: Date, id: String) {
        self.createdAt = createdAt
        self.id = id
    }

    package static func < (a: JobListingKey, b: JobListingKey) -> Bool {
        a.createdAt != b.createdAt ? a.createdAt < b.createdAt : a.id < b.id
    }

    /// The opaque wire form.
    package var cursor: String {
        let bits = String(createdAt.timeIntervalSinceReferenceDate.bitPattern, radix: 16)
        return Data("\(bits):\(id)".utf8).base64EncodedString()
    }

    /// Reads a wire cursor; nil when it is not one this runtime made.
    package init?(cursor: String) {
        guard cursor.utf8.count <= 512, let data = Data(base64Encoded: cursor), let text = String(data: data, encoding: .utf8),
            let colon = text.firstIndex(of: ":"), let bits = UInt64(text[..<colon], radix: 16)
        else { return nil }
        let id = String(text[text.index(after: colon)...])
        let interval = Double(bitPattern: bits)
        guard id.hasPrefix("job_"), interval.isFinite else { return nil }
        self.init(createdAt: Date(timeIntervalSinceReferenceDate: interval), id: id)
    }
}
