import ARCPConformance
import ARCPGenerated
import Foundation

/// The broken runtimes, each with the scenarios it must make fail. Together they cover every
/// scenario of the catalog (checked by `BrokenRuntimeTests.everyScenarioCanFail`).
enum Mutations {
    typealias Case = (mutation: Mutation, fails: [String])

    static let sequencedTypes: Set<String> = ["job.event", "job.result", "job.error"]

    /// Remembers the hello's token and features, and whether it resumes, on the connection.
    static func noteHello(_ f: Mutation.Frame, _ link: Mutation.Link) {
        guard let o = f.object else { return }
        if f.type == "session.hello" || f.type == "session.resume" {
            link.mine { m in
                m["token"] = o["payload"]?["auth"]?["token"] ?? .null
                m["features"] = o["payload"]?["capabilities"]?["features"] ?? .array([])
                m["resumed"] = .bool(f.type == "session.resume" || o["payload"]?["resume"] != nil)
            }
        }
    }

    static func token(_ link: Mutation.Link) -> String? { link.mine { $0["token"]?.stringValue } }

    /// An s2c rewrite of the frames of `types`.
    static func rewrite(_ name: String, _ types: Set<String>, _ body: @escaping @Sendable (inout JSONObject) -> Void) -> Mutation {
        .rewrite(name) { o, _ in
            if types.contains(o["type"]?.stringValue ?? "") { body(&o) }
            return true
        }
    }

    /// An s2c rewrite of job.event bodies of `kind`.
    static func body(_ kind: String, _ body: @escaping @Sendable (inout JSONObject) -> Void) -> @Sendable (inout JSONObject) -> Void {
        { o in if o["payload"]?["kind"]?.stringValue == kind { o.setBody(body) } }
    }

    static func replaceStrings(_ v: JSONValue, _ f: (String) -> String) -> JSONValue {
        switch v {
        case .string(let s): return .string(f(s))
        case .array(let a): return .array(a.map { replaceStrings($0, f) })
        case .object(let o): return .object(JSONObject(o.members.map { .init(key: f($0.key), value: replaceStrings($0.value, f)) }))
        default: return v
        }
    }

    static func bigIntsToDoubles(_ v: JSONValue) -> JSONValue {
        switch v {
        case .int(let i) where i > 1 << 40 || i < -(1 << 40): return .double(Double(i))
        case .array(let a): return .array(a.map(bigIntsToDoubles))
        case .object(let o): return .object(JSONObject(o.members.map { .init(key: $0.key, value: bigIntsToDoubles($0.value)) }))
        default: return v
        }
    }

    static let all: [Case] = wire + session + resume + liveness + listing + jobs + subscription + events + leases + errors

    // MARK: - §5

    static let wire: [Case] = [
        (rewrite("arcp-version", ["job.result"]) { $0["arcp"] = "1.0" }, ["wire.envelope"]),
        (rewrite("lease-not-an-object", ["job.accepted"]) { $0.setPayload("lease", "everything") }, ["wire.schema", "submit.accepted"]),
        (rewrite("no-session-id", ["job.event"]) { $0["session_id"] = nil }, ["wire.session-id", "events.envelope"]),
        (rewrite("no-seq-on-result", ["job.result"]) { $0["event_seq"] = nil }, ["wire.job-frames"]),
        (rewrite("duplicate-ids", ["job.event"]) { $0["id"] = "01JAAAAAAAAAAAAAAAAAAAAAAA" }, ["wire.message-ids"]),
        (.rewriteIncoming("strict-envelope") { o, _ in
            let known: Set<String> = ["arcp", "id", "type", "session_id", "trace_id", "job_id", "event_seq", "payload"]
            if o.keys.contains(where: { !known.contains($0) }) { o["type"] = "x.rejected" }
            return true
        }, ["wire.unknown-envelope-field"]),
        (.rewriteIncoming("strict-payload") { o, _ in
            if o.payloadObject.keys.contains(where: { $0.hasPrefix("x-vendor") }) { o.setPayload("agent", "!bad") }
            return true
        }, ["wire.unknown-payload-field"]),
        (rewrite("ascii-only", ["job.result"]) { o in
            o.setPayload("result", replaceStrings(o.payloadObject["result"] ?? .null) { String($0.unicodeScalars.map { $0.isASCII ? Character($0) : "?" }) })
        }, ["wire.utf8"]),
        (rewrite("float-numbers", ["job.result"]) { o in o.setPayload("result", bigIntsToDoubles(o.payloadObject["result"] ?? .null)) }, ["wire.int64"]),
    ]

    // MARK: - §6.1–6.2

