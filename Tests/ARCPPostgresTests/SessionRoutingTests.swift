@testable import ARCPPostgres
import Testing

/// The decision logic of a session's routing on one node (`SessionRouting`), without
/// PostgreSQL: who numbers a job's event while its session moves away, comes back, or moves
/// on again (docs/CLUSTER.md, "Moving a session").
@Suite("Cluster: the routing of a session's events")
struct SessionRoutingTests {
    typealias Routing = SessionRouting<Int>

    @Test func aSessionHeldHereIsNumberedHereAndALeaveWaitsForTheNumberingInFlight() {
        var r = Routing()
        let v1 = r.begin("s")
        #expect(v1 == .number)
        let v2 = r.begin("s")
        #expect(v2 == .number)
        let leave = r.leave("s")
        #expect(leave.busy, "two numberings are in flight")
        #expect(leave.held.isEmpty)
        let v3 = r.numbered("s")
        #expect(v3 == false)
        let v4 = r.numbered("s")
        #expect(v4 == true, "the last one done: the flush may go on")
        #expect(!r.busy("s"))
        // From the leave on, nothing is numbered here: events are forwarded.
        let v5 = r.begin("s")
        #expect(v5 == .elsewhere)
        let v6 = r.commit("s", 1)
        #expect(v6 == .forward)
        #expect(r.isAway("s", generation: leave.generation))
    }

    @Test func otherSessionsAreNotAffected() {
        var r = Routing()
        r.leave("s")
        let v7 = r.begin("t")
        #expect(v7 == .number)
        #expect(r.numberedHere("t"))
        #expect(!r.numberedHere("s"))
    }

    @Test func aReturnHoldsEventsUntilTheForwardedOnesAreNumberedThenNumbersThemInOrder() {
        var r = Routing()
        let away = r.leave("s")
        let v8 = r.beginReturn("s", since: away.generation)
        #expect(v8)
        let v9 = r.beginReturn("s", since: away.generation)
        #expect(!v9, "one return at a time")
        // Emitted during the return: held, in order.
        let v10 = r.begin("s")
        #expect(v10 == .elsewhere)
        let v11 = r.commit("s", 1)
        #expect(v11 == .held)
        let v12 = r.commit("s", 2)
        #expect(v12 == .held)
        // The return's drain may number forwarded events (in flight while it does).
        let pass = r.openPass("s")
        let v13 = r.beginDrain("s", pass: pass)
        #expect(v13)
        let v14 = r.numbered("s")
        #expect(v14)
        r.closePass("s")
        let v15 = r.takeHeld("s")
        #expect(v15 == [1, 2])
        #expect(r.busy("s"), "held events being numbered are in flight")
        let v16 = r.commit("s", 3)
        #expect(v16 == .held, "still returning while the held ones are numbered")
        let v17 = r.numbered("s")
        #expect(v17)
        let v18 = r.takeHeld("s")
        #expect(v18 == [3])
        let v19 = r.numbered("s")
        #expect(v19)
        let v20 = r.takeHeld("s")
        #expect(v20 == [], "none left: numbered here directly from now on")
        #expect(r.numberedHere("s"))
        let v21 = r.begin("s")
        #expect(v21 == .number)
    }

    @Test func anEventCommittedAfterTheReturnEndedIsNumberedHere() {
        var r = Routing()
        let away = r.leave("s")
        // An event decided while away, committed after the session came back.
        let v22 = r.begin("s")
        #expect(v22 == .elsewhere)
        let v23 = r.beginReturn("s", since: away.generation)
        #expect(v23)
        let v24 = r.takeHeld("s")
        #expect(v24 == [])
        let v25 = r.commit("s", 1)
        #expect(v25 == .number)
        #expect(r.busy("s"))
    }

    @Test func aDrainNumbersNothingWhileTheSessionIsAway() {
        var r = Routing()
        let first = r.openPass("s")
        let v26 = r.beginDrain("s", pass: first)
        #expect(v26, "held here: the drain numbers")
        let v27 = r.numbered("s")
        #expect(v27)
        r.closePass("s")
        r.leave("s")
        let second = r.openPass("s")
        let v28 = r.beginDrain("s", pass: second)
        #expect(!v28, "away: the rows stay for the node holding it")
        #expect(!r.busy("s"))
        r.closePass("s")
        #expect(r.passes.isEmpty)
    }

