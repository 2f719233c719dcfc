import ARCP
import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// Where and how to reach PostgreSQL: a `postgres://` URL, read once.
///
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]`
/// (also `postgresql://`; the password and names may be percent-encoded). The port defaults
/// to 5432, `sslmode` to `prefer`.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    /// Whether the connection uses TLS (the URL's `sslmode`).
    public enum TLSMode: String, Sendable, Equatable {
        /// `disable`: never; `prefer`: TLS when the server offers it, plain otherwise (also
        /// `sslmode=allow`); `require`: TLS or no connection, with the server's certificate verified
        /// (also `verify-ca`, `verify-full`).
        case disable, prefer, require
    }

    /// The server's host name or address (an IPv6 address without brackets).
    public var host: String
    /// The server's TCP port (default 5432).
    public var port: Int
    /// The role to connect as.
    public var user: String
    /// The role's password, if the server asks for one; never part of `description`.
    public var password: String?
    /// The database to use.
    public var database: String
    /// Whether to use TLS (default `prefer`).
    public var tls: TLSMode

    /// A location from its parts.
    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String, tls: TLSMode = .prefer) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses a `postgres://` URL.
    /// - Throws: `PostgresLocationError` naming what is wrong.
    public init(url text: String) throws {
        guard let url = URLComponents(string: text) else { throw PostgresLocationError("not a URL: \(Self.redacted(text))") }
        guard let scheme = url.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql" else {
            throw PostgresLocationError("the URL must start with postgres:// (got \(Self.redacted(text)))")
        }
        guard let host = url.host, !host.isEmpty else { throw PostgresLocationError("the URL has no host: \(Self.redacted(text))") }
        guard let user = url.user, !user.isEmpty else {
            throw PostgresLocationError("the URL has no user (postgres://USER@HOST:PORT/DB): \(Self.redacted(text))")
        }
        let database = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        guard !database.isEmpty, !database.contains("/") else {
            throw PostgresLocationError("the URL names no database (postgres://USER@HOST:PORT/DB): \(Self.redacted(text))")
        }
        let port = url.port ?? 5432
        guard (1...65535).contains(port) else { throw PostgresLocationError("port \(port) is out of range") }
        var tls = TLSMode.prefer
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                switch item.value {
                case "disable": tls = .disable
                case "allow", "prefer": tls = .prefer
                case "require", "verify-ca", "verify-full": tls = .require
                default: throw PostgresLocationError("unknown sslmode \(item.value ?? "")")
                }
            default:
                throw PostgresLocationError("unknown URL parameter \(item.name) (only sslmode is understood)")
            }
        }
        self.init(
            host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, port: port, user: user,
            password: url.password, database: database, tls: tls)
    }

    /// The URL without its password.
    public var description: String { "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)" }

    static func redacted(_ text: String) -> String {
        guard var url = URLComponents(string: text), url.password != nil else { return text }
        url.password = "***"
        return url.string ?? "(unreadable URL)"
    }

    var clientConfiguration: PostgresClient.Configuration {
        let tlsConfiguration: PostgresClient.Configuration.TLS =
            switch tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        return PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tlsConfiguration)
    }
}

/// A `postgres://` URL that cannot be used.
public struct PostgresLocationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// PostgreSQL could not be reached or used at start.
public struct PostgresUnavailableError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A connection pool to one database (`PostgresClient`, run for as long as this object
/// lives), the schema migrated. Shared by the store and the cluster.
final class PostgresDatabase: Sendable {
    let location: PostgresLocation
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>

    /// Connects (checking that the server answers within `connectTimeout`) and migrates.
    /// - Throws: `PostgresUnavailableError` with the reason when the server cannot be
    ///   reached or refuses us; `PostgresSchemaError` for a schema newer than this build.
    static func connect(
        _ location: PostgresLocation, maxConnections: Int, connectTimeout: Duration = .seconds(10), logger: Logger
    ) async throws -> PostgresDatabase {
        var configuration = location.clientConfiguration
        configuration.options.maximumConnections = max(2, maxConnections)
        configuration.options.connectTimeout = connectTimeout
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(10))
        let db = PostgresDatabase(location: location, configuration: configuration, logger: logger)
        do {
            // The pool retries a failed connection for as long as the query waits: bound it.
            try await withTimeout(connectTimeout + .seconds(1)) {
                try await db.client.query("SELECT 1", logger: logger)
            }
        } catch {
            db.close()
            throw PostgresUnavailableError("cannot reach PostgreSQL at \(location): \(describe(error))")
        }
        do {
            try await PostgresSchema.migrate(db.client, logger: logger)
        } catch let e as PostgresSchemaError {
            db.close()
            throw e
        } catch {
            db.close()
            throw PostgresUnavailableError("cannot migrate the database at \(location): \(describe(error))")
        }
        return db
    }

    private init(location: PostgresLocation, configuration: PostgresClient.Configuration, logger: Logger) {
        self.location = location
        self.logger = logger
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        runner = Task { await client.run() }
    }

    /// Closes every connection. Later queries fail.
    func close() {
        runner.cancel()
    }

    /// Runs `body` in one transaction on one connection: committed when it returns, rolled
    /// back when it throws (its error is rethrown as is).
    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { conn in
            try await conn.query("BEGIN", logger: logger)
            let value: T
            do {
                value = try await body(conn)
            } catch {
                _ = try? await conn.query("ROLLBACK", logger: logger)
                throw error
            }
            try await conn.query("COMMIT", logger: logger)
            return value
        }
    }
}

/// A short, readable description of a PostgreSQL error (`PSQLError` hides its details from
/// `description` on purpose; the server's message and SQLSTATE are what an operator needs).
func describe(_ error: any Error) -> String {
    if let e = error as? PSQLError {
        var parts = ["\(e.code)"]
        if let message = e.serverInfo?[.message] { parts.append(message) }
        if let state = e.serverInfo?[.sqlState] { parts.append("SQLSTATE \(state)") }
        if let underlying = e.underlying { parts.append("\(underlying)") }
        return parts.joined(separator: ": ")
    }
    if let e = error as? PostgresTransactionError {
        return describe(e.closureError ?? e.commitError ?? e.beginError ?? e.rollbackError ?? error)
    }
    return "\(error)"
}

/// Runs `body`, throwing `PostgresTimeoutError` when it has not finished within `limit`.
@discardableResult
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withDeadline(limit, timedOut: { PostgresTimeoutError(limit: limit) }, body)
}

/// A database operation did not finish in time.
struct PostgresTimeoutError: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "no answer within \(limit)" }
}

extension Date {
    /// Seconds since the reference date: how instants are stored (exact round trip).
    var storedValue: Double { timeIntervalSinceReferenceDate }

    init(stored: Double) { self.init(timeIntervalSinceReferenceDate: stored) }
}
