import Foundation
import Synchronization

/// A `CredentialProvisioner` configured by a JSON file (`arcp serve --credentials-file`):
/// each job gets, for every matching entry of the file, a short-lived HS256-signed JWT
/// that the upstream gateway verifies with the entry's shared key, and revocation appends
/// the token's `jti` to a deny-list file the gateway reads.
///
/// Why signed tokens and not static keys: a credential value must never be reused across
/// jobs (§9.8.2), must be bounded by the lease (§9.8.3) and must be revocable at the
/// upstream. A static key in a file is none of these. A JWT per job is: unique (its `jti`),
/// expiring at the lease's `expires_at` or after `ttl_sec`, whichever comes first, carrying
/// the lease's `model.use` patterns and `cost.budget` as claims, and revocable through the
/// deny-list. API gateways (Envoy `jwt_authn`, Kong, NGINX, LiteLLM's JWT auth, or a few
/// lines in any proxy) verify HS256 tokens with a shared key.
///
/// The file (see docs/CLI.md, "Provisioned credentials"):
///
/// ```json
/// {
///   "revocation_list": "/var/lib/arcp/revoked-jti.txt",
///   "credentials": [
///     {
///       "name": "gateway",
///       "endpoint": "https://llm-gateway.internal/v1",
///       "profile": "openai",
///       "agents": ["summarize", "kitchen"],
///       "capabilities": ["model.use"],
///       "signing_key": "at least 32 bytes of secret, shared with the gateway",
///       "key_id": "2026-12",
///       "issuer": "arcp",
///       "audience": "llm-gateway",
///       "ttl_sec": 3600
///     }
///   ]
/// }
/// ```
///
/// - `revocation_list` (required): the deny-list, one `JTI EXP` line per revoked token
///   (`EXP` in Unix seconds; a line may be dropped once `EXP` has passed, and is, when the
///   file is compacted). Created (mode 0640) if missing.
/// - `endpoint` (required), `profile`: the credential's wire fields.
/// - `agents`: only jobs of these agents (`name` matches every version, `name@version` one);
///   default every agent. `capabilities`: only jobs whose lease grants one of these
///   namespaces; default every job.
/// - `signing_key` (UTF-8 text) or `signing_key_base64`: the HS256 key, at least 32 bytes.
/// - `key_id`: the token header's `kid`. `issuer` (default `arcp`), `audience` (default the
///   endpoint): the `iss` and `aud` claims. `ttl_sec`: the longest lifetime (default 3600).
///
/// The token's claims: `iss`, `aud`, `sub` (the submitting principal), `jti`, `iat`, `nbf`,
/// `exp`, and `arcp_job`, `arcp_agent`, `arcp_credential` (the credential id),
/// `arcp_parent_job` for a delegated job, `arcp_models` (the lease's `model.use` patterns),
/// `arcp_budget` (its `cost.budget`, `"USD:5.00"` strings).
///
/// Secrets stay secret: neither the keys nor the tokens are logged, and what the runtime
/// keeps until revocation succeeds (`revocationForm(of:)`) is `jti:JTI:EXP`, never the token.
/// Loading refuses a file that users other than its owner may read or write.
public final class FileCredentialProvisioner: CredentialProvisioner {
    /// A file that cannot be used, with the reason.
    public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
        /// Why.
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The deny-list could not be written (revocation is retried).
    public struct RevocationListError: Error, Sendable {}

    /// `rotate` was given a credential this process did not issue (or already revoked).
    public struct UnknownCredential: Error, Sendable {}

    /// One entry of the file: which jobs get a credential, and how it is signed.
    public struct Entry: Sendable {
        /// A label for logs (default `credential-N`).
        public var name: String
        /// The credential's `endpoint`.
        public var endpoint: String
        /// The credential's `profile`.
        public var profile: String?
        /// Agents served (`name` or `name@version`); nil: every agent.
        public var agents: Set<String>?
        /// Lease namespaces of which one must be granted; nil: every job.
        public var capabilities: Set<String>?
        /// The HS256 key (at least 32 bytes).
        public var signingKey: [UInt8]
        /// The header's `kid`.
        public var keyID: String?
        /// The `iss` claim.
        public var issuer: String
        /// The `aud` claim.
        public var audience: String
        /// The longest lifetime of a token.
        public var ttl: Duration

