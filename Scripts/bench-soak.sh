#!/usr/bin/env bash
# Soak benchmark (issue 10): many short sessions of echo jobs with mixed input sizes through one
# runtime over loopback WebSocket, the runtime's RSS sampled over time. Runs `arcp-bench soak`
# against `arcp serve` and against the Python reference (shared/reference/python-1.1.3/server.py,
# its test agents, in the venv of Scripts/setup-python.sh), same workload, same machine, then
# writes a markdown summary of both with their curves.
#
#   Scripts/bench-soak.sh OUT_DIR
#
# Writes OUT_DIR/swift-soak.{json,txt}, OUT_DIR/python-soak.{json,txt} and OUT_DIR/soak.md (also
# printed). Builds release first (incremental). With the defaults (100,000 jobs, 10,000 sessions,
# ~660 MiB of input) it takes a few minutes per runtime on 2 cores.
#
# The reference's server.py is run through a small launcher that only raises the WebSocket
# message limit from the `websockets` default (1 MiB) to 16 MiB, swift-arcp's default, so that
# 4 MiB inputs reach it; everything else is server.py's own build_runtime (tokens tok/tok2,
# heartbeat 30 s, resume window 600 s, in-memory event log).
#
# Environment:
#   SOAK_JOBS (100000), SOAK_SESSIONS (10000), SOAK_CONCURRENCY (8), SOAK_SETTLE_SEC (30),
#   SOAK_MIX (arcp-bench soak's default), SOAK_SAMPLE_MS (500),
#   SOAK_SERVE_ARGS: extra `arcp serve` arguments: the runtime's retention settings go here,
#     e.g. SOAK_SERVE_ARGS="--job-retention-sec 20" (then set SOAK_SETTLE_SEC past it);
#   SOAK_ONLY=swift|python: run one side; ARCP_PYREF_DIR as for bench-python.sh;
#   SKIP_BUILD=1 uses the existing release build; SOAK_BIN=DIR takes arcp and arcp-bench from DIR.
# Exit: 0 all ran; 1 a run failed or had failed jobs; 2 usage/setup problem.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-}"
[ -n "$OUT" ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
REF="${ARCP_PYREF_DIR:-$ROOT/../shared/reference/python-1.1.3}"
ARGS=(--jobs "${SOAK_JOBS:-100000}" --sessions "${SOAK_SESSIONS:-10000}" --concurrency "${SOAK_CONCURRENCY:-8}"
      --settle-sec "${SOAK_SETTLE_SEC:-30}" --sample-ms "${SOAK_SAMPLE_MS:-500}")
[ -n "${SOAK_MIX:-}" ] && ARGS+=(--mix "$SOAK_MIX")
ONLY="${SOAK_ONLY:-}"

cd "$ROOT"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    echo "bench-soak: building release (arcp, arcp-bench) ..." >&2
    swift build -c release --product arcp >&2
    swift build -c release --product arcp-bench >&2
fi
# SOAK_BIN: a directory holding arcp and arcp-bench (e.g. .build/debug for a quick look; the
# figures that go in docs come from release).
BIN="${SOAK_BIN:-$(swift build -c release --show-bin-path)}"
[ -x "$BIN/arcp" ] && [ -x "$BIN/arcp-bench" ] || { echo "bench-soak: no release arcp/arcp-bench in $BIN" >&2; exit 2; }

RC=0
if [ "$ONLY" != python ]; then
    echo "bench-soak: swift-arcp (arcp serve ${SOAK_SERVE_ARGS:-}) ..." >&2
    if ! "$BIN/arcp-bench" soak "${ARGS[@]}" --arcp "$BIN/arcp" --serve-args "${SOAK_SERVE_ARGS:-}" \
            --label swift-arcp --json "$OUT/swift-soak.json" </dev/null | tee "$OUT/swift-soak.txt"; then
        echo "bench-soak: swift-arcp run failed" >&2
        RC=1
    fi
fi

if [ "$ONLY" != swift ]; then
    [ -f "$REF/server.py" ] || { echo "bench-soak: $REF/server.py not found (set ARCP_PYREF_DIR)" >&2; exit 2; }
    "$ROOT/Scripts/setup-python.sh" >&2 || exit 2
    PY="$ROOT/.venv/bin/python"
    PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    LOG="$OUT/python-server.log"
    echo "bench-soak: Python reference on 127.0.0.1:$PORT ..." >&2
    "$PY" - "$REF" "$PORT" >"$LOG" 2>&1 <<'EOF' &
import argparse, asyncio, signal, sys
ref, port = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, ref)
import server  # the reference's server.py: its agents and build_runtime
from arcp import serve_websocket

