/// Which WebSocket handshakes an ARCP endpoint accepts: the `Host` and `Origin` allow-lists, in
/// one place for every adapter. Each adapter reads the two headers from its framework's request
/// and answers a refusal in its framework's way (the stand-alone server with the status and
/// message, Hummingbird with its own 400).
package struct UpgradePolicy: Sendable {
    /// Lower-cased; `nil` allows any.
    package let allowedOrigins: Set<String>?
    /// Lower-cased; `nil` allows any.
    package let allowedHosts: Set<String>?

    package init(allowedOrigins: Set<String>?, allowedHosts: Set<String>?) {
        self.allowedOrigins = allowedOrigins.map { Set($0.map { $0.lowercased() }) }
        self.allowedHosts = allowedHosts.map { Set($0.map { $0.lowercased() }) }
    }

    /// Why a handshake with these headers may not be upgraded, or `nil` when it may.
    /// - Parameters:
    ///   - host: the `Host` header (or HTTP/2 `:authority`), if any.
    ///   - origin: the `Origin` header, if any.
    package func refusal(host: String?, origin: String?) -> UpgradeRefusal? {
        if let allowedHosts {
            guard let host = host?.lowercased(), allowedHosts.contains(host) || allowedHosts.contains(Self.stripPort(host))
            else { return .hostNotAllowed }
        }
        // A browser always sends Origin on a WebSocket handshake; other clients usually do not,
        // and could claim any Origin anyway. So the allow-list judges requests that carry one.
        if let allowedOrigins, let origin, !allowedOrigins.contains(origin.lowercased()) {
            return .originNotAllowed
        }
        return nil
    }

    /// Whether the header values ask for a WebSocket upgrade: `Connection` lists `upgrade`,
    /// `Upgrade` lists `websocket`, and a `Sec-WebSocket-Key` is present (for an adapter whose
    /// framework routes the request before it is upgraded, to answer anything else with 426).
    package static func isWebSocketHandshake(connection: [String], upgrade: [String], hasKey: Bool) -> Bool {
        func lists(_ values: [String], _ token: String) -> Bool {
            values.contains { value in
                value.split(separator: ",").contains { $0.filter { $0 != " " && $0 != "\t" }.lowercased() == token }
            }
        }
        return hasKey && lists(connection, "upgrade") && lists(upgrade, "websocket")
    }

    /// `host:port` → `host`; `[v6]:port` → `[v6]`.
    static func stripPort(_ host: String) -> String {
        if host.hasPrefix("[") {
            if let close = host.firstIndex(of: "]") { return String(host[...close]) }
            return host
        }
        if let colon = host.lastIndex(of: ":") { return String(host[..<colon]) }
        return host
    }
}

/// A refused WebSocket handshake: the HTTP status and a one-line message for the body.
package struct UpgradeRefusal: Error, Sendable, Equatable {
    /// HTTP status code, e.g. 403, 503.
    package var status: Int
    /// Plain text for the response body.
    package var message: String
    /// Seconds for a `Retry-After` header, when retrying later can succeed.
    package var retryAfterSeconds: Int?

    package init(status: Int, message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    package static let hostNotAllowed = UpgradeRefusal(status: 403, message: "forbidden: host not allowed")
    package static let originNotAllowed = UpgradeRefusal(status: 403, message: "forbidden: origin not allowed")

    /// The server holds its maximum number of connections.
    package static func tooManyConnections(limit: Int) -> UpgradeRefusal {
        UpgradeRefusal(
            status: 503, message: "service unavailable: too many connections (limit \(limit)); try again later",
            retryAfterSeconds: 1)
    }
}