    static let session: [Case] = [
        (.rewriteIncoming("any-token-accepted") { o, _ in
            if o["type"]?.stringValue == "session.hello", !["tok", "tok2"].contains(o["payload"]?["auth"]?["token"]?.stringValue ?? "") {
                o.setPayload("auth", ["scheme": "bearer", "token": "tok"])
            }
            return true
        }, ["auth.bad-token", "auth.missing-token"]),
        (Mutation("implicit-hello", c2s: { f, link in
            let first = link.mine { m -> Bool in
                defer { m["seen"] = true }
                return m["seen"] == nil
            }
            guard first, f.type != "session.hello", f.type != "session.resume" else { return [f.text] }
            let hello = Envelope.make("session.hello", payload: ["auth": ["scheme": "bearer", "token": "tok"], "capabilities": ["features": []]])
            return [hello.text, f.text]
        }), ["auth.hello-first"]),
        (rewrite("welcome-without-token", ["session.welcome"]) { $0.setPayload("resume_token", nil) }, ["hello.welcome"]),
        (rewrite("no-heartbeat-interval", ["session.welcome"]) { $0.setPayload("heartbeat_interval_sec", nil) }, ["hello.heartbeat-interval"]),
        (rewrite("wrong-default-version", ["session.welcome"]) { o in
            var caps = o.payloadObject["capabilities"]?.objectValue ?? [:]
            caps["agents"] = .array((caps["agents"]?.arrayValue ?? []).map { a in
                guard var e = a.objectValue, e["name"]?.stringValue == "versioned" else { return a }
                e["default"] = "2.0.0"
                return .object(e)
            })
            o.setPayload("capabilities", .object(caps))
        }, ["hello.agent-versions", "versions.default", "list-jobs.versions"]),
        (Mutation("echo-hello-features", s2c: { f, link in
            guard var o = f.object, f.type == "session.welcome" else { return [f.text] }
            var caps = o.payloadObject["capabilities"]?.objectValue ?? [:]
            let asked = link.mine { $0["features"]?.arrayValue ?? [] }
            caps["features"] = .array((caps["features"]?.arrayValue ?? []) + asked)
            o.setPayload("capabilities", .object(caps))
            return [Mutation.text(o)]
        }, c2s: { f, link in noteHello(f, link); return [f.text] }), ["hello.unknown-feature"]),
        (.rewriteIncoming("negotiate-everything") { o, _ in
            if o["type"]?.stringValue == "session.hello" {
                var p = o.payloadObject
                p["capabilities"] = ["encodings": ["json"], "features": .array(ScenarioContext.allFeatures.map(JSONValue.string))]
                o["payload"] = .object(p)
            }
            return true
        }, ["features.progress", "features.result-chunk", "features.cost-budget", "features.lease-expires-at", "features.list-jobs", "features.subscribe", "features.heartbeat"]),
    ]

    // MARK: - §6.3

    static let resume: [Case] = [
        (Mutation("resume-loses-first-event", s2c: { f, link in
            guard link.mine({ $0["resumed"]?.boolValue == true }), Mutations.sequencedTypes.contains(f.type ?? "") else { return [f.text] }
            let drop = link.mine { m -> Bool in
                defer { m["dropped"] = true }
                return m["dropped"] == nil
            }
            return drop ? [] : [f.text]
        }, c2s: { f, link in noteHello(f, link); return [f.text] }),
         ["resume.replay", "ack.keeps-unacknowledged", "resume.session-resume"]),
        (rewrite("resume-new-session-id", ["session.welcome"]) { o in
            o["session_id"] = .string("sess_" + ARCPID.ulid())
            o.setPayload("session_id", o["session_id"])
        }, ["resume.same-session"]),
        (Mutation("token-does-not-rotate", s2c: { f, link in
            guard var o = f.object, f.type == "session.welcome", let presented = link.mine({ $0["presented"]?.stringValue }) else { return [f.text] }
            o.setPayload("resume_token", .string(presented))
            return [Mutation.text(o)]
        }, c2s: { f, link in
            if let t = f.object?["payload"]?["resume"]?["resume_token"]?.stringValue { link.mine { $0["presented"] = .string(t) } }
            return [f.text]
        }), ["resume.token-rotates"]),
        (Mutation("any-resume-token", s2c: { f, link in
            if f.type == "session.welcome", let o = f.object, let sid = o["session_id"]?.stringValue, let t = o["payload"]?["resume_token"] {
                link.shared { $0["latest:" + sid] = t }
            }
            return [f.text]
        }, c2s: { f, link in
            guard var o = f.object, f.type == "session.hello", var p = o["payload"]?.objectValue, var r = p["resume"]?.objectValue,
                let sid = r["session_id"]?.stringValue, let latest = link.shared({ $0["latest:" + sid] })
            else { return [f.text] }
            r["resume_token"] = latest
            p["resume"] = .object(r)
            o["payload"] = .object(p)
            return [Mutation.text(o)]
        }), ["resume.old-token", "resume.wrong-token", "resume.wrong-token-keeps-session"]),
        (Mutation("wrong-token-burns-session", s2c: { f, link in
            if f.type == "session.welcome", let o = f.object, let sid = o["session_id"]?.stringValue, let t = o["payload"]?["resume_token"] {
                link.shared { $0["latest:" + sid] = t }
            }
            return [f.text]
        }, c2s: { f, link in
            guard var o = f.object, f.type == "session.hello", var p = o["payload"]?.objectValue, var r = p["resume"]?.objectValue,
                let sid = r["session_id"]?.stringValue
            else { return [f.text] }
            let burned = link.shared { s -> Bool in
                if s["burned:" + sid] != nil { return true }
                if let latest = s["latest:" + sid], latest != r["resume_token"] { s["burned:" + sid] = true }
                return false
            }
            guard burned else { return [f.text] }
            r["resume_token"] = "rtk_burned"
            p["resume"] = .object(r)
            o["payload"] = .object(p)
            return [Mutation.text(o)]
        }), ["resume.wrong-token-keeps-session"]),
        (.rewrite("window-expired-hidden") { o, _ in
            if o["type"]?.stringValue == "session.error", o["payload"]?["code"]?.stringValue == "RESUME_WINDOW_EXPIRED" {
                o = ["arcp": "1.1", "id": .string(ARCPID.ulid()), "type": "session.welcome", "session_id": "sess_hidden",
                     "payload": ["resume_token": "rtk_hidden", "resume_window_sec": 600, "capabilities": ["features": [], "agents": []]]]
            }
            return true
        }, ["resume.window-expired", "resume.unknown-session"]),
        (.rewriteIncoming("no-session-resume") { o, _ in
            if o["type"]?.stringValue == "session.resume" { o["type"] = "session.resumed-not" }
            return true
        }, ["resume.session-resume"]),
        (Mutation("resumed-cannot-cancel", c2s: { f, link in
            noteHello(f, link)
            return f.type == "job.cancel" && link.mine({ $0["resumed"]?.boolValue == true }) ? [] : [f.text]
        }), ["resume.cancel-authority"]),
        (Mutation("resume-ignores-principal", c2s: { f, link in
            guard var o = f.object, f.type == "session.hello", o["payload"]?["resume"] != nil else { return [f.text] }
            o.setPayload("auth", ["scheme": "bearer", "token": "tok"])
            return [Mutation.text(o)]
        }), ["security.resume-principal"]),
        (rewrite("derived-resume-tokens", ["session.welcome"]) { o in
            o.setPayload("resume_token", .string("rtk_" + (o["session_id"]?.stringValue ?? "").replacingOccurrences(of: "sess_", with: "")))
        }, ["security.resume-token"]),
    ]

