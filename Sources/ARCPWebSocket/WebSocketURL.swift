import ARCP

/// The parts of a `ws://` or `wss://` URL.
struct WebSocketURL: Equatable {
    var secure: Bool
    var host: String
    var port: Int
    /// Path and query, e.g. `/arcp?x=1`.
    var target: String

    /// The `Host` header value.
    var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        let defaultPort = secure ? 443 : 80
        return port == defaultPort ? h : "\(h):\(port)"
    }

    /// `host:port` for messages.
    var endpoint: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    init(secure: Bool, host: String, port: Int, target: String) {
        self.secure = secure
        self.host = host
        self.port = port
        self.target = target
    }

    /// Parses `ws://host[:port][/path][?query]`; an empty path becomes `/arcp`.
    init(parsing text: String) throws {
        let lower = text.lowercased()
        let rest: Substring
        if lower.hasPrefix("ws://") {
            secure = false
            rest = text.dropFirst(5)
        } else if lower.hasPrefix("wss://") {
            secure = true
            rest = text.dropFirst(6)
        } else {
            throw TransportError.connectFailed("unsupported URL \"\(text)\": use ws:// or wss://")
        }
        let withoutFragment = rest.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let authorityEnd = withoutFragment.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? withoutFragment.endIndex
        let authority = withoutFragment[..<authorityEnd]
        var target = String(withoutFragment[authorityEnd...])
        if target.isEmpty || target.hasPrefix("?") { target = "/arcp" + target }
        if authority.contains("@") {
            throw TransportError.connectFailed("credentials in the URL are not supported: pass an Authorization header")
        }
        var hostPart: Substring
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw TransportError.connectFailed("invalid URL \"\(text)\": unterminated IPv6 address")
            }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() } else if !after.isEmpty {
                throw TransportError.connectFailed("invalid URL \"\(text)\"")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        } else {
            hostPart = authority
        }
        guard !hostPart.isEmpty else { throw TransportError.connectFailed("invalid URL \"\(text)\": no host") }
        var port = secure ? 443 : 80
        if let portPart {
            guard let p = Int(portPart), (1...65535).contains(p) else {
                throw TransportError.connectFailed("invalid URL \"\(text)\": bad port")
            }
            port = p
        }
        self.host = String(hostPart)
        self.port = port
        self.target = target
    }
}
