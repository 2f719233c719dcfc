#!/usr/bin/env bash
# Loopback WebSocket benchmark, runtime and client in separate processes: swift-arcp
# (`arcp-bench ws`, runtime = `arcp serve` child process), the floor under it (`arcp-bench
# ws-floor`: the same exchanges and frame sizes between two raw swift-nio processes, no ARCP) and
# the Python reference (Scripts/bench-python.sh: bench.py stream-ws, latency, concurrency 1000,
# plus a 50-session concurrent echo), same machine, same run, then a markdown table with ratios
# against Python and our overhead above the floor.
#
#   Scripts/bench-ws.sh OUT_DIR
#
# Writes OUT_DIR/swift-ws.json, OUT_DIR/floor.json, OUT_DIR/python.json (every number with its
# unit and the raw samples) and OUT_DIR/comparison.md (also printed). Builds release first
# (incremental). Takes about 4-5 minutes on 2 cores once built (the Python part is most of it).
#
# Ratios: throughput and CPU-per-op as swift/python and python/swift (higher = Swift better);
# latency and times python/swift; memory swift/python (lower = Swift better). "× floor": swift-arcp's
# time (or 1/throughput) over the floor's: how much slower than raw swift-nio.
# Exit: 0 all ran; 1 a benchmark failed (the table shows what there is); 2 usage/setup problem.
#
# Environment: BENCH_REPS (default 3), BENCH_CONC_REPS (default 2), passed to all sides;
# ARCP_PYREF_DIR as for bench-python.sh; SKIP_BUILD=1 uses the existing release build;
# BENCH_BIN=DIR takes arcp, arcp-bench (and arcp-host-hummingbird) from DIR instead (e.g. the
# release build of another checkout, for a before/after comparison; implies SKIP_BUILD=1);
# BENCH_WARM_CACHE=1 leaves the page cache as it is (by default each side's executables,
# libraries and, for Python, packages are dropped from it first: Scripts/cold-cache.py);
# BENCH_HUMMINGBIRD=1 also measures the runtime behind Hummingbird (`arcp-host-hummingbird`,
# WSCore) into OUT_DIR/swift-ws-hummingbird.json (a column of its own); BENCH_AGENTS_ON_POOL=1
# starts swift-arcp's echo jobs on the runtime's cooperative pool (`arcp serve --agents-on-pool`)
# instead of immediately on the connection's event loop (the demo echo agent's registration).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-}"
[ -n "$OUT" ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
REPS="${BENCH_REPS:-3}"
CONC_REPS="${BENCH_CONC_REPS:-2}"
export BENCH_REPS="$REPS" BENCH_CONC_REPS="$CONC_REPS"

cd "$ROOT"
[ -n "${BENCH_BIN:-}" ] && SKIP_BUILD=1
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    echo "bench-ws: building release (arcp, arcp-bench) ..." >&2
    swift build -c release --product arcp >&2
    swift build -c release --product arcp-bench >&2
    if [ "${BENCH_HUMMINGBIRD:-0}" = 1 ]; then swift build -c release --product arcp-host-hummingbird >&2; fi
fi
BIN="${BENCH_BIN:-$(swift build -c release --show-bin-path)}"
[ -x "$BIN/arcp" ] && [ -x "$BIN/arcp-bench" ] || { echo "bench-ws: no release arcp/arcp-bench in $BIN" >&2; exit 2; }

# Each side starts with its executables and libraries out of the page cache (peak RSS counts
# mapped file pages, and a cached file is mapped more generously; Scripts/cold-cache.py).
# BENCH_WARM_CACHE=1 skips it.
cold() {
    [ "${BENCH_WARM_CACHE:-0}" = 1 ] && return 0
    command -v python3 >/dev/null && python3 "$ROOT/Scripts/cold-cache.py" "$@" || true
}

RC=0
T0=$SECONDS
echo "bench-ws: swift-arcp (arcp-bench ws) ..." >&2
cold "$BIN/arcp" "$BIN/arcp-bench"
WS_EXTRA=()
[ "${BENCH_AGENTS_ON_POOL:-0}" = 1 ] && WS_EXTRA=(--agents-on-pool)
if ! "$BIN/arcp-bench" ws "${WS_EXTRA[@]}" --arcp "$BIN/arcp" --reps "$REPS" --conc-reps "$CONC_REPS" \
        --n 20000 --jobs 2000 --sessions 1000 --echo-sessions 50 --echo-jobs 200 --json "$OUT/swift-ws.json" </dev/null; then
    echo "bench-ws: arcp-bench ws failed" >&2
    RC=1
fi
if [ "${BENCH_HUMMINGBIRD:-0}" = 1 ]; then
    echo "bench-ws: swift-arcp behind Hummingbird (arcp-bench ws --runtime hummingbird) ..." >&2
    cold "$BIN/arcp-host-hummingbird" "$BIN/arcp-bench"
    "$BIN/arcp-bench" ws --runtime hummingbird --host-hummingbird "$BIN/arcp-host-hummingbird" --reps "$REPS" \
        --conc-reps "$CONC_REPS" --n 20000 --jobs 2000 --sessions 1000 --echo-sessions 50 --echo-jobs 200 \
        --json "$OUT/swift-ws-hummingbird.json" </dev/null || { echo "bench-ws: the Hummingbird run failed" >&2; RC=1; }
fi
echo "bench-ws: the floor (arcp-bench ws-floor: raw swift-nio, same frame sizes) ..." >&2
cold "$BIN/arcp-bench"
FLOOR_SIZES=()
[ -f "$OUT/swift-ws.json" ] && FLOOR_SIZES=(--sizes-from "$OUT/swift-ws.json")
if ! "$BIN/arcp-bench" ws-floor "${FLOOR_SIZES[@]}" --reps "$REPS" --conc-reps "$CONC_REPS" --n 20000 --jobs 2000 \
        --echo-sessions 50 --echo-jobs 200 --sessions 1000 --json "$OUT/floor.json" </dev/null; then
    echo "bench-ws: arcp-bench ws-floor failed" >&2
    RC=1
fi
echo "bench-ws: Python reference (Scripts/bench-python.sh) ..." >&2
PYRC=0
"$ROOT/Scripts/bench-python.sh" "$OUT/python.json" || PYRC=$?
[ "$PYRC" = 2 ] && { echo "bench-ws: bench-python.sh setup failed" >&2; exit 2; }
[ "$PYRC" = 0 ] || RC=1
ELAPSED=$((SECONDS - T0))

"$ROOT/.venv/bin/python" - "$OUT/swift-ws.json" "$OUT/python.json" "$OUT/comparison.md" "$ELAPSED" \
    "$OUT/floor.json" "$OUT/swift-ws-hummingbird.json" <<'EOF'
import json, os, sys, statistics, platform
swift_path, py_path, md_path, elapsed, floor_path, hb_path = sys.argv[1:7]
S = json.load(open(swift_path)) if os.path.exists(swift_path) else {}
P = json.load(open(py_path)) if os.path.exists(py_path) else {}
F = json.load(open(floor_path)) if os.path.exists(floor_path) else {}
H = json.load(open(hb_path)) if os.path.exists(hb_path) else {}
sr, pr, fr, hr = S.get("results", {}), P.get("results", {}), F.get("results", {}), H.get("results", {})
praw = P.get("raw", {})

def med_range(vals):
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)} if vals else None

