import ARCP
import ARCPTesting
import Foundation
import Testing

/// One row of the matcher attack corpus: an operation and whether the lease must allow it.
struct LeaseMatcherCase: Sendable, CustomTestStringConvertible {
    let namespace: LeaseNamespace
    let target: String
    let allowed: Bool
    let why: String

    var testDescription: String { "\(allowed ? "allow" : "deny") \(namespace) \(target.debugDescription): \(why)" }
}

private func allow(_ ns: LeaseNamespace, _ target: String, _ why: String) -> LeaseMatcherCase {
    LeaseMatcherCase(namespace: ns, target: target, allowed: true, why: why)
}

private func deny(_ ns: LeaseNamespace, _ target: String, _ why: String) -> LeaseMatcherCase {
    LeaseMatcherCase(namespace: ns, target: target, allowed: false, why: why)
}

/// The lease every corpus row runs against.
let leaseCorpusGrants: [String: [String]] = [
    "fs.read": ["/workspace/app/**", "/data/*.csv", "/srv/www/public/*"],
    "fs.write": ["/workspace/app/out/**"],
    "net.fetch": ["https://api.example.com/v1/**", "https://*.github.com/repos/**", "http://localhost:8080/health"],
    "tool.call": ["search.*", "mcp:github/*", "humanq.ask"],
    "agent.delegate": ["test-runner", "lint-runner@2.*"],
    "model.use": ["tier-fast/*", "anthropic/claude-3-haiku-*"],
]

