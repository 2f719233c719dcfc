import ARCP
@testable import ARCPPostgres
import ARCPTestSupport
import Foundation
import Logging
import Testing

/// Why the PostgreSQL tests did not run on this machine (shown by the skipped test).
let postgresMissing = "PostgreSQL is not installed: Scripts/install-system-deps.sh installs Debian's postgresql package"

@Suite("PostgreSQL URLs")
struct PostgresLocationTests {
    @Test func parsesEveryPart() throws {
        let l = try PostgresLocation(url: "postgres://ann:p%40ss@db.example:6543/arcp?sslmode=require")
        #expect(l.host == "db.example")
        #expect(l.port == 6543)
        #expect(l.user == "ann")
        #expect(l.password == "p@ss")
        #expect(l.database == "arcp")
        #expect(l.tls == .require)
        // The description never shows the password.
        #expect(l.description == "postgres://ann@db.example:6543/arcp")
    }

    @Test func defaultsAndIPv6() throws {
        let l = try PostgresLocation(url: "postgresql://ann@[::1]/arcp")
        #expect(l.host == "::1")
        #expect(l.port == 5432)
        #expect(l.tls == .prefer)
        #expect(l.description == "postgres://ann@[::1]:5432/arcp")
    }

    @Test(arguments: [
        "http://ann@h/db", "postgres://h/db", "postgres://ann@h", "postgres://ann@h/a/b", "postgres://ann@h/db?sslmode=maybe",
        "postgres://ann@h/db?pool=3", "not a url",
    ])
    func refusesWhatItCannotUse(_ url: String) {
        #expect(throws: PostgresLocationError.self) { try PostgresLocation(url: url) }
    }

    @Test func errorsNeverShowThePassword() {
        let error = #expect(throws: PostgresLocationError.self) { try PostgresLocation(url: "http://ann:hunter2@h/db") }
        #expect(error?.description.contains("hunter2") == false)
    }
}

@Suite("PostgreSQL store: migrations and faults")
struct PostgresStoreTests {
    /// Makes the skip visible, with its reason, where PostgreSQL is missing.
    @Test(.enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)))
    func theThrowawayServerStarts() async throws {
        let url = try await PostgresServer.makeDatabase(prefix: "start")
        #expect(url.hasPrefix("postgres://postgres@127.0.0.1:"))
    }

    @Test(.enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)))
    func migrationsApplyOnceAndInOrder() async throws {
        let url = try await PostgresServer.makeDatabase(prefix: "migrate")
        // Three processes starting at once: each migration is applied exactly once.
        let stores = try await withThrowingTaskGroup(of: PostgresRuntimeStore.self) { group in
            for _ in 0..<3 { group.addTask { try await PostgresRuntimeStore.connect(url: url, connectTimeout: .seconds(60)) } }
            var out: [PostgresRuntimeStore] = []
            for try await s in group { out.append(s) }
            return out
        }
        defer { for s in stores { s.close() } }
        #expect(try await stores[0].schemaVersions() == PostgresSchema.migrations.map(\.version))
        #expect(PostgresSchema.latest >= 2)
        // A later start applies nothing.
        let again = try await PostgresRuntimeStore.connect(url: url, connectTimeout: .seconds(60))
        defer { again.close() }
        #expect(try await PostgresSchema.migrate(again.db.client, logger: again.logger).isEmpty)
    }

    @Test(.enabled(if: PostgresServer.isInstalled, Comment(rawValue: postgresMissing)))
    func aNewerSchemaIsRefused() async throws {
        let url = try await PostgresServer.makeDatabase(prefix: "newer")
        let store = try await PostgresRuntimeStore.connect(url: url, connectTimeout: .seconds(60))
        try await store.db.client.query(
            "INSERT INTO arcp_schema_migration (version, name) VALUES (\(PostgresSchema.latest + 1), 'from the future')",
            logger: store.logger)
        store.close()
        await #expect(throws: PostgresSchemaError.newerSchema(found: PostgresSchema.latest + 1, known: PostgresSchema.latest)) {
            let s = try await PostgresRuntimeStore.connect(url: url, connectTimeout: .seconds(60))
            s.close()
        }
    }

    @Test func anUnreachableServerIsAClearErrorSoon() async throws {
        // Nothing listens on a port the OS just handed out and took back.
        let port = PostgresServer.freePort()
        let started = ContinuousClock.now
        let error = await #expect(throws: PostgresUnavailableError.self) {
            let s = try await PostgresRuntimeStore.connect(url: "postgres://arcp@127.0.0.1:\(port)/arcp", connectTimeout: .seconds(2))
            s.close()
        }
        #expect(error?.description.contains("cannot reach PostgreSQL at postgres://arcp@127.0.0.1:\(port)/arcp") == true)
        #expect(ContinuousClock.now - started < .seconds(30))
    }
}
