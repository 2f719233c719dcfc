#!/usr/bin/env bash
# Runs every test: installs what the tests need (system SQLite headers for GRDB, PostgreSQL, the
# Python reference for interop tests), builds, then runs the suite in two phases, then fuzzes.
#
# Phase 1 is everything that runs in this process (runtimes, clients, WebSocket servers on
# loopback), in parallel. Phase 2 is the suites that mostly drive other processes: the codegen
# fixture (a nested `swift build`), the Python reference (interop, its clients against our hosts,
# its 22 examples in every direction), `arcp serve` under hostile peers, and the conformance kit.
# On a 2-core machine, running both at once starves phase 1's runtimes of CPU and their deadlines
# fire; one after the other, neither does. Every phase runs; the script fails if any did.
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
processes='CodegenFixtureTests|ARCPExamplesInteropTests\.|ARCPConformanceTests\.|ARCPInteropTests\.|ARCPHostileTests\.|PythonClient|PythonRuntime'
failed=0
swift test --skip-build --parallel --skip "$processes" || failed=1
swift test --skip-build --parallel --filter "$processes" || failed=1
# Coverage-guided fuzzing of the parser, the envelope decoder and the lease compiler, 15 s per
# target (Scripts/fuzz.sh, docs/FUZZING.md). ARCP_SKIP_FUZZ=1 skips it; FUZZ_TIME=SECONDS changes
# the time per target.
if [ "${ARCP_SKIP_FUZZ:-0}" != 1 ]; then
    Scripts/fuzz.sh --time "${FUZZ_TIME:-15}" || failed=1
fi
exit "$failed"
