// Code a user writes against the generated API, following the evolution policy in
// docs/CODEGEN.md: every switch over a generated enum ends in `default:`, so a minor schema
// release that adds a message type, event kind, error code or feature compiles unchanged
// (and without a warning). The same file is compiled against the shipped schema
// (ShippedConsumer) and against a newer draft (DraftConsumer, through a symlink).
#if DRAFT
import DraftWire
#else
import ARCPGenerated
#endif

/// One line for an event body.
public func describe(_ body: EventBody) -> String {
    switch body {
    case .log(let l): return "log \(l.level): \(l.message)"
    case .progress(let p): return "progress \(p.current)"
    case .vendor(let kind, _): return "vendor \(kind)"
    default: return "\(body.kind) \(body.bodyJSON)"  // kinds a later schema adds
    }
}

/// One line for a message.
public func describe(_ message: Message) -> String {
    switch message {
    case .jobEvent(let e): return describe(e.body)
    case .jobError(let e): return "error \(e.code)"
    case .unknown(let type, _): return "unknown \(type)"
    default: return message.type  // message types a later schema adds
    }
}

/// Whether to retry after an error code.
public func isRetryable(_ code: ErrorCode) -> Bool {
    switch code {
    case .timeout, .heartbeatLost: return true
    case .unknown: return false
    default: return false  // codes a later schema adds
    }
}

/// Feature flags: compare values, never switch exhaustively.
public func wantsProgress(_ features: [Feature]) -> Bool {
    features.contains(.progress)
}
