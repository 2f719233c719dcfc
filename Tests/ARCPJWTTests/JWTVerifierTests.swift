import ARCP
@testable import ARCPJWT
import ARCPTestSupport
import Foundation
import JWTKit
import Logging
import Testing

/// Tokens signed with keys generated here, checked against a JWKS document.
@Suite("JWT bearer verification", .timeLimit(.minutes(1)))
struct JWTVerifierTests {
    func verifier(_ keys: [TestKey], _ configure: (inout JWTBearerVerifier.Configuration) -> Void = { _ in }) -> JWTBearerVerifier {
        var c = JWTBearerVerifier.Configuration()
        c.logger.logLevel = .critical
        configure(&c)
        return JWTBearerVerifier(jwks: .document(jwks(keys)), configuration: c)
    }

    @Test func everyAlgorithmFamilyVerifies() async throws {
        let keys = [await TestKey.hs256(), try await TestKey.rs256(), try await TestKey.es256(), try await TestKey.eddsa()]
        let v = verifier(keys)
        for key in keys {
            let token = try await key.sign(.standard(sub: "user-\(key.alg)"))
            #expect(try await v.verify(token) == "user-\(key.alg)", "\(key.alg)")
        }
    }

    @Test func anRSAKeyWithoutAlgIsUsedForTheAlgorithmOfTheToken() async throws {
        let key = try await TestKey.rs256(declareAlg: false)
        #expect(try await verifier([key]).verify(try await key.sign(.standard())) == "alice@example.com")
    }

    @Test func aTokenWithoutKidIsTriedWithEveryKeyOfItsAlgorithm() async throws {
        let a = await TestKey.hs256(kid: "a"), b = await TestKey.hs256(kid: "b")
        // Signed by b, with a header that names no key.
        let noKid = try await b.signer.sign(Claims.standard(sub: "bob"), header: JWTHeader())
        let header = try #require(Base64URL.decode(noKid.split(separator: ".")[0]))
        #expect(!String(decoding: header, as: UTF8.self).contains("kid"))
        #expect(try await verifier([a, b]).verify(noKid) == "bob")
    }

