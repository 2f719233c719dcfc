import Logging
import Synchronization

/// Captures every log record (message and metadata, rendered) of a runtime.
public final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    public init() {}

    /// Every record so far, as `LEVEL message key=value…` (metadata sorted by key).
    public var all: [String] { lines.withLock { $0 } }

    /// A logger whose records land here.
    public var logger: Logger {
        Logger(label: "arcp.test") { _ in CapturingHandler(capture: self) }
    }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
            capture.append("\(event.level) \(event.message) \(all.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " "))")
        }
    }
}
