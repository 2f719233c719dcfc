/// Every scenario of the kit, in spec order.
public enum ScenarioCatalog {
    /// All scenarios: wire format, sessions, resume, heartbeats and acks, listing and close,
    /// jobs, subscription, events, leases and delegation, trace ids, errors, bad input, security.
    public static let all: [Scenario] =
        wire + sessions + resume + heartbeat + listJobs + jobs + subscription + events + leases + errors

    /// The scenario with `id`.
    public static func scenario(_ id: String) -> Scenario? { all.first { $0.id == id } }
}
