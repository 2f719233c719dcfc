@testable import ARCP
import Foundation
import Testing

/// `FileCredentialProvisioner`: the file's checks, the tokens it mints (signed, unique per
/// job, bounded by the lease), rotation, and revocation through the deny-list file.
@Suite struct FileCredentialProvisionerTests {
    static let key = "0123456789abcdef0123456789abcdef-test-key"

    /// A private directory with a credentials file; returns the file's URL.
    static func write(_ json: String, mode: Int = 0o600) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("arcp-creds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("credentials.json")
        try Data(json.utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
        return url
    }

    static let file = """
        {"revocation_list": "revoked.txt", "credentials": [
          {"name": "gateway", "endpoint": "https://gw.example.invalid/v1", "profile": "openai",
           "capabilities": ["model.use"], "signing_key": "\(key)", "key_id": "k1", "ttl_sec": 600},
          {"name": "search", "endpoint": "https://search.example.invalid", "agents": ["kitchen"],
           "signing_key_base64": "\(Data(key.utf8).base64EncodedString())"}
        ]}
        """

    static func job(_ id: String = ARCPID.jobID(), agent: String = "echo") -> CredentialJob {
        CredentialJob(jobID: id, agent: agent, principal: "me@example.com", traceID: "trace")
    }

    static func claims(_ token: String) throws -> JSONObject {
        let parts = token.split(separator: ".")
        try #require(parts.count == 3)
        let payload = try #require(FileCredentialProvisioner.base64URLDecode(String(parts[1])))
        return try #require(try JSONParser.parse(payload).objectValue)
    }

    @Test func loadsTheFileAndRefusesWhatCannotBeUsed() throws {
        let p = try FileCredentialProvisioner(contentsOf: Self.write(Self.file))
        #expect(p.entries.map(\.name) == ["gateway", "search"])
        #expect(p.entries[1].audience == "https://search.example.invalid" && p.entries[1].issuer == "arcp")
        #expect(p.entries[0].signingKey == p.entries[1].signingKey)
        #expect(FileManager.default.fileExists(atPath: p.revocationList.path))

        func refused(_ json: String, mode: Int = 0o600, _ reason: String) {
            #expect {
                _ = try FileCredentialProvisioner(contentsOf: Self.write(json, mode: mode))
            } throws: { error in
                "\(error)".contains(reason)
            }
        }
        refused(Self.file, mode: 0o644, "other users may access it")
        refused(Self.file.replacingOccurrences(of: Self.key, with: "short"), "shorter than 32 bytes")
        refused(#"{"revocation_list": "r", "credentials": [{"signing_key": "\#(Self.key)"}]}"#, "endpoint is required")
        refused(#"{"credentials": []}"#, "missing revocation_list")
        refused(#"{"revocation_list": "r", "credentials": []}"#, "credentials is empty")
        refused("{", "malformed JSON")
        // A refusal never shows the key.
        do {
            _ = try FileCredentialProvisioner(contentsOf: Self.write(Self.file.replacingOccurrences(of: "600}", with: "0}")))
            Issue.record("ttl_sec 0 accepted")
        } catch {
            #expect("\(error)".contains("ttl_sec") && !"\(error)".contains(Self.key))
        }
    }

    @Test func mintsSignedTokensBoundToTheJobAndTheLease() async throws {
        let p = try FileCredentialProvisioner(contentsOf: Self.write(Self.file))
        let lease = try ValidatedLease(["model.use": ["gpt-*"], "cost.budget": ["USD:2.50"]])
        let expiry = LeaseTimestamp(Date().addingTimeInterval(120))
        let job = Self.job()
        let creds = try await p.issue(
            for: job, lease: lease, constraints: ValidatedLeaseConstraints(expiresAt: expiry), budget: ["USD": Decimal(string: "2.5")!])
        let c = try #require(creds.first)
        #expect(creds.count == 1)  // "search" is for kitchen only
        #expect(c.scheme == "bearer" && c.endpoint == "https://gw.example.invalid/v1" && c.profile == "openai")
        // HS256 over header.payload with the entry's key.
        let parts = c.value.split(separator: ".").map(String.init)
        let signature = ResumeTokenHasher.SHA256.hmac(key: Array(Self.key.utf8), message: Array("\(parts[0]).\(parts[1])".utf8))
        #expect(FileCredentialProvisioner.base64URL(signature) == parts[2])
        let headerBytes = try #require(FileCredentialProvisioner.base64URLDecode(parts[0]))
        let header = try #require(try JSONParser.parse(headerBytes).objectValue)
        #expect(header["alg"]?.stringValue == "HS256" && header["kid"]?.stringValue == "k1")
        let claims = try Self.claims(c.value)
        #expect(claims["sub"]?.stringValue == "me@example.com")
        #expect(claims["aud"]?.stringValue == "https://gw.example.invalid/v1" && claims["iss"]?.stringValue == "arcp")
        #expect(claims["arcp_job"]?.stringValue == job.jobID && claims["arcp_credential"]?.stringValue == c.id)
        #expect(claims["arcp_models"] == .array([.string("gpt-*")]))
        #expect(claims["arcp_budget"] == .array([.string("USD:\(LeaseDecimal.format(Decimal(string: "2.5")!))")]))
        #expect(claims["arcp_budget"] == c.constraints?.objectValue?["cost.budget"])
        // The lease's expiry comes before the entry's ttl (600 s).
        let exp = try #require(claims["exp"]?.int64Value)
        #expect(exp <= expiry.epochSeconds && exp >= expiry.epochSeconds - 1)
        #expect(c.constraints?.objectValue?["expires_at"]?.stringValue == LeaseTimestamp(Date(timeIntervalSince1970: Double(exp))).text)
        #expect(c.constraints?.objectValue?["model.use"] == .array([.string("gpt-*")]))

        // Without the capability no credential; the agent filter matches every version.
        #expect(try await p.issue(for: Self.job(), lease: .empty, constraints: .init(), budget: [:]).isEmpty)
        let kitchen = try await p.issue(for: Self.job(agent: "kitchen@2.0.0"), lease: .empty, constraints: .init(), budget: [:])
        #expect(kitchen.map(\.endpoint) == ["https://search.example.invalid"])
        let kclaims = try Self.claims(try #require(kitchen.first).value)
        let ttl = try #require(kclaims["exp"]?.int64Value) - (try #require(kclaims["iat"]?.int64Value))
        #expect(ttl == 3600)
    }

    @Test func everyJobGetsItsOwnValue() async throws {
        let p = try FileCredentialProvisioner(contentsOf: Self.write(Self.file))
        let lease = try ValidatedLease(["model.use": ["*"]])
        var values: Set<String> = []
        var ids: Set<String> = []
        for _ in 0..<50 {
            let c = try #require(try await p.issue(for: Self.job(), lease: lease, constraints: .init(), budget: [:]).first)
            values.insert(c.value)
            ids.insert(try #require(Self.claims(c.value)["jti"]?.stringValue))
        }
        #expect(values.count == 50 && ids.count == 50)
        #expect(p.liveCount == 50)
    }

    @Test func revocationGoesToTheDenyListOnceAndSurvivesAReload() async throws {
        let url = try Self.write(Self.file)
        let p = try FileCredentialProvisioner(contentsOf: url)
        let lease = try ValidatedLease(["model.use": ["*"]])
        let c = try #require(try await p.issue(for: Self.job(), lease: lease, constraints: .init(), budget: [:]).first)
        let jti = try #require(Self.claims(c.value)["jti"]?.stringValue)
        let exp = try #require(Self.claims(c.value)["exp"]?.int64Value)

        // What the runtime keeps until revocation: no secret, enough to revoke.
        let form = p.revocationForm(of: c)
        #expect(form.value == "jti:\(jti):\(exp)" && form.id == c.id)
        #expect(!p.isRevoked(jti: jti))
        try await p.revoke(form)
        try await p.revoke(c)  // idempotent
        #expect(p.isRevoked(jti: jti) && p.liveCount == 0)
        let list = try String(contentsOf: p.revocationList, encoding: .utf8)
        #expect(list == "\(jti) \(exp)\n")

        // A restarted runtime keeps the unexpired entries and drops the expired ones.
        let handle = try FileHandle(forWritingTo: p.revocationList)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("expired-jti 1000\n".utf8))
        try handle.close()
        let again = try FileCredentialProvisioner(contentsOf: url)
        #expect(again.isRevoked(jti: jti) && !again.isRevoked(jti: "expired-jti"))
        #expect(try String(contentsOf: p.revocationList, encoding: .utf8) == "\(jti) \(exp)\n")
    }

    @Test func rotationKeepsTheIDAndMintsANewToken() async throws {
        let p = try FileCredentialProvisioner(contentsOf: Self.write(Self.file))
        let lease = try ValidatedLease(["model.use": ["*"]])
        let job = Self.job()
        let c = try #require(try await p.issue(for: job, lease: lease, constraints: .init(), budget: [:]).first)
        let fresh = try await p.rotate(c)
        #expect(fresh.id == c.id && fresh.value != c.value)
        let (old, new) = (try Self.claims(c.value), try Self.claims(fresh.value))
        #expect(old["jti"] != new["jti"] && new["arcp_job"]?.stringValue == job.jobID && new["arcp_credential"]?.stringValue == c.id)
        try await p.revoke(c)
        await #expect(throws: FileCredentialProvisioner.UnknownCredential.self) { _ = try await p.rotate(c) }
    }
}