let leaseAttackCorpus: [LeaseMatcherCase] = [
    // Filesystem: plain coverage and normalization.
    allow(.fsRead, "/workspace/app/src/main.swift", "inside the granted tree"),
    allow(.fsRead, "/workspace/app", "** matches zero segments"),
    allow(.fsRead, "/workspace/app/", "trailing slash normalized"),
    allow(.fsRead, "/workspace/app/./src//main.swift", "dot segment and duplicate slash removed"),
    allow(.fsRead, "/workspace//app/x", "duplicate slash before the granted tree"),
    allow(.fsRead, "/../workspace/app/x", ".. at root clamps to root"),
    allow(.fsRead, "/workspace/app/x/..", "resolves to the granted directory itself"),
    deny(.fsRead, "/workspace/application/x", "a prefix of a segment is not the segment"),
    deny(.fsRead, "/WORKSPACE/app/x", "paths are case-sensitive"),
    // Filesystem: traversal.
    deny(.fsRead, "/workspace/app/../secret", "traversal out of the tree"),
    deny(.fsRead, "/workspace/app/src/../../secret", "two-level traversal"),
    deny(.fsRead, "/workspace/app/..", "resolves to the parent of the grant"),
    deny(.fsWrite, "/workspace/app/out/../src/a.swift", "traversal out of the writable tree"),
    // Filesystem: encoded and double-encoded traversal.
    deny(.fsRead, "/workspace/app/%2e%2e/secret", "encoded dot segment"),
    deny(.fsRead, "/workspace/app/%2E%2E/%2E%2E/etc/passwd", "upper-case encoded dot segments"),
    deny(.fsRead, "/workspace/app/.%2e/secret", "half-encoded dot segment"),
    deny(.fsRead, "/workspace/app/..%2fsecret", "encoded slash"),
    deny(.fsRead, "/workspace/app/%2fetc", "encoded slash at segment start"),
    deny(.fsRead, "/workspace/app/..%5c..%5cetc", "encoded backslash"),
    deny(.fsRead, "/workspace/app/%252e%252e/secret", "double-encoded dot segment is not decoded twice"),
    deny(.fsRead, "/workspace/app/%25252e%25252e/x", "triple encoding"),
    deny(.fsRead, "/workspace/app/%c0%ae%c0%ae/x", "overlong UTF-8 dots"),
    deny(.fsRead, "/workspace/app/a%00b", "encoded NUL"),
    deny(.fsRead, "/workspace/app/a\u{0}b", "raw NUL"),
    deny(.fsRead, "/workspace/app\\..\\..\\etc\\passwd", "backslash separators"),
    allow(.fsRead, "/workspace/app/a%20b.txt", "an escape inside a name: both readings are inside"),
    deny(.fsRead, "/srv/www/publi%63/index.html", "the literal reading is outside the grant"),
    // Filesystem: relative and empty.
    deny(.fsRead, "workspace/app/x", "relative path"),
    deny(.fsRead, "./workspace/app/x", "relative path with dot"),
    deny(.fsRead, "~/workspace/app/x", "home-relative path"),
    deny(.fsRead, "", "empty path"),
    // Filesystem: single-segment wildcards and trailing slashes.
    allow(.fsRead, "/data/report.csv", "* inside a segment"),
    allow(.fsRead, "/data/.csv", "in-segment * may match nothing"),
    allow(.fsRead, "/data/report.csv/", "trailing slash on a file"),
    deny(.fsRead, "/data/sub/report.csv", "* never crosses a separator"),
    deny(.fsRead, "/data/report.CSV", "case differs"),
    deny(.fsRead, "/data/report.csv.exe", "anchored at the end"),
    allow(.fsRead, "/srv/www/public/index.html", "whole-segment * matches one segment"),
    deny(.fsRead, "/srv/www/public", "whole-segment * needs one segment"),
    deny(.fsRead, "/srv/www/public/", "trailing slash does not create a segment"),
    deny(.fsRead, "/srv/www/public/a/b", "* matches exactly one segment"),
    allow(.fsRead, "/workspace/app/x\u{FF0F}..\u{FF0F}..\u{FF0F}etc", "fullwidth solidus is not a separator: the name stays inside"),
    allow(.fsWrite, "/workspace/app/out/a.json", "inside the writable tree"),
    deny(.fsWrite, "/workspace/app/src/a.swift", "readable but not writable"),
    // URLs: canonical forms that stay allowed.
    allow(.netFetch, "https://api.example.com/v1/users", "inside the granted prefix"),
    allow(.netFetch, "https://api.example.com/v1", "** matches zero segments"),
    allow(.netFetch, "https://API.EXAMPLE.COM/v1/users", "host case folded"),
    allow(.netFetch, "HTTPS://api.example.com/v1/users", "scheme case folded"),
    allow(.netFetch, "https://api.example.com:443/v1/users", "explicit default port"),
    allow(.netFetch, "https://api.example.com:0443/v1/x", "port with a leading zero is 443"),
    allow(.netFetch, "https://api.example.com./v1/x", "trailing dot of a fully-qualified host"),
    allow(.netFetch, "https://api.example.com/v2/../v1/users", "traversal back into the grant"),
    allow(.netFetch, "https://api.example.com/v1/search?q=../../admin", "the query is not part of the path"),
    allow(.netFetch, "https://www.github.com/repos/apple/swift", "* matches one host label"),
    allow(.netFetch, "http://localhost:8080/health", "exact URL"),
    allow(.netFetch, "http://LOCALHOST:8080/health/", "host case and trailing slash"),
    // URLs: tricks.
    deny(.netFetch, "https://api.example.com:8443/v1/users", "non-default port"),
    deny(.netFetch, "http://api.example.com/v1/users", "scheme differs"),
    deny(.netFetch, "https://api.example.com.evil.com/v1/", "suffix domain"),
    deny(.netFetch, "https://api.example.com@evil.com/v1/", "userinfo hiding the real host"),
    deny(.netFetch, "https://user:pass@api.example.com/v1/x", "userinfo is refused even for the granted host"),
    deny(.netFetch, "https://evil.com#@api.example.com/v1/", "fragment hiding the real host"),
    deny(.netFetch, "https://evil.com?@api.example.com/v1/", "query hiding the real host"),
    deny(.netFetch, "https://api.example.com\\@evil.com/v1", "backslash in the authority"),
    deny(.netFetch, "https://api.example.com%2eevil.com/v1", "percent-encoding in the host"),
    deny(.netFetch, "https://api.example.com/v1/../admin", "path traversal"),
    deny(.netFetch, "https://api.example.com/v1/%2e%2e/admin", "encoded path traversal"),
    deny(.netFetch, "https://api.example.com/v1/..%2fadmin", "encoded slash in the path"),
    deny(.netFetch, "https://api.example.com/v1/%252e%252e/admin", "double-encoded traversal"),
    deny(.netFetch, "https://api.ex\u{0430}mple.com/v1/", "Cyrillic a look-alike in the host"),
    deny(.netFetch, "https://github.com/repos/x", "*. needs one label"),
    deny(.netFetch, "https://a.b.github.com/repos/x", "* matches one label only"),
    deny(.netFetch, "https://evilgithub.com/repos/x", "label boundary"),
    deny(.netFetch, "https://www.github.com.evil.io/repos/x", "granted host as a subdomain"),
    deny(.netFetch, "http://localhost/health", "default port 80 is not 8080"),
    deny(.netFetch, "http://127.0.0.1:8080/health", "an IP is not the granted name"),
    deny(.netFetch, "https://[::1]:8080/health", "IPv6 literal"),
    deny(.netFetch, "https://api.example.com/v1/a b", "raw space"),
    deny(.netFetch, "https:///api.example.com/v1", "empty host"),
    deny(.netFetch, "//api.example.com/v1/x", "no scheme"),
    deny(.netFetch, "https://api.example.com:99999/v1", "port out of range"),
    deny(.netFetch, "https://api.example.com:0/v1", "port zero"),
    deny(.netFetch, "https:api.example.com/v1", "no authority"),
    // Tool names.
    allow(.toolCall, "search.web", "one segment under search"),
    deny(.toolCall, "search.web.deep", "* matches one segment"),
    deny(.toolCall, "search", "* needs a segment"),
    deny(.toolCall, "search.", "empty segment"),
    deny(.toolCall, "search/web", "separators must match"),
    allow(.toolCall, "mcp:github/create_issue", "slash-separated tool name"),
    deny(.toolCall, "mcp:github/a/b", "two segments"),
    deny(.toolCall, "mcp:github.create", "dot instead of slash"),
    deny(.toolCall, "MCP:github/x", "case-sensitive"),
    allow(.toolCall, "humanq.ask", "exact name"),
    deny(.toolCall, "humanq.askx", "anchored"),
    deny(.toolCall, "humanq.\u{0430}sk", "Cyrillic a look-alike"),
    deny(.toolCall, "search.web\n", "control character"),
    // Agent references.
    allow(.agentDelegate, "test-runner", "exact agent"),
    allow(.agentDelegate, "test-runner@1.0.0", "a versionless pattern covers every version"),
    deny(.agentDelegate, "test-runner-evil", "anchored"),
    allow(.agentDelegate, "lint-runner@2.3.1", "version glob"),
    deny(.agentDelegate, "lint-runner@3.0.0", "other major version"),
    deny(.agentDelegate, "lint-runner", "the pattern requires a version"),
    deny(.agentDelegate, "lint-runner@2.3@x", "two @"),
    // Models.
    allow(.modelUse, "tier-fast/gpt-4o-mini", "tier glob"),
    deny(.modelUse, "tier-fast/a/b", "one segment"),
    deny(.modelUse, "tier-fast", "segment required"),
    allow(.modelUse, "anthropic/claude-3-haiku-20240307", "prefix glob"),
    allow(.modelUse, "anthropic/claude-3-haiku-3.5", "dots are not model separators"),
    deny(.modelUse, "anthropic/claude-3-opus-20240229", "other model"),
    deny(.modelUse, "anthropic/claude-3-haiku", "the literal '-' is required"),
]