    // MARK: - §6.4–6.5

    static let liveness: [Case] = [
        (.drop("no-pong") { $0.type == "session.pong" }, ["heartbeat.pong", "heartbeat.not-sequenced"]),
        (.drop("no-runtime-pings") { $0.type == "session.ping" }, ["heartbeat.runtime-pings"]),
        (rewrite("sequenced-pongs", ["session.pong"]) { $0["event_seq"] = 1 }, ["heartbeat.not-sequenced"]),
        (rewrite("listing-says-cancelled", ["session.jobs"]) { o in
            o.setPayload("jobs", .array((o.payloadObject["jobs"]?.arrayValue ?? []).map { e in
                guard var e = e.objectValue else { return e }
                if e["status"]?.stringValue == "success" { e["status"] = "cancelled" }
                return .object(e)
            }))
        }, ["heartbeat.loss-keeps-jobs", "close.jobs-continue", "list-jobs.answer"]),
        (.drop("silent-heartbeat-loss") { $0.type == "session.error" && $0.object?["payload"]?["code"]?.stringValue == "HEARTBEAT_LOST" }, ["heartbeat.loss-error"]),
        (.rewriteIncoming("ack-rejected") { o, _ in
            if o["type"]?.stringValue == "session.ack" { o["type"] = "session.ack-not" }
            return true
        }, ["ack.not-sequenced"]),
        (Mutation("resume-from-last-ack", c2s: { f, link in
            guard var o = f.object else { return [f.text] }
            if f.type == "session.ack", let sid = o["session_id"]?.stringValue, let seq = o["payload"]?["last_processed_seq"] {
                link.shared { $0["ack:" + sid] = seq }
            }
            if f.type == "session.hello", var p = o["payload"]?.objectValue, var r = p["resume"]?.objectValue, let sid = r["session_id"]?.stringValue,
                let acked = link.shared({ $0["ack:" + sid] }) {
                r["last_event_seq"] = acked
                p["resume"] = .object(r)
                o["payload"] = .object(p)
                return [Mutation.text(o)]
            }
            return [f.text]
        }), ["ack.advisory"]),
        (Mutation("drops-a-progress-event", s2c: { f, link in
            guard f.kind == "progress" else { return [f.text] }
            let n = link.mine { m -> Int64 in
                let n = (m["progress"]?.int64Value ?? 0) + 1
                m["progress"] = .int(n)
                return n
            }
            return n == 5 ? [] : [f.text]
        }), ["backpressure.slow-reader", "events.progress-current"]),
    ]

    // MARK: - §6.6–6.7

