#!/usr/bin/env bash
# Creates <repo>/.venv with the Python reference ARCP package for interop tests and benchmarks:
#   agentruntimecontrolprotocol==1.1.3 (import `arcp`, CLI `arcp`), websockets, and jsonschema
#   (the independent validator of JSONSchemaValidityTests).
# Idempotent: does nothing when the venv already has that exact version.
# Quiet: prints one line on success; on failure prints one line with the reason to stderr
# and exits non-zero (2 = no python3/venv, 3 = PyPI unreachable or install failed).
# Works unattended (CI=true, no stdin). Override the interpreter with PYTHON=/path/to/python3.
set -euo pipefail

PKG="agentruntimecontrolprotocol"
VERSION="1.1.3"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

fail() { echo "setup-python: $2" >&2; exit "$1"; }

installed_version() {
    [ -x "$VENV/bin/python" ] || return 1
    "$VENV/bin/python" - "$PKG" <<'EOF' 2>/dev/null
import sys, importlib.metadata as md
import arcp, websockets, jsonschema  # all must import, not just be recorded as installed
print(md.version(sys.argv[1]))
EOF
}

# The reference's examples and what they import (Scripts/setup-python-examples.sh); without them
# only the examples interop tests skip, with the reason, so a failure there is not this script's.
examples() { "$ROOT/Scripts/setup-python-examples.sh" || true; }

if [ "$(installed_version || true)" = "$VERSION" ]; then
    echo "setup-python: $PKG==$VERSION already installed in $VENV"
    examples
    exit 0
fi

command -v "$PY" >/dev/null 2>&1 || fail 2 "no '$PY' on PATH (set PYTHON=...)"

# A broken or half-made venv (no working python/pip) is rebuilt from scratch.
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$VENV"
    if ! out="$("$PY" -m venv "$VENV" 2>&1 </dev/null)"; then
        fail 2 "'$PY -m venv' failed: $(printf '%s' "$out" | tail -n 1)"
    fi
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off
if ! "$VENV/bin/python" -m pip install --quiet --timeout 20 --retries 2 \
        "$PKG==$VERSION" websockets "jsonschema>=4.18" </dev/null >"$log" 2>&1; then
    net="$(grep -oE "(Failed to establish a new connection|Temporary failure in name resolution|Name or service not known|Network is unreachable|Read timed out|Connection refused|SSLError|ProxyError)[^'\"]{0,80}" "$log" | tail -n 1 || true)"
    if [ -n "$net" ]; then
        fail 3 "cannot reach PyPI to install $PKG==$VERSION: $net"
    fi
    reason="$(grep -E '^ERROR' "$log" | tail -n 1 || true)"
    [ -n "$reason" ] || reason="$(tail -n 1 "$log")"
    fail 3 "pip install $PKG==$VERSION failed: ${reason:0:300}"
fi

got="$(installed_version || true)"
[ "$got" = "$VERSION" ] || fail 3 "after install, $PKG version is '${got:-missing}', expected $VERSION"
echo "setup-python: installed $PKG==$VERSION into $VENV"
examples
