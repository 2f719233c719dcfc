#!/usr/bin/env bash
# Gets what the examples interop tests (Tests/ARCPExamplesInteropTests) need on top of the venv
# Scripts/setup-python.sh makes:
#   - the Python reference's source distribution (agentruntimecontrolprotocol==1.1.3), which holds
#     its 22 examples (examples/<name>/server.py + client.py), unpacked under
#     <repo>/.venv/arcp-sdist/ (a data download: the tests run its files, nothing is copied into the repo);
#   - aiohttp, starlette, uvicorn and opentelemetry-sdk in the venv (its host_aiohttp, host_asgi and
#     host_tracing examples import them).
# Idempotent and quick when done (no network). Prints one line on success; on failure one line with
# the reason on stderr and exits 2 (no venv) or 3 (PyPI unreachable or install failed).
# Works unattended (CI=true, no stdin).
set -euo pipefail

PKG="agentruntimecontrolprotocol"
VERSION="1.1.3"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
CACHE="$VENV/arcp-sdist"
EXAMPLES="$CACHE/$PKG-$VERSION/examples"
# The reference's own test pins (its pyproject's [test] extra and uv.lock); uvicorn is not pinned there.
EXTRAS=(aiohttp==3.13.5 starlette==1.0.1 "uvicorn>=0.30" opentelemetry-sdk==1.42.1)

fail() { echo "setup-python-examples: $2" >&2; exit "$1"; }

[ -x "$PY" ] || fail 2 "no venv at $VENV: run Scripts/setup-python.sh first"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# One line naming why pip failed, from its log.
pip_reason() {
    local net
    net="$(grep -oE "(Failed to establish a new connection|Temporary failure in name resolution|Name or service not known|Network is unreachable|Read timed out|Connection refused|SSLError|ProxyError)[^'\"]{0,80}" "$log" | tail -n 1 || true)"
    if [ -n "$net" ]; then echo "cannot reach PyPI: $net"; return; fi
    local reason
    reason="$(grep -E '^ERROR' "$log" | tail -n 1 || true)"
    [ -n "$reason" ] || reason="$(tail -n 1 "$log")"
    echo "${reason:0:300}"
}

did=()
# Installed distributions, looked up without importing them (fast).
if ! "$PY" -c 'import importlib.metadata as m; [m.version(d) for d in ("aiohttp", "starlette", "uvicorn", "opentelemetry-sdk")]' >/dev/null 2>&1; then
    if ! "$PY" -m pip install --quiet --timeout 20 --retries 2 "${EXTRAS[@]}" </dev/null >"$log" 2>&1; then
        fail 3 "pip install ${EXTRAS[*]} failed: $(pip_reason)"
    fi
    did+=("installed aiohttp, starlette, uvicorn, opentelemetry-sdk")
fi

count_examples() { find "$EXAMPLES" -mindepth 2 -maxdepth 2 -name client.py 2>/dev/null | wc -l | tr -d ' '; }
if [ "$(count_examples)" != "22" ]; then
    rm -rf "$CACHE"
    mkdir -p "$CACHE"
    if ! "$PY" -m pip download --quiet --no-deps --no-binary :all: --timeout 20 --retries 2 \
            "$PKG==$VERSION" -d "$CACHE" </dev/null >"$log" 2>&1; then
        fail 3 "pip download of the $PKG==$VERSION sdist failed: $(pip_reason)"
    fi
    tar -xzf "$CACHE/$PKG-$VERSION.tar.gz" -C "$CACHE" || fail 3 "cannot unpack $CACHE/$PKG-$VERSION.tar.gz"
    [ "$(count_examples)" = "22" ] || fail 3 "the sdist has $(count_examples) examples, expected 22"
    did+=("unpacked the $PKG==$VERSION sdist")
fi

if [ ${#did[@]} -eq 0 ]; then
    echo "setup-python-examples: ready ($EXAMPLES)"
else
    echo "setup-python-examples: $(IFS=';'; echo "${did[*]}") ($EXAMPLES)"
fi