async def main():
    args = argparse.Namespace(host="127.0.0.1", port=port, token=None, db=None, heartbeat_sec=30,
                              resume_window_sec=600, chunk_size_cap=1024 * 1024)
    runtime = server.build_runtime(args)
    # Only change from server.py: accept 16 MiB messages (websockets' default is 1 MiB).
    srv = await serve_websocket(runtime.accept, host=args.host, port=port, path="/arcp", max_size=16 * 1024 * 1024)
    print(f"listening on ws://127.0.0.1:{port}/arcp", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    srv.close()
    await runtime.close()

asyncio.run(main())
EOF
    PYPID=$!
    trap 'kill "$PYPID" 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do
        grep -q "listening on" "$LOG" 2>/dev/null && break
        kill -0 "$PYPID" 2>/dev/null || { echo "bench-soak: the Python reference exited:" >&2; tail -20 "$LOG" >&2; exit 2; }
        sleep 0.1
    done
    if ! "$BIN/arcp-bench" soak "${ARGS[@]}" --url "ws://127.0.0.1:$PORT/arcp" --pid "$PYPID" \
            --label python-reference --json "$OUT/python-soak.json" </dev/null | tee "$OUT/python-soak.txt"; then
        echo "bench-soak: Python reference run failed (server log: $LOG)" >&2
        RC=1
    fi
    kill "$PYPID" 2>/dev/null || true
    wait "$PYPID" 2>/dev/null || true
    trap - EXIT
fi

python3 - "$OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]
runs = []
for name in ("swift-soak", "python-soak"):
    p = os.path.join(out, name + ".json")
    if os.path.exists(p):
        runs.append(json.load(open(p)))
L = ["| Runtime | Jobs / sessions | Input | Load time | Jobs/s | RSS baseline | peak | end of load | after idle | Growth per job (load) | Held per job (after idle) | Failed |",
     "|---|---|---|---|---|---|---|---|---|---|---|---|"]
for r in runs:
    s, p = r["summary"], r["params"]
    L.append(f"| {r['runtime']} | {s['jobs']:,} / {s['sessions']:,} | {s['input_mib']:.0f} MiB | {s['load_s']:.0f} s | {s['jobs_per_s']:,.0f} | "
             f"{s['rss_baseline_mib']:.1f} MiB | {s['rss_peak_mib']:.1f} MiB | {s['rss_end_of_load_mib']:.1f} MiB | "
             f"{s['rss_after_settle_mib']:.1f} MiB ({s['settle_s']:.0f} s) | {s['growth_bytes_per_job'] / 1024:,.1f} KiB | "
             f"{s['retained_bytes_per_job_after_settle'] / 1024:,.1f} KiB | {s['failures']} |")
md = "\n".join(L) + "\n"
for name in ("swift-soak", "python-soak"):
    t = os.path.join(out, name + ".txt")
    if os.path.exists(t):
        text = open(t).read()
        curve = text[text.find("| t (s)"):] if "| t (s)" in text else ""
        md += f"\n{name}:\n\n{curve}\n"
open(os.path.join(out, "soak.md"), "w").write(md)
print(md)
EOF
exit "$RC"