        /// Whether a job of `agent` under `lease` gets this entry's credential.
        func applies(agent: String, lease: ValidatedLease) -> Bool {
            if let agents {
                let bare = agent.split(separator: "@", maxSplits: 1).first.map(String.init) ?? agent
                guard agents.contains(agent) || agents.contains(bare) else { return false }
            }
            if let capabilities {
                guard lease.grants.keys.contains(where: { capabilities.contains($0.rawValue) }) else { return false }
            }
            return true
        }
    }

    /// Largest credentials file read.
    public static let maxFileBytes = 1 << 20
    /// Most entries in a file.
    public static let maxEntries = 64
    /// Shortest HS256 key accepted (RFC 7518 §3.2: at least the hash size).
    public static let minimumKeyBytes = 32

    /// The entries, in file order.
    public let entries: [Entry]
    /// The deny-list file.
    public let revocationList: URL

    private struct Issued {
        let entry: Int
        let job: CredentialJob
        let lease: ValidatedLease
        let leaseExpiry: Date?
        let budget: [String: Decimal]
    }

    private struct State {
        /// Tokens issued by this process and not yet revoked, by `jti` (no token kept).
        var live: [String: Issued] = [:]
        /// The deny-list's entries: `jti` → expiry (Unix seconds).
        var revoked: [String: Int64] = [:]
    }

    private let state: Mutex<State>
    private let now: @Sendable () -> Date

