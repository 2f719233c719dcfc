extension ResumeTokenHasher.SHA256 {
    /// HMAC-SHA-256 (RFC 2104) of `message` under `key`: 32 bytes. The MAC of a
    /// `session.list_jobs` cursor and the signature of the HS256 tokens
    /// `FileCredentialProvisioner` issues.
    package static func hmac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var k = key.count > 64 ? hash(key) : key
        k += [UInt8](repeating: 0, count: 64 - k.count)
        let inner = hash(k.map { $0 ^ 0x36 } + message)
        return hash(k.map { $0 ^ 0x5c } + inner)
    }
}
