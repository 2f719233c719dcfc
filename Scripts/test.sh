#!/usr/bin/env bash
# Runs every test: installs what the tests need (system SQLite headers for GRDB, PostgreSQL, the
# Python reference for interop tests), builds, then runs the suite in two phases, then fuzzes.
#
# Phase 1 is everything that runs in this process (runtimes, clients, WebSocket servers on
# loopback), in parallel. Phase 2 is the suites that mostly drive other processes: the codegen
# fixture (a nested `swift build`), the Python reference (interop, its clients against our hosts,
# its 22 examples in every direction), `arcp serve` under hostile peers, the conformance kit, and
# the PostgreSQL suites (a throwaway server; `arcp serve --postgres` cluster nodes).
# On a 2-core machine, running both at once starves phase 1's runtimes of CPU and their deadlines
# fire; one after the other, neither does. Then the DocC documentation is built (warnings as
# errors), then the parsers are fuzzed. Every phase runs; the script fails if any did.
#
# With arguments (`Scripts/test.sh --filter X`), one `swift test` run with those arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-system-deps.sh
# The interop tests skip (with the reason) when the venv cannot be created; they never pass silently.
if ! Scripts/setup-python.sh; then
    echo "test.sh: Python reference unavailable; interop tests will report as skipped" >&2
fi
if [ $# -gt 0 ]; then
    exec swift test --parallel "$@"
fi
swift build --build-tests
processes='CodegenFixtureTests|ARCPExamplesInteropTests\.|ARCPConformanceTests\.|ARCPInteropTests\.|ARCPHostileTests\.|PythonClient|PythonRuntime|ARCPPostgresTests\.'
# Each phase runs at most ARCP_TEST_WIDTH tests at once (default 8; phase 2, whose tests each
# start servers and clients as processes, ARCP_PROCESS_TEST_WIDTH, default 6). Unbounded, Swift
# Testing starts all ~600 at once, and on CI's 2 cores each test then got so little CPU that the
# deadlines inside tests (a server's handshake timeout, a 1 s hello timeout) fired on
# well-behaved peers. `swift test` does not pass a width on (its --num-workers is for XCTest),
# so the phases run the test bundle the way `swift test` does, with the width added.
bundle="$(swift build --show-bin-path)/swift-arcpPackageTests.xctest"
run_tests() {
    local width="$1"; shift
    "$bundle" --testing-library swift-testing --parallel --experimental-maximum-parallelization-width "$width" "$@"
}
failed=0
run_tests "${ARCP_TEST_WIDTH:-8}" --skip "$processes" || failed=1
run_tests "${ARCP_PROCESS_TEST_WIDTH:-6}" --filter "$processes" || failed=1
# The DocC documentation of every catalogued target, warnings as errors (Scripts/docs.sh, on
# the debug build above). ARCP_SKIP_DOCS=1 skips it.
if [ "${ARCP_SKIP_DOCS:-0}" != 1 ]; then
    Scripts/docs.sh || failed=1
fi
# Coverage-guided fuzzing of the parser, the envelope decoder and the lease compiler, 15 s per
# target (Scripts/fuzz.sh, docs/FUZZING.md). ARCP_SKIP_FUZZ=1 skips it; FUZZ_TIME=SECONDS changes
# the time per target.
if [ "${ARCP_SKIP_FUZZ:-0}" != 1 ]; then
    Scripts/fuzz.sh --time "${FUZZ_TIME:-15}" || failed=1
fi
exit "$failed"
