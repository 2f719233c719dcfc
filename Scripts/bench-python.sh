#!/usr/bin/env bash
# Benchmarks the Python reference ARCP runtime+client (agentruntimecontrolprotocol==1.1.3) with the
# shared reference benchmark (shared/reference/python-1.1.3/bench/bench.py), small rep counts, and
# writes a JSON summary (every number with its unit) to the path given as the first argument.
#
#   Scripts/bench-python.sh OUT.json
#
# Runs: stream-mem, stream-ws (20,000 log events), latency (2,000 sequential echo jobs),
# concurrent-echo (50 sessions x 200 sequential echo jobs, all sessions at once: bench.py has no
# such measurement, so this script adds it with bench.py's own helpers), concurrency (1,000
# sessions only), codec (100,000 envelopes). Nothing is written under shared/:
# bench.py and bench_server.py are copied to a temp dir (their results.json and logs/ land there).
# Each step is time-bounded; the whole run takes about 1-2 minutes on 2 cores (limit ~4).
# Exit: 0 all ran; 1 some benchmark failed or timed out (the summary says which, under "errors");
# 2 usage / setup problem (no venv could be made, reference bench not found).
#
# Environment: BENCH_REPS (default 3), BENCH_CONC_REPS (default 2), BENCH_STEP_TIMEOUT (s, default 100),
# BENCH_ECHO_SESSIONS (default 50), BENCH_ECHO_JOBS (jobs per session, default 200),
# ARCP_PYREF_DIR (default <repo>/../shared/reference/python-1.1.3), BENCH_WARM_CACHE=1 (do not drop the
# interpreter and its packages from the page cache first).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-}"
[ -n "$OUT" ] || { echo "usage: $0 OUT.json" >&2; exit 2; }
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
REF="${ARCP_PYREF_DIR:-$ROOT/../shared/reference/python-1.1.3}"
[ -f "$REF/bench/bench.py" ] && [ -f "$REF/bench/bench_server.py" ] \
    || { echo "bench-python: reference bench not found under $REF/bench (set ARCP_PYREF_DIR)" >&2; exit 2; }
[ -f "$REF/transcripts/06_progress_events.jsonl" ] \
    || { echo "bench-python: $REF/transcripts/06_progress_events.jsonl missing (codec input)" >&2; exit 2; }

"$ROOT/Scripts/setup-python.sh" >&2 || exit 2
PY="$ROOT/.venv/bin/python"
# Start cold, as bench-ws.sh starts swift-arcp's binaries (Scripts/cold-cache.py): the
# interpreter, its libraries, its standard library and the venv's packages. BENCH_WARM_CACHE=1 skips it.
if [ "${BENCH_WARM_CACHE:-0}" != 1 ]; then
    "$PY" "$ROOT/Scripts/cold-cache.py" "$PY" "$ROOT/.venv" \
        "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')" || true
fi

REPS="${BENCH_REPS:-3}"
CONC_REPS="${BENCH_CONC_REPS:-2}"
STEP_TIMEOUT="${BENCH_STEP_TIMEOUT:-100}"
ECHO_SESSIONS="${BENCH_ECHO_SESSIONS:-50}"
ECHO_JOBS="${BENCH_ECHO_JOBS:-200}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/arcp-pybench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bench" "$WORK/transcripts"
cp "$REF/bench/bench.py" "$REF/bench/bench_server.py" "$WORK/bench/"
cp "$REF/transcripts/06_progress_events.jsonl" "$WORK/transcripts/"
# The concurrent echo measurement, measured as arcp-bench ws measures it, with bench.py's helpers
# (its server process, client, CPU and result recording).
cat >"$WORK/bench/concurrent_echo.py" <<'PYEOF'
"""concurrent_echo.py --reps R --sessions C --jobs J: C sessions connected (and warmed up with 10
echo jobs each) before the window, then each runs J sequential echo jobs, all at once;
jobs/s = C*J / (first submit -> last result); p50/p99 over every job."""
import argparse, asyncio, time, statistics
import bench
from bench import ws_client, start_server, stop_server, proc_cpu_s, self_cpu_s, loadavg, pct, summarize, record

async def one_session(c, base, jobs, lat):
    for j in range(jobs):
        i = base + j
        ts = time.perf_counter_ns()
        h = await c.submit(agent="echo", input={"i": i})
        res = await h.done
        lat.append((time.perf_counter_ns() - ts) / 1000.0)
        if res.final_status != "success" or res.result != {"echoed": {"i": i}}:
            raise AssertionError(res)