@Suite("Lease matcher attack corpus")
struct LeaseMatcherAttackTests {
    @Test("corpus has at least 60 cases, both outcomes")
    func corpusSize() {
        #expect(leaseAttackCorpus.count >= 60)
        #expect(leaseAttackCorpus.contains { $0.allowed })
        #expect(leaseAttackCorpus.contains { !$0.allowed })
    }

    @Test("each case is allowed or denied as expected", arguments: leaseAttackCorpus)
    func corpus(_ c: LeaseMatcherCase) throws {
        let lease = try ValidatedLease(leaseCorpusGrants)
        // The lexical matcher's corpus: symlink resolution (on by default) would also consult
        // this machine's filesystem, where /workspace does not exist (LeaseSymlinkTests cover it).
        let authority = try LeaseAuthority(lease: lease, clock: ManualLeaseClock(), configuration: .init(resolveSymlinks: false))
        #expect(lease.covers(c.namespace, c.target) == c.allowed)
        if c.allowed {
            #expect(throws: Never.self) { try authority.authorize(c.namespace, c.target) }
        } else {
            let error = #expect(throws: LeaseError.self) { try authority.authorize(c.namespace, c.target) }
            #expect(error?.code == .permissionDenied)
        }
    }

    @Test("denial messages escape hostile targets")
    func messagesEscape() throws {
        let authority = try LeaseAuthority(lease: try ValidatedLease(leaseCorpusGrants), clock: ManualLeaseClock())
        let error = #expect(throws: LeaseError.self) { try authority.authorize(.fsRead, "/etc/passwd\n[INFO] granted") }
        #expect(error?.message.contains("\n") == false)
        #expect(error?.wireCode == "PERMISSION_DENIED")
        #expect(error?.retryable == false)
    }
}