    @Test func wrongKeyIsABadSignature() async throws {
        let real = await TestKey.hs256(kid: "k"), forged = await TestKey.hs256(kid: "k")
        let r = await rejection(verifier([real]), try await forged.sign(.standard()))
        #expect(r?.reason == .badSignature)
        // A tampered payload too.
        let token = try await real.sign(.standard(sub: "alice"))
        let parts = token.split(separator: ".").map(String.init)
        let evil = Base64URL.encode(Data(#"{"sub":"root","exp":9999999999}"#.utf8))
        #expect(await rejection(verifier([real]), parts[0] + "." + evil + "." + parts[2])?.reason == .badSignature)
    }

    @Test func timeClaimsHonourTheLeeway() async throws {
        let key = await TestKey.hs256()
        let v = verifier([key]) { $0.leeway = .seconds(60) }
        let now = Date().timeIntervalSince1970
        func check(_ extra: [String: ClaimValue]) async throws -> JWTRejection.Reason? {
            await rejection(v, try await key.sign(.standard(now: now, extra)))?.reason
        }
        #expect(try await check(["exp": .number(now - 30)]) == nil, "expired within the leeway")
        #expect(try await check(["exp": .number(now - 120)]) == .expired)
        #expect(try await check(["exp": .number(.nan)]) == .missingExpiration)
        #expect(try await check(["nbf": .number(now + 30)]) == nil)
        #expect(try await check(["nbf": .number(now + 600)]) == .notYetValid)
        #expect(try await check(["iat": .number(now + 30)]) == nil)
        #expect(try await check(["iat": .number(now + 600)]) == .issuedInFuture)
        #expect(try await check(["exp": .string("tomorrow")]) == .invalidClaim)
        let lax = verifier([key]) { $0.requireExpiration = false }
        #expect(await rejection(lax, try await key.sign(.standard(["exp": .number(.nan)]))) == nil)
        let young = verifier([key]) { $0.maxTokenAge = .seconds(300) }
        #expect(await rejection(young, try await key.sign(.standard(["iat": .number(now - 3600)])))?.reason == .tooOld)
        #expect(await rejection(young, try await key.sign(.standard(["iat": .number(.nan)])))?.reason == .tooOld)
        #expect(await rejection(young, try await key.sign(.standard(["iat": .number(now - 100)]))) == nil)
    }

    @Test func issuerAndAudience() async throws {
        let key = await TestKey.hs256()
        let v = verifier([key]) {
            $0.issuers = ["https://auth.example.com/"]
            $0.audiences = ["arcp", "arcp-staging"]
        }
        func check(_ extra: [String: ClaimValue]) async throws -> JWTRejection.Reason? {
            await rejection(v, try await key.sign(.standard(extra)))?.reason
        }
        let iss: ClaimValue = .string("https://auth.example.com/")
        #expect(try await check(["iss": iss, "aud": .string("arcp")]) == nil)
        #expect(try await check(["iss": iss, "aud": .strings(["other", "arcp-staging"])]) == nil)
        #expect(try await check(["iss": iss, "aud": .strings(["other"])]) == .wrongAudience)
        #expect(try await check(["iss": iss]) == .wrongAudience)
        #expect(try await check(["iss": .string("https://evil.example.com/"), "aud": .string("arcp")]) == .wrongIssuer)
        #expect(try await check(["aud": .string("arcp")]) == .wrongIssuer)
        #expect(try await check(["iss": .number(1), "aud": .string("arcp")]) == .invalidClaim)
    }

    @Test func principalFromAConfiguredClaim() async throws {
        let key = await TestKey.hs256()
        let v = verifier([key]) { $0.principalClaim = "email" }
        #expect(try await v.verify(try await key.sign(.standard(["email": .string("carol@example.com")]))) == "carol@example.com")
        #expect(await rejection(v, try await key.sign(.standard()))?.reason == .missingPrincipal)
        #expect(await rejection(verifier([key]), try await key.sign(.standard(sub: "")))?.reason == .missingPrincipal)
        let long = String(repeating: "x", count: 600)
        #expect(await rejection(verifier([key]), try await key.sign(.standard(sub: long)))?.reason == .missingPrincipal)
    }

    @Test func headersThatAreRefusedBeforeAnyKeyIsTried() async throws {
        let hs = await TestKey.hs256(kid: "h1")
        let es = try await TestKey.es256(kid: "e1")
        let v = verifier([hs, es])
        let payload = #"{"sub":"root","exp":9999999999}"#
        #expect(await rejection(v, handMade(header: #"{"alg":"none"}"#, payload: payload, signature: ""))?.reason == .unsupportedAlgorithm)
        #expect(await rejection(v, handMade(header: #"{"alg":"HS1"}"#, payload: payload))?.reason == .unsupportedAlgorithm)
        #expect(await rejection(v, handMade(header: #"{"typ":"JWT"}"#, payload: payload))?.reason == .malformed)
        #expect(
            await rejection(v, handMade(header: #"{"alg":"HS256","kid":"h1","crit":["exp"]}"#, payload: payload))?.reason == .malformed)
        #expect(await rejection(v, handMade(header: #"{"alg":"HS256","kid":"nope"}"#, payload: payload))?.reason == .unknownKey)
        // The EC key's id with an HMAC algorithm: the key decides, not the header.
        #expect(await rejection(v, handMade(header: #"{"alg":"HS256","kid":"e1"}"#, payload: payload))?.reason == .algorithmMismatch)
        #expect(await rejection(v, handMade(header: #"{"alg":"HS256","alg":"none"}"#, payload: payload))?.reason == .malformed)
        #expect(await rejection(v, handMade(header: #"{"alg":"HS256","kid":7}"#, payload: payload))?.reason == .malformed)
        #expect(await rejection(v, "a.b")?.reason == .malformed)
        #expect(await rejection(v, "!!!.???.***")?.reason == .malformed)
        #expect(await rejection(v, "")?.reason == .malformed)
        #expect(await rejection(v, String(repeating: "a", count: 9000))?.reason == .tooLarge)
        // An algorithm switched off by configuration.
        let rsOnly = verifier([hs]) { $0.algorithms = ["RS256"] }
        #expect(await rejection(rsOnly, try await hs.sign(.standard()))?.reason == .unsupportedAlgorithm)
    }

    @Test func unusableKeysAreSkippedAndAnEmptySetIsAnError() async throws {
        let good = await TestKey.hs256(kid: "good")
        let doc = #"""
            {"keys":[
              {"kty":"oct","kid":"short","alg":"HS256","k":"c2hvcnQ"},
              {"kty":"oct","kid":"enc","use":"enc","alg":"HS256","k":"\#(String(repeating: "A", count: 43))"},
              {"kty":"XYZ","kid":"odd"},
              {"kty":"EC","kid":"badcurve","crv":"P-192","x":"AA","y":"AA"},
              {"kty":"RSA","kid":"weird","alg":"ES256","n":"AQAB","e":"AQAB"},
              42,
            \#(good.jwk)]}
            """#
        let capture = LogCapture()
        var c = JWTBearerVerifier.Configuration()
        c.logger = capture.logger
        let v = JWTBearerVerifier(jwks: .document(doc), configuration: c)
        #expect(try await v.verify(try await good.sign(.standard())) == "alice@example.com")
        let warnings = capture.all.filter { $0.hasPrefix("warning") }.joined(separator: "\n")
        #expect(warnings.contains("\"short\"") && warnings.contains("\"odd\"") && warnings.contains("\"badcurve\"") && warnings.contains("\"weird\""))

        let none = JWTBearerVerifier(jwks: .document(#"{"keys":[{"kty":"oct","kid":"x","k":"c2hvcnQ"}]}"#), configuration: c)
        await #expect(throws: JWKSError.self) { try await none.loadKeys() }
        #expect(await rejection(none, try await good.sign(.standard()))?.reason == .keysUnavailable)
        let notJWKS = JWTBearerVerifier(jwks: .document(#"{"kty":"oct"}"#), configuration: c)
        await #expect(throws: JWKSError.self) { try await notJWKS.loadKeys() }
    }

    @Test func theRuntimeAnswersUnauthenticatedAndLogsTheReasonButNeverTheToken() async throws {
        let key = await TestKey.hs256()
        let capture = LogCapture()
        var c = JWTBearerVerifier.Configuration()
        c.logger = capture.logger
        c.audiences = ["arcp"]
        let verifier = JWTBearerVerifier(jwks: .document(jwks([key])), configuration: c)
        var rc = ARCPRuntime.Configuration()
        rc.logger.logLevel = .critical
        rc.heartbeatInterval = nil
        let runtime = ARCPRuntime(configuration: rc, verifier: verifier)

        // Accepted: the session's principal is the token's subject.
        let good = try await key.sign(.standard(sub: "dana@example.com", ["aud": .string("arcp")]))
        let (client, server) = MemoryTransport.pair()
        let serving = Task { await runtime.accept(server) }
        _ = try await handshake(client, token: good)
        await client.close()
        await serving.value

        // Refused: UNAUTHENTICATED, the reason in the log, the token nowhere.
        let bad = try await key.sign(.standard(sub: "dana@example.com", ["aud": .string("elsewhere")]))
        let (client2, server2) = MemoryTransport.pair()
        let serving2 = Task { await runtime.accept(server2) }
        try await client2.send(Frames.hello(token: bad))
        let frame = try #require(try await client2.receive())
        let reply = try #require(Frames.decode(frame))
        guard case .sessionError(let e) = reply.message else {
            Issue.record("expected session.error, got \(reply.message.type)")
            return
        }
        #expect(e.code == .unauthenticated)
        #expect(!e.message.contains("aud"), "the wire says nothing about the reason: \(e.message)")
        await serving2.value
        let log = capture.all.joined(separator: "\n")
        #expect(log.contains("reason=wrongAudience"), "\(log)")
        for token in [good, bad] {
            for part in token.split(separator: ".") { #expect(!log.contains(part), "the log holds part of a token") }
        }
    }

    @Test func theReloadRule() {
        typealias C = JWKSCache
        // Nothing loaded: load, unless a failed attempt was too recent.
        #expect(C.decide(loaded: false, fresh: false, inFlight: false, mayAttempt: true, unknownKID: false) == .reload)
        #expect(C.decide(loaded: false, fresh: false, inFlight: false, mayAttempt: false, unknownKID: false) == .fail)
        #expect(C.decide(loaded: false, fresh: false, inFlight: true, mayAttempt: false, unknownKID: false) == .reload)
        // Loaded and fresh: use it; an unknown kid reloads (rate-limited).
        #expect(C.decide(loaded: true, fresh: true, inFlight: false, mayAttempt: true, unknownKID: false) == .use)
        #expect(C.decide(loaded: true, fresh: true, inFlight: false, mayAttempt: true, unknownKID: true) == .reload)
        #expect(C.decide(loaded: true, fresh: true, inFlight: false, mayAttempt: false, unknownKID: true) == .use)
        // Stale: served while a reload runs in the background.
        #expect(C.decide(loaded: true, fresh: false, inFlight: false, mayAttempt: true, unknownKID: false) == .useAndReload)
        #expect(C.decide(loaded: true, fresh: false, inFlight: true, mayAttempt: true, unknownKID: false) == .use)
        #expect(C.decide(loaded: true, fresh: false, inFlight: false, mayAttempt: false, unknownKID: false) == .use)
    }

    @Test func cacheControlMaxAge() {
        #expect(JWKSCache.maxAge(["public, max-age=300"]) == .seconds(300))
        #expect(JWKSCache.maxAge(["no-store"]) == .zero)
        #expect(JWKSCache.maxAge(["max-age=abc"]) == nil)
        #expect(JWKSCache.maxAge([]) == nil)
        #expect(JWKSCache.maxAge(["max-age=99999999999999"]) == .seconds(86_400 * 365))
    }
}