    /// Loads `url`; throws `ConfigurationError` for a file that cannot be used (unreadable,
    /// readable by other users when `requirePrivateFile`, malformed, a key too short…).
    public convenience init(contentsOf url: URL, requirePrivateFile: Bool = true) throws {
        let path = url.path
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            throw ConfigurationError("cannot read \(path)")
        }
        if let size = attributes[.size] as? NSNumber, size.intValue > Self.maxFileBytes {
            throw ConfigurationError("\(path) is larger than \(Self.maxFileBytes) bytes")
        }
        if requirePrivateFile, let mode = attributes[.posixPermissions] as? NSNumber, mode.intValue & 0o077 != 0 {
            throw ConfigurationError(
                "\(path) holds signing keys but other users may access it (mode \(String(mode.intValue & 0o777, radix: 8))); chmod 600 it")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigurationError("cannot read \(path)") }
        try self.init(json: data, relativeTo: url.deletingLastPathComponent())
    }

    /// Parses the file's JSON; a relative `revocation_list` is taken relative to `directory`.
    public convenience init(json data: Data, relativeTo directory: URL? = nil) throws {
        let file: FileFormat
        do {
            file = try JSONDecoder().decode(FileFormat.self, from: data)
        } catch let error as DecodingError {
            throw ConfigurationError("not a credentials file: \(Self.describe(error))")
        }
        guard !file.revocationList.isEmpty else { throw ConfigurationError("revocation_list is empty") }
        let list =
            file.revocationList.hasPrefix("/") || directory == nil
            ? URL(fileURLWithPath: file.revocationList)
            : URL(fileURLWithPath: file.revocationList, relativeTo: directory).standardizedFileURL
        guard !file.credentials.isEmpty else { throw ConfigurationError("credentials is empty") }
        guard file.credentials.count <= Self.maxEntries else { throw ConfigurationError("more than \(Self.maxEntries) credentials") }
        var entries: [Entry] = []
        for (i, e) in file.credentials.enumerated() {
            let name = e.name ?? "credential-\(i + 1)"
            guard let endpoint = e.endpoint, !endpoint.isEmpty else { throw ConfigurationError("\(name): endpoint is required") }
            let key: [UInt8]
            switch (e.signingKey, e.signingKeyBase64) {
            case (let text?, nil): key = Array(text.utf8)
            case (nil, let b64?):
                guard let d = Data(base64Encoded: b64) else { throw ConfigurationError("\(name): signing_key_base64 is not base64") }
                key = Array(d)
            default: throw ConfigurationError("\(name): give one of signing_key and signing_key_base64")
            }
            guard key.count >= Self.minimumKeyBytes else {
                throw ConfigurationError("\(name): the signing key is shorter than \(Self.minimumKeyBytes) bytes")
            }
            let ttl = e.ttlSec ?? 3600
            guard (1...2_678_400).contains(ttl) else { throw ConfigurationError("\(name): ttl_sec must be 1…2678400") }
            entries.append(
                Entry(
                    name: name, endpoint: endpoint, profile: e.profile, agents: e.agents.map(Set.init),
                    capabilities: e.capabilities.map(Set.init), signingKey: key, keyID: e.keyID, issuer: e.issuer ?? "arcp",
                    audience: e.audience ?? endpoint, ttl: .seconds(ttl)))
        }
        try self.init(entries: entries, revocationList: list)
    }

    /// A provisioner for `entries`, revoking into `revocationList` (read now: tokens it
    /// lists stay revoked; expired lines are dropped).
    public init(entries: [Entry], revocationList: URL, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.entries = entries
        self.revocationList = revocationList
        self.now = now
        var revoked: [String: Int64] = [:]
        if let data = FileManager.default.contents(atPath: revocationList.path) {
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 2, let exp = Int64(parts[1]) { revoked[String(parts[0])] = exp }
            }
        }
        state = Mutex(State(revoked: revoked))
        do {
            try state.withLock { try Self.compact(&$0, now: now(), to: revocationList) }
        } catch {
            throw ConfigurationError("cannot write the revocation list \(revocationList.path)")
        }
    }

    /// Whether the token `jti` is on the deny-list.
    public func isRevoked(jti: String) -> Bool { state.withLock { $0.revoked[jti] != nil } }

    /// Tokens issued and not yet revoked.
    public var liveCount: Int { state.withLock { $0.live.count } }

    // MARK: CredentialProvisioner

    public func issue(
        for job: CredentialJob, lease: ValidatedLease, constraints: ValidatedLeaseConstraints, budget: [String: Decimal]
    ) async throws -> [Credential] {
        var out: [Credential] = []
        for (i, entry) in entries.enumerated() where entry.applies(agent: job.agent, lease: lease) {
            let issued = Issued(entry: i, job: job, lease: lease, leaseExpiry: constraints.expiresAt?.date, budget: budget)
            out.append(mint(issued, credentialID: ARCPID.credentialID()))
        }
        return out
    }

    public func rotate(_ credential: Credential) async throws -> Credential {
        guard let (jti, _) = Self.tokenID(of: credential.value),
            let issued = state.withLock({ $0.live[jti] })
        else { throw UnknownCredential() }
        return mint(issued, credentialID: credential.id)
    }

    public func revoke(_ credential: Credential) async throws {
        guard let (jti, exp) = Self.tokenID(of: credential.value) else { return }  // not ours: nothing to deny
        try state.withLock { s in
            s.live[jti] = nil
            guard s.revoked[jti] == nil else { return }
            try Self.append("\(jti) \(exp)\n", to: revocationList)
            s.revoked[jti] = exp
            // Keep the deny-list about as long as its live part.
            let t = Int64(now().timeIntervalSince1970)
            if s.revoked.count > 1024, s.revoked.values.filter({ $0 < t }).count * 2 > s.revoked.count {
                try? Self.compact(&s, now: now(), to: revocationList)
            }
        }
    }

    /// `jti:JTI:EXP`: all that revocation needs, and no secret.
    public func revocationForm(of credential: Credential) -> Credential {
        var c = credential
        c.value = Self.tokenID(of: credential.value).map { "jti:\($0.jti):\($0.exp)" } ?? revocationDigest(of: credential.value)
        return c
    }

    // MARK: tokens

    /// A fresh token for `issued`, recorded as live under its `jti`.
    private func mint(_ issued: Issued, credentialID: String) -> Credential {
        let entry = entries[issued.entry]
        let issuedAt = now()
        var expiry = issuedAt.addingTimeInterval(Double(entry.ttl.components.seconds))
        if let l = issued.leaseExpiry, l < expiry { expiry = l }
        let iat = Int64(issuedAt.timeIntervalSince1970)
        let exp = max(iat + 1, Int64(expiry.timeIntervalSince1970.rounded(.down)))
        let jti = Self.randomHex(16)
        var header: JSONObject = ["alg": .string("HS256"), "typ": .string("JWT")]
        if let kid = entry.keyID { header.append("kid", .string(kid)) }
        var claims: JSONObject = [
            "iss": .string(entry.issuer), "aud": .string(entry.audience), "sub": .string(issued.job.principal),
            "jti": .string(jti), "iat": .int(iat), "nbf": .int(iat), "exp": .int(exp),
            "arcp_job": .string(issued.job.jobID), "arcp_agent": .string(issued.job.agent), "arcp_credential": .string(credentialID),
        ]
        if let parent = issued.job.parentJobID { claims.append("arcp_parent_job", .string(parent)) }
        // What the token carries is what the credential echoes (§9.8.3).
        let echoed = Self.constraintsEcho(
            lease: issued.lease, constraints: ValidatedLeaseConstraints(expiresAt: LeaseTimestamp(Date(timeIntervalSince1970: Double(exp)))),
            budget: issued.budget)
        let echo = echoed.objectValue ?? JSONObject()
        if let models = echo["model.use"] { claims.append("arcp_models", models) }
        if let amounts = echo["cost.budget"] { claims.append("arcp_budget", amounts) }
        let signingInput = Self.base64URL(Array(JSONWriter.string(.object(header)).utf8)) + "."
            + Self.base64URL(Array(JSONWriter.string(.object(claims)).utf8))
        let signature = ResumeTokenHasher.SHA256.hmac(key: entry.signingKey, message: Array(signingInput.utf8))
        state.withLock { $0.live[jti] = issued }
        return Credential(
            id: credentialID, scheme: "bearer", value: signingInput + "." + Self.base64URL(signature), endpoint: entry.endpoint,
            profile: entry.profile, constraints: echoed)
    }

    /// The `jti` and `exp` of a token (its claims; the signature is the gateway's to check),
    /// or of a revocation form `jti:JTI:EXP`.
    static func tokenID(of value: String) -> (jti: String, exp: Int64)? {
        if value.hasPrefix("jti:") {
            let parts = value.split(separator: ":")
            guard parts.count == 3, let exp = Int64(parts[2]) else { return nil }
            return (String(parts[1]), exp)
        }
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, value.utf8.count <= 16_384, let payload = Self.base64URLDecode(String(parts[1])),
            let claims = try? JSONParser.parse(payload).objectValue, let jti = claims["jti"]?.stringValue,
            let exp = claims["exp"]?.int64Value
        else { return nil }
        return (jti, exp)
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecode(_ text: String) -> [UInt8]? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.utf8.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map(Array.init)
    }

    private static func randomHex(_ bytes: Int) -> String {
        var rng = SystemRandomNumberGenerator()
        return ResumeTokenHasher.hex((0..<bytes).map { _ in UInt8.random(in: .min ... .max, using: &rng) })
    }

    // MARK: the deny-list file

    private static func append(_ line: String, to url: URL) throws {
        if !FileManager.default.fileExists(atPath: url.path) {
            guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o640]) else {
                throw RevocationListError()
            }
        }
        do {
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(line.utf8))
            try handle.synchronize()
        } catch {
            throw RevocationListError()
        }
    }

    /// Rewrites the deny-list without the lines whose token has expired (atomically).
    private static func compact(_ s: inout State, now: Date, to url: URL) throws {
        let t = Int64(now.timeIntervalSince1970)
        s.revoked = s.revoked.filter { $0.value >= t }
        let text = s.revoked.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map { "\($0.key) \($0.value)\n" }.joined()
        let existing = FileManager.default.fileExists(atPath: url.path)
        try Data(text.utf8).write(to: url, options: .atomic)
        if !existing { try? FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: url.path) }
    }

    // MARK: the file's format

    private struct FileFormat: Decodable {
        var revocationList: String
        var credentials: [EntryFormat]
        enum CodingKeys: String, CodingKey {
            case revocationList = "revocation_list"
            case credentials
        }
    }

    private struct EntryFormat: Decodable {
        var name: String?
        var endpoint: String?
        var profile: String?
        var agents: [String]?
        var capabilities: [String]?
        var signingKey: String?
        var signingKeyBase64: String?
        var keyID: String?
        var issuer: String?
        var audience: String?
        var ttlSec: Int64?
        enum CodingKeys: String, CodingKey {
            case name, endpoint, profile, agents, capabilities, issuer, audience
            case signingKey = "signing_key"
            case signingKeyBase64 = "signing_key_base64"
            case keyID = "key_id"
            case ttlSec = "ttl_sec"
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let c): return "missing \(path(c.codingPath + [key]))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "wrong type at \(path(c.codingPath))"
        case .dataCorrupted(let c): return c.codingPath.isEmpty ? "malformed JSON" : "bad value at \(path(c.codingPath))"
        @unknown default: return "malformed"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }
}
