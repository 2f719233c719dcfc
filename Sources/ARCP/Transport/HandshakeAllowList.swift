/// The origin and host allow-lists of a WebSocket endpoint, judged on the handshake's header
/// values: one rule for every HTTP integration (today `ARCPVapor`; `ARCPWebSocket`'s server
/// and `ARCPHummingbird` keep their own copy until the shared WebSocket core lands).
package struct HandshakeAllowList: Sendable {
    /// Lower-cased; `nil` allows any.
    package let origins: Set<String>?
    /// Lower-cased; `nil` allows any.
    package let hosts: Set<String>?

    package init(origins: Set<String>?, hosts: Set<String>?) {
        self.origins = origins.map { Set($0.map { $0.lowercased() }) }
        self.hosts = hosts.map { Set($0.map { $0.lowercased() }) }
    }

    /// Why a handshake with these `Host` and `Origin` values is refused, or nil when it is not.
    package func refusal(host: String?, origin: String?) -> String? {
        if let hosts {
            guard let host = host?.lowercased(), hosts.contains(host) || hosts.contains(Self.stripPort(host)) else {
                return "host not allowed"
            }
        }
        // A browser always sends Origin on a WebSocket handshake; other clients usually do not,
        // and could claim any Origin anyway. So the allow-list judges requests that carry one.
        if let origins, let origin, !origins.contains(origin.lowercased()) {
            return "origin not allowed"
        }
        return nil
    }

    /// Whether the header values ask for a WebSocket upgrade: `Connection` lists `upgrade`,
    /// `Upgrade` lists `websocket`, and a `Sec-WebSocket-Key` is present.
    package static func isWebSocketHandshake(connection: [String], upgrade: [String], hasKey: Bool) -> Bool {
        func lists(_ values: [String], _ token: String) -> Bool {
            values.contains { value in
                value.split(separator: ",").contains { $0.filter { $0 != " " && $0 != "\t" }.lowercased() == token }
            }
        }
        return hasKey && lists(connection, "upgrade") && lists(upgrade, "websocket")
    }

    /// `host` without its port (`[::1]:8080` → `[::1]`, `example.com:443` → `example.com`).
    package static func stripPort(_ host: String) -> String {
        if host.hasPrefix("[") {
            if let close = host.firstIndex(of: "]") { return String(host[...close]) }
            return host
        }
        if let colon = host.lastIndex(of: ":") { return String(host[..<colon]) }
        return host
    }
}