async def client(port, pid, C, J):
    url = f"ws://127.0.0.1:{port}/arcp"
    clients = [await ws_client(url) for _ in range(C)]
    await asyncio.gather(*[one_session(c, 0, 10, []) for c in clients])  # warm-up
    lat = []
    la0 = loadavg()
    s0, c0 = proc_cpu_s(pid), self_cpu_s()
    t0 = time.perf_counter()
    await asyncio.gather(*[one_session(c, k * J, J, lat) for k, c in enumerate(clients)])
    dt = time.perf_counter() - t0
    s1, c1 = proc_cpu_s(pid), self_cpu_s()
    await asyncio.gather(*[c.close() for c in clients], return_exceptions=True)
    lat.sort()
    return {"sessions": C, "jobs": len(lat), "seconds": dt, "jobs_per_s": len(lat) / dt,
            "p50_us": pct(lat, 50), "p99_us": pct(lat, 99), "server_cpu_s": s1 - s0, "client_cpu_s": c1 - c0,
            "loadavg_1m": la0}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=200)
    args = ap.parse_args()
    bench.raise_nofile()
    samples = []
    for r in range(args.reps):
        p, port = start_server(f"concurrent_echo_{r}")
        try:
            s = asyncio.run(client(port, p.pid, args.sessions, args.jobs))
        finally:
            stop_server(p)
        samples.append(s)
        print(f"rep {r}: {s['jobs_per_s']:.0f} jobs/s p50 {s['p50_us']:.0f}us p99 {s['p99_us']:.0f}us")
    summ = {k: summarize([s[k] for s in samples]) for k in ("jobs_per_s", "p50_us", "p99_us")}
    record("concurrent_echo", args, {"sessions": args.sessions, "jobs_per_session": args.jobs, "reps": args.reps,
                                      "warmup_jobs_per_session": 10}, samples, summ)

main()
PYEOF
export BENCH_RESULTS="$WORK/results.json"
export BENCH_REPORT="$WORK/RESULTS.md"

declare -a FAILED=()
step() {  # step NAME [SCRIPT.py] ARGS...  (SCRIPT defaults to bench.py)
    local name="$1"; shift
    local script=bench.py
    case "${1:-}" in *.py) script="$1"; shift ;; esac
    local t0=$SECONDS
    echo "bench-python: $name ..." >&2
    if (cd "$WORK/bench" && timeout --kill-after=10 "$STEP_TIMEOUT" "$PY" "$script" "$@" \
            >"$WORK/$name.log" 2>&1 </dev/null); then
        echo "bench-python: $name done in $((SECONDS - t0)) s" >&2
    else
        local rc=$?
        local why="exit $rc"; [ "$rc" = 124 ] && why="timed out after ${STEP_TIMEOUT}s"
        echo "bench-python: $name FAILED ($why): $(tail -n 1 "$WORK/$name.log")" >&2
        FAILED+=("$name=$why: $(tail -n 1 "$WORK/$name.log" | tr -d '\n' | cut -c1-300)")
    fi
}

T0=$SECONDS
step stream-mem  stream-mem  --reps "$REPS" --n 20000
step stream-ws   stream-ws   --reps "$REPS" --n 20000
step latency     latency     --reps "$REPS" --jobs 2000
step concurrent-echo concurrent_echo.py --reps "$REPS" --sessions "$ECHO_SESSIONS" --jobs "$ECHO_JOBS"
step concurrency concurrency --reps "$CONC_REPS" --sessions 1000
step codec       codec       --reps "$REPS" --count 100000
ELAPSED=$((SECONDS - T0))

# Leftover runtime subprocesses (bench.py kills its own by PID at exit; double-check by PID file).
if [ -f "$WORK/bench/logs/pids.txt" ]; then
    awk '$2=="start"{s[$1]=1} $2=="stopped"{delete s[$1]} END{for(p in s) print p}' "$WORK/bench/logs/pids.txt" \
        | while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done
fi

FAILED_JSON="$(printf '%s\n' "${FAILED[@]+"${FAILED[@]}"}" | "$PY" -c 'import json,sys; print(json.dumps([l for l in sys.stdin.read().splitlines() if l]))')"
mkdir -p "$(dirname "$OUT")"
"$PY" - "$BENCH_RESULTS" "$OUT" "$ELAPSED" "$REPS" "$CONC_REPS" "$FAILED_JSON" <<'EOF'
import json, os, sys, datetime
res_path, out_path, elapsed, reps, conc_reps, failed = sys.argv[1:7]
raw = json.load(open(res_path)) if os.path.exists(res_path) else {}

def m(summary, unit, scale=1.0, **extra):
    d = {k: (summary[k] * scale if k != "n" else summary[k]) for k in ("median", "min", "max", "n")}
    d["unit"] = unit
    d.update(extra)
    return d

R, errors = {}, {}
for line in json.loads(failed):
    name, _, why = line.partition("=")
    errors[name] = why