def py_cpu(section, count_key, which, level=None):
    """Python CPU µs per op, from bench.py's raw samples (server_cpu_s/client_cpu_s over the window)."""
    x = praw.get(section, {}).get("samples")
    if x is None: return None
    if level is not None: x = x.get(level, [])
    return med_range([s[which] * 1e6 / s[count_key] for s in x if s.get(count_key)])

def fmt(v, d):
    return f"{v:,.{d}f}"

def cell(s, d, unit=""):
    if not s: return "—"
    u = f" {unit}" if unit else ""
    if s["n"] > 1 and s["min"] != s["max"]:
        return f"{fmt(s['median'], d)}{u} ({fmt(s['min'], d)}–{fmt(s['max'], d)})"
    return f"{fmt(s['median'], d)}{u}"

# (label, swift key, python summary, digits, unit, ratio kind, target (issue 11), floor key)
#   ratio kind "up": swift/python (higher is better); "down": python/swift; "mem": swift/python.
rows = [
    ("Event stream, 20,000 `log` events, submit → job.result", "stream_ws_events_per_s", pr.get("stream_ws_events_per_s"), 0, "events/s", "up", 12, "floor_stream_events_per_s"),
    ("Echo job submit → result, p50 (2,000 sequential, 1 session)", "latency_echo_p50_us", pr.get("latency_echo_p50_us"), 0, "µs", "down", 5, "floor_latency_p50_us"),
    ("Echo job submit → result, p99", "latency_echo_p99_us", pr.get("latency_echo_p99_us"), 0, "µs", "down", 5, "floor_latency_p99_us"),
    ("Echo jobs/s (sequential)", "latency_echo_jobs_per_s", pr.get("latency_echo_jobs_per_s"), 0, "jobs/s", "up", None, "floor_latency_round_trips_per_s"),
    ("50 sessions × 200 sequential echo jobs, all at once: jobs/s", "concurrent_echo_jobs_per_s", pr.get("concurrent_echo_jobs_per_s"), 0, "jobs/s", "up", 5, "floor_concurrent_round_trips_per_s"),
    ("50 sessions × 200 echo jobs: p50", "concurrent_echo_p50_us", pr.get("concurrent_echo_p50_us"), 0, "µs", "down", None, "floor_concurrent_p50_us"),
    ("50 sessions × 200 echo jobs: p99", "concurrent_echo_p99_us", pr.get("concurrent_echo_p99_us"), 0, "µs", "down", None, "floor_concurrent_p99_us"),
    ("1,000 sessions: total (connect + 1 echo job each + close)", "concurrency_1000_total_s", pr.get("concurrency_1000_total_s"), 3, "s", "down", 6, "floor_concurrency_1000_total_s"),
    ("1,000 sessions: connect phase", "concurrency_1000_connect_s", pr.get("concurrency_1000_connect_s"), 3, "s", "down", None, "floor_concurrency_1000_connect_s"),
    ("1,000 sessions: jobs phase", "concurrency_1000_jobs_s", pr.get("concurrency_1000_jobs_s"), 3, "s", "down", None, "floor_concurrency_1000_jobs_s"),
    ("1,000 sessions: close phase", "concurrency_1000_close_s", pr.get("concurrency_1000_close_s"), 3, "s", "down", None, "floor_concurrency_1000_close_s"),
    ("1,000 sessions: failures", "concurrency_1000_failures", pr.get("concurrency_1000_failures"), 0, "", None, None, None),
    ("1,000 sessions: runtime peak RSS (VmHWM)", "concurrency_1000_runtime_peak_rss_mib", pr.get("concurrency_1000_runtime_peak_rss_mib"), 1, "MiB", "mem", 0.4, "floor_concurrency_1000_server_peak_rss_mib"),
    ("Runtime RSS after one warm-up session (VmHWM)", "concurrency_1000_runtime_idle_rss_mib", pr.get("concurrency_1000_runtime_idle_rss_mib"), 1, "MiB", "mem", None, "floor_concurrency_1000_server_idle_rss_mib"),
    ("Runtime CPU per streamed event", "stream_ws_runtime_cpu_us_per_event", py_cpu("stream_ws", "events", "server_cpu_s"), 2, "µs", "down", None, "floor_stream_server_cpu_us_per_event"),
    ("Client CPU per streamed event", "stream_ws_client_cpu_us_per_event", py_cpu("stream_ws", "events", "client_cpu_s"), 2, "µs", "down", None, "floor_stream_client_cpu_us_per_event"),
    ("Runtime CPU per echo job", "latency_echo_runtime_cpu_us_per_job", py_cpu("latency", "jobs", "server_cpu_s"), 0, "µs", "down", None, "floor_latency_server_cpu_us_per_round_trip"),
    ("Client CPU per echo job", "latency_echo_client_cpu_us_per_job", py_cpu("latency", "jobs", "client_cpu_s"), 0, "µs", "down", None, "floor_latency_client_cpu_us_per_round_trip"),
    ("Runtime CPU per echo job, 50 sessions", "concurrent_echo_runtime_cpu_us_per_job", py_cpu("concurrent_echo", "jobs", "server_cpu_s"), 0, "µs", "down", None, None),
    ("Client CPU per echo job, 50 sessions", "concurrent_echo_client_cpu_us_per_job", py_cpu("concurrent_echo", "jobs", "client_cpu_s"), 0, "µs", "down", None, None),
    ("Runtime CPU per session (1,000 sessions)", "concurrency_1000_runtime_cpu_us_per_session", py_cpu("concurrency", "sessions", "server_cpu_s", "1000"), 0, "µs", "down", None, "floor_concurrency_1000_server_cpu_us_per_session"),
    ("Client CPU per session (1,000 sessions)", "concurrency_1000_client_cpu_us_per_session", py_cpu("concurrency", "sessions", "client_cpu_s", "1000"), 0, "µs", "down", None, "floor_concurrency_1000_client_cpu_us_per_session"),
    ("Both processes' CPU per session, connect phase", "concurrency_1000_connect_cpu_us_per_session", None, 0, "µs", "down", None, "floor_concurrency_1000_connect_cpu_us_per_session"),
    ("Both processes' CPU per session, jobs phase", "concurrency_1000_jobs_cpu_us_per_session", None, 0, "µs", "down", None, "floor_concurrency_1000_jobs_cpu_us_per_session"),
    ("Both processes' CPU per session, close phase", "concurrency_1000_close_cpu_us_per_session", None, 0, "µs", "down", None, "floor_concurrency_1000_close_cpu_us_per_session"),
]