    static let listing: [Case] = [
        (rewrite("jobs-without-request-id", ["session.jobs"]) { $0.setPayload("request_id", nil) }, ["list-jobs.answer"]),
        (rewrite("thin-listing", ["session.jobs"]) { o in
            o.setPayload("jobs", .array((o.payloadObject["jobs"]?.arrayValue ?? []).map { e in
                guard var e = e.objectValue else { return e }
                e["lease"] = nil
                e["last_event_seq"] = nil
                return .object(e)
            }))
        }, ["list-jobs.entry"]),
        (.rewriteIncoming("ignores-filters") { o, _ in
            if o["type"]?.stringValue == "session.list_jobs" { o.setPayload("filter", nil) }
            return true
        }, ["list-jobs.filter-status", "list-jobs.filter-agent", "list-jobs.filter-created-after"]),
        (rewrite("no-next-cursor", ["session.jobs"]) { $0.setPayload("next_cursor", nil) }, ["list-jobs.pages"]),
        (Mutation("leaks-jobs", s2c: { f, link in
            guard var o = f.object else { return [f.text] }
            let me = token(link) ?? ""
            if f.type == "job.accepted", let id = o["payload"]?["job_id"] {
                link.shared { s in s["jobs"] = .array((s["jobs"]?.arrayValue ?? []) + [["token": .string(me), "job_id": id, "agent": "echo", "status": "success"]]) }
            }
            if f.type == "session.jobs" {
                let others = link.shared { $0["jobs"]?.arrayValue ?? [] }.filter { $0["token"]?.stringValue != me }
                o.setPayload("jobs", .array((o.payloadObject["jobs"]?.arrayValue ?? []) + others))
                return [Mutation.text(o)]
            }
            return [f.text]
        }, c2s: { f, link in noteHello(f, link); return [f.text] }), ["list-jobs.principals"]),
        (Mutation("listing-subscribes", s2c: { f, link in
            guard f.type == "session.jobs", let id = f.object?["payload"]?["jobs"]?.arrayValue?.first?["job_id"] else { return [f.text] }
            let event = Envelope.make("job.event", payload: ["kind": "log", "body": ["level": "info", "message": "leaked"]], sessionID: f.object?["session_id"]?.stringValue, jobID: id.stringValue)
            return [f.text, event.text]
        }), ["list-jobs.no-subscription"]),
        (rewrite("unversioned-listing", ["session.jobs"]) { o in
            o.setPayload("jobs", .array((o.payloadObject["jobs"]?.arrayValue ?? []).map { e in
                guard var e = e.objectValue else { return e }
                e["agent"] = e["agent"]?.stringValue.map { .string(Checks.agentName($0) ?? $0) }
                return .object(e)
            }))
        }, ["list-jobs.versions"]),
        (.drop("no-closed") { $0.type == "session.closed" }, ["close.closed"]),
        (Mutation("closed-sessions-not-resumable", c2s: { f, link in
            guard var o = f.object else { return [f.text] }
            if f.type == "session.close", let sid = o["session_id"]?.stringValue { link.shared { $0["closed:" + sid] = true } }
            if f.type == "session.hello", var p = o["payload"]?.objectValue, var r = p["resume"]?.objectValue, let sid = r["session_id"]?.stringValue,
                link.shared({ $0["closed:" + sid] }) != nil {
                r["resume_token"] = "rtk_closed"
                p["resume"] = .object(r)
                o["payload"] = .object(p)
                return [Mutation.text(o)]
            }
            return [f.text]
        }), ["close.resumable"]),
        (Mutation("talks-after-bye", c2s: { f, link in
            if f.type == "session.bye" {
                link.inject(Envelope.make("session.error", payload: ["code": "INTERNAL_ERROR", "message": "after bye", "retryable": true]).text)
            }
            return [f.text]
        }), ["close.bye"]),
    ]

    // MARK: - §7

