/// The terminal frame (`job.result` or `job.error`, spec §7.3, §8.3) of a job's `JobEnding`:
/// one pure function, so every way a job ends is spelled once and tested without a runtime.
package enum JobTerminalFrame {
    /// What the frame needs besides the ending.
    package struct Context: Sendable, Equatable {
        /// The runtime's wire compatibility (`pythonReference` sends a cancelled job's end as
        /// `job.error CANCELLED` with `final_status: "error"` and a timeout as `job.result
        /// timed_out`, the forms the reference client (1.1.3) accepts).
        package var compatibility: ARCPRuntime.Configuration.Compatibility
        /// The lease's effective `expires_at` text, for the `LEASE_EXPIRED` message.
        package var leaseExpiresAt: String?
        /// The currency whose budget ran out, for the `BUDGET_EXHAUSTED` message.
        package var exhaustedCurrency: String?

        package init(
            compatibility: ARCPRuntime.Configuration.Compatibility, leaseExpiresAt: String? = nil, exhaustedCurrency: String? = nil
        ) {
            self.compatibility = compatibility
            self.leaseExpiresAt = leaseExpiresAt
            self.exhaustedCurrency = exhaustedCurrency
        }
    }

    /// The frame's message for `ending`, completed at `completedAt`.
    package static func message(for ending: JobEnding, context: Context, completedAt: String) -> Message {
        switch ending {
        case .success(let output, let summary):
            return .jobResult(JobResultPayload(finalStatus: .success, result: output, summary: summary, completedAt: completedAt))
        case .streamed(let id, let size, let summary):
            return .jobResult(JobResultPayload(finalStatus: .success, resultId: id, resultSize: size, summary: summary, completedAt: completedAt))
        case .failure(let e):
            return error(e, completedAt: completedAt)
        case .stopped(let reason):
            let compat = context.compatibility == .pythonReference
            switch reason {
            case .cancelled(let why):
                // The reference client's `JobErrorPayload.final_status` is `Literal["error"]`
                // (it rejects the spec's "cancelled"), and it reads `job.result cancelled` as a
                // normal end: `job.error CANCELLED` with "error" is the form it raises
                // `CancelledError` for (its examples/cancel/client.py expects that).
                let status: FinalStatus = compat ? .error : .cancelled
                return error(
                    ARCPError(.cancelled, why.map { "cancelled: \($0)" } ?? "job cancelled", retryable: false, finalStatus: status),
                    completedAt: completedAt)
            case .parentCancelled:
                return error(
                    ARCPError(.cancelled, "the parent job was cancelled or ended", retryable: false, finalStatus: .cancelled),
                    completedAt: completedAt)
            case .timedOut:
                if compat { return .jobResult(JobResultPayload(finalStatus: .timedOut, completedAt: completedAt)) }
                return error(ARCPError(.timeout, "job exceeded max_runtime_sec", retryable: false, finalStatus: .timedOut), completedAt: completedAt)
            case .leaseExpired:
                let at = context.leaseExpiresAt.map { "the lease expired at \($0)" } ?? "the lease expired"
                return error(ARCPError(.leaseExpired, at, retryable: false, finalStatus: .error), completedAt: completedAt)
            case .budgetExhausted:
                let currency = context.exhaustedCurrency.map { " for \($0)" } ?? ""
                return error(
                    ARCPError(.budgetExhausted, "cost.budget\(currency) is exhausted", retryable: false, finalStatus: .error),
                    completedAt: completedAt)
            case .shutdown:
                return error(ARCPError(.cancelled, "runtime shutting down", retryable: true, finalStatus: .cancelled), completedAt: completedAt)
            case .drainExpired(let node, let seconds):
                var details: JSONObject = ["reason": "drain_timeout", "drain_timeout_sec": .int(seconds)]
                if let node { details["node"] = .string(node) }
                let who = node.map { "node \($0)" } ?? "the runtime"
                return error(
                    ARCPError(
                        .internalError, "\(who) shut down and the job did not finish within its drain bound (\(seconds) s); submit it again",
                        retryable: true, details: .object(details), finalStatus: .error),
                    completedAt: completedAt)
            }
        }
    }

    /// The final status a terminal message carries.
    package static func status(of message: Message) -> JobStatus {
        switch message {
        case .jobResult(let r): return JobStatus(rawValue: r.finalStatus.rawValue)
        case .jobError(let e): return JobStatus(rawValue: (e.finalStatus ?? .error).rawValue)
        default: return .error
        }
    }

    private static func error(_ e: ARCPError, completedAt: String) -> Message {
        .jobError(JobErrorPayload(
            code: e.code, message: e.message, retryable: e.retryable, details: e.details, finalStatus: e.finalStatus ?? .error,
            completedAt: completedAt))
    }
}
