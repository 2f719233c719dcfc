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