    static let jobs: [Case] = [
        (rewrite("no-accepted-at", ["job.accepted"]) { $0.setPayload("accepted_at", nil) }, ["submit.accepted"]),
        (rewrite("accepted-without-request-id", ["job.accepted"]) { $0.setPayload("request_id", nil) }, ["submit.request-id"]),
        (rewrite("expanded-lease", ["job.accepted"]) { o in
            var lease = o.payloadObject["lease"]?.objectValue ?? [:]
            lease["fs.write"] = ["/**"]
            o.setPayload("lease", .object(lease))
        }, ["submit.lease-not-expanded"]),
        (rewrite("no-constraints-echo", ["job.accepted"]) { $0.setPayload("lease_constraints", nil) }, ["submit.lease-constraints"]),
        (rewrite("internal-errors", ["session.error", "job.error"]) { o in
            if o["payload"]?["code"]?.stringValue != "UNAUTHENTICATED" { o.setPayload("code", "INTERNAL_ERROR") }
        }, [
            "submit.unknown-agent", "submit.invalid-agent", "submit.missing-agent", "idempotency.conflict", "cancel.unknown-job",
            "versions.unavailable", "subscribe.unknown-job", "lease.unknown-namespace", "lease.malformed", "expiry.past", "expiry.utc",
            "expiry.invalid", "budget.malformed", "bad-input.malformed-json", "bad-input.not-an-object", "bad-input.wrong-types",
            "bad-input.unknown-type", "bad-input.missing-type", "bad-input.out-of-range", "errors.shape", "lifecycle.typed-failure",
            "timeout.error", "cancel.error",
        ]),
        (Mutation("idempotent-accepted-differs", s2c: { f, link in
            guard var o = f.object, f.type == "job.accepted", let id = o["payload"]?["job_id"]?.stringValue else { return [f.text] }
            let seen = link.shared { s -> Bool in
                defer { s["seen:" + id] = true }
                return s["seen:" + id] != nil
            }
            if seen { o.setPayload("accepted_at", .string(ARCPTimestamp.string(Date().addingTimeInterval(1)))) }
            return [Mutation.text(o)]
        }), ["idempotency.same-accepted"]),
        (Mutation("idempotency-starts-new-jobs", s2c: { f, link in
            guard var o = f.object, f.type == "job.accepted", let id = o["payload"]?["job_id"]?.stringValue else { return [f.text] }
            let seen = link.shared { s -> Bool in
                defer { s["seen:" + id] = true }
                return s["seen:" + id] != nil
            }
            if seen { o.setPayload("job_id", .string("job_" + ARCPID.ulid())) }
            return [Mutation.text(o)]
        }), ["idempotency.same-accepted", "idempotency.running", "idempotency.terminal", "idempotency.concurrent"]),
        (Mutation("global-idempotency", s2c: { f, link in
            guard var o = f.object, f.type == "job.accepted", let rid = o["payload"]?["request_id"]?.stringValue,
                let key = link.shared({ $0["key-of:" + rid]?.stringValue })
            else { return [f.text] }
            if let first = link.shared({ $0["job-of:" + key] }) {
                o.setPayload("job_id", first)
                o["job_id"] = first
            } else if let id = o["payload"]?["job_id"] {
                link.shared { $0["job-of:" + key] = id }
            }
            return [Mutation.text(o)]
        }, c2s: { f, link in
            if f.type == "job.submit", let key = f.object?["payload"]?["idempotency_key"], let id = f.object?["id"]?.stringValue {
                link.shared { $0["key-of:" + id] = key }
            }
            return [f.text]
        }), ["idempotency.principals"]),
        (rewrite("success-misnamed", ["job.result"]) { o in
            if o["payload"]?["final_status"]?.stringValue == "success" { o.setPayload("final_status", "done") }
        }, ["lifecycle.success"]),
        (rewrite("internal-not-retryable", ["job.error"]) { o in
            if o["payload"]?["code"]?.stringValue == "INTERNAL_ERROR" { o.setPayload("retryable", false) }
        }, ["lifecycle.failure"]),
        (Mutation("double-terminal", s2c: { f, _ in f.type == "job.result" || f.type == "job.error" ? [f.text, f.text] : [f.text] }), ["lifecycle.one-terminal", "cancel.twice"]),
        (Mutation("duplicate-events", s2c: { f, _ in f.type == "job.event" ? [f.text, f.text] : [f.text] }), ["subscribe.own-job"]),
        (rewrite("timeout-as-error", ["job.error", "job.result"]) { o in
            if o["payload"]?["final_status"]?.stringValue == "timed_out" { o.setPayload("final_status", "error") }
        }, ["timeout.timed-out"]),
        (.rewrite("python-style-terminals") { o, _ in
            if o["type"]?.stringValue == "job.error", let status = o["payload"]?["final_status"]?.stringValue, ["cancelled", "timed_out"].contains(status) {
                o["type"] = "job.result"
                o["payload"] = ["final_status": .string(status)]
            }
            return true
        }, ["timeout.error", "cancel.error"]),
        (.drop("no-cancelled-ack") { $0.type == "job.cancelled" }, ["cancel.cancelled"]),
        (Mutation("cancel-ignored", c2s: { f, _ in f.type == "job.cancel" ? [] : [f.text] }), ["cancel.cancelled", "cancel.error", "cancel.stops"]),
        (Mutation("cancel-by-anyone", s2c: { f, link in
            guard var o = f.object, Mutations.sequencedTypes.contains(f.type ?? ""), f.type != "job.event", let id = f.jobID,
                link.shared({ $0["cancel:" + id] }) != nil
            else { return [f.text] }
            o["type"] = "job.error"
            o["payload"] = ["final_status": "cancelled", "code": "CANCELLED", "message": "cancelled", "retryable": false]
            return [Mutation.text(o)]
        }, c2s: { f, link in
            if f.type == "job.cancel", let id = f.jobID { link.shared { $0["cancel:" + id] = true } }
            return [f.text]
        }), ["cancel.other-session", "cancel.other-principal", "subscribe.no-cancel"]),
        (rewrite("unresolved-agent", ["job.accepted"]) { o in
            o.setPayload("agent", o.payloadObject["agent"]?.stringValue.map { .string(Checks.agentName($0) ?? $0) })
        }, ["versions.default", "versions.pinned"]),
    ]

