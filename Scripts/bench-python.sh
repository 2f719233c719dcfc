#!/usr/bin/env bash
# Benchmarks the Python reference ARCP runtime+client (agentruntimecontrolprotocol==1.1.3) with the
# shared reference benchmark (shared/reference/python-1.1.3/bench/bench.py), small rep counts, and
# writes a JSON summary (every number with its unit) to the path given as the first argument.
#
#   Scripts/bench-python.sh OUT.json
#
# Runs: stream-mem, stream-ws (20,000 log events), latency (2,000 sequential echo jobs),
# concurrency (1,000 sessions only), codec (100,000 envelopes). Nothing is written under shared/:
# bench.py and bench_server.py are copied to a temp dir (their results.json and logs/ land there).
# Each step is time-bounded; the whole run takes about 1-2 minutes on 2 cores (limit ~4).
# Exit: 0 all ran; 1 some benchmark failed or timed out (the summary says which, under "errors");
# 2 usage / setup problem (no venv could be made, reference bench not found).
#
# Environment: BENCH_REPS (default 3), BENCH_CONC_REPS (default 2), BENCH_STEP_TIMEOUT (s, default 100),
# ARCP_PYREF_DIR (default <repo>/../shared/reference/python-1.1.3).
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

REPS="${BENCH_REPS:-3}"
CONC_REPS="${BENCH_CONC_REPS:-2}"
STEP_TIMEOUT="${BENCH_STEP_TIMEOUT:-100}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/arcp-pybench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bench" "$WORK/transcripts"
cp "$REF/bench/bench.py" "$REF/bench/bench_server.py" "$WORK/bench/"
cp "$REF/transcripts/06_progress_events.jsonl" "$WORK/transcripts/"
export BENCH_RESULTS="$WORK/results.json"
export BENCH_REPORT="$WORK/RESULTS.md"

declare -a FAILED=()
step() {  # step NAME ARGS...
    local name="$1"; shift
    local t0=$SECONDS
    echo "bench-python: $name ..." >&2
    if (cd "$WORK/bench" && timeout --kill-after=10 "$STEP_TIMEOUT" "$PY" bench.py "$@" \
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
for want in ("stream_mem", "stream_ws", "latency", "concurrency", "codec"):
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
                    "concurrency_1000_total_s", "concurrency_1000_runtime_peak_rss_mib") if k in R]
print("bench-python: " + "; ".join(short(k) for k in keys) + f" -> {out_path}" + (f" (errors: {sorted(errors)})" if errors else ""))
sys.exit(1 if errors else 0)
EOF