def ratio(s, p, kind):
    if not s or not p or kind is None: return None
    a, b = s["median"], p["median"]
    if kind == "up": return a / b if b else None
    if kind == "down": return b / a if a else None
    if kind == "mem": return a / b if b else None

def over_floor(s, f, kind):
    """How many times slower than the floor (time / floor time; floor throughput / throughput)."""
    if not s or not f or kind is None: return None
    a, b = s["median"], f["median"]
    if kind == "up": return b / a if a else None
    return a / b if b else None

L = []
head = "| Measurement | swift-arcp | Python reference | Ratio | Target (issue 11) | Floor: raw swift-nio | × floor |"
sep = "|---|---|---|---|---|---|---|"
if hr:
    head += " swift-arcp behind Hummingbird (WSCore) |"
    sep += "---|"
L.append(head)
L.append(sep)
for label, skey, p, d, unit, kind, target, fkey in rows:
    s = sr.get(skey)
    f = fr.get(fkey) if fkey else None
    r = ratio(s, p, kind)
    rs = "—" if r is None else (f"{r:.2f}x" if kind == "mem" else f"{r:.1f}x")
    if target is None or r is None:
        ts = ""
    elif kind == "mem":
        ts = f"≤ {target}x: " + ("met" if r <= target else "**missed**")
    else:
        ts = f"≥ {target}x: " + ("met" if r >= target else "**missed**")
    of = over_floor(s, f, kind)
    line = f"| {label} | {cell(s, d, unit)} | {cell(p, d, unit)} | {rs} | {ts} | {cell(f, d, unit)} | {'—' if of is None else f'{of:.1f}x'} |"
    if hr:
        line += f" {cell(hr.get(skey), d, unit)} |"
    L.append(line)