    // MARK: - §7.6

    static let subscription: [Case] = [
        (Mutation("history-before-subscribed", s2c: { f, link in
            if f.type == "job.subscribed" {
                link.mine { $0["held"] = .string(f.text) }
                return []
            }
            if f.object.map({ Mutations.sequencedTypes.contains($0["type"]?.stringValue ?? "") }) == true, f.type != "job.event",
                let held = link.mine({ m -> String? in
                    defer { m["held"] = nil }
                    return m["held"]?.stringValue
                }) {
                return [f.text, held]
            }
            return [f.text]
        }), ["subscribe.subscribed-first"]),
        (rewrite("python-descriptor", ["job.subscribed"]) { o in
            o.setPayload("replayed", 0)
            o.setPayload("budget", nil)
            o.setPayload("lease_constraints", nil)
        }, ["subscribe.descriptor"]),
        (Mutation("history-loses-first", s2c: { f, link in
            if f.type == "job.subscribed" { link.mine { $0["drop-next"] = true } }
            if f.type == "job.event", link.mine({ m -> Bool in
                defer { m["drop-next"] = nil }
                return m["drop-next"] != nil
            }) { return [] }
            return [f.text]
        }), ["subscribe.history", "subscribe.from-seq", "subscribe.history-then-live"]),
        (.rewriteIncoming("always-history") { o, _ in
            if o["type"]?.stringValue == "job.subscribe" {
                o.setPayload("history", true)
                o.setPayload("from_event_seq", 0)
            }
            return true
        }, ["subscribe.live"]),
        (Mutation("subscriber-seqs-restart", s2c: { f, link in
            guard var o = f.object, let id = f.jobID else { return [f.text] }
            if f.type == "job.subscribed" { link.mine { $0["sub:" + id] = 0 } }
            guard Mutations.sequencedTypes.contains(f.type ?? ""), let n = link.mine({ m -> Int64? in
                guard let n = m["sub:" + id]?.int64Value else { return nil }
                m["sub:" + id] = .int(n + 1)
                return n + 1
            }) else { return [f.text] }
            o["event_seq"] = .int(n)
            return [Mutation.text(o)]
        }), ["subscribe.seq-space"]),
        (Mutation("subscribe-anything", s2c: { f, link in
            guard var o = f.object, f.type == "session.error", let rid = o["payload"]?["request_id"]?.stringValue,
                let job = link.mine({ $0["sub-req:" + rid] })
            else { return [f.text] }
            o["type"] = "job.subscribed"
            o["payload"] = ["job_id": job, "current_status": "running", "agent": "slow", "lease": [:], "request_id": .string(rid), "subscribed_from": 0, "replayed": false]
            return [Mutation.text(o)]
        }, c2s: { f, link in
            if f.type == "job.subscribe", let id = f.object?["id"]?.stringValue, let job = f.object?["payload"]?["job_id"] {
                link.mine { $0["sub-req:" + id] = job }
            }
            return [f.text]
        }), ["subscribe.other-principal", "subscribe.unknown-job"]),
        (Mutation("unsubscribe-ignored", c2s: { f, _ in f.type == "job.unsubscribe" ? [] : [f.text] }), ["subscribe.unsubscribe"]),
        {
            var m = Mutation("drop-cancels-jobs", s2c: { f, link in
                guard var o = f.object else { return [f.text] }
                if f.type == "job.accepted", let id = f.jobID {
                    link.mine { $0["jobs"] = .array(($0["jobs"]?.arrayValue ?? []) + [.string(id)]) }
                }
                guard f.type == "job.result" || f.type == "job.error", let id = f.jobID, link.shared({ $0["dropped:" + id] }) != nil else { return [f.text] }
                o["type"] = "job.error"
                o["payload"] = ["final_status": "cancelled", "code": "CANCELLED", "message": "submitter gone", "retryable": false]
                return [Mutation.text(o)]
            })
            m.onClose = { link in
                let jobs = link.mine { $0["jobs"]?.arrayValue ?? [] }
                link.shared { s in for j in jobs { if let id = j.stringValue { s["dropped:" + id] = true } } }
            }
            return (m, ["subscribe.survives-submitter"])
        }(),
    ]

    // MARK: - §8