/// A temporary directory tree with symlinks, removed on deinit.
final class LeaseSymlinkFixture {
    let root: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("lease-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        // Resolve the temp dir itself (on macOS /var is a symlink to /private/var).
        root = try FileManager.default.destinationOfSymbolicLinkOrSelf(base.path)
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/granted/sub", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/secret", withIntermediateDirectories: true)
        _ = fm.createFile(atPath: root + "/granted/file.txt", contents: Data("ok".utf8))
        _ = fm.createFile(atPath: root + "/secret/key", contents: Data("secret".utf8))
        try fm.createSymbolicLink(atPath: root + "/granted/escape", withDestinationPath: root + "/secret")
        try fm.createSymbolicLink(atPath: root + "/granted/relative-escape", withDestinationPath: "../secret/key")
        try fm.createSymbolicLink(atPath: root + "/granted/inner", withDestinationPath: root + "/granted/sub")
        try fm.createSymbolicLink(atPath: root + "/granted/dangling", withDestinationPath: root + "/secret/new-file")
        try fm.createSymbolicLink(atPath: root + "/link-to-granted", withDestinationPath: root + "/granted")
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }
}

extension FileManager {
    fileprivate func destinationOfSymbolicLinkOrSelf(_ path: String) throws -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }
}

@Suite("Lease symlink resolution")
struct LeaseSymlinkTests {
    @Test("symlinks escaping the granted tree are denied")
    func escapes() throws {
        let fx = try LeaseSymlinkFixture()
        let lease = try ValidatedLease(["fs.read": [fx.root + "/granted/**"], "fs.write": [fx.root + "/granted/**"]])
        let config = LeaseAuthority.Configuration(resolveSymlinks: true)
        let authority = try LeaseAuthority(lease: lease, clock: ManualLeaseClock(), configuration: config)
        let cases: [(String, Bool)] = [
            ("/granted/file.txt", true),
            ("/granted/sub", true),
            ("/granted/inner/anything", true),
            ("/granted/new-file.txt", true),
            ("/granted/new-dir/new-file.txt", true),
            ("/granted/escape/key", false),
            ("/granted/escape", false),
            ("/granted/escape/new-file", false),
            ("/granted/relative-escape", false),
            ("/granted/dangling", false),
            ("/granted/sub/../escape/key", false),
        ]
        for (suffix, allowed) in cases {
            #expect(authority.isAuthorized(.fsRead, fx.root + suffix) == allowed, "fs.read \(suffix)")
            #expect(authority.isAuthorized(.fsWrite, fx.root + suffix) == allowed, "fs.write \(suffix)")
        }
    }

    @Test("without resolution only the lexical path counts")
    func lexicalOnly() throws {
        let fx = try LeaseSymlinkFixture()
        let lease = try ValidatedLease(["fs.read": [fx.root + "/granted/**"]])
        let authority = try LeaseAuthority(lease: lease, clock: ManualLeaseClock(), configuration: .init(resolveSymlinks: false))
        #expect(authority.isAuthorized(.fsRead, fx.root + "/granted/escape/key"))
    }

    @Test("a grant through a symlinked directory covers its real location, and only that")
    func grantThroughSymlink() throws {
        let fx = try LeaseSymlinkFixture()
        let lease = try ValidatedLease(["fs.read": [fx.root + "/link-to-granted/**"]])
        let authority = try LeaseAuthority(lease: lease, clock: ManualLeaseClock(), configuration: .init(resolveSymlinks: true))
        #expect(authority.isAuthorized(.fsRead, fx.root + "/link-to-granted/file.txt"))
        #expect(!authority.isAuthorized(.fsRead, fx.root + "/granted/file.txt"))
        #expect(!authority.isAuthorized(.fsRead, fx.root + "/link-to-granted/escape/key"))
    }
}