# What each target asks of swift-arcp in this run, beside what raw swift-nio itself took.
need = []
for label, skey, p, d, unit, kind, target, fkey in rows:
    f = fr.get(fkey) if fkey else None
    if target is None or not p or not f or kind not in ("up", "down"): continue
    want = p["median"] * target if kind == "up" else p["median"] / target
    short = {"stream_ws_events_per_s": "stream", "latency_echo_p50_us": "echo p50", "latency_echo_p99_us": "echo p99",
             "concurrent_echo_jobs_per_s": "50-session echo", "concurrency_1000_total_s": "1,000 sessions"}.get(skey, skey)
    need.append(f"{short}: {'≥' if kind == 'up' else '≤'} {fmt(want, d)} {unit} (floor {fmt(f['median'], d)} {unit})")

lo = [x.get("listen_overflows_delta", {}).get("ListenOverflows") for x in S.get("samples", {}).get("concurrency", {}).get("1000", [])]
plo = [x.get("listen_overflows_delta", {}).get("ListenOverflows") for x in praw.get("concurrency", {}).get("samples", {}).get("1000", [])]
sp, pp = S.get("params", {}), P.get("reps", {})
notes = [
    "",
    f"Median (min–max) over the repetitions: swift-arcp {sp.get('reps', '?')} (stream, latency, concurrent echo) and {sp.get('concurrency_reps', '?')} (sessions); "
    f"Python {pp.get('default', '?')} and {pp.get('concurrency', '?')}. A fresh runtime process per repetition on both sides. "
    f"Ratios: throughput swift/python, times and CPU python/swift (higher = Swift better), memory swift/python (lower = Swift better). "
    f"× floor: swift-arcp over the floor (times, memory) or the floor over swift-arcp (throughput): 1.0x would be raw swift-nio. "
    f"Floor frame sizes (from swift-arcp's own sessions): {F.get('frame_sizes', '?')}. "
    f"swift-arcp's client: {sp.get('caller', '?')} (arcp-bench ws --caller; the Python client runs on one event loop). "
    f"swift-arcp's echo agent starts {sp.get('echo_agent_start', 'on the cooperative pool')} (arcp-bench ws --agents-on-pool; the Python runtime runs agents on its one event loop).",
    "What the targets ask of swift-arcp in this run (Python's median × or ÷ the target), beside the floor: " + ("; ".join(need) or "—") + ".",
    f"TcpExt ListenOverflows during the 1,000-session phases: swift-arcp {lo}, Python {plo} "
    f"(listen backlog: swift-arcp {sp.get('websocket_server_listen_backlog', '?')}, Python asyncio default 100; an overflow costs a 1 s SYN retry).",
    f"Machine: {platform.platform()}, {os.cpu_count()} CPUs; load average at start {S.get('machine', {}).get('loadavg_1m', '?')}; "
    f"Python {P.get('env', {}).get('python', '?').split()[0]}, {P.get('package', '?')}. Whole run {elapsed} s.",
]
errs = P.get("errors") or {}
if errs: notes.append(f"Python errors: {errs}")
if not S: notes.append("swift-arcp: no results (arcp-bench ws failed)")
if not F: notes.append("floor: no results (arcp-bench ws-floor failed)")
text = "\n".join(L + notes) + "\n"
open(md_path, "w").write(text)
print(text)
EOF
echo "bench-ws: wrote $OUT/comparison.md, $OUT/swift-ws.json, $OUT/floor.json, $OUT/python.json" >&2
exit "$RC"
