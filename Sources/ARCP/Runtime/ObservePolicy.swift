/// Who may subscribe to (and list) a job submitted by another principal (spec §7.6, §14).
public enum ObservePolicy: Sendable {
    /// Only the submitting principal (the default the spec requires).
    case samePrincipal
    /// A custom rule: `(observer, owner) -> allowed`. The submitter is always allowed.
    case custom(@Sendable (_ observer: String, _ owner: String) -> Bool)

    func allows(observer: String, owner: String) -> Bool {
        if observer == owner { return true }
        switch self {
        case .samePrincipal: return false
        case .custom(let f): return f(observer, owner)
        }
    }
}
