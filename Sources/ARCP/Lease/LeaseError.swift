/// Why a lease check, a lease parse or a delegation failed (spec §9, §10, §12).
///
/// `code` names the ARCP error the caller reports on the wire (`wireCode` gives its
/// spelling); `message` is a readable explanation that never contains secrets and quotes
/// caller-supplied text only in an escaped, truncated form. All of these errors are
/// non-retryable: retrying the same operation under the same lease fails identically.
public struct LeaseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The error codes the lease layer can produce (a subset of the §12 taxonomy).
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The operation is not covered by the effective lease (§9.3, §9.7).
        case permissionDenied = "PERMISSION_DENIED"
        /// The lease's `expires_at` has passed (§9.5).
        case leaseExpired = "LEASE_EXPIRED"
        /// A `cost.budget` counter is at or below zero (§9.6).
        case budgetExhausted = "BUDGET_EXHAUSTED"
        /// A delegated lease would expand the parent's authority (§9.4, §10).
        case leaseSubsetViolation = "LEASE_SUBSET_VIOLATION"
        /// A lease, pattern, amount or timestamp is malformed (§9.2, §9.5, §9.6).
        case invalidRequest = "INVALID_REQUEST"
    }

    /// Which error this is.
    public let code: Code
    private let detail: Detail

    /// Creates an error with a code and a message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.detail = .text(message)
    }

    /// A denial whose message is only formatted when read (denials on the hot path of
    /// `authorize` must not pay for string formatting).
    init(_ code: Code, _ detail: Detail) {
        self.code = code
        self.detail = detail
    }

    /// A human-readable explanation.
    public var message: String {
        switch detail {
        case .text(let text):
            return text
        case .notCovered(let namespace, let target):
            return "\(namespace) of \(LeaseText.quote(target)) is not covered by the lease"
        case .rejected(let namespace, let target, let reason):
            return "\(namespace) of \(LeaseText.quote(target)) denied: \(reason)"
        case .namespaceNotGranted(let namespace, let target):
            return "the lease grants no \(namespace); \(namespace) of \(LeaseText.quote(target)) denied"
        }
    }

    /// Message parts, formatted lazily by `message`.
    enum Detail: Sendable {
        case text(String)
        case notCovered(LeaseNamespace, String)
        case rejected(LeaseNamespace, String, reason: String)
        case namespaceNotGranted(LeaseNamespace, String)
    }

    public static func == (a: LeaseError, b: LeaseError) -> Bool { a.code == b.code && a.message == b.message }

    /// The §12 wire spelling of `code`, e.g. `"PERMISSION_DENIED"`.
    public var wireCode: String { code.rawValue }

    /// Always `false`: §12 requires `LEASE_EXPIRED` and `BUDGET_EXHAUSTED` to be
    /// non-retryable, and the other lease errors fail identically on retry too.
    public var retryable: Bool { false }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// The error `LeaseAuthority.authorize(_:_:)` throws; the same type as `LeaseError`.
public typealias LeaseDenial = LeaseError

/// Safe rendering of untrusted text inside error messages.
enum LeaseText {
    /// Quotes `s` for a message: at most `limit` characters, control and non-ASCII
    /// characters escaped, so that a hostile target cannot forge log lines or hide
    /// look-alike characters.
    static func quote(_ s: String, limit: Int = 160) -> String {
        var out = "\""
        var count = 0
        for scalar in s.unicodeScalars {
            if count >= limit {
                out += "…"
                break
            }
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case " "..."~": out.unicodeScalars.append(scalar)
            default: out += "\\u{\(String(scalar.value, radix: 16))}"
            }
            count += 1
        }
        out += "\""
        return out
    }

    /// Quotes raw bytes (which may not be UTF-8) for a message.
    static func quote(bytes: [UInt8], limit: Int = 160) -> String {
        var out = "\""
        for (i, b) in bytes.enumerated() {
            if i >= limit {
                out += "…"
                break
            }
            switch b {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(b))
            default: out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }
        }
        out += "\""
        return out
    }
}