if "stream_mem" in raw:
    x = raw["stream_mem"]
    R["stream_mem_events_per_s"] = m(x["summary"]["events_per_s"], "events/s", events=x["params"]["n"],
        what="log events through an in-memory transport pair, runtime+client in one process")
if "stream_ws" in raw:
    x = raw["stream_ws"]
    R["stream_ws_events_per_s"] = m(x["summary"]["events_per_s"], "events/s", events=x["params"]["n"],
        what="log events over loopback WebSocket, runtime and client in separate processes")
if "latency" in raw:
    x = raw["latency"]; s = x["summary"]
    w = f"sequential echo submit->result, {x['params']['jobs']} jobs on one WebSocket session"
    R["latency_echo_p50_us"] = m(s["p50_us"], "µs", what=w)
    R["latency_echo_p99_us"] = m(s["p99_us"], "µs", what=w)
    R["latency_echo_jobs_per_s"] = m(s["jobs_per_s"], "jobs/s", what=w)
if "concurrent_echo" in raw:
    x = raw["concurrent_echo"]; s = x["summary"]
    w = (f"{x['params']['sessions']} concurrent sessions, each running {x['params']['jobs_per_session']} "
         "sequential echo jobs; jobs/s = all jobs / (first submit -> last result)")
    R["concurrent_echo_jobs_per_s"] = m(s["jobs_per_s"], "jobs/s", what=w)
    R["concurrent_echo_p50_us"] = m(s["p50_us"], "µs", what=w)
    R["concurrent_echo_p99_us"] = m(s["p99_us"], "µs", what=w)
if "concurrency" in raw:
    for S, s in raw["concurrency"]["summary"].items():
        w = f"{S} concurrent WebSocket sessions x 1 echo job (connect all, run all, close all)"
        R[f"concurrency_{S}_total_s"] = m(s["total_s"], "s", what=w)
        R[f"concurrency_{S}_connect_s"] = m(s["connect_s"], "s", what=w)
        R[f"concurrency_{S}_jobs_s"] = m(s["jobs_s"], "s", what=w)
        R[f"concurrency_{S}_close_s"] = m(s["close_s"], "s", what=w)
        R[f"concurrency_{S}_failures"] = m(s["failures"], "sessions", what=w)
        R[f"concurrency_{S}_runtime_peak_rss_mib"] = m(s["server_vmhwm_mib"], "MiB", what=w + "; runtime VmHWM")
        R[f"concurrency_{S}_runtime_idle_rss_mib"] = m(s["server_vmhwm_before_mib"], "MiB",
                                                      what="runtime VmHWM after one warm-up session")
if "codec" in raw:
    x = raw["codec"]; s = x["summary"]
    b = x["params"]["text_bytes"]
    for k, label in (("runtime_path_decode_per_s", "Envelope.from_wire(json.loads(text)), dropped"),
                     ("runtime_path_decode_retained_per_s", "same, all envelopes kept alive"),
                     ("runtime_path_encode_per_s", "json.dumps(env.to_wire(), compact)"),
                     ("pydantic_json_decode_per_s", "Envelope.model_validate_json(text)"),
                     ("pydantic_json_encode_per_s", "env.model_dump_json(exclude_none=True)")):
        R["codec_" + k] = m(s[k], "envelopes/s", what=f"{label}; {x['params']['count']} job.event texts of {b} B")
for want in ("stream_mem", "stream_ws", "latency", "concurrent_echo", "concurrency", "codec"):
    if want not in raw and want.replace("_", "-") not in errors:
        errors[want.replace("_", "-")] = "no result recorded"

summary = {
    "what": "Python reference ARCP runtime+client benchmark (shared/reference/python-1.1.3/bench/bench.py)",
    "package": raw.get("env", {}).get("package", "agentruntimecontrolprotocol==1.1.3"),
    "when": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    "elapsed_s": int(elapsed),
    "reps": {"default": int(reps), "concurrency": int(conc_reps)},
    "statistic": "median, min and max over the repetitions (n)",
    "env": raw.get("env", {}),
    "results": R,
    "errors": errors,
    "raw": {k: v for k, v in raw.items() if k != "env"},
}
with open(out_path, "w") as f:
    json.dump(summary, f, indent=1, ensure_ascii=False)
def short(k):
    v = R[k]; return f"{k}={v['median']:,.1f} {v['unit']}"
keys = [k for k in ("stream_mem_events_per_s", "stream_ws_events_per_s", "latency_echo_p50_us", "latency_echo_p99_us",
                    "concurrent_echo_jobs_per_s", "concurrency_1000_total_s", "concurrency_1000_runtime_peak_rss_mib") if k in R]
print("bench-python: " + "; ".join(short(k) for k in keys) + f" -> {out_path}" + (f" (errors: {sorted(errors)})" if errors else ""))
sys.exit(1 if errors else 0)
EOF