    static let events: [Case] = [
        (rewrite("python-bodies", ["job.event"]) { o in
            body("log") { $0["message"] = nil; $0["msg"] = "renamed" }(&o)
            body("thought") { $0["content"] = $0["text"]; $0["text"] = nil }(&o)
            body("tool_call") { $0["name"] = $0["tool"]; $0["tool"] = nil; $0["tool_call_id"] = $0["call_id"]; $0["call_id"] = nil }(&o)
            body("tool_result") { $0["tool_call_id"] = $0["call_id"]; $0["call_id"] = nil }(&o)
            body("status") { $0["state"] = $0["phase"]; $0["phase"] = nil }(&o)
            body("metric") { $0["value"] = "42" }(&o)
            body("artifact_ref") { $0["media_type"] = $0["content_type"]; $0["content_type"] = nil }(&o)
            body("delegate") { $0["delegate_id"] = nil }(&o)
            body("progress") { $0["current"] = nil }(&o)
        }, ["events.log", "events.thought", "events.tool-call", "events.tool-result", "events.status", "events.metric", "events.artifact-ref", "events.delegate", "events.progress"]),
        (Mutation("log-after-thought", s2c: { f, link in
            if f.kind == "log", link.mine({ $0["held-done"] == nil }) {
                link.mine { $0["held"] = .string(f.text); $0["held-done"] = true }
                return []
            }
            if f.kind == "thought", let held = link.mine({ m -> String? in
                defer { m["held"] = nil }
                return m["held"]?.stringValue
            }) { return [f.text, held] }
            return [f.text]
        }), ["events.order"]),
        (rewrite("seqs-decrease", Mutations.sequencedTypes) { o in
            o["event_seq"] = .int(1_000_000 - (o["event_seq"]?.int64Value ?? 0))
        }, ["events.seq-monotonic", "events.seq-gap-free"]),
        (rewrite("seq-gaps", Mutations.sequencedTypes) { o in
            o["event_seq"] = .int(2 * (o["event_seq"]?.int64Value ?? 0))
        }, ["events.seq-gap-free", "subscribe.seq-space", "ack.not-sequenced", "heartbeat.not-sequenced"]),
        (rewrite("negative-progress", ["job.event"]) { o in body("progress") { $0["current"] = -1 }(&o) }, ["events.progress-current"]),
        (rewrite("progress-overflows", ["job.event"]) { o in
            body("progress") { $0["current"] = .double(($0["total"]?.doubleValue ?? 0) + 1) }(&o)
        }, ["events.progress-total"]),
        (rewrite("chunk-without-more", ["job.event"]) { o in body("result_chunk") { $0["more"] = nil }(&o) }, ["chunks.fields", "chunks.order"]),
        (rewrite("chunks-out-of-order", ["job.event"]) { o in
            body("result_chunk") { b in
                if let n = b["chunk_seq"]?.int64Value, n < 2 { b["chunk_seq"] = .int(1 - n) }
            }(&o)
        }, ["chunks.order"]),
        (rewrite("inline-after-chunks", ["job.result"]) { o in
            if o["payload"]?["result_id"] != nil {
                o.setPayload("result_id", nil)
                o.setPayload("result", "inline")
            }
        }, ["chunks.result-id"]),
        (rewrite("truncated-chunk", ["job.event"]) { o in
            body("result_chunk") { b in
                if b["chunk_seq"]?.int64Value == 0, b["encoding"]?.stringValue == "utf8", let d = b["data"]?.stringValue { b["data"] = .string(String(d.dropLast())) }
            }(&o)
        }, ["chunks.assembly"]),
        (rewrite("no-base64", ["job.event"]) { o in
            body("result_chunk") { b in
                if b["encoding"]?.stringValue == "base64", let d = b["data"]?.stringValue, let bytes = Data(base64Encoded: d) {
                    b["encoding"] = "utf8"
                    b["data"] = .string(String(decoding: bytes, as: UTF8.self))
                }
            }(&o)
        }, ["chunks.base64"]),
        (rewrite("all-base64", ["job.event"]) { o in
            body("result_chunk") { b in
                if b["encoding"]?.stringValue == "utf8", let d = b["data"]?.stringValue {
                    b["encoding"] = "base64"
                    b["data"] = .string(Data(d.utf8).base64EncodedString())
                }
            }(&o)
        }, ["chunks.utf8"]),
    ]

    // MARK: - §9–§10