    /// The run that numbered 12 forwarded events twice (`ClusterMoveTests`): a drain pass on b
    /// read the holder (b) and the forwarded rows, then waited; meanwhile the session moved to
    /// c, whose drain numbered those rows (and deleted them as it stored them), and came back
    /// to b, whose return began. The pass went on with the rows it had read. A pass opened
    /// before the session left numbers nothing; the return's own pass, opened after, does.
    @Test func aDrainPassOpenedBeforeTheSessionLeftAndCameBackNumbersNothing() {
        var r = Routing()
        let stale = r.openPass("s")
        let away = r.leave("s")
        let v36 = r.beginReturn("s", since: away.generation)
        #expect(v36)
        let v37 = r.beginDrain("s", pass: stale)
        #expect(!v37, "its rows were read in the hold before: another node may have numbered them")
        #expect(!r.busy("s"))
        r.closePass("s")
        let fresh = r.openPass("s")
        let v38 = r.beginDrain("s", pass: fresh)
        #expect(v38, "the return's pass reads the rows anew")
        let v39 = r.numbered("s")
        #expect(v39)
        r.closePass("s")
        #expect(r.passes.isEmpty)
    }

    /// A → B → A → C quickly: the session leaves this node (A) for B, comes back, and leaves
    /// for C while its return is under way. What the return held goes to the forwarder, in
    /// order, before anything later; the return stops; the first leave's take-back timer no
    /// longer applies.
    @Test func aSessionThatLeavesAgainDuringItsReturnForwardsWhatWasHeldInOrder() {
        var r = Routing()
        let toB = r.leave("s")
        let v29 = r.beginReturn("s", since: toB.generation)
        #expect(v29)
        let v30 = r.commit("s", 1)
        #expect(v30 == .held)
        let v31 = r.commit("s", 2)
        #expect(v31 == .held)
        let pass = r.openPass("s")
        let v32 = r.beginDrain("s", pass: pass)
        #expect(v32)
        let toC = r.leave("s")
        #expect(toC.held == [1, 2])
        #expect(toC.busy, "the return's drain is still numbering: the flush waits for it")
        let v33 = r.numbered("s")
        #expect(v33)
        let v34 = r.takeHeld("s")
        #expect(v34 == nil, "the return stops")
        let v35 = r.commit("s", 3)
        #expect(v35 == .forward)
        #expect(!r.isAway("s", generation: toB.generation), "the take-back after B's flush no longer applies")
        #expect(r.isAway("s", generation: toC.generation))
    }

    @Test func aSessionIsForgottenOnlyWhileAway() {
        var r = Routing()
        let away = r.leave("s")
        let v36 = r.beginReturn("s", since: away.generation)
        #expect(v36)
        r.forget("s")
        #expect(!r.numberedHere("s"), "a return under way is kept")
        let v37 = r.takeHeld("s")
        #expect(v37 == [])
        r.leave("s")
        r.forget("s")
        #expect(r.numberedHere("s"))
        #expect(r.modes.isEmpty && r.inflight.isEmpty)
    }

    /// A node decided to take a session (back) while it was away since one leave (its claim
    /// or take-back was made then), and another node asked for the session before the return
    /// began: this node answered that it numbers nothing more. The return does not begin; the
    /// session stays away, its events forwarded for the node that asked.
    @Test func aReturnDecidedBeforeTheSessionLeftAgainDoesNotBegin() {
        var r = Routing()
        let claimed = r.leave("s")
        let asked = r.leave("s")
        let v40 = r.beginReturn("s", since: claimed.generation)
        #expect(!v40, "the node answered the later request: it numbers nothing more")
        #expect(r.isAway("s", generation: asked.generation))
        let v41 = r.commit("s", 1)
        #expect(v41 == .forward)
        let v42 = r.beginReturn("s", since: asked.generation)
        #expect(v42, "a return decided after the later leave begins")
    }
}
