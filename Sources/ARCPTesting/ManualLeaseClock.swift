import ARCP
import Foundation
import Synchronization

/// A clock that only moves when told to; for tests.
public final class ManualLeaseClock: LeaseClock {
    private let state: Mutex<(wall: Date, mono: Duration)>

    /// A clock showing `wall`, with uptime zero.
    public init(wall: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        state = Mutex((wall, .zero))
    }

    /// The simulated wall-clock time.
    public func now() -> Date { state.withLock { $0.wall } }

    /// The simulated monotonic time (starts at zero).
    public func uptime() -> Duration { state.withLock { $0.mono } }

    /// Moves both clocks forward by `duration` (negative durations are ignored).
    public func advance(by duration: Duration) {
        guard duration > .zero else { return }
        state.withLock {
            $0.mono += duration
            let (s, attos) = duration.components
            $0.wall = $0.wall.addingTimeInterval(TimeInterval(s) + TimeInterval(attos) / 1e18)
        }
    }

    /// Sets the wall clock alone (simulating an NTP step or a manual change).
    public func setWall(_ date: Date) {
        state.withLock { $0.wall = date }
    }
}
