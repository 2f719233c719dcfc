import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A short, one-line description of a network error: what a person needs, not a NIO dump.
func describeNetworkError(_ error: any Error) -> String {
    switch error {
    case let error as IOError:
        return errnoText(error.errnoCode)
    case let error as NIOConnectionError:
        return describeConnectionError(error)
    case let error as ChannelError:
        switch error {
        case .connectTimeout(let amount):
            return "timed out after \(describeDuration(amount))"
        case .ioOnClosedChannel, .alreadyClosed, .eof, .outputClosed, .inputClosed:
            return "connection closed"
        default:
            return "\(error)"
        }
    case let error as NIOSSLError:
        return describeTLSError(error)
    case let error as NIOSSLExtraError:
        return "TLS: \(error.description.prefix(160))"
    default:
        return String(String(describing: error).prefix(200))
    }
}

func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code)).lowercased()
}

/// `10 s`, `0.25 s`.
func describeDuration(_ amount: TimeAmount) -> String {
    let s = Double(amount.nanoseconds) / 1e9
    return s == s.rounded() ? "\(Int(s)) s" : "\(s) s"
}

private func describeConnectionError(_ error: NIOConnectionError) -> String {
    let target = error.host.contains(":") ? "[\(error.host)]:\(error.port)" : "\(error.host):\(error.port)"
    if let first = error.connectionErrors.first {
        let what: String
        if let io = first.error as? IOError {
            what = errnoText(io.errnoCode)
        } else {
            what = describeNetworkError(first.error)
        }
        let address = first.target.ipAddress.map { ip in
            first.target.protocol == .inet6 ? "[\(ip)]:\(error.port)" : "\(ip):\(error.port)"
        } ?? target
        return "\(what) (\(address))"
    }
    if error.dnsAError != nil || error.dnsAAAAError != nil {
        return "cannot resolve host \(error.host)"
    }
    return "cannot connect to \(target)"
}

private func describeTLSError(_ error: NIOSSLError) -> String {
    switch error {
    case .handshakeFailed(let inner):
        return "TLS handshake failed: \(shortBoringSSL(inner))"
    case .uncleanShutdown:
        return "TLS connection closed without close_notify"
    default:
        return "TLS error: \(String(describing: error).prefix(160))"
    }
}

/// `… SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at …` → `certificate verify failed`.
private func shortBoringSSL(_ error: BoringSSLError) -> String {
    let text = String(describing: error)
    // Runs of [A-Z0-9_]; BoringSSL's reason is the last such run with an inner underscore.
    var tokens: [String] = []
    var current = ""
    for scalar in text.unicodeScalars {
        if ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "_" {
            current.unicodeScalars.append(scalar)
        } else {
            if !current.isEmpty { tokens.append(current) }
            current = ""
        }
    }
    if !current.isEmpty { tokens.append(current) }
    let reason = tokens.last { token in
        token.count >= 6 && token.dropLast().contains("_") && !token.hasSuffix("_")
            && token.contains(where: { $0.isLetter })
    }
    if let reason {
        return reason.replacingUnderscores().lowercased()
    }
    return String(text.prefix(160))
}

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(map { $0 == "_" ? " " : $0 })
    }
}
