#!/usr/bin/env bash
# Runs every test: installs what the tests need (system SQLite headers for GRDB, the Python
# reference for interop tests), then `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-system-deps.sh
# The interop tests skip (with the reason) when the venv cannot be created; they never pass silently.
if ! Scripts/setup-python.sh; then
    echo "test.sh: Python reference unavailable; interop tests will report as skipped" >&2
fi
swift test --parallel "$@"
# Coverage-guided fuzzing of the parser, the envelope decoder and the lease compiler, 15 s per
# target (Scripts/fuzz.sh, docs/FUZZING.md), when the whole suite runs (no arguments).
# ARCP_SKIP_FUZZ=1 skips it; FUZZ_TIME=SECONDS changes the time per target.
if [ $# -eq 0 ] && [ "${ARCP_SKIP_FUZZ:-0}" != 1 ]; then
    Scripts/fuzz.sh --time "${FUZZ_TIME:-15}"
fi
