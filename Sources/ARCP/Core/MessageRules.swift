/// Protocol facts about message types and job states, shared by the client, the runtime and
/// the CLI.
extension Message {
    /// Whether a client may send this message type to a runtime.
    public var isClientToRuntime: Bool {
        switch self {
        case .sessionHello, .sessionResume, .sessionPing, .sessionPong, .sessionAck, .sessionListJobs, .sessionBye,
            .sessionClose, .jobSubmit, .jobCancel, .jobSubscribe, .jobUnsubscribe, .sessionError:
            return true
        default:
            return false
        }
    }
}

extension JobStatus {
    /// `true` for the states a job never leaves (`success`, `error`, `cancelled`, `timed_out`).
    public var isTerminal: Bool {
        switch self {
        case .success, .error, .cancelled, .timedOut: return true
        default: return false
        }
    }
}