    static let leases: [Case] = [
        (.drop("silent-refusals") { $0.kind == "tool_result" && $0.object?["payload"]?["body"]?["error"] != nil },
         ["lease.enforced", "budget.exhausted"]),
        (.rewrite("child-without-delegate-id") { o, _ in
            if o["type"]?.stringValue == "job.accepted", o["payload"]?["parent_job_id"] != nil { o.setPayload("delegate_id", nil) }
            return true
        }, ["delegation.child"]),
        (.rewrite("child-new-trace") { o, _ in
            if o["type"]?.stringValue == "job.accepted", o["payload"]?["parent_job_id"] != nil {
                let t = JSONValue.string(Checks.traceID())
                o.setPayload("trace_id", t)
                o["trace_id"] = t
            }
            return true
        }, ["delegation.trace"]),
        (.rewrite("child-lease-expanded") { o, _ in
            if o["type"]?.stringValue == "job.accepted", o["payload"]?["parent_job_id"] != nil {
                var lease = o.payloadObject["lease"]?.objectValue ?? [:]
                lease["fs.write"] = ["/**"]
                o.setPayload("lease", .object(lease))
            }
            return true
        }, ["delegation.lease-subset"]),
        (.rewrite("retryable-lease-errors") { o, _ in
            let code = o["payload"]?["code"]?.stringValue
            if o["type"]?.stringValue == "job.error", code == "LEASE_EXPIRED" || code == "BUDGET_EXHAUSTED" { o.setPayload("retryable", true) }
            if o["payload"]?["kind"]?.stringValue == "tool_result" {
                o.setBody { b in
                    if var e = b["error"]?.objectValue, ["LEASE_EXPIRED", "BUDGET_EXHAUSTED"].contains(e["code"]?.stringValue ?? "") {
                        e["retryable"] = true
                        b["error"] = .object(e)
                    }
                }
            }
            return true
        }, ["expiry.ends-job", "budget.exhausted"]),
        (rewrite("budget-strings", ["job.accepted", "job.subscribed"]) { o in
            var b = o.payloadObject["budget"]?.objectValue ?? [:]
            for m in b { b[m.key] = .string("\(m.key):\(m.value)") }
            o.setPayload("budget", .object(b))
        }, ["budget.counters", "budget.currencies", "subscribe.descriptor"]),
        (.rewrite("no-decrement") { o, _ in
            if o["payload"]?["kind"]?.stringValue == "metric", o["payload"]?["body"]?["name"]?.stringValue == "cost.budget.remaining" { return false }
            if o["type"]?.stringValue == "job.result", var r = o["payload"]?["result"]?.objectValue, r["budget_left"] != nil {
                r["budget_left"] = ["USD": "1.00"]
                o.setPayload("result", .object(r))
            }
            return true
        }, ["budget.decrement"]),
        (Mutation("bad-credentials", s2c: { f, link in
            guard var o = f.object else { return [f.text] }
            let cred: JSONValue = ["id": "cred_1", "scheme": "bearer", "value": "sk-reused-secret"]
            switch f.type {
            case "session.welcome":
                var caps = o.payloadObject["capabilities"]?.objectValue ?? [:]
                caps["features"] = .array((caps["features"]?.arrayValue ?? []) + ["provisioned_credentials"])
                o.setPayload("capabilities", .object(caps))
            case "job.accepted":
                o.setPayload("credentials", [cred])
            case "session.jobs", "session.pong":
                o.setPayload("credentials", [cred])
            default: return [f.text]
            }
            return [Mutation.text(o)]
        }), ["credentials.issued", "credentials.per-job", "credentials.redacted"]),
    ]

    // MARK: - §11–§14

    static let errors: [Case] = [
        (rewrite("no-trace-ids", ["job.accepted"]) { o in
            o.setPayload("trace_id", nil)
            o["trace_id"] = nil
        }, ["trace.generated", "trace.propagated"]),
        (rewrite("events-lose-trace", ["job.event"]) { $0["trace_id"] = .string(Checks.traceID()) }, ["trace.propagated"]),
        (Mutation("propagates-bad-trace", s2c: { f, link in
            guard var o = f.object, f.type == "job.accepted", let rid = o["payload"]?["request_id"]?.stringValue,
                let bad = link.mine({ $0["bad-trace:" + rid] })
            else { return [f.text] }
            o.setPayload("trace_id", bad)
            o["trace_id"] = bad
            return [Mutation.text(o)]
        }, c2s: { f, link in
            guard var o = f.object, let t = o["trace_id"]?.stringValue, !ARCPFormat.isTraceID(t), let id = o["id"]?.stringValue else { return [f.text] }
            link.mine { $0["bad-trace:" + id] = .string(t) }
            o["trace_id"] = nil
            return [Mutation.text(o)]
        }), ["trace.invalid"]),
        (rewrite("errors-without-retryable", ["session.error"]) { $0.setPayload("retryable", nil) }, ["errors.shape"]),
        (rewrite("errors-without-request-id", ["session.error"]) { $0.setPayload("request_id", nil) }, ["errors.request-id"]),
        (Mutation("errors-end-session", s2c: { f, link in
            if f.type == "session.error" { link.closeAfter() }
            return [f.text]
        }), ["errors.session-survives", "bad-input.session-survives"]),
        (Mutation("garbage-ignored", c2s: { f, _ in f.object == nil ? [] : [f.text] }),
         ["bad-input.malformed-json", "bad-input.not-an-object", "bad-input.deep-nesting"]),
        {
            var m = Mutation("no-frame-cap")
            m.frameCap = nil
            return (m, ["bad-input.oversized"])
        }(),
        (Mutation("cross-principal-event", s2c: { f, link in
            if f.type == "job.accepted", token(link) == "tok", let id = f.jobID { link.shared { $0["last-job"] = .string(id) } }
            if f.type == "session.pong", token(link) == "tok2", let id = link.shared({ $0["last-job"]?.stringValue }) {
                let leak = Envelope.make("job.event", payload: ["kind": "log", "body": ["level": "info", "message": "leak"]], sessionID: f.object?["session_id"]?.stringValue, jobID: id)
                return [leak.text, f.text]
            }
            return [f.text]
        }, c2s: { f, link in noteHello(f, link); return [f.text] }), ["security.isolation"]),
    ]
}
