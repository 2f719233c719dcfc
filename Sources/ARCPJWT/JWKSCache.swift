import ARCP
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// A verifier's key set: loaded once, served from memory, reloaded in the background once
/// stale (the stale set keeps serving meanwhile and if the reload fails), and reloaded at
/// once when a token names a `kid` the set does not hold, at most once per
/// `minimumRefreshInterval` so that tokens with made-up key ids cannot make it fetch in a loop.
actor JWKSCache {
    enum State {
        /// Nothing loaded yet (`lastError`: why the last attempt failed).
        case empty(lastError: String?)
        case ready(JWKSKeySet, freshUntil: ContinuousClock.Instant)
    }

    /// What to do for a token, from the state alone (see `decide`).
    enum Action: Equatable {
        /// Use the loaded set as it is.
        case use
        /// Use the loaded set, and start a reload in the background.
        case useAndReload
        /// Wait for a reload (the one in flight, or a new one).
        case reload
        /// No set, and no attempt allowed yet.
        case fail
    }

    /// The reload rule, as a pure function: `loaded` is whether a set is loaded and
    /// `fresh` whether it still is, `inFlight` whether a reload runs, `mayAttempt` whether
    /// `minimumRefreshInterval` has passed since the last attempt, `unknownKID` whether the
    /// token names a key id the loaded set lacks.
    static func decide(loaded: Bool, fresh: Bool, inFlight: Bool, mayAttempt: Bool, unknownKID: Bool) -> Action {
        guard loaded else { return inFlight || mayAttempt ? .reload : .fail }
        if unknownKID { return inFlight || mayAttempt ? .reload : .use }
        if fresh || inFlight || !mayAttempt { return .use }
        return .useAndReload
    }

    let source: JWKSSource
    let algorithms: Set<String>
    let refreshInterval: Duration
    let minimumRefreshInterval: Duration
    let fetchTimeout: Duration
    let maxDocumentBytes: Int
    let maxKeys: Int
    let httpClient: HTTPClient
    let logger: Logger

    private var state: State = .empty(lastError: nil)
    private var inFlight: Task<JWKSKeySet, any Error>? = nil
    private var lastAttempt: ContinuousClock.Instant? = nil
    /// The document the current set was built from: an unchanged document is not parsed again.
    private var lastDocument: Data? = nil

    init(source: JWKSSource, configuration c: JWTBearerVerifier.Configuration, httpClient: HTTPClient) {
        self.source = source
        algorithms = c.algorithms
        refreshInterval = c.refreshInterval
        minimumRefreshInterval = c.minimumRefreshInterval
        fetchTimeout = c.fetchTimeout
        maxDocumentBytes = c.maxJWKSBytes
        maxKeys = c.maxJWKSKeys
        self.httpClient = httpClient
        logger = c.logger
    }

    /// The key set for a token: `kid` is the token's key id, if any.
    func keys(kid: String?) async throws(JWTRejection) -> JWKSKeySet {
        let now = ContinuousClock.now
        let mayAttempt = lastAttempt.map { now - $0 >= minimumRefreshInterval } ?? true
        var loaded: JWKSKeySet? = nil
        var fresh = false
        var lastError: String? = nil
        switch state {
        case .empty(let e): lastError = e
        case .ready(let set, let until):
            loaded = set
            fresh = now < until
        }
        let unknownKID = kid.map { loaded?.kids.contains($0) == false } ?? false
        switch Self.decide(loaded: loaded != nil, fresh: fresh, inFlight: inFlight != nil, mayAttempt: mayAttempt, unknownKID: unknownKID) {
        case .use:
            if let loaded { return loaded }
        case .useAndReload:
            _ = startReload()
            if let loaded { return loaded }
        case .reload:
            do {
                return try await (inFlight ?? startReload()).value
            } catch {
                // A failed reload leaves a loaded set in place.
                if let loaded { return loaded }
                throw JWTRejection(.keysUnavailable, "\(source): \(error)")
            }
        case .fail:
            break
        }
        throw JWTRejection(.keysUnavailable, "\(source): \(lastError ?? "not loaded")")
    }

    /// Loads the key set now (waiting for a load in flight), throwing why it failed.
    func load() async throws -> JWKSKeySet {
        try await (inFlight ?? startReload()).value
    }

    private func startReload() -> Task<JWKSKeySet, any Error> {
        lastAttempt = .now
        let task = Task { try await self.reload() }
        inFlight = task
        return task
    }

    /// Fetches and parses the document, and installs the result (or records the failure).
    private func reload() async throws -> JWKSKeySet {
        defer { inFlight = nil }
        do {
            let (document, maxAge) = try await fetch()
            let ttl = maxAge.map { min(max($0, minimumRefreshInterval), refreshInterval) } ?? refreshInterval
            let set: JWKSKeySet
            if case .ready(let current, _) = state, document == lastDocument {
                set = current
            } else {
                set = try await JWKSKeySet.parse(document, algorithms: algorithms, maxKeys: maxKeys, logger: logger)
                lastDocument = document
                logger.info(
                    "JWKS loaded", metadata: ["source": "\(source)", "keys": "\(set.entries.count)", "refresh_in": "\(ttl)"])
            }
            state = .ready(set, freshUntil: .now + ttl)
            return set
        } catch {
            let loaded: Bool
            switch state {
            case .ready: loaded = true
            case .empty: loaded = false; state = .empty(lastError: "\(error)")
            }
            logger.error(
                "JWKS load failed", metadata: ["source": "\(source)", "error": "\(error)", "keeping_previous_keys": "\(loaded)"])
            throw error
        }
    }

    /// The document's bytes, and how long the server says it may be cached.
    private func fetch() async throws -> (Data, Duration?) {
        switch source {
        case .document(let text):
            return (Data(text.utf8), nil)
        case .file(let path):
            let handle: FileHandle
            do {
                handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            } catch {
                throw JWKSError("cannot open \(path): \(error.localizedDescription)")
            }
            defer { try? handle.close() }
            let data = try handle.read(upToCount: maxDocumentBytes + 1) ?? Data()
            guard data.count <= maxDocumentBytes else { throw JWKSError("\(path) is larger than \(maxDocumentBytes) bytes") }
            return (data, nil)
        case .url(let url):
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Accept", value: "application/jwk-set+json, application/json")
            let response = try await httpClient.execute(request, timeout: .nanoseconds(fetchTimeout.nanoseconds))
            guard response.status == .ok else {
                throw JWKSError("\(url) answered HTTP \(response.status.code) \(response.status.reasonPhrase)")
            }
            let body: ByteBuffer
            do {
                body = try await response.body.collect(upTo: maxDocumentBytes)
            } catch {
                throw JWKSError("\(url): the document is larger than \(maxDocumentBytes) bytes, or the body failed: \(error)")
            }
            return (Data(body.readableBytesView), Self.maxAge(response.headers["cache-control"]))
        }
    }

    /// `max-age` of `Cache-Control` values (`no-cache`/`no-store` count as 0), nil when absent.
    static func maxAge(_ values: [String]) -> Duration? {
        var age: Duration? = nil
        for directive in values.flatMap({ $0.split(separator: ",") }) {
            let d = directive.trimmingCharacters(in: .whitespaces).lowercased()
            if d == "no-cache" || d == "no-store" { return .zero }
            if d.hasPrefix("max-age="), let n = Int64(d.dropFirst("max-age=".count)), n >= 0 {
                age = .seconds(min(n, 86_400 * 365))
            }
        }
        return age
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at Int64's range.
    var nanoseconds: Int64 {
        let (s, a) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? .min : .max }
        let (sum, o2) = ns.addingReportingOverflow(a / 1_000_000_000)
        return o2 ? (s < 0 ? .min : .max) : sum
    }
}
